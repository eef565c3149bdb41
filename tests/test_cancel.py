"""Job.cancel() and zc.asyncui.local.cancelled()."""
import datetime

import pytest
import zope.event

import jobs
import periodicjobs
from zc.asyncui import errors
from zc.asyncui import events
from zc.asyncui import local
from zc.asyncui import testing
from zc.asyncui.job import Job

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)


def test_cancel_pending_job(conn, queue, clock):
    seen = []
    zope.event.subscribers.append(seen.append)
    try:
        job = queue.put(Job(jobs.noop))
        callback = job.addCallback(periodicjobs.seen)
        conn.transaction_manager.commit()
        job.cancel()
    finally:
        zope.event.subscribers.remove(seen.append)
    assert job.status == 'COMPLETED' and job not in queue
    assert job.result.check(errors.JobCancelledError)
    assert 'cancelled before it started' in job.result.message
    assert job.active_end == T0 and job.attempts == ()
    assert [type(e) for e in seen if getattr(e, 'object', None) is job] == [
        events.JobFailed]
    assert list(queue) == [callback]  # its callback runs and sees it
    conn.transaction_manager.commit()
    assert testing.run_jobs(conn, clock=clock) == 1
    assert callback.result == ('callback saw'
                               ' zc.asyncui.errors.JobCancelledError')


def test_cancel_job_scheduled_for_later(conn, queue, clock):
    job = queue.put(Job(jobs.noop), begin_after=T0 + datetime.timedelta(
        hours=1))
    job.cancel()
    assert job.status == 'COMPLETED' and len(queue) == 0
    conn.transaction_manager.commit()
    clock.advance(hours=2)
    assert testing.run_jobs(conn, clock=clock) == 0


@pytest.mark.parametrize('status, hint', [
    ('NEW', 'it was never put'),
    ('CALLBACKS', 'its callbacks are running'),
    ('COMPLETED', 'it already finished'),
])
def test_cancel_refused(conn, queue, clock, status, hint):
    job = Job(jobs.noop)
    if status != 'NEW':
        queue.put(job)
        job.addCallback(jobs.noop)
        conn.transaction_manager.commit()
        testing.run_jobs(conn, clock=clock)
        if status == 'CALLBACKS':
            job._status = 'CALLBACKS'  # a fixture, not a move
    with pytest.raises(errors.BadStatusError) as info:
        job.cancel()
    assert 'cannot be cancelled: its status is %s' % status in str(info.value)
    assert hint in str(info.value)
    assert info.value.status == status


def test_cancel_claimed_job_finishes_it_without_a_call(conn, queue, clock):
    job = queue.put(Job(periodicjobs.cancelled_now))
    conn.transaction_manager.commit()
    assert queue.claim() is job  # an agent holds it
    job.cancel()
    assert job.status == 'ASSIGNED' and job.cancel_requested
    from zc.asyncui import lifecycle
    lifecycle.start(job, 'd', 'main')
    assert local.cancelled(job)


def test_cancelled_outside_a_job_is_false():
    assert local.cancelled() is False


def test_cancel_running_job_is_cooperative(db, conn, queue):
    job = queue.put(Job(periodicjobs.loop_until_cancelled, 30.0))
    conn.transaction_manager.commit()
    with testing.dispatcher_running(db):
        testing.wait_for_annotation(job, 'started')
        conn.transaction_manager.begin()
        assert job.status == 'ACTIVE'
        job.cancel()  # from another transaction than the job's
        assert job.cancel_requested
        conn.transaction_manager.commit()
        result = testing.wait_for_result(job, 10.0)
    assert result.check(errors.JobCancelledError)
    assert 'stopped after' in result.message


def test_retried_cancelled_job_is_not_called_again(conn, queue, clock):
    """A cancel requested before the (next) attempt starts ends it with
    JobCancelledError and no call."""
    job = queue.put(Job(jobs.record, 'called'))
    conn.transaction_manager.commit()
    claimed = queue.claim()
    claimed.cancel()
    queue.putBack(claimed)  # as recovery does for a dead process's job
    conn.transaction_manager.commit()
    jobs.calls[:] = []
    testing.run_jobs(conn, clock=clock)
    assert jobs.calls == []
    assert job.result.check(errors.JobCancelledError)
    assert 'not called again' in job.result.message
