"""Unit tests of the public helpers of zc.asyncui.testing (the conformance
mixins are exercised by tests/test_queue.py and tests/test_filters.py)."""
import datetime
import os
import types
import uuid

import pytest
import transaction

import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import testing
from zc.asyncui.dispatcher import Dispatcher
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.queue import Queue
from zc.asyncui.retry import RetryPolicy
from zc.asyncui.testing import conformance
from zc.asyncui.testing import fixtures
from zc.asyncui.testing import waiting

import jobs

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)


def _put(conn, *args, **kw):
    job = zc.asyncui.getQueue(conn).put(Job(*args), **kw)
    conn.transaction_manager.commit()
    return job


def test_every_public_helper_is_in_zc_asyncui_testing():
    # Applications import the helpers from zc.asyncui.testing, whichever
    # of its modules they are written in.
    assert set(testing.__all__) == {
        'wait_for_result', 'wait_for_start', 'wait_for_annotation',
        'run_until_idle', 'dispatcher_running', 'wait_until', 'run_jobs',
        'FakeClock', 'file_storage_db', 'FilterConformance',
        'QueueConformance', 'FunctionalLayer', 'functional_fixture'}
    for module in (waiting, fixtures, conformance):
        public = {name for name, value in vars(module).items()
                  if not name.startswith('_') and name != 'POLL_SECONDS'
                  and not isinstance(value, types.ModuleType)
                  and getattr(value, '__module__', None) == module.__name__}
        assert public <= set(testing.__all__), (module.__name__, public)
        for name in public:
            assert getattr(testing, name) is getattr(module, name)


def test_run_jobs_runs_due_jobs_and_their_callbacks(db, conn):
    job = zc.asyncui.getQueue(conn).put(Job(jobs.add, 1, 2))
    callback = job.addCallback(Job(jobs.add, 10))
    conn.transaction_manager.commit()
    assert testing.run_jobs(db) == 1
    conn.transaction_manager.begin()
    assert job.status == JobStatus.COMPLETED and job.result == 3
    assert callback.status == JobStatus.COMPLETED and callback.result == 13
    assert len(job.attempts) == 1


def test_run_jobs_with_connection_shows_results(conn):
    job = _put(conn, jobs.add, 1, 2)
    assert testing.run_jobs(conn) == 1
    assert job.result == 3  # no begin() needed


def test_run_jobs_wo_due_jobs(db, conn):
    assert testing.run_jobs(db) == 0


def test_run_jobs_leaves_future_jobs_until_the_clock_moves(conn, clock):
    job = _put(conn, jobs.add, 1, 2,
               begin_after=T0 + datetime.timedelta(hours=1))
    assert testing.run_jobs(conn) == 0
    assert job.status == JobStatus.PENDING
    clock.advance(hours=1)
    assert testing.run_jobs(conn) == 1
    assert job.result == 3


def test_run_jobs_with_clock_argument(conn):
    job = _put(conn, jobs.add, 1, 2,
               begin_after=T0 + datetime.timedelta(hours=1))
    later = testing.FakeClock(T0 + datetime.timedelta(hours=2))
    assert testing.run_jobs(conn, clock=later) == 1
    assert job.result == 3
    assert job.active_start == later()


def test_run_jobs_retries_transient_error_now(conn):
    job = _put(conn, jobs.conflict_once, 'run_jobs-now')
    assert testing.run_jobs(conn) == 1
    assert job.result == 'run_jobs-now'
    assert job.retry_counts


def test_run_jobs_retry_later_waits_for_the_clock(conn, clock):
    policy = RetryPolicy(max_attempts=2, retry_on=(OSError,),
                         backoff=jobs.one_minute_backoff)
    job = _put(conn, jobs.flaky, 'run_jobs-later', 1,
               retry_policy_factory=policy)
    assert testing.run_jobs(conn) == 1
    assert job.status == JobStatus.PENDING
    assert job.begin_after == T0 + datetime.timedelta(minutes=1)
    clock.advance(minutes=1)
    assert testing.run_jobs(conn) == 1
    assert job.result == 'run_jobs-later succeeded on attempt 2'
    assert len(job.attempts) == 2


def test_run_jobs_failure_is_the_result(conn):
    job = _put(conn, jobs.fail, 'nope')
    testing.run_jobs(conn)
    assert isinstance(job.result, Failure)
    assert job.result.getTraceback('brief') == 'ValueError: nope'


def test_run_jobs_job_returning_job(conn):
    job = _put(conn, jobs.return_job, 41)
    assert testing.run_jobs(conn) == 2
    assert job.result == 42


def test_run_jobs_only_named_queues(db, conn):
    zc.asyncui.install(db, names=['other'])
    conn.transaction_manager.begin()
    other = zc.asyncui.getQueue(conn, 'other').put(Job(jobs.add, 1, 1))
    default = _put(conn, jobs.add, 2, 2)
    assert testing.run_jobs(conn, queue_names=['other']) == 1
    assert other.result == 2 and default.status == JobStatus.PENDING


