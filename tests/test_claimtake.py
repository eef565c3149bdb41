"""A claim takes jobs put since the last one straight from the inbox
(zc.asyncui.claimtake), on FileStorage on disk: no claim tree written,
the claim order kept across the inbox and the claim trees, a put at the
same moment still never conflicting.  Counts, not times."""
import datetime

import transaction

import zc.asyncui
from zc.asyncui import claimtake
from zc.asyncui import queue as queue_module
from zc.asyncui import utils
from zc.asyncui.job import Job

import jobs


def _open(db):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    return conn, tm, zc.asyncui.getQueue(conn)


def _put(db, *specs):
    """Put ``record(tag)`` for each (tag, priority) in one transaction."""
    conn, tm, queue = _open(db)
    for tag, priority in specs:
        queue.put(Job(jobs.record, tag), priority=priority)
    tm.commit()
    conn.close()


def _tags(found):
    return [job.args[0] for job in found]


def _written(conn):
    """Class names of the objects the transaction of ``conn`` changed."""
    return sorted(type(obj).__name__ for obj in conn._registered_objects)


def _claim_trees_pending(queue):
    return sum(len(tree) - 1 for tree in queue._due)


def test_fresh_jobs_claimed_from_the_inbox_write_no_claim_tree(db):
    zc.asyncui.install(db)
    _put(db, ('a', 0), ('b', 0), ('c', 0))
    conn, tm, queue = _open(db)
    assert _tags(queue.claimMany(3)) == ['a', 'b', 'c']
    # The inbox bucket and the pending count: no ClaimTree, no bucket of
    # one (there were 16 trees to write before).
    assert not any(name in ('ClaimTree', 'OOBTree') for name in
                   _written(conn)), _written(conn)
    tm.commit()
    assert len(queue) == 0 and _claim_trees_pending(queue) == 0
    conn.close()


def test_claim_order_kept_across_the_inbox_and_the_claim_trees(db):
    zc.asyncui.install(db)
    _put(db, ('low1', 0), ('low2', 0), ('low3', 0))
    conn, tm, queue = _open(db)
    assert _tags(queue.claimMany(1)) == ['low1']
    tm.commit()
    # What the claim left in the inbox was moved after it.
    assert _claim_trees_pending(queue) == 2
    _put(db, ('high', 5), ('low4', 0))
    tm.begin()
    assert _tags(queue.claimMany(3)) == ['high', 'low2', 'low3']
    tm.commit()
    assert _tags(queue) == ['low4'] and len(queue) == 1
    assert _tags(queue.claimMany(5)) == ['low4']
    tm.commit()
    assert len(queue) == 0
    conn.close()


def test_scheduled_job_in_the_inbox_waits_then_is_claimed(db):
    zc.asyncui.install(db)
    conn, tm, queue = _open(db)
    later = utils.now() + datetime.timedelta(seconds=60)
    queue.put(Job(jobs.record, 'later'), begin_after=later)
    queue.put(Job(jobs.record, 'now'))
    tm.commit()
    assert _tags(queue.claimMany(5)) == ['now']
    tm.commit()
    assert _tags(queue.claimMany(5)) == []
    assert _tags(queue.claimMany(
        5, now=later + datetime.timedelta(seconds=1))) == ['later']
    tm.commit()
    conn.close()


def test_a_backlog_is_moved_first_then_claimed_in_order(db, monkeypatch):
    monkeypatch.setattr(queue_module, 'INBOX_LIMIT', 2)
    zc.asyncui.install(db)
    specs = [(n, n % 2) for n in range(2 * (claimtake.INBOX_BUCKETS + 2))]
    _put(db, *specs)
    conn, tm, queue = _open(db)
    assert len(list(queue._inbox_buckets())) > claimtake.INBOX_BUCKETS
    expected = [n for n, _ in sorted(specs, key=lambda s: (-s[1], s[0]))]
    assert _tags(queue.claimMany(3)) == expected[:3]
    tm.commit()
    assert len(list(queue._inbox_buckets())) == 1
    assert _tags(queue.claimMany(100)) == expected[3:]
    tm.commit()
    conn.close()


def test_claim_from_the_inbox_and_a_put_at_once_both_commit(
        db, concurrently):
    zc.asyncui.install(db)
    _put(db, ('a', 0), ('b', 0))

    def claim(conn):
        return _tags(zc.asyncui.getQueue(conn).claimMany(5))

    def putting(tag):
        return lambda conn: zc.asyncui.getQueue(conn).put(
            Job(jobs.record, tag))
    # The claim empties the inbox bucket the put adds to, either way.
    assert concurrently(claim, putting('c'))[0] == ['a', 'b']
    assert concurrently(putting('d'), claim)[1] == ['c']
    conn, tm, queue = _open(db)
    assert _tags(queue) == ['d'] and len(queue) == 1
    conn.close()
