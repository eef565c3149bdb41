"""Unit tests of zc.asyncui.queue: Queue, Queues, install and getQueue."""
import datetime
import threading

import persistent
import pytest
import transaction
import ZODB
import ZODB.MappingStorage
import ZODB.POSException

import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import queue as queue_module
from zc.asyncui import testing
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.queue import Queue
from zc.asyncui.queue import Queues

import jobs

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with testing.FakeClock(T0) as fake:
        yield fake


def _open(db):
    tm = transaction.TransactionManager()
    return db.open(tm), tm


def _tags(items):
    return [job.args[0] for job in items]


def _put_tags(queue, clock, *specs):
    """Put ``jobs.record(tag)`` for each (tag, priority), one second
    apart."""
    for tag, priority in specs:
        queue.put(Job(jobs.record, tag), priority=priority)
        clock.advance(seconds=1)


# -- put -------------------------------------------------------------------

def test_put_returns_pending_job(queue, clock):
    job = queue.put(jobs.noop)
    assert isinstance(job, Job)
    assert job.status is JobStatus.PENDING
    assert job.queue is queue
    assert job in queue
    assert len(queue) == 1
    assert job.put_time == T0
    assert job.begin_after == T0
    assert job.key is not None


def test_put_returns_given_job(queue):
    job = Job(jobs.add, 1, 2)
    assert queue.put(job) is job


def test_put_wo_new_job(queue):
    job = queue.put(jobs.noop)
    with pytest.raises(errors.BadStatusError, match='be put in a queue'):
        queue.put(job)
    assert len(queue) == 1


def test_put_wo_database():
    with pytest.raises(errors.NotInDatabaseError) as info:
        Queue('loose').put(jobs.noop)
    assert 'zc.asyncui.getQueue(connection)' in str(info.value)


def test_put_wo_storable_callable(queue):
    with pytest.raises(errors.UnpicklableCallableError):
        queue.put(lambda: 1)


@pytest.mark.parametrize('priority, error', [
    (True, TypeError), ('high', TypeError), (1.5, TypeError),
    (2 ** 31, ValueError), (-2 ** 31, ValueError)])
def test_put_wo_valid_priority(queue, priority, error):
    with pytest.raises(error, match='priority'):
        queue.put(jobs.noop, priority=priority)
    assert len(queue) == 0


def test_put_extreme_priorities(queue):
    low = queue.put(jobs.noop, priority=-2 ** 31 + 1)
    high = queue.put(jobs.noop, priority=2 ** 31 - 1)
    assert list(queue) == [high, low]


def test_put_wo_aware_begin_after(queue):
    with pytest.raises(ValueError, match='timezone-aware'):
        queue.put(jobs.noop, begin_after=datetime.datetime(2026, 1, 1))


def test_put_wo_valid_begin_by(queue):
    with pytest.raises(ValueError, match='negative'):
        queue.put(jobs.noop, begin_by=datetime.timedelta(seconds=-1))


def test_put_settings(queue):
    job = queue.put(jobs.noop, begin_by=datetime.timedelta(minutes=1),
                    priority=3, retry_policy_factory=jobs.PersistentCallable,
                    failure_log_level=30)
    assert job.begin_by == datetime.timedelta(minutes=1)
    assert job.priority == 3
    assert job.retry_policy_factory is jobs.PersistentCallable
    assert job.failure_log_level == 30


def test_put_keeps_begin_after_set_on_job(queue, clock):
    job = Job(jobs.noop)
    job.begin_after = T0 + datetime.timedelta(hours=1)
    queue.put(job)
    assert job.begin_after == T0 + datetime.timedelta(hours=1)


def test_put_wakes_once_per_transaction(conn, queue):
    queue.put(jobs.noop)
    queue.put(jobs.noop)
    txn = conn.transaction_manager.get()
    assert len(list(txn.getAfterCommitHooks())) == 1
    conn.transaction_manager.commit()  # the hook runs without dispatchers


# -- order -----------------------------------------------------------------

def test_iter_priority_then_arrival(queue, clock):
    _put_tags(queue, clock, ('a', 0), ('b', 5), ('c', 0), ('d', 5))
    assert _tags(queue) == ['b', 'd', 'a', 'c']


def test_iter_same_instant_in_put_order(queue, clock):
    _put_tags(queue, clock, ('a', 0))
    clock.advance(seconds=-1)
    _put_tags(queue, clock, ('b', 0))
    assert _tags(queue) == ['a', 'b']


def test_iter_future_jobs_after_due_ones(queue, clock):
    queue.put(Job(jobs.record, 'later'), priority=10,
              begin_after=T0 + datetime.timedelta(hours=2))
    queue.put(Job(jobs.record, 'soon'), priority=10,
              begin_after=T0 + datetime.timedelta(hours=1))
    queue.put(Job(jobs.record, 'now'))
    assert _tags(queue) == ['now', 'soon', 'later']


