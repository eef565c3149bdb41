"""A claim moving a backlog from the inbox to the claim trees
(zc.asyncui.queue.Queue._drain) in one transaction, with savepoints that
keep its memory bounded (issue 11: the dispatcher's memory grew with the
backlog), on FileStorage on disk.  Counts, not times."""
import pytest
import transaction
import ZODB
import ZODB.FileStorage

import zc.asyncui
from zc.asyncui import queue as queue_module
from zc.asyncui.job import Job

import jobs


def _open(db):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    return conn, tm, zc.asyncui.getQueue(conn)


def _inbox_count(queue):
    return sum(len(bucket) - 1 for bucket in queue._inbox_buckets())


@pytest.fixture
def savepoints(monkeypatch):
    """The number of savepoints drains take, in a list of one."""
    taken = [0]
    real = queue_module._savepoint

    def counting(jar):
        taken[0] += 1
        real(jar)
    monkeypatch.setattr(queue_module, '_savepoint', counting)
    return taken


def _put_backlog(db, count, priority_of=lambda n: 0):
    """Put ``count`` jobs ``record(n)``, 100 per transaction."""
    conn, tm, queue = _open(db)
    for n in range(count):
        queue.put(Job(jobs.record, n), priority=priority_of(n))
        if n % 100 == 99:
            tm.commit()
    tm.commit()
    conn.close()


def test_backlog_drained_with_savepoints_keeps_claim_order(
        db, conn, monkeypatch, savepoints):
    monkeypatch.setattr(queue_module, 'INBOX_LIMIT', 5)
    monkeypatch.setattr(queue_module, 'DRAIN_SAVEPOINT_JOBS', 7)
    zc.asyncui.install(db)
    _put_backlog(db, 120, priority_of=lambda n: n % 3)
    # Priority first (2, 1, 0), then arrival: the order of the puts.
    expected = sorted(range(120), key=lambda n: (-(n % 3), n))
    claimer, tm, queue = _open(db)
    assert len(list(queue._inbox_buckets())) == 24
    claimed = [job.args[0] for job in queue.claimMany(10)]
    assert claimed == expected[:10]
    # Whole buckets of 5 jobs: a savepoint once 10 jobs moved since the
    # last one.
    assert savepoints[0] == 12
    tm.commit()
    claimer.close()
    conn.transaction_manager.begin()
    queue = zc.asyncui.getQueue(conn)
    assert _inbox_count(queue) == 0
    assert len(list(queue._inbox_buckets())) == 1  # the newest stays
    assert [job.args[0] for job in queue] == expected[10:]
    assert len(queue) == 110


def test_aborted_drain_leaves_the_backlog_in_the_inbox(
        db, conn, monkeypatch, savepoints):
    monkeypatch.setattr(queue_module, 'DRAIN_SAVEPOINT_JOBS', 50)
    zc.asyncui.install(db)
    _put_backlog(db, 300)
    claimer, tm, queue = _open(db)
    assert len(queue.claimMany(5)) == 5
    assert savepoints[0] == 4  # after each bucket of 64 jobs but the last
    tm.abort()  # the savepoints' changes are gone with the transaction
    claimer.close()
    conn.transaction_manager.begin()
    queue = zc.asyncui.getQueue(conn)
    assert _inbox_count(queue) == 300
    assert [job.args[0] for job in queue.claimMany(300)] == list(range(300))


def _jobs_held_by_drain(directory, pending, savepoint_jobs, monkeypatch):
    """The most jobs (loaded or ghosts still referenced) the claiming
    connection's cache held while its first claim drained ``pending``
    jobs (seen before each savepoint and when the claim returns)."""
    monkeypatch.setattr(queue_module, 'DRAIN_SAVEPOINT_JOBS', savepoint_jobs)
    db = ZODB.DB(ZODB.FileStorage.FileStorage(
        str(directory / ('%d-%d.fs' % (pending, savepoint_jobs)))),
        cache_size=20)
    try:
        zc.asyncui.install(db)
        _put_backlog(db, pending)
        db.cacheMinimize()
        conn, tm, queue = _open(db)
        seen = []
        real = queue_module._savepoint

        def jobs_in_cache():
            return sum(1 for _, obj in conn._cache.items()
                       if isinstance(obj, Job))

        def noting(jar):
            seen.append(jobs_in_cache())
            real(jar)
        monkeypatch.setattr(queue_module, '_savepoint', noting)
        try:
            # Kept: the claimed job, a ghost (claims load no job), would
            # leave the cache with the last reference to it.
            claimed = queue.claimMany(1)
        finally:
            monkeypatch.setattr(queue_module, '_savepoint', real)
        assert len(claimed) == 1
        seen.append(jobs_in_cache())
        tm.commit()
        conn.close()
        return max(seen)
    finally:
        db.close()


