"""Costs that must not grow with the backlog (issue 11; bench/growth.py
measures them, these tests pin the causes found)."""
import BTrees.OOBTree
import transaction

import zc.asyncui
from zc.asyncui import queue as queue_module
from zc.asyncui.job import Job

import jobs


def _bytes_per_claim(db, pending, claims):
    zc.asyncui.install(db)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    queue = zc.asyncui.getQueue(conn)
    for i in range(pending):
        queue.put(Job(jobs.noop, i))
        if i % 1000 == 999:
            tm.commit()
    tm.commit()
    queue.claim()  # moves the inbox to the claim trees
    tm.commit()
    before = db.storage.getSize()
    for _ in range(claims):
        assert queue.claim() is not None
        tm.commit()
    written = (db.storage.getSize() - before) / claims
    conn.close()
    return written


def test_new_queue_claim_trees_have_small_interior_nodes(conn):
    queue = zc.asyncui.getQueue(conn)
    trees = queue._due + (queue._scheduled,)
    assert all(type(t) is queue_module.ClaimTree for t in trees)
    assert queue_module.ClaimTree.max_internal_size == 32
    assert isinstance(trees[0], BTrees.OOBTree.OOBTree)


def test_claims_write_less_than_with_plain_oobtrees(tmp_path, monkeypatch):
    from zc.asyncui import testing
    sizes = {}
    for cls in (queue_module.ClaimTree, BTrees.OOBTree.OOBTree):
        monkeypatch.setattr(queue_module, 'ClaimTree', cls)
        directory = tmp_path / cls.__name__
        directory.mkdir()
        db = testing.file_storage_db(str(directory))
        try:
            sizes[cls.__name__] = _bytes_per_claim(db, 20000, claims=400)
        finally:
            db.close()
    # Each emptied bucket rewrites its parent node: 250 children (about
    # 20 kB at 100,000 pending) in a plain OOBTree, at most 32 here.
    # Measured: 1.2 kB against 2.1 kB per claim at 20,000 pending.
    assert sizes['ClaimTree'] < 0.75 * sizes['OOBTree'], sizes


def test_a_queue_with_plain_oobtrees_still_claims_in_order(conn):
    # Queues stored before ClaimTree existed keep their OOBTrees.
    queue = zc.asyncui.getQueue(conn)
    queue._due = tuple(BTrees.OOBTree.OOBTree({b'': None})
                       for _ in queue._due)
    put = [queue.put(Job(jobs.noop, i)) for i in range(40)]
    conn.transaction_manager.commit()
    claimed = [queue.claim() for _ in range(40)]
    assert claimed == put
    assert queue.claim() is None