def test_iter_scheduled_jobs_that_became_due(queue, clock):
    queue.put(Job(jobs.record, 's10'),
              begin_after=T0 + datetime.timedelta(seconds=10))
    queue.put(Job(jobs.record, 's5'),
              begin_after=T0 + datetime.timedelta(seconds=5))
    queue.put(Job(jobs.record, 'high'), priority=1,
              begin_after=T0 + datetime.timedelta(seconds=20))
    _put_tags(queue, clock, ('due', 0))
    clock.advance(seconds=30)
    assert _tags(queue) == ['high', 'due', 's5', 's10']


def test_claim_scheduled_jobs_in_order(queue, clock):
    queue.put(Job(jobs.record, 's10'),
              begin_after=T0 + datetime.timedelta(seconds=10))
    queue.put(Job(jobs.record, 's5'),
              begin_after=T0 + datetime.timedelta(seconds=5))
    _put_tags(queue, clock, ('due', 0))
    assert _tags([queue.claim()]) == ['due']
    assert queue.claim() is None  # the others are not due yet
    clock.advance(seconds=30)
    assert _tags([queue.claim(), queue.claim()]) == ['s5', 's10']
    assert queue.claim() is None
    assert len(queue) == 0


def test_claim_promoted_by_priority(queue, clock):
    queue.put(Job(jobs.record, 'scheduled-high'), priority=5,
              begin_after=T0 + datetime.timedelta(seconds=10))
    _put_tags(queue, clock, ('due-low', 0))
    clock.advance(seconds=30)
    assert _tags(queue.claimMany(5)) == ['scheduled-high', 'due-low']


def test_claim_promotes_in_batches(queue, clock, monkeypatch):
    monkeypatch.setattr(queue_module, 'PROMOTE_BATCH', 2)
    for n in range(3):
        queue.put(Job(jobs.record, n),
                  begin_after=T0 + datetime.timedelta(seconds=n + 1))
    clock.advance(seconds=10)
    assert _tags(queue.claimMany(10)) == [0, 1]
    assert _tags(queue.claimMany(10)) == [2]


# -- claim -----------------------------------------------------------------

def test_claim_wo_jobs(queue):
    assert queue.claim() is None


def test_claim_with_filter(queue, clock):
    _put_tags(queue, clock, (1, 0), (2, 0), (3, 0))
    job = queue.claim(filter=lambda j: j.args[0] == 2)
    assert _tags([job]) == [2]
    assert _tags(queue) == [1, 3]
    assert len(queue) == 2


def test_claim_wo_matching_filter(queue, clock):
    _put_tags(queue, clock, (1, 0))
    assert queue.claim(filter=jobs.reject_all) is None
    assert len(queue) == 1


def test_claim_expired_job_whatever_the_filter(queue, clock):
    job = queue.put(jobs.noop, begin_by=datetime.timedelta(seconds=5))
    queue.put(jobs.noop)
    assert queue.claim(filter=jobs.reject_all) is None
    clock.advance(seconds=10)
    assert queue.claim(filter=jobs.reject_all) is job


def test_claim_with_explicit_now(queue, clock):
    job = queue.put(jobs.noop, begin_after=T0 + datetime.timedelta(hours=1))
    assert queue.claim(now=T0) is None
    assert queue.claim(now=T0 + datetime.timedelta(hours=2)) is job


def test_claimMany(queue, clock):
    _put_tags(queue, clock, (1, 0), (2, 9), (3, 0), (4, 0))
    assert _tags(queue.claimMany(3)) == [2, 1, 3]
    assert len(queue) == 1
    assert _tags(queue.claimMany(3)) == [4]
    assert queue.claimMany(3) == []


def test_claimMany_with_filter(queue, clock):
    _put_tags(queue, clock, (1, 0), (2, 0), (3, 0), (4, 0))
    assert _tags(queue.claimMany(5, lambda j: j.args[0] % 2 == 0)) == [2, 4]
    assert _tags(queue) == [1, 3]


def test_claim_sets_assigned(queue):
    job = queue.put(jobs.noop)
    assert queue.claim() is job
    assert job.status is JobStatus.ASSIGNED
    assert job not in queue


# -- pull, remove, putBack, reschedule -------------------------------------

def test_pull(queue):
    job = queue.put(jobs.noop)
    assert queue.pull(job) is job
    assert job.status is JobStatus.NEW
    assert job not in queue
    assert len(queue) == 0
    assert queue.put(job) is job  # it can be put again


def test_pull_scheduled_job(queue):
    job = queue.put(jobs.noop, begin_after=datetime.datetime.now(UTC)
                    + datetime.timedelta(days=1))
    queue.pull(job)
    assert len(queue) == 0
    assert list(queue) == []


