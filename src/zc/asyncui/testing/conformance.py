"""Conformance test mixins (ZODB BasicStorage style): the tests every
filter (FilterConformance) and every queue (QueueConformance) must pass,
runnable by pytest or unittest, without a test runner's helpers.

Layer: configuration (part of ``zc.asyncui.testing``, which re-exports
every public name: import them from there).
"""
import contextlib
import datetime
import shutil
import tempfile

import transaction
from zope.interface.verify import verifyObject

import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui.job import check_storable
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.testing.fixtures import FakeClock
from zc.asyncui.testing.fixtures import file_storage_db

class _DatabaseTest:
    """A database per test in ``self.db`` (queues installed), made by
    ``makeDB()``: a FileStorage in a temporary directory unless a subclass
    overrides it.  Runs as a pytest class (``setup_method``) or in a
    unittest.TestCase (``setUp``)."""

    _tmpdir = None

    def makeDB(self):
        self._tmpdir = tempfile.mkdtemp(prefix='zc.asyncui-test-')
        return file_storage_db(self._tmpdir)

    def setup_method(self, method=None):
        self._connections = []
        self.db = self.makeDB()
        zc.asyncui.install(self.db)

    def teardown_method(self, method=None):
        for conn in self._connections:
            conn.transaction_manager.abort()
            conn.close()
        self.db.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    setUp = setup_method
    tearDown = teardown_method

    def openConnection(self):
        """A connection with its own transaction manager, closed after
        the test."""
        conn = self.db.open(transaction.TransactionManager())
        self._connections.append(conn)
        return conn


class FilterConformance(_DatabaseTest):
    """Every filter (IFilter) must pass these tests.

    Mix into a test class and define ``makeFilter()`` (returning the
    filter under test) and ``makeJobs(queue)`` (returning a list of
    ``(job, expected)`` pairs put in ``queue``).  The database comes from
    ``makeDB()`` (see _DatabaseTest).
    """

    def test_filter_is_storable(self):
        check_storable(self.makeFilter(), 'the filter')

    def test_filter_answers_and_changes_nothing(self):
        conn = self.openConnection()
        queue = zc.asyncui.getQueue(conn)
        pairs = self.makeJobs(queue)
        conn.transaction_manager.commit()
        filter = self.makeFilter()
        for job, expected in pairs:
            assert bool(filter(job)) is expected, (job, expected)
            assert not job._p_changed
        assert not queue._p_changed


@contextlib.contextmanager
def _raises(error_class):
    # Like pytest.raises, so that the mixins need no test runner.
    try:
        yield
    except error_class:
        return
    raise AssertionError('%s was not raised' % error_class.__name__)


def _job_tag(tag):  # a storable callable for the conformance jobs
    return tag


def _refuse_all(job):  # a storable filter for QueueConformance
    return False


