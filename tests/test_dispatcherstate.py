"""Direct tests of zc.asyncui.dispatcherstate (the in-memory history and
status of a dispatcher, ``dispatcher.state``), on a Dispatcher that is
never started: its clock readings are set, not waited for."""
import time
import uuid

import pytest

from zc.asyncui import dispatcherstate
from zc.asyncui import worker
from zc.asyncui.agent import Agent
from zc.asyncui.dispatcher import Dispatcher
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job

import jobs


@pytest.fixture
def d(db):
    return Dispatcher(db, uuid.UUID(int=3), poll_interval=1.0,
                      ping_interval=2.0, ping_death_interval=6.0)


def _job(conn, queue, result=None):
    job = queue.put(Job(jobs.noop))
    conn.transaction_manager.commit()
    job._result = result
    return job


def test_getJobInfo_after_recordJob(d, conn, queue):
    job = _job(conn, queue, Failure(ValueError('x')))
    d.recordJob(job, 'completed')
    info = d.getJobInfo(job.key)
    assert {k: info[k] for k in ('key', 'event', 'failed')} == {
        'key': job.key, 'event': 'completed', 'failed': True}
    assert d.getJobInfo('0xdead') is None


def test_recordJob_keeps_the_latest_jobs(d, conn, queue, monkeypatch):
    monkeypatch.setattr(dispatcherstate, 'JOBS_KEPT', 2)
    first, second, third = [_job(conn, queue) for _ in range(3)]
    for job in (first, second, third):
        d.recordJob(job, 'started')
    d.recordJob(second, 'completed')  # moves to the newest end
    assert list(d.state.jobs) == [third.key, second.key]
    assert d.getJobInfo(first.key) is None


@pytest.mark.parametrize('started_ago, polled_ago, status', [
    (0.5, None, 'STARTING'), (10.0, None, 'STUCK'),
    (10.0, 0.5, 'RUNNING'), (10.0, 5.0, 'STUCK')])
def test_getStatusInfo_status(d, started_ago, polled_ago, status):
    now = time.monotonic()
    d.activated = True
    d.state.start_time = now - started_ago
    d.state.last_poll = None if polled_ago is None else now - polled_ago
    info = d.getStatusInfo()
    assert info['status'] == status
    assert info['uuid'] == str(d.UUID) and info['poll_interval'] == 1.0


def test_getStatusInfo_when_stopped(d):
    assert d.getStatusInfo()['status'] == 'STOPPED'
    assert d.getStatusInfo()['uptime'] is None


def test_getActiveJobs_includes_claimed_jobs_not_yet_started(d):
    workers = d._workers_for('', 'main')
    workers.submit([b'\0' * 7 + b'\x05'])
    assert d.getActiveJobs() == ['0x5']
    assert d.getStatusInfo()['active_jobs'] == 1


def test_take_completions_urgent_when_many(d, conn, queue, monkeypatch):
    # The completions a worker notes through the dispatcher reach the
    # agent's AgentWorkers, which hands them to the poll thread.
    monkeypatch.setattr(worker, 'COMPLETION_FLUSH_COUNT', 2)
    record = queue.getDispatcherAgents(d.UUID, create=True)
    record['main'] = agent = Agent()
    workers = d._workers_for('', 'main')
    job = _job(conn, queue)
    job._end_ts = 1.0
    d.noteCompletion(agent, job)
    done, urgent = workers.take_completions()
    assert done == [(job._p_oid, 1.0)] and not urgent
    d.noteCompletion(agent, job)
    assert workers.take_completions()[1]
    workers.drop_completions(done)
    assert len(workers.take_completions()[0]) == 1