def test_remove_wo_pending_job(queue):
    job = queue.put(jobs.noop)
    queue.claim()
    with pytest.raises(LookupError) as info:
        queue.remove(job)
    message = str(info.value)
    assert job.key in message
    assert "queue ''" in message
    assert 'ASSIGNED' in message


def test_remove_wo_job_of_this_queue(conn, queue):
    zc.asyncui.install(conn, names=['other'])
    job = zc.asyncui.getQueue(conn, 'other').put(jobs.noop)
    with pytest.raises(LookupError, match='not pending'):
        queue.remove(job)
    with pytest.raises(LookupError):
        queue.remove(Job(jobs.noop))


def test_remove_leaves_status(queue):
    job = queue.put(jobs.noop)
    queue.remove(job)
    assert job._status == 'PENDING'
    assert len(queue) == 0


def test_putBack_at_original_place(queue, clock):
    _put_tags(queue, clock, (1, 0), (2, 0), (3, 0))
    first = queue.claim()
    first._agent = queue  # any object: putBack clears it
    queue.putBack(first)
    assert _tags(queue) == [1, 2, 3]
    assert first.status is JobStatus.PENDING
    assert first.agent is None
    assert len(queue) == 3


def test_putBack_pending_job_is_noop(queue):
    job = queue.put(jobs.noop)
    queue.putBack(job)
    assert len(queue) == 1
    assert list(queue) == [job]


def test_putBack_keeps_callbacks_status(queue):
    job = queue.put(jobs.noop)
    queue.claim()
    job._status = 'CALLBACKS'
    queue.putBack(job)
    assert job.status is JobStatus.CALLBACKS
    assert job in queue


def test_putBack_future_job(queue, clock):
    job = queue.put(jobs.noop, begin_after=T0 + datetime.timedelta(hours=1))
    queue.remove(job)
    queue.putBack(job)
    assert job in queue
    assert queue.claim() is None


def test_reschedule_pending_job(queue, clock):
    job = queue.put(jobs.noop)
    other = queue.put(jobs.noop)
    later = T0 + datetime.timedelta(minutes=5)
    queue.reschedule(job, later)
    assert len(queue) == 2
    assert job.begin_after == later
    assert list(queue) == [other, job]
    assert queue.claimMany(5) == [other]
    clock.advance(minutes=6)
    assert queue.claim() is job


def test_reschedule_claimed_job(queue, clock):
    job = queue.put(jobs.noop)
    queue.claim()
    queue.reschedule(job, T0 + datetime.timedelta(seconds=1))
    assert job.status is JobStatus.PENDING
    assert len(queue) == 1
    clock.advance(seconds=2)
    assert queue.claim() is job


def test_reschedule_to_the_past_is_due(queue, clock):
    job = queue.put(jobs.noop)
    queue.claim()
    queue.reschedule(job, T0 - datetime.timedelta(minutes=1))
    assert queue.claim() is job


def test_reschedule_wo_aware_datetime(queue):
    job = queue.put(jobs.noop)
    with pytest.raises(ValueError, match='timezone-aware'):
        queue.reschedule(job, datetime.datetime(2026, 1, 1))


# -- reading ---------------------------------------------------------------

def test_hasDue(queue, clock):
    assert not queue.hasDue()
    queue.put(jobs.noop, begin_after=T0 + datetime.timedelta(minutes=1))
    assert not queue.hasDue()
    assert queue.hasDue(now=T0 + datetime.timedelta(minutes=2))
    clock.advance(minutes=2)
    assert queue.hasDue()
    queue.put(jobs.noop)
    assert queue.hasDue()


def test_len_and_contains(queue):
    a = queue.put(jobs.noop)
    b = queue.put(jobs.noop, begin_after=datetime.datetime.now(UTC)
                  + datetime.timedelta(days=1))
    assert len(queue) == 2
    assert a in queue and b in queue
    assert Job(jobs.noop) not in queue


def test_repr_and_name(queue):
    assert repr(queue) == "<Queue ''>"
    assert queue.__name__ == ''


def test_getDispatcherAgents(queue):
    assert queue.getDispatcherAgents('u-1') is None
    record = queue.getDispatcherAgents('u-1', create=True)
    assert record.UUID == 'u-1'
    assert record.__parent__ is queue
    assert queue.getDispatcherAgents('u-1') is record
    assert list(queue.dispatchers) == ['u-1']


# -- concurrency (FileStorage: conflict resolution) ------------------------

def _put_noop(connection):
    return zc.asyncui.getQueue(connection).put(jobs.noop)


def test_put_concurrent_from_two_connections(db, conn, concurrently):
    for _ in range(30):
        concurrently(_put_noop, _put_noop)  # no ConflictError
    conn.transaction_manager.begin()
    queue = zc.asyncui.getQueue(conn)
    assert len(queue) == 60
    assert len(list(queue)) == 60


