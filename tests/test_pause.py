"""Pausing a queue (IQueue.pause/resume) and deactivating an agent
(IAgent.deactivate/activate): persistent flags that claims honour, with
their events."""
import time

import pytest
import transaction
import zope.event

import zc.asyncui
from zc.asyncui import events
from zc.asyncui import filters
from zc.asyncui import interfaces
from zc.asyncui import testing
from zc.asyncui.agent import Agent
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.queue import Queue

import jobs

UUID = 'd1d1d1d1-0000-4000-8000-0000000000aa'


@pytest.fixture
def seen():
    noted = []

    def subscriber(event):
        noted.append((type(event).__name__, event.object))
    zope.event.subscribers.append(subscriber)
    yield noted
    zope.event.subscribers.remove(subscriber)


def _agent(queue, name='main', **kw):
    record = queue.getDispatcherAgents(UUID, create=True)
    record[name] = agent = Agent(**kw)
    return agent


def test_new_queue_is_not_paused():
    assert Queue('q').paused is False


def test_pause_stops_claims_and_resume_allows_them(queue, seen):
    job = queue.put(Job(jobs.noop))
    assert queue.pause() is True
    assert queue.paused
    assert queue.claim() is None
    assert queue.claimMany(5) == []
    assert not queue.hasDue()
    assert len(queue) == 1 and job in queue   # still pending
    assert queue.resume() is True
    assert not queue.paused
    assert queue.hasDue()
    assert queue.claim() is job
    assert seen == [('QueuePaused', queue), ('QueueResumed', queue)]


def test_pause_twice_and_resume_unpaused_do_nothing(queue, seen):
    assert queue.resume() is False
    assert queue.pause() is True
    assert queue.pause() is False
    assert [name for name, _ in seen] == ['QueuePaused']


def test_puts_still_work_while_paused(queue):
    queue.pause()
    job = queue.put(Job(jobs.noop))
    assert job.status == JobStatus.PENDING and len(queue) == 1


def test_paused_queue_refuses_agent_claims_with_chooser(queue):
    queue.put(Job(jobs.noop))
    agent = _agent(queue, chooser=filters.first_in_queue)
    queue.pause()
    assert agent.claimJobs(3) == []
    queue.resume()
    assert len(agent.claimJobs(3)) == 1


def test_pause_is_persistent_and_seen_by_other_connections(db, conn, queue):
    queue.pause()
    conn.transaction_manager.commit()
    other_tm = transaction.TransactionManager()
    other = db.open(other_tm)
    try:
        assert zc.asyncui.getQueue(other).paused
    finally:
        other.close()


def test_pause_commits_nothing(queue, conn):
    queue.pause()
    conn.transaction_manager.abort()
    assert not queue.paused


def test_agent_deactivate_stops_its_claims(queue, seen):
    queue.put(Job(jobs.noop))
    agent = _agent(queue)
    assert agent.active
    assert agent.deactivate() is True
    assert agent.deactivate() is False
    assert not agent.active
    assert agent.claimJobs(3) == [] and agent.claimJob() is None
    assert agent.size == 3     # unlike size 0, the size is kept
    assert agent.activate() is True
    assert agent.activate() is False
    assert len(agent.claimJobs(3)) == 1
    assert seen == [('AgentDeactivated', agent), ('AgentActivated', agent)]


def test_event_classes_provide_their_interfaces():
    assert interfaces.IQueuePaused.providedBy(events.QueuePaused(None))
    assert interfaces.IQueueResumed.providedBy(events.QueueResumed(None))
    assert not interfaces.IQueuePaused.providedBy(events.QueueResumed(None))
    assert interfaces.IAgentActivated.providedBy(events.AgentActivated(None))
    assert interfaces.IAgentDeactivated.providedBy(
        events.AgentDeactivated(None))


def test_failing_subscriber_does_not_stop_pause(queue, caplog):
    def broken(event):
        raise RuntimeError('subscriber bug')
    zope.event.subscribers.append(broken)
    try:
        assert queue.pause()
    finally:
        zope.event.subscribers.remove(broken)
    assert queue.paused
    assert 'QueuePaused' in caplog.text


def test_running_dispatcher_honours_pause_and_resume(db, conn, queue):
    queue.pause()
    job = queue.put(Job(jobs.add, 1, 2))
    conn.transaction_manager.commit()
    with testing.dispatcher_running(db) as d:
        # Several polls pass; the paused queue's job is not claimed.
        testing.wait_until(lambda: d.liveness.activated_queues, 5,
                           'activation')
        time.sleep(0.5)
        conn.transaction_manager.begin()
        assert job.status == JobStatus.PENDING and job in queue
        queue.resume()
        conn.transaction_manager.commit()
        assert testing.wait_for_result(job) == 3


def test_running_dispatcher_honours_agent_deactivation(db, conn, queue):
    with testing.dispatcher_running(db) as d:
        testing.wait_until(
            lambda: (conn.transaction_manager.begin() or True) and any(
                'main' in record for record in queue.dispatchers.values()),
            5, 'the main agent')
        record = queue.getDispatcherAgents(d.uuid_str)
        record['main'].deactivate()
        job = queue.put(Job(jobs.add, 2, 2))
        conn.transaction_manager.commit()
        time.sleep(0.5)
        conn.transaction_manager.begin()
        assert job.status == JobStatus.PENDING
        record['main'].activate()
        conn.transaction_manager.commit()
        assert testing.wait_for_result(job) == 4
