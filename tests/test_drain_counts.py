"""What a drain of short jobs loads and stores, per job: counts, never
times (the speed lives in bench/throughput.py and bench/profile_drain.py).
Real dispatcher, worker threads and FileStorage.

The poll thread claims jobs, takes completed ones off their agent and
records them in the history without loading a single job (the worker that
finished a job hands over what the history records of it, see
zc.asyncui.historyfacts); a job's record is written twice while it runs
(started, finished) and loaded once, by its worker.
"""
import collections
import threading

import pytest
import transaction
import ZODB.Connection
import ZODB.serialize

import jobs
import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import history
from zc.asyncui import testing
from zc.asyncui.job import Job

N = 300


class Counts:
    """Job loads and stores, and all stores, by thread kind ('poll' or
    'worker'), while counting."""

    def __init__(self, monkeypatch):
        self.loads = collections.Counter()
        self.stores = collections.Counter()
        self.job_stores = collections.Counter()
        self.lock = threading.Lock()
        setstate = ZODB.Connection.Connection.setstate
        serialize = ZODB.serialize.ObjectWriter.serialize
        counts = self

        def counted_setstate(conn, obj):
            if isinstance(obj, Job):
                counts.add(counts.loads)
            return setstate(conn, obj)

        def counted_serialize(writer, obj):
            counts.add(counts.stores)
            if isinstance(obj, Job):
                counts.add(counts.job_stores)
            return serialize(writer, obj)
        monkeypatch.setattr(ZODB.Connection.Connection, 'setstate',
                            counted_setstate)
        monkeypatch.setattr(ZODB.serialize.ObjectWriter, 'serialize',
                            counted_serialize)

    def add(self, counter):
        name = threading.current_thread().name
        kind = 'worker' if 'worker' in name else (
            'poll' if 'dispatcher' in name else 'other')
        with self.lock:
            counter[kind] += 1


def drain(db, tmp_path, monkeypatch, size):
    zc.asyncui.install(db)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    queue = zc.asyncui.getQueue(conn)
    put = [queue.put(Job(jobs.noop, i)) for i in range(N)]
    tm.commit()
    counts = Counts(monkeypatch)
    d = dispatcher.start(db, main_agent_size=size, poll_interval=0.1,
                         uuid_file=str(tmp_path / 'uuid.txt'))
    assert [testing.wait_for_result(job, 60) for job in put] == list(
        range(N))
    # Every completion recorded in the history (a poll after the last).
    testing.wait_until(lambda: _recorded(db) == N, 30,
                       "every job recorded in the history")
    monkeypatch.undo()
    d.stop(10)
    tm.abort()
    conn.close()
    return counts


def _recorded(db):
    conn = db.open()
    try:
        return history.count(conn)
    finally:
        conn.close()


@pytest.mark.parametrize('size', [1, 4])
def test_a_drain_loads_each_job_once_and_writes_it_twice(
        db, tmp_path, monkeypatch, size):
    counts = drain(db, tmp_path, monkeypatch, size)
    # No job is loaded by the poll thread: claims ask nothing of a job
    # when the queue has no filter or quotas, and history entries come
    # from what the workers read.
    assert counts.loads['poll'] == 0
    assert counts.job_stores['poll'] == 0
    # Each job loaded by the worker that starts it (a few more for
    # started jobs put back on a stale snapshot), written when started
    # and when finished.
    assert counts.loads['worker'] <= N * 1.1
    assert counts.job_stores['worker'] == 2 * N
    # Everything else written (claim trees, agent, history): a bounded
    # number of records per job, whatever the backlog.
    others = sum(counts.stores.values()) - 2 * N
    assert others <= 2 * N
