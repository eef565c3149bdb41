"""Every implementation provides its interface (zope.interface.verify)."""
import pickle
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


#: Every public name of zc.asyncui.interfaces when it was one module.
PUBLIC_NAMES = {
    'KEY', 'IAgent', 'IAgentActivated', 'IAgentDeactivated', 'IAgentEvent',
    'IChooser', 'IComposite', 'IDispatcher', 'IDispatcherActivated',
    'IDispatcherAgents', 'IDispatcherDeactivated', 'IDispatcherEvent',
    'IFailure', 'IFilter', 'IJob', 'IJobCompleted', 'IJobContext',
    'IJobEvent', 'IJobFailed', 'IJobRunner', 'IMonitorPlugin', 'IQueue',
    'IQueueEvent', 'IQueuePaused', 'IQueueResumed', 'IQueues', 'IQuota',
    'IQuotas', 'IRetryPolicy', 'ISchedule', 'IWorkPile'}


def _submodule_interfaces():
    for module in (interfaces.jobs, interfaces.queues, interfaces.agents,
                   interfaces.dispatcher, interfaces.events,
                   interfaces.extensions, interfaces.patterns):
        for name, value in vars(module).items():
            if isinstance(value, zope.interface.interface.InterfaceClass) \
                    and value is not zope.interface.Interface:
                yield module, name, value


def test_public_names_stay_in_zc_asyncui_interfaces():
    assert set(interfaces.__all__) == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert getattr(interfaces, name) is not None


def test_every_interface_of_the_submodules_is_reexported():
    missing = sorted('%s.%s' % (module.__name__, name)
                     for module, name, _ in _submodule_interfaces()
                     if name not in interfaces.__all__)
    assert not missing, 'add them to zc.asyncui.interfaces: %s' % missing


def test_interface_identifiers_name_the_package():
    # ZCML, error messages and pickled registrations name the interface
    # by its __module__: it stays zc.asyncui.interfaces whatever file of
    # the package the interface is written in.
    for _, name, iface in _submodule_interfaces():
        assert iface.__identifier__ == 'zc.asyncui.interfaces.' + name
        assert repr(iface) == '<InterfaceClass zc.asyncui.interfaces.%s>' \
            % name


def test_interfaces_pickle_by_their_public_name():
    for _, name, iface in _submodule_interfaces():
        data = pickle.dumps(iface, 0)
        assert data.startswith(b'czc.asyncui.interfaces\n%s\n'
                               % name.encode())
        assert pickle.loads(data) is iface


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
        ' Describe them in zc/asyncui/interfaces/, or make them private.'
        % (cls.__name__, ', '.join(
            i.__name__ for i in zope.interface.implementedBy(cls)),
           undescribed))
