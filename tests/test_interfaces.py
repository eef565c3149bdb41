"""Every implementation provides its interface (zope.interface.verify)."""
import uuid

import pytest
import zope.interface
from zope.interface.verify import verifyClass
from zope.interface.verify import verifyObject

import zc.asyncui
from zc.asyncui import events
from zc.asyncui import interfaces
from zc.asyncui import retry
from zc.asyncui.agent import Agent
from zc.asyncui.composite import Composite
from zc.asyncui.dispatcher import Dispatcher
from zc.asyncui.dispatcheragents import DispatcherAgents
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.queue import Queue
from zc.asyncui.queues import Queues

import jobs


def test_key():
    assert interfaces.KEY == 'zc.asyncui'


def test_job():
    verifyClass(interfaces.IJob, Job)
    verifyObject(interfaces.IJob, Job(jobs.noop))


def test_job_in_queue(conn):
    verifyObject(interfaces.IJob, zc.asyncui.getQueue(conn).put(jobs.noop))


def test_failure():
    verifyClass(interfaces.IFailure, Failure)
    verifyObject(interfaces.IFailure, Failure(ValueError('x')))


def test_queue(conn):
    verifyClass(interfaces.IQueue, Queue)
    verifyObject(interfaces.IQueue, Queue())
    verifyObject(interfaces.IQueue, zc.asyncui.getQueue(conn))


def test_queues(conn):
    verifyClass(interfaces.IQueues, Queues)
    verifyObject(interfaces.IQueues, zc.asyncui.getQueues(conn))


def test_agent():
    verifyClass(interfaces.IAgent, Agent)
    verifyObject(interfaces.IAgent, Agent())


def test_dispatcher_agents():
    verifyClass(interfaces.IDispatcherAgents, DispatcherAgents)
    verifyObject(interfaces.IDispatcherAgents, DispatcherAgents('u'))


@pytest.mark.parametrize('factory', [
    retry.RetryCommonFourTimes, retry.RetryCommonForever, retry.NeverRetry,
    retry.RetryPolicy(), retry.RetryPolicy(max_attempts=5)])
def test_retry_policies(factory):
    verifyObject(interfaces.IRetryPolicy, factory(Job(jobs.noop)))


@pytest.mark.parametrize('cls', [
    retry.RetryCommonFourTimes, retry.RetryCommonForever, retry.NeverRetry])
def test_retry_policy_classes(cls):
    verifyClass(interfaces.IRetryPolicy, cls)


def test_dispatcher(db):
    verifyClass(interfaces.IDispatcher, Dispatcher)
    d = Dispatcher(db, uuid.uuid4(), poll_interval=0.1, ping_interval=0.2,
                   ping_death_interval=1.0)
    verifyObject(interfaces.IDispatcher, d)


def test_inline_runner():
    from zc.asyncui import inline
    verifyObject(interfaces.IJobRunner, inline._InlineDispatcher())


def test_started_dispatcher(db):
    from zc.asyncui import dispatcher
    d = dispatcher.start(db, poll_interval=0.1, uuid=uuid.uuid4(),
                         ping_interval=0.2, ping_death_interval=1.0)
    verifyObject(interfaces.IDispatcher, d)
    assert d.activated
    d.stop(5.0)
    assert not d.activated


@pytest.mark.parametrize('cls, iface', [
    (events.JobCompleted, interfaces.IJobCompleted),
    (events.JobFailed, interfaces.IJobFailed),
    (events.DispatcherActivated, interfaces.IDispatcherActivated),
    (events.DispatcherDeactivated, interfaces.IDispatcherDeactivated)])
def test_events(cls, iface):
    verifyObject(iface, cls(object()))


#: Public-looking methods that are internal: (class, name) pairs.  Give
#: such a method a private name or describe it in an interface instead.
INTERNAL_BUT_PUBLIC_LOOKING = set()


def _described(cls):
    names = set()
    for iface in zope.interface.implementedBy(cls).flattened():
        names.update(iface.names())
    return names


@pytest.mark.parametrize('cls', [
    Job, Failure, Queue, Queues, Agent, DispatcherAgents, Dispatcher,
    Composite,
    retry.RetryCommonFourTimes, retry.RetryCommonForever, retry.NeverRetry,
    zc.asyncui.CallablesFilter, zc.asyncui.MinimumPriorityFilter])
def test_interfaces_describe_every_public_name(cls):
    undescribed = sorted(
        name for name, value in vars(cls).items()
        if not name.startswith('_') and (
            callable(value) or isinstance(value, property))
        and name not in _described(cls)
        and (cls, name) not in INTERNAL_BUT_PUBLIC_LOOKING)
    assert not undescribed, (
        '%s has public names its interfaces (%s) do not describe: %s.'
        ' Describe them in zc/asyncui/interfaces.py, or make them private.'
        % (cls.__name__, ', '.join(
            i.__name__ for i in zope.interface.implementedBy(cls)),
           undescribed))