def test_put_concurrent_with_claim(db, conn, queue, concurrently):
    for _ in range(8):
        queue.put(jobs.noop)
    conn.transaction_manager.commit()
    claimed, _ = concurrently(
        lambda c: zc.asyncui.getQueue(c).claim(), _put_noop)
    conn.transaction_manager.begin()
    assert len(queue) == 8
    assert claimed._p_oid not in [j._p_oid for j in queue]


def test_promote_concurrent_with_future_put(db, conn, queue, concurrently):
    soon = datetime.datetime.now(UTC) + datetime.timedelta(seconds=0.2)
    for _ in range(5):
        queue.put(jobs.noop, begin_after=soon)
    conn.transaction_manager.commit()
    later = soon + datetime.timedelta(seconds=0.2)
    # No ConflictError: the sentinel keeps the trees' first keys.
    claimed, _ = concurrently(
        lambda c: zc.asyncui.getQueue(c).claim(now=later),
        lambda c: zc.asyncui.getQueue(c).put(
            jobs.noop, begin_after=later + datetime.timedelta(days=1)))
    conn.transaction_manager.begin()
    assert claimed is not None
    assert len(queue) == 5


# -- Queues mapping ----------------------------------------------------------

def test_install_idempotent(db):
    assert zc.asyncui.install(db) == ['']
    assert zc.asyncui.install(db) == []
    assert zc.asyncui.install(db, names=['a', '']) == ['a']
    c, tm = _open(db)
    try:
        assert zc.asyncui.getQueues(c).keys() == ['', 'a']
    finally:
        c.close()


def test_install_with_connection_leaves_commit_to_caller(db):
    c, tm = _open(db)
    try:
        assert zc.asyncui.install(c, names=['x']) == ['x']
        tm.abort()
        assert zc.asyncui.install(c, names=['x']) == ['x']
        tm.commit()
        assert zc.asyncui.install(c, names=['x']) == []
    finally:
        tm.abort()
        c.close()


def test_install_wo_sequence_of_names(db):
    with pytest.raises(TypeError) as info:
        zc.asyncui.install(db, names='x')
    assert "names=['x']" in str(info.value)


def test_install_wo_database():
    with pytest.raises(TypeError, match='ZODB database or connection'):
        zc.asyncui.install(42)


def test_getQueue_wo_known_name(conn):
    with pytest.raises(errors.QueueNotFoundError) as info:
        zc.asyncui.getQueue(conn, 'missing')
    message = str(info.value)
    assert "No queue named 'missing'" in message
    assert "installed queues: ''" in message
    assert "zc.asyncui.install(db, names=['missing'])" in message
    assert isinstance(info.value, LookupError)


def test_getQueue_from_persistent_object(conn):
    counter = conn.root()['counter'] = jobs.Counter()
    conn.add(counter)
    assert zc.asyncui.getQueue(counter) is zc.asyncui.getQueue(conn)


def test_getQueue_wo_object_in_database():
    with pytest.raises(errors.NotInDatabaseError) as info:
        zc.asyncui.getQueue(jobs.Counter())
    assert 'pass a connection' in str(info.value)
    with pytest.raises(errors.NotInDatabaseError):
        zc.asyncui.getQueue(object())


def test_getQueues_wo_install(db):
    c, tm = _open(db)
    try:
        with pytest.raises(errors.NotInstalledError) as info:
            zc.asyncui.getQueues(c)
        assert 'zc.asyncui.install(db)' in str(info.value)
    finally:
        c.close()


def test_install_on_mapping_storage():
    # Storage does not matter here.
    database = ZODB.DB(ZODB.MappingStorage.MappingStorage())
    try:
        zc.asyncui.install(database, names=('', 'b'))
        c, tm = _open(database)
        assert sorted(zc.asyncui.getQueues(c)) == ['', 'b']
        c.close()
    finally:
        database.close()


def test_queues_mapping_api(conn):
    queues = zc.asyncui.getQueues(conn)
    extra = Queue()
    queues['extra'] = extra
    assert extra.name == 'extra'
    assert extra.__parent__ is queues
    assert 'extra' in queues and 'nope' not in queues
    assert len(queues) == 2
    assert list(queues) == ['', 'extra']
    assert queues.values() == [queues[''], extra]
    assert queues.items() == [('', queues['']), ('extra', extra)]
    assert queues.get('nope') is None
    assert queues.get('nope', 1) == 1


def test_queues_setitem_wo_valid_key_or_value(conn):
    queues = zc.asyncui.getQueues(conn)
    with pytest.raises(TypeError) as info:
        queues[1] = Queue()
    assert str(info.value) == ("queue names are strings, not 1 (int):"
                               " write queues['1'] = queue")
    with pytest.raises(TypeError, match='is not a queue'):
        queues['x'] = persistent.Persistent()


