"""History benchmark: Data.fs bytes per finished job, and query times with
1,000 and 100,000 finished jobs.

Jobs finish at a steady pace (one every 6 seconds: 600 an hour, one in
ten failed), so a deeper history is a longer one and "since 1H" matches
about as many jobs at either depth; each job is finished with the
lifecycle functions and recorded as the poll thread records it (batches
of 500).  Prints, for each depth: Data.fs bytes per job before pack,
after pack, and after retention dropped every job and a pack; then the
median time of each query (warm cache, and cold for
the first two) and the ratio 100,000 / 1,000 (should be < 3).

Usage: python bench/history.py [--small 1000] [--large 100000]
"""
import argparse
import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time

import transaction
import ZODB
import ZODB.FileStorage

import zc.asyncui
from zc.asyncui import history
from zc.asyncui import lifecycle
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchjobs  # noqa: E402

PACE = datetime.timedelta(seconds=6)
BATCH = 500
SHARD = 'bench'


def build(path, n, now):
    """A FileStorage with ``n`` finished jobs in the history."""
    db = ZODB.DB(ZODB.FileStorage.FileStorage(path))
    zc.asyncui.install(db)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    first = now - PACE * n
    done = []
    for i in range(n):
        end = first + PACE * (i + 1)
        job = Job(benchjobs.noop, i)
        conn.add(job)
        lifecycle.put(job)
        lifecycle.start(job, SHARD, 'main', now=end - PACE / 2)
        lifecycle.set_result(job, Failure(ValueError(i)) if i % 10 == 0
                             else i, end)
        done.append(job)
        if len(done) == BATCH or i == n - 1:
            tm.commit()
            history.record(conn, done, SHARD)
            tm.commit()
            done = []
    return db, conn, tm


def timed(func, repeat=7, cold=None):
    times = []
    for _ in range(repeat):
        if cold is not None:
            cold.cacheMinimize()  # load from the storage: a fresh reader
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def queries(conn, now):
    hour = now - datetime.timedelta(hours=1)
    return {
        'count failed since 1H (index)': lambda: history.count(
            conn, status='failed', since=hour),
        'counts since 1H (counters)': lambda: history.counts(
            conn, since=hour),
        'query newest 20': lambda: history.query(conn, count=20),
        'query failed, 20': lambda: history.query(
            conn, status='failed', count=20),
        'query callable glob since 1H': lambda: history.query(
            conn, callable='benchjobs.*', since=hour),
    }


def measure(base, n, now):
    path = os.path.join(base, 'h%d.fs' % n)
    started = time.monotonic()
    db, conn, tm = build(path, n, now)
    built = time.monotonic() - started
    tm.begin()
    found = history.count(conn, status='failed', since=now - datetime.
                          timedelta(hours=1))
    times = {name: timed(q) for name, q in queries(conn, now).items()}
    for name, q in list(queries(conn, now).items())[:2]:
        times[name + ', cold'] = timed(q, cold=conn)
    tm.abort()
    size = os.path.getsize(path)
    db.pack()
    packed = os.path.getsize(path)
    # retention: drop everything (max_count 0), in prune steps
    tm.begin()
    history.configure(conn, max_count=0)
    tm.commit()
    while history.prune(conn, SHARD, now, step=1000):
        tm.commit()
    tm.commit()
    db.pack()
    emptied = os.path.getsize(path)
    conn.close()
    db.close()
    print('%7d jobs (built in %.0fs): Data.fs %6.0f bytes/job before pack,'
          ' %6.0f after pack, %6.0f after retention dropped them and a pack'
          '; %d failed in the last hour'
          % (n, built, size / n, packed / n, emptied / n, found))
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--small', type=int, default=1000)
    parser.add_argument('--large', type=int, default=100000)
    args = parser.parse_args()
    now = utils.now()
    base = tempfile.mkdtemp(prefix='zc.asyncui-bench-history-')
    try:
        small = measure(base, args.small, now)
        large = measure(base, args.large, now)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for name in small:
        print('%-32s %8.3f ms with %d, %8.3f ms with %d: ratio %.2f' % (
            name, small[name] * 1e3, args.small, large[name] * 1e3,
            args.large, large[name] / small[name]))


if __name__ == '__main__':
    main()
