"""Queue.put(..., collapse_key=K): at most one pending job per key."""
import pytest
import transaction
import ZODB.POSException

import jobs
import zc.asyncui
from zc.asyncui import collapse
from zc.asyncui import inline
from zc.asyncui.job import Job


def test_put_with_pending_key_returns_the_pending_job(conn):
    queue = zc.asyncui.getQueue(conn)
    first = queue.put(Job(jobs.record, 1), collapse_key='reindex:1')
    again = queue.put(Job(jobs.record, 2), collapse_key='reindex:1')
    other = queue.put(Job(jobs.record, 3), collapse_key='reindex:2')
    assert again is first
    assert other is not first
    assert len(queue) == 2
    assert first.annotations[collapse.ANNOTATION] == 'reindex:1'
    conn.transaction_manager.commit()
    assert queue.put(Job(jobs.record, 4), collapse_key='reindex:1') is first


def test_put_after_start_adds_a_new_job(db, conn):
    queue = zc.asyncui.getQueue(conn)
    first = queue.put(Job(jobs.record, 1), collapse_key='k')
    conn.transaction_manager.commit()
    assert inline.run_jobs(conn) == 1
    assert first.status == zc.asyncui.JobStatus.COMPLETED
    second = queue.put(Job(jobs.record, 2), collapse_key='k')
    assert second is not first
    assert len(queue) == 1
    conn.transaction_manager.commit()


def test_pulled_job_does_not_hold_its_key(conn):
    queue = zc.asyncui.getQueue(conn)
    first = queue.put(Job(jobs.record, 1), collapse_key='k')
    queue.pull(first)
    assert queue.put(Job(jobs.record, 2), collapse_key='k') is not first


def test_keys_are_per_queue(conn):
    zc.asyncui.install(conn, names=['other'])
    queues = zc.asyncui.getQueues(conn)
    a = queues[''].put(Job(jobs.record, 1), collapse_key='k')
    b = queues['other'].put(Job(jobs.record, 2), collapse_key='k')
    assert a is not b


def test_bad_collapse_keys_say_what_to_pass(conn):
    queue = zc.asyncui.getQueue(conn)
    with pytest.raises(TypeError, match='collapse_key must be a string'):
        queue.put(Job(jobs.noop), collapse_key=42)
    with pytest.raises(ValueError, match='non-empty'):
        queue.put(Job(jobs.noop), collapse_key='')
    assert len(queue) == 0


def test_queues_put_passes_the_key(conn):
    queues = zc.asyncui.getQueues(conn)
    first = queues.put(Job(jobs.record, 1), collapse_key='k')
    assert queues.put(Job(jobs.record, 2), collapse_key='k') is first


def _two_connections(db):
    zc.asyncui.install(db)
    tms = [transaction.TransactionManager() for _ in range(2)]
    return [db.open(tm) for tm in tms]


def test_concurrent_puts_of_one_key_one_wins(db):
    c1, c2 = _two_connections(db)
    j1 = zc.asyncui.getQueue(c1).put(Job(jobs.record, 1), collapse_key='k')
    j2 = zc.asyncui.getQueue(c2).put(Job(jobs.record, 2), collapse_key='k')
    c1.transaction_manager.commit()
    with pytest.raises(ZODB.POSException.ConflictError):
        c2.transaction_manager.commit()
    c2.transaction_manager.abort()
    # The retry finds the winner's job pending.
    again = zc.asyncui.getQueue(c2).put(Job(jobs.record, 3),
                                        collapse_key='k')
    assert again._p_oid == j1._p_oid
    c2.transaction_manager.commit()
    assert len(zc.asyncui.getQueue(c2)) == 1
    assert j2._p_jar is None or j2._p_oid != j1._p_oid


def test_concurrent_puts_of_distinct_keys_do_not_conflict(db):
    c1, c2 = _two_connections(db)
    zc.asyncui.getQueue(c1).put(Job(jobs.record, 1), collapse_key='a')
    zc.asyncui.getQueue(c2).put(Job(jobs.record, 2), collapse_key='b')
    c1.transaction_manager.commit()
    c2.transaction_manager.commit()
    c1.transaction_manager.begin()
    assert len(zc.asyncui.getQueue(c1)) == 2


def test_put_returning_a_job_that_starts_meanwhile_conflicts(db):
    c1, c2 = _two_connections(db)
    first = zc.asyncui.getQueue(c1).put(Job(jobs.record, 1),
                                        collapse_key='k')
    c1.transaction_manager.commit()
    c2.transaction_manager.begin()
    # The application changes data the job must see, and asks for a job.
    # (A transaction that writes nothing cannot conflict: then there is
    # nothing the started job could have missed.)
    c2.root()['document'] = 'changed'
    assert zc.asyncui.getQueue(c2).put(
        Job(jobs.record, 2), collapse_key='k')._p_oid == first._p_oid
    assert inline.run_jobs(db) == 1  # the job starts and runs meanwhile
    with pytest.raises(ZODB.POSException.ConflictError):
        c2.transaction_manager.commit()
    c2.transaction_manager.abort()
    retried = zc.asyncui.getQueue(c2).put(Job(jobs.record, 2),
                                          collapse_key='k')
    assert retried._p_oid != first._p_oid
    c2.transaction_manager.commit()


def test_queue_stored_before_collapse_keys_gets_its_index(conn):
    queue = zc.asyncui.getQueue(conn)
    del queue._collapse  # as a queue stored by an older release
    job = queue.put(Job(jobs.record, 1))
    collapse.release(job)  # no key, no index: nothing to do
    first = queue.put(Job(jobs.record, 1), collapse_key='k')
    assert len(queue._collapse) == collapse.SHARDS
    assert queue.put(Job(jobs.record, 2), collapse_key='k') is first


def test_release_forgets_only_its_own_job(conn):
    queue = zc.asyncui.getQueue(conn)
    first = queue.put(Job(jobs.record, 1), collapse_key='k')
    queue.pull(first)
    second = queue.put(Job(jobs.record, 2), collapse_key='k')
    collapse.release(first)  # stale: the key now belongs to second
    assert queue.put(Job(jobs.record, 3), collapse_key='k') is second
    collapse.release(second)
    assert queue.put(Job(jobs.record, 4), collapse_key='k') is not second