def test_queues_getitem_wo_queue():
    with pytest.raises(errors.QueueNotFoundError) as info:
        Queues()['x']
    assert 'installed queues: none' in str(info.value)


def test_queues_delitem(conn):
    zc.asyncui.install(conn, names=['x'])
    queues = zc.asyncui.getQueues(conn)
    job = queues['x'].put(jobs.noop)
    with pytest.raises(ValueError) as info:
        del queues['x']
    assert "Queue 'x' still has 1 pending jobs: pull them first" in str(
        info.value)
    queues['x'].pull(job)
    del queues['x']
    assert 'x' not in queues
    with pytest.raises(errors.QueueNotFoundError):
        del queues['x']


def test_queues_put_routes_by_filter(conn):
    zc.asyncui.install(conn, names=['records', 'z-none'])
    queues = zc.asyncui.getQueues(conn)
    queues['records'].filter = jobs.accept_record_jobs
    queues['z-none'].filter = jobs.reject_all
    routed = queues.put(Job(jobs.record, 'x'), priority=2)
    assert routed.queue is queues['records']
    assert routed.priority == 2
    default = queues.put(jobs.noop)
    assert default.queue is queues['']


def test_queues_put_wo_default_queue(conn):
    queues = zc.asyncui.getQueues(conn)
    queues[''].filter = jobs.accept_record_jobs
    with pytest.raises(errors.QueueNotFoundError) as info:
        queues.put(jobs.noop)
    assert 'no unfiltered default queue named ""' in str(info.value)
    assert queues.put(Job(jobs.record, 1)).queue is queues['']


def test_queues_put_unfiltered_named_queue_is_not_default(conn):
    zc.asyncui.install(conn, names=['a'])
    queues = zc.asyncui.getQueues(conn)
    del queues['']
    with pytest.raises(errors.QueueNotFoundError):
        queues.put(jobs.noop)


# -- waking this process's dispatchers --------------------------------------

def test_wake_after_commit_calls_put_hooks(db, conn, queue, monkeypatch):
    woken = []
    monkeypatch.setattr(queue_module, '_put_hooks', [])
    queue_module.add_put_hook(woken.append)
    queue_module.add_put_hook(woken.append)  # once is enough
    queue.put(jobs.noop)
    conn.transaction_manager.commit()
    assert woken == [db]
    queue.put(jobs.noop)
    conn.transaction_manager.abort()
    assert woken == [db]