class QueueConformance(_DatabaseTest):
    """Every queue (IQueue) must pass these tests: put, claim, remove,
    pull, putBack, reschedule, ``len``, iteration order, ``begin_after``
    and ``begin_by``, and concurrent puts.

    Mix into a test class and define ``makeQueue()``, returning a new
    queue (not yet in a database); the mixin stores it in the database's
    ``Queues`` mapping as ``'conformance'``.  The database comes from
    ``makeDB()`` (see _DatabaseTest).  The clock is a FakeClock
    (``self.clock``) starting at ``T0``.
    """

    T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
    NAME = 'conformance'

    def setup_method(self, method=None):
        super().setup_method(method)
        self.clock = FakeClock(self.T0).__enter__()
        conn = self.openConnection()
        zc.asyncui.getQueues(conn)[self.NAME] = self.makeQueue()
        conn.transaction_manager.commit()
        self.conn = conn
        self.queue = zc.asyncui.getQueue(conn, self.NAME)

    def teardown_method(self, method=None):
        self.clock.__exit__()
        super().teardown_method(method)

    setUp = setup_method
    tearDown = teardown_method

    def _put(self, *tags, **kw):
        """Put one job per tag (in this order) with ``kw``; the jobs."""
        return [self.queue.put(Job(_job_tag, tag), **kw) for tag in tags]

    def _tags(self, jobs):
        return [job.args[0] for job in jobs]

    def _claimAll(self, **kw):
        claimed = []
        job = self.queue.claim(**kw)
        while job is not None:
            claimed.append(job)
            job = self.queue.claim(**kw)
        return claimed

    def test_queue_provides_IQueue(self):
        verifyObject(interfaces.IQueue, self.queue)

    def test_put_returns_pending_job(self):
        job = self.queue.put(_job_tag)
        assert job.status == JobStatus.PENDING
        assert job.queue is self.queue
        assert job.begin_after == self.T0
        assert list(self.queue) == [job] and len(self.queue) == 1

    def test_put_wo_new_job(self):
        job, = self._put('a')
        with _raises(errors.BadStatusError):
            self.queue.put(job)

    def test_put_wo_storable_callable(self):
        with _raises(errors.UnpicklableCallableError):
            self.queue.put(lambda: None)

    def test_put_with_collapse_key_returns_the_pending_job(self):
        first = self.queue.put(Job(_job_tag, 'a'), collapse_key='k')
        assert self.queue.put(Job(_job_tag, 'b'), collapse_key='k') is first
        other = self.queue.put(Job(_job_tag, 'c'), collapse_key='other')
        assert other is not first and len(self.queue) == 2
        self.queue.pull(first)  # no longer pending: the key is free
        assert self.queue.put(Job(_job_tag, 'd'),
                              collapse_key='k') is not first

    def test_put_refused_by_the_queue_filter(self):
        self.queue.filter = _refuse_all
        with _raises(errors.FilterRefusedError):
            self.queue.put(Job(_job_tag, 'a'))
        assert len(self.queue) == 0

    def test_put_commits_nothing(self):
        self._put('a', 'b')
        self.conn.transaction_manager.abort()
        assert len(self.queue) == 0 and list(self.queue) == []

    def test_put_seen_by_other_connections_after_commit(self):
        self._put('a', 'b')
        self.conn.transaction_manager.commit()
        other = zc.asyncui.getQueue(self.openConnection(), self.NAME)
        assert self._tags(other) == ['a', 'b'] and len(other) == 2

    def test_iter_priority_then_arrival(self):
        self._put('low')
        self.clock.advance(seconds=1)
        self._put('high', priority=5)
        self._put('low2')
        self._put('high2', priority=5)
        assert self._tags(self.queue) == ['high', 'high2', 'low', 'low2']

    def test_iter_future_jobs_last_by_begin_after(self):
        later = self.T0 + datetime.timedelta(hours=2)
        sooner = self.T0 + datetime.timedelta(hours=1)
        self._put('later', begin_after=later, priority=9)
        self._put('sooner', begin_after=sooner)
        self._put('now')
        assert self._tags(self.queue) == ['now', 'sooner', 'later']

    def test_claim_wo_jobs(self):
        assert self.queue.claim() is None
        assert self.queue.claimMany(3) == []

    def test_claim_in_iteration_order(self):
        self._put('a', 'b')
        self._put('c', priority=1)
        order = self._tags(self.queue)
        assert self._tags(self._claimAll()) == order == ['c', 'a', 'b']
        assert len(self.queue) == 0 and list(self.queue) == []

    def test_claim_leaves_job_status_to_the_agent(self):
        job, = self._put('a')
        assert self.queue.claim() is job
        assert job.status == JobStatus.ASSIGNED
        assert job not in self.queue

    def test_claim_with_filter(self):
        self._put('a', 'b', 'c')
        accepted = self._claimAll(filter=lambda job: job.args[0] != 'b')
        assert self._tags(accepted) == ['a', 'c']
        assert self._tags(self.queue) == ['b'] and len(self.queue) == 1

    def test_claim_waits_for_begin_after(self):
        self._put('future', begin_after=self.T0 + datetime.timedelta(
            minutes=5))
        assert not self.queue.hasDue()
        assert self.queue.claim() is None
        assert len(self.queue) == 1
        self.clock.advance(minutes=5)
        assert self.queue.hasDue()
        assert self._tags([self.queue.claim()]) == ['future']

    def test_claim_with_explicit_now(self):
        self._put('future', begin_after=self.T0 + datetime.timedelta(
            minutes=5))
        assert self.queue.claim(now=self.T0) is None
        later = self.T0 + datetime.timedelta(minutes=6)
        assert self.queue.hasDue(now=later)
        assert self._tags([self.queue.claim(now=later)]) == ['future']

    def test_claim_expired_job_whatever_the_filter(self):
        # begin_by has passed: the claim takes it so a worker records the
        # timeout.
        self._put('late', begin_by=datetime.timedelta(minutes=1))
        self.clock.advance(minutes=2)
        assert self._tags([self.queue.claim(filter=lambda job: False)]) \
            == ['late']

    def test_claimMany_up_to_count_in_order(self):
        self._put('a', 'b', 'c')
        assert self._tags(self.queue.claimMany(2)) == ['a', 'b']
        assert self._tags(self.queue) == ['c']

    def test_remove_leaves_status(self):
        job, = self._put('a')
        self.queue.remove(job)
        # Not pulled back to NEW: out of its queue, it reads as ASSIGNED
        # (see IJob) until its new owner changes it.
        assert job.status == JobStatus.ASSIGNED
        assert len(self.queue) == 0 and job not in self.queue
        with _raises(LookupError):
            self.queue.remove(job)

    def test_pull_makes_job_new(self):
        job, = self._put('a', begin_after=self.T0 + datetime.timedelta(
            days=1))
        self.queue.pull(job)
        assert job.status == JobStatus.NEW and len(self.queue) == 0
        with _raises(LookupError):
            self.queue.pull(job)

    def test_putBack_at_original_place(self):
        self._put('a', 'b')
        first = self.queue.claim()
        self.queue.putBack(first)
        assert first.status == JobStatus.PENDING
        assert self._tags(self.queue) == ['a', 'b'] and len(self.queue) == 2

    def test_putBack_pending_job_changes_nothing(self):
        job, = self._put('a')
        self.queue.putBack(job)
        assert list(self.queue) == [job] and len(self.queue) == 1

    def test_reschedule(self):
        self._put('a', 'b')
        job = self.queue.claim()
        self.queue.reschedule(job, self.T0 + datetime.timedelta(minutes=1))
        assert job.status == JobStatus.PENDING
        assert self._tags(self.queue) == ['b', 'a']
        assert self._tags(self._claimAll()) == ['b']
        self.clock.advance(minutes=1)
        assert self._tags(self._claimAll()) == ['a']

    def test_getDispatcherAgents(self):
        assert self.queue.getDispatcherAgents('u1') is None
        record = self.queue.getDispatcherAgents('u1', create=True)
        assert interfaces.IDispatcherAgents.providedBy(record)
        assert self.queue.getDispatcherAgents('u1') is record
        assert self.queue.dispatchers['u1'] is record

    def _concurrently(self, first, second):
        """Run ``first(queue)`` and ``second(queue)`` in two transactions
        begun together; commit both (the second must resolve)."""
        conns = [self.openConnection() for _ in range(2)]
        for conn in conns:
            conn.transaction_manager.begin()
        first(zc.asyncui.getQueue(conns[0], self.NAME))
        second(zc.asyncui.getQueue(conns[1], self.NAME))
        for conn in conns:
            conn.transaction_manager.commit()

    def test_put_concurrent_from_two_connections(self):
        self._concurrently(lambda q: q.put(Job(_job_tag, 'x')),
                           lambda q: q.put(Job(_job_tag, 'y')))
        self.conn.transaction_manager.begin()
        assert sorted(self._tags(self.queue)) == ['x', 'y']
        assert len(self.queue) == 2

    def test_put_concurrent_with_claim(self):
        self._put('a', 'b', 'c')
        self.conn.transaction_manager.commit()
        self._concurrently(lambda q: q.claim(),
                           lambda q: q.put(Job(_job_tag, 'd')))
        self.conn.transaction_manager.begin()
        assert self._tags(self.queue) == ['b', 'c', 'd']
        assert len(self.queue) == 3