def test_run_jobs_wo_committed_puts(conn):
    zc.asyncui.getQueue(conn).put(Job(jobs.add, 1, 2))
    with pytest.raises(ValueError, match='uncommitted changes'):
        testing.run_jobs(conn)


def test_run_jobs_wo_committed_thread_transaction(db, conn):
    thread_conn = db.open()  # the calling thread's transaction manager
    try:
        zc.asyncui.getQueue(thread_conn).put(Job(jobs.add, 1, 2))
        with pytest.raises(ValueError, match='uncommitted changes'):
            testing.run_jobs(db)
    finally:
        transaction.abort()
        thread_conn.close()


def test_run_jobs_stops_at_max_jobs(conn):
    _put(conn, jobs.put_another, 0)
    with pytest.raises(errors.AsyncUIError, match='max_jobs'):
        testing.run_jobs(conn, max_jobs=3)
    conn.transaction_manager.begin()
    queue = zc.asyncui.getQueue(conn)
    # the fourth job was not started: it is still due
    assert [j.args[0] for j in queue] == [3]
    assert [j.status for j in queue] == [JobStatus.PENDING]


def test_run_jobs_wo_database():
    with pytest.raises(TypeError, match='database or connection'):
        testing.run_jobs(object())


def test_run_jobs_job_uses_the_threads_transaction(conn):
    job = _put(conn, jobs.note_in_transaction, 'hello')
    assert testing.run_jobs(conn) == 1
    assert job.result == 'hello' and job.annotations['note'] == 'hello'


def test_run_jobs_callback_added_after_completion(conn):
    job = _put(conn, jobs.add, 1, 2)
    testing.run_jobs(conn)
    late = job.addCallback(Job(jobs.add, 10))  # put in the queue
    conn.transaction_manager.commit()
    assert late.status == JobStatus.PENDING
    assert testing.run_jobs(conn) == 1
    assert late.result == 13


def test_run_jobs_missed_begin_by_fails_the_job(conn, clock):
    job = _put(conn, jobs.add, 1, 2, begin_by=datetime.timedelta(minutes=1))
    clock.advance(minutes=2)
    testing.run_jobs(conn)
    assert job.result.check(errors.JobTimeoutError)


# -- the conformance mixins have teeth ---------------------------------------

class UncountedQueue(Queue):
    """A queue that breaks IQueue: ``len`` is always 0."""

    def __len__(self):
        return 0


class ChangingFilter:
    """A filter that breaks IFilter: it writes the job it is asked about."""

    def __call__(self, job):
        job.priority = 1
        return True


def _run_mixin_test(cls, name):
    test = cls()
    test.setup_method()
    try:
        getattr(test, name)()
    finally:
        test.teardown_method()


def test_QueueConformance_fails_a_broken_queue():
    class Test(testing.QueueConformance):
        def makeQueue(self):
            return UncountedQueue()
    with pytest.raises(AssertionError):
        _run_mixin_test(Test, 'test_put_returns_pending_job')
    _run_mixin_test(Test, 'test_claim_wo_jobs')  # the rest still runs


def test_FilterConformance_fails_a_filter_that_writes():
    class Test(testing.FilterConformance):
        def makeFilter(self):
            return ChangingFilter()

        def makeJobs(self, queue):
            return [(queue.put(Job(jobs.noop)), True)]
    with pytest.raises(AssertionError):
        _run_mixin_test(Test, 'test_filter_answers_and_changes_nothing')


def test_conformance_mixins_clean_up_their_database():
    class Test(testing.QueueConformance):
        def makeQueue(self):
            return Queue()
    test = Test()
    test.setup_method()
    directory = test._tmpdir
    test.openConnection()
    test.teardown_method()
    assert not os.path.exists(directory)
    assert zc.asyncui.utils._now_hook is None  # the FakeClock is gone


# -- the wait helpers -----------------------------------------------------------

def test_wait_for_result_wo_stored_job():
    with pytest.raises(ValueError, match='not stored in a database'):
        testing.wait_for_result(Job(jobs.noop))


def test_wait_for_result_wo_committed_changes(conn):
    job = _put(conn, jobs.noop)
    job.annotations['x'] = 1
    with pytest.raises(ValueError, match='uncommitted changes'):
        testing.wait_for_result(job)


def test_wait_for_result_timeout_names_job_and_status(conn):
    job = _put(conn, jobs.noop)
    with pytest.raises(errors.WaitTimeoutError, match='status is PENDING'):
        testing.wait_for_result(job, timeout=0)


def test_wait_for_start_and_annotation_of_finished_job(conn):
    job = _put(conn, jobs.note_in_transaction, 'hi')
    testing.run_jobs(conn)
    testing.wait_for_start(job, timeout=0)
    assert testing.wait_for_annotation(job, 'note', timeout=0) == 'hi'


def test_run_until_idle_timeout(db, conn):
    never_started = Dispatcher(db, uuid.UUID(int=5))
    _put(conn, jobs.noop)
    with pytest.raises(errors.WaitTimeoutError, match='1 queues with due'):
        testing.run_until_idle(never_started, timeout=0)