def test_put_from_threads_each_with_own_connection(db, conn):
    # Every producer commits; nothing is lost.
    errors_seen = []

    def produce():
        c, tm = _open(db)
        try:
            for _ in range(10):
                def work():
                    zc.asyncui.getQueue(c).put(jobs.noop)
                from zc.asyncui import utils
                utils.retry_transaction(tm, work, 'test put', attempts=20)
        except Exception as e:  # pragma: no cover - reported below
            errors_seen.append(e)
        finally:
            c.close()
    threads = [threading.Thread(target=produce) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors_seen == []
    conn.transaction_manager.begin()
    assert len(zc.asyncui.getQueue(conn)) == 40


def test_queues_setitem_queue_usable_before_commit(conn):
    queues = zc.asyncui.getQueues(conn)
    queues['fresh'] = Queue()
    job = queues['fresh'].put(jobs.noop)
    assert job._p_jar is conn


def test_remove_wo_ever_put_job(conn, queue):
    job = Job(jobs.noop)
    conn.add(job)
    job._queue = queue
    with pytest.raises(LookupError, match='is not pending'):
        queue.remove(job)


def test_queues_setitem_outside_database():
    queues = Queues()
    queue = Queue()
    queues['x'] = queue
    assert queue._p_jar is None
    assert queues['x'] is queue


def test_wake_after_failed_commit(db, monkeypatch):
    woken = []
    monkeypatch.setattr(queue_module, '_put_hooks', [woken.append])
    queue_module._wake(False, db)
    assert woken == []


def test_put_wo_storable_retry_policy_factory(queue):
    def nested_factory(job):
        return None
    with pytest.raises(errors.UnpicklableCallableError) as info:
        queue.put(jobs.noop, retry_policy_factory=nested_factory)
    assert 'the retry policy factory of' in str(info.value)
    job = Job(jobs.noop)
    job.retry_policy_factory = nested_factory
    with pytest.raises(errors.UnpicklableCallableError):
        queue.put(job)
    assert len(queue) == 0


# -- one producer and a claiming dispatcher never conflict (defect 10) -------

def _interleaved_puts_and_claims(producer_db, claimer_db, rounds,
                                 claim_every=1):
    """One producer puts one job per transaction while a claimer takes a
    few jobs in every ``claim_every``-th of them, the two transactions
    overlapping by hand (each begun before the other commits; who commits
    first alternates).  Returns the ConflictErrors each side met, the jobs
    put and claimed."""
    producer = producer_db.open(transaction.TransactionManager())
    claimer = claimer_db.open(transaction.TransactionManager())
    conflicts = {'producer': 0, 'claimer': 0}
    put = claimed = 0

    def commit(side, connection):
        try:
            connection.transaction_manager.commit()
            return True
        except ZODB.POSException.ConflictError:
            connection.transaction_manager.abort()
            conflicts[side] += 1
            return False
    try:
        for n in range(rounds):
            producer.transaction_manager.begin()
            claimer.transaction_manager.begin()
            zc.asyncui.getQueue(producer).put(jobs.noop)
            taken = zc.asyncui.getQueue(claimer).claimMany(
                2 + n % 3) if n % claim_every == 0 else []
            sides = [('producer', producer), ('claimer', claimer)]
            for side, connection in sides[::1 if n % 2 else -1]:
                if commit(side, connection):
                    if side == 'producer':
                        put += 1
                    else:
                        claimed += len(taken)
    finally:
        for connection in (producer, claimer):
            connection.transaction_manager.abort()
            connection.close()
    return conflicts, put, claimed


def _fill(db, count):
    """Put ``count`` jobs in one transaction: enough for the queue's trees
    to have many buckets, which claims then empty."""
    c, tm = _open(db)
    try:
        queue = zc.asyncui.getQueue(c)
        for _ in range(count):
            queue.put(jobs.noop)
        tm.commit()
    finally:
        c.close()


def test_put_one_producer_wo_conflict_with_claims(db, conn):
    _fill(db, 1500)
    conflicts, put, claimed = _interleaved_puts_and_claims(db, db, 600)
    assert conflicts == {'producer': 0, 'claimer': 0}
    assert put == 600
    conn.transaction_manager.begin()
    assert len(zc.asyncui.getQueue(conn)) == 1500 + 600 - claimed
    assert len(list(zc.asyncui.getQueue(conn))) == 1500 + 600 - claimed


def test_put_one_producer_wo_conflict_with_claims_over_zeo(tmp_path):
    import ZEO
    addr, stop = ZEO.server(path=str(tmp_path / 'Data.fs'))
    producer_db, claimer_db = ZEO.DB(addr), ZEO.DB(addr)
    try:
        zc.asyncui.install(producer_db)
        _fill(producer_db, 1500)
        claimer_db.storage.sync()
        conflicts, put, _ = _interleaved_puts_and_claims(
            producer_db, claimer_db, 300)
        assert conflicts == {'producer': 0, 'claimer': 0}
        assert put == 300
    finally:
        producer_db.close()
        claimer_db.close()
        stop()


# -- the inbox ---------------------------------------------------------------

def _inbox_count(queue):
    return sum(len(bucket) - 1 for bucket in queue._inbox_buckets())


def test_put_into_inbox_and_claim_drains_it(queue, clock):
    _put_tags(queue, clock, (1, 0), (2, 5))
    queue.put(Job(jobs.record, 3), begin_after=T0 + datetime.timedelta(
        hours=1))
    assert _inbox_count(queue) == 3
    assert _tags(queue) == [2, 1, 3]
    assert _tags(queue.claimMany(5)) == [2, 1]
    assert _inbox_count(queue) == 0
    assert _tags(queue) == [3]
    assert len(queue) == 1


def test_put_beyond_inbox_limit_starts_new_bucket(queue, clock, monkeypatch):
    monkeypatch.setattr(queue_module, 'INBOX_LIMIT', 3)
    for n in range(10):
        queue.put(Job(jobs.record, n))
        clock.advance(seconds=1)
    assert [len(b) - 1 for b in queue._inbox_buckets()] == [3, 3, 3, 1]
    assert _tags(queue) == list(range(10))
    assert _tags(queue.claimMany(4)) == list(range(4))
    # The claim drained the inbox and dropped all buckets but the newest.
    assert [len(b) - 1 for b in queue._inbox_buckets()] == [0]
    assert _tags(queue) == list(range(4, 10))


def test_remove_from_inbox(queue):
    job = queue.put(jobs.noop)
    later = queue.put(jobs.noop, begin_after=datetime.datetime.now(UTC)
                      + datetime.timedelta(days=1))
    assert job in queue and later in queue
    queue.pull(job)
    queue.remove(later)
    assert _inbox_count(queue) == 0
    assert len(queue) == 0


def test_hasDue_scheduled_job_in_inbox(queue, clock):
    queue.put(jobs.noop, begin_after=T0 + datetime.timedelta(minutes=1))
    assert not queue.hasDue()
    assert queue.hasDue(now=T0 + datetime.timedelta(minutes=1))


def _put_noop_in(connection):
    return zc.asyncui.getQueue(connection).put(jobs.noop)


def _claim_three(connection):
    return zc.asyncui.getQueue(connection).claimMany(3)


def test_claim_concurrent_with_put_into_same_inbox_bucket(
        conn, queue, concurrently):
    claimed = []
    for n in range(10):
        _put_noop_in(conn)
        conn.transaction_manager.commit()
        # The claim drains the bucket the put adds to, in either order.
        pair = (_claim_three, _put_noop_in)
        results = concurrently(*(pair if n % 2 else pair[::-1]))
        claimed.extend(results[0] if n % 2 else results[1])
    conn.transaction_manager.begin()
    assert len(queue) == 20 - len(claimed)
    assert len(list(queue)) == 20 - len(claimed)


def test_put_concurrent_with_new_inbox_buckets(
        conn, queue, concurrently, monkeypatch):
    # Both puts find the newest bucket full and each adds a bucket.
    monkeypatch.setattr(queue_module, 'INBOX_LIMIT', 1)
    for _ in range(5):
        concurrently(_put_noop_in, _put_noop_in)  # no ConflictError
    conn.transaction_manager.begin()
    assert len(queue) == 10
    assert len(list(queue)) == 10
    assert len(queue.claimMany(20)) == 10


def test_put_into_bucket_a_claim_dropped_conflicts(db, conn, queue,
                                                   monkeypatch):
    # A put that began before a newer inbox bucket existed adds to the
    # old one; a claim drops that bucket meanwhile.  Whichever commits
    # second conflicts (and would be retried): the job is never lost in a
    # dropped bucket.
    monkeypatch.setattr(queue_module, 'INBOX_LIMIT', 1)
    for stale_first in (False, True):
        stale = db.open(transaction.TransactionManager())
        stale.transaction_manager.begin()
        _put_noop_in(stale)  # into the newest bucket as it sees it
        for _ in range(2):  # fill that bucket, and start a newer one
            _put_noop_in(conn)
            conn.transaction_manager.commit()
        claimer = db.open(transaction.TransactionManager())
        claimer.transaction_manager.begin()
        _claim_three(claimer)
        first, second = (stale, claimer) if stale_first else (
            claimer, stale)
        first.transaction_manager.commit()
        with pytest.raises(ZODB.POSException.ConflictError):
            second.transaction_manager.commit()
        for c in (stale, claimer):
            c.transaction_manager.abort()
            c.close()
    conn.transaction_manager.begin()
    # The first stale put was refused, the second committed and is found.
    assert len(queue) == len(list(queue)) == 3


# -- install: bad queue names (defect 7) ----------------------------------

@pytest.mark.parametrize('names, says', [
    ([1], "contains 1 (int): pass strings, for example names=['1']"),
    (['a', None], "contains None (NoneType): pass strings, for example"
                  " names=['a', '']"),
    ([b'x'], "contains b'x' (bytes): pass strings, for example"
             " names=['x']"),
    (None, "not None: write names=[''] for the default queue"),
    (5, "not 5: write names=['']"),
])
def test_install_wo_string_names(db, conn, names, says):
    for target in (db, conn):
        with pytest.raises(TypeError) as info:
            zc.asyncui.install(target, names=names)
        assert says in str(info.value)
    # Refused before anything is created, even in the caller's transaction.
    assert zc.asyncui.getQueues(conn).keys() == ['']


def test_put_one_producer_wo_conflict_with_rare_claims(db, conn, monkeypatch):
    # Claims too rare to keep the inbox from filling up (long jobs): the
    # producer still never meets a claim's changes.
    monkeypatch.setattr(queue_module, 'INBOX_LIMIT', 2)
    _fill(db, 1500)
    conflicts, put, claimed = _interleaved_puts_and_claims(
        db, db, 400, claim_every=7)
    assert conflicts == {'producer': 0, 'claimer': 0}
    assert put == 400
    conn.transaction_manager.begin()
    assert len(zc.asyncui.getQueue(conn)) == 1500 + 400 - claimed
    assert len(list(zc.asyncui.getQueue(conn))) == 1500 + 400 - claimed


class TestQueueConformance(testing.QueueConformance):
    """Queue passes the public conformance tests of every IQueue."""

    def makeQueue(self):
        return Queue()


# -- reading for pages: scheduled, countScheduled, oldestDue ---------------

def test_scheduled_count_and_oldest_due(conn, clock):
    queue = zc.asyncui.getQueue(conn)
    assert queue.oldestDue() is None
    assert queue.countScheduled() == 0
    first = queue.put(Job(jobs.record, 'a'))
    clock.advance(seconds=5)
    queue.put(Job(jobs.record, 'b'), priority=5)
    later = [queue.put(Job(jobs.record, tag), begin_after=T0 + delta)
             for tag, delta in (('c', datetime.timedelta(hours=2)),
                                ('d', datetime.timedelta(hours=1)))]
    # the inbox, then the claim trees: the same answers
    for _ in range(2):
        assert queue.countScheduled() == 2
        assert _tags(queue.scheduled()) == ['d', 'c']
        assert _tags(queue.scheduled(reverse=True)) == ['c', 'd']
        # 'a' waits longest, though 'b' (priority 5) is claimed first
        assert queue.oldestDue() == T0
        transaction.commit()
        queue.claimMany(0)  # drains the inbox to the claim trees
    clock.advance(hours=1, seconds=1)
    # 'd' became due (not yet moved to the due trees): it counts as due
    assert queue.countScheduled() == 1
    assert _tags(queue.scheduled()) == ['c']
    assert queue.oldestDue() == T0
    queue.remove(first)
    assert queue.claim().args[0] == 'b'
    assert queue.oldestDue() == later[1].begin_after


# -- claims of several dispatchers spread over the due trees (issue 11) ----

def _shard_share(queue, job, number):
    return job._p_oid[-1] % len(queue._due) % number


def _put_and_drain(conn, queue, n):
    put = [queue.put(jobs.noop) for _ in range(n)]
    conn.transaction_manager.commit()
    queue.claimMany(0)  # moves the inbox to the due trees
    conn.transaction_manager.commit()
    return put


def test_claim_share_takes_own_trees_in_order(conn, queue):
    put = _put_and_drain(conn, queue, 200)
    order = [job._p_oid for job in queue]
    claimed = queue.claimMany(20, share=(1, 2))
    assert len(claimed) == 20
    assert {_shard_share(queue, job, 2) for job in claimed} == {1}
    mine = [oid for oid in order
            if oid[-1] % len(queue._due) % 2 == 1][:20]
    assert [job._p_oid for job in claimed] == mine  # claim order kept
    assert len(queue) == len(put) - 20


def test_claims_of_two_dispatchers_commit_wo_conflict(
        db, conn, queue, concurrently):
    _put_and_drain(conn, queue, 400)
    taken = 0
    for _ in range(4):
        # The same front of the queue for both: without shares both
        # take the same jobs and the second commit raises ConflictError.
        first, second = concurrently(
            lambda c: zc.asyncui.getQueue(c).claimMany(40, share=(0, 2)),
            lambda c: zc.asyncui.getQueue(c).claimMany(40, share=(1, 2)))
        # Each its own part of the first 80 (about half).
        assert 20 <= len(first) <= 40 and 20 <= len(second) <= 40
        assert not {j._p_oid for j in first} & {j._p_oid for j in second}
        taken += len(first) + len(second)
    conn.transaction_manager.begin()
    assert len(queue) == 400 - taken


def test_claims_wo_share_conflict(db, conn, queue, concurrently):
    # What the shares avoid.
    _put_and_drain(conn, queue, 100)
    with pytest.raises(ZODB.POSException.ConflictError):
        concurrently(lambda c: zc.asyncui.getQueue(c).claimMany(10),
                     lambda c: zc.asyncui.getQueue(c).claimMany(10))


def test_claim_share_takes_others_jobs_that_fill_the_front(conn, queue):
    # The other dispatcher does not claim (busy, or dead but not yet
    # declared so): its jobs wait for at most a window, then are taken.
    put = _put_and_drain(conn, queue, 300)
    taken = set()
    for _ in range(100):
        order = [job._p_oid for job in queue]
        claimed = queue.claimMany(10, share=(0, 2))
        if not claimed:
            break
        # Never beyond the window of count * number jobs.
        assert all(order.index(job._p_oid) < 20 for job in claimed)
        taken.update(job._p_oid for job in claimed)
    assert len(taken) == len(put) and len(queue) == 0
    # Until the window filled with the other's jobs, it took its own.
    conn.transaction_manager.abort()
    order = [job._p_oid for job in queue]
    first = queue.claimMany(10, share=(0, 2))
    assert {_shard_share(queue, j, 2) for j in first} == {0}
    assert all(order.index(j._p_oid) < 20 for j in first)


def test_claim_share_falls_back_to_plain_order(conn, queue):
    # Only the other dispatcher's jobs are pending: claimed anyway, in
    # claim order; likewise with a filter, which shares leave alone.
    put = _put_and_drain(conn, queue, 100)
    others = [j for j in queue if _shard_share(queue, j, 2) == 1]
    for job in [j for j in put if _shard_share(queue, j, 2) == 0]:
        queue.remove(job)
    assert [j._p_oid for j in queue.claimMany(5, share=(0, 2))] == [
        j._p_oid for j in others[:5]]
    assert [j._p_oid for j in queue.claimMany(
        5, filter=lambda job: True, share=(1, 2))] == [
        j._p_oid for j in others[5:10]]


def test_claim_share_of_one_is_plain_order(conn, queue):
    _put_and_drain(conn, queue, 50)
    order = [job._p_oid for job in queue]
    assert [j._p_oid for j in queue.claimMany(7, share=(0, 1))] == order[:7]
