"""Unit tests of zc.asyncui.events: the event classes, and notify()
with subscribers that raise."""
import logging

import pytest
import zope.event

import zc.asyncui
from zc.asyncui import events
from zc.asyncui import interfaces
from zc.asyncui import recovery
from zc.asyncui import testing
from zc.asyncui.agent import Agent
from zc.asyncui.execution import mark_active
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.retry import NeverRetry

import jobs


@pytest.fixture
def subscribed():
    """``subscribed(*functions)``: add zope.event subscribers for the
    test."""
    added = []

    def add(*functions):
        for function in functions:
            zope.event.subscribers.append(function)
            added.append(function)
    yield add
    for function in added:
        zope.event.subscribers.remove(function)


def test_DispatcherDeactivated_is_not_an_activation():
    # It used to subclass DispatcherActivated, so zope.component handlers
    # for IDispatcherActivated got deactivations too.
    event = events.DispatcherDeactivated(object())
    assert interfaces.IDispatcherDeactivated.providedBy(event)
    assert not interfaces.IDispatcherActivated.providedBy(event)
    assert not interfaces.IDispatcherDeactivated.providedBy(
        events.DispatcherActivated(object()))


def test_JobFailed_is_a_completion():
    event = events.JobFailed(object())
    assert interfaces.IJobCompleted.providedBy(event)
    assert not interfaces.IJobFailed.providedBy(events.JobCompleted(object()))


def test_notify_wo_working_subscriber_logs_and_returns(subscribed, caplog):
    def broken(event):
        raise RuntimeError('subscriber bug')
    subscribed(broken)
    job = Job(jobs.noop)
    with caplog.at_level(logging.ERROR, 'zc.asyncui.events'):
        events.notify(events.JobCompleted(job))
    record, = caplog.records
    assert 'a subscriber of JobCompleted failed' in record.getMessage()
    assert record.exc_info[0] is RuntimeError


def test_notify_failing_subscriber_skips_later_ones(subscribed, caplog):
    seen = []

    def broken(event):
        raise RuntimeError('subscriber bug')
    subscribed(broken, seen.append)
    with caplog.at_level(logging.ERROR, 'zc.asyncui.events'):
        events.notify(events.JobCompleted(Job(jobs.noop)))
    assert seen == []  # as docs/events.rst says


def test_job_outcome_stands_when_subscriber_raises(conn, subscribed, caplog):
    def broken(event):
        raise RuntimeError('subscriber bug')
    subscribed(broken)
    job = zc.asyncui.getQueue(conn).put(Job(jobs.add, 1, 2))
    conn.transaction_manager.commit()
    with caplog.at_level(logging.ERROR, 'zc.asyncui.events'):
        assert testing.run_jobs(conn) == 1
    assert job.status == JobStatus.COMPLETED and job.result == 3
    assert len(job.attempts) == 1
    assert any('a subscriber of JobCompleted failed' in r.getMessage()
               for r in caplog.records)


def test_release_of_given_up_job_notifies_JobFailed(conn, subscribed):
    # docs/events.rst said this had no event ("a known gap").
    seen = []
    subscribed(seen.append)
    queue = zc.asyncui.getQueue(conn)
    record = queue.getDispatcherAgents('u1', create=True)
    record['main'] = agent = Agent(size=1)
    job = queue.put(Job(jobs.noop), retry_policy_factory=NeverRetry)
    agent.claimJob()

    class Dispatcher:  # what mark_active asks of a dispatcher
        uuid_str = 'u1'
    mark_active(job, Dispatcher(), agent)
    conn.transaction_manager.commit()
    del seen[:]
    assert recovery.release(job, agent, 'test') == 'aborted'
    assert [type(e).__name__ for e in seen] == ['JobFailed']
    assert seen[0].object is job and job.failed