def test_memory_of_a_drain_bounded_whatever_the_backlog(tmp_path,
                                                        monkeypatch):
    # Without savepoints, the drain holds every job of the backlog.
    assert _jobs_held_by_drain(tmp_path, 2000, 10 ** 9,
                               monkeypatch) == 2000
    # With a savepoint every 100 jobs, whatever the backlog: the jobs
    # moved since the last savepoint (up to 100 + 64) and those that
    # claim trees' buckets in memory refer to, at most 30 each: the 20
    # objects the cache keeps and the buckets changed since the last
    # savepoint (the last one or two of each of the 16 trees).
    bound = 100 + 64 + (20 + 2 * 16) * 30
    for pending in (2000, 6000):
        assert _jobs_held_by_drain(tmp_path, pending, 100,
                                   monkeypatch) < bound


def _loads_per_claim(directory, pending):
    """Objects a claim loads (a new connection: nothing cached) once a
    backlog of ``pending`` jobs is in the claim trees; the most of 5."""
    db = ZODB.DB(ZODB.FileStorage.FileStorage(
        str(directory / ('loads-%d.fs' % pending))))
    try:
        zc.asyncui.install(db)
        _put_backlog(db, pending)
        conn, tm, queue = _open(db)
        queue.claimMany(1)  # the drain
        tm.commit()
        conn.close()
        loads = []
        for _ in range(5):
            db.cacheMinimize()
            conn, tm, queue = _open(db)
            conn.getTransferCounts(clear=True)
            assert len(queue.claimMany(1)) == 1
            loads.append(conn.getTransferCounts()[0])
            tm.commit()
            conn.close()
        return max(loads)
    finally:
        db.close()


def test_objects_loaded_per_claim_bounded_whatever_the_backlog(tmp_path):
    # The root, the queues, the queue and its inbox, the 16 claim trees'
    # roots and first buckets, the claimed job... (54 here): the same
    # with 10 times the backlog, or one more level in each tree at most.
    small = _loads_per_claim(tmp_path, 500)
    large = _loads_per_claim(tmp_path, 5000)
    assert large <= small + 16


def _drain_while_putting(db, savepoints, put_first):
    """Put a backlog; then a claim drains it (savepoints) while a put adds
    to the newest inbox bucket, both begun together; commit them in
    either order and check no job is lost and the order is kept."""
    zc.asyncui.install(db)
    _put_backlog(db, 1000)
    claimer, claim_tm, queue = _open(db)
    producer, put_tm, producer_queue = _open(db)
    claim_tm.begin()
    put_tm.begin()
    late = producer_queue.put(Job(jobs.record, 'late'))
    assert [job.args[0] for job in queue.claimMany(3)] == [0, 1, 2]
    assert savepoints[0] == 8  # one every two inbox buckets
    first, second = (put_tm, claim_tm) if put_first else (claim_tm, put_tm)
    first.commit()
    second.commit()
    for conn in (claimer, producer):
        conn.close()
    reader, tm, queue = _open(db)
    assert len(queue) == 998
    assert [job.args[0] for job in queue] == list(range(3, 1000)) + [
        'late']
    assert _inbox_count(queue) == 1  # 'late', in the newest bucket
    assert reader.get(late._p_oid) in queue
    reader.close()


@pytest.mark.parametrize('put_first', [False, True])
def test_drain_with_savepoints_and_a_concurrent_put_on_zeo(
        tmp_path, monkeypatch, savepoints, put_first):
    # Through a real ZEO server: the drain's savepoints and its commit
    # resolve the conflict with a put into the newest inbox bucket (which
    # the drain empties too), whichever commits first.
    import ZEO
    monkeypatch.setattr(queue_module, 'DRAIN_SAVEPOINT_JOBS', 100)
    address, stop = ZEO.server(path=str(tmp_path / 'Data.fs'))
    db = ZEO.DB(address)
    try:
        _drain_while_putting(db, savepoints, put_first)
    finally:
        db.close()
        stop()


def test_drain_with_savepoints_and_a_concurrent_put_on_relstorage(
        postgres_uri, monkeypatch, savepoints):
    # The same on RelStorage (PostgreSQL; skipped when not available).
    from zc.asyncui import dburi
    monkeypatch.setattr(queue_module, 'DRAIN_SAVEPOINT_JOBS', 100)
    db = dburi.parse(postgres_uri).open()
    try:
        _drain_while_putting(db, savepoints, put_first=True)
    finally:
        db.close()
