"""@@metrics benchmark: the time to collect and render the metrics
(zc.asyncui.metrics, what one scrape costs) with many finished jobs in
the history and many pending jobs in the queue.

The job counters come from the history's running totals, whose size
depends on queues x callables, not on the number of jobs; queue depth
and latency walk the pending jobs of each queue, so the pending count is
what a scrape's time follows.  Prints the median time, warm and cold
(cache emptied: a fresh reader), for each size; then what the log page
reads from the history (the newest failures, and those of one
dispatcher, read from its own part of the history).

Usage: python bench/metrics.py [--finished 100000] [--pending 1000 10000]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid

import transaction

import zc.asyncui
from zc.asyncui import logbuffer
from zc.asyncui import metrics
from zc.asyncui import utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import history as history_bench  # noqa: E402
import benchjobs  # noqa: E402


def timed(func, conn=None, repeat=7):
    times = []
    for _ in range(repeat):
        if conn is not None:
            conn.cacheMinimize()
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def log_reads(conn):
    """What the log page reads from the database."""
    other = str(uuid.uuid4())
    return {
        'log page, stored failures (newest 100)': lambda: (
            logbuffer.stored_failures(conn)),
        "log page, one dispatcher's failures (newest 100)": lambda: (
            logbuffer.stored_failures(conn, dispatcher=history_bench.SHARD)),
        'log page, a dispatcher that recorded none': lambda: (
            logbuffer.stored_failures(conn, dispatcher=other)),
    }


def add_pending(conn, tm, n):
    queue = zc.asyncui.getQueue(conn)
    for i in range(n):
        queue.put(zc.asyncui.Job(benchjobs.noop, i))
        if i % 1000 == 999:
            tm.commit()
    tm.commit()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--finished', type=int, default=100000)
    parser.add_argument('--pending', type=int, nargs='+',
                        default=[1000, 10000])
    args = parser.parse_args()
    now = utils.now()
    base = tempfile.mkdtemp(prefix='zc.asyncui-bench-metrics-')
    try:
        db, conn, tm = history_bench.build(
            os.path.join(base, 'm.fs'), args.finished, now)
        have = 0
        for pending in sorted(args.pending):
            add_pending(conn, tm, pending - have)
            have = pending
            scrape = lambda: metrics.render(metrics.collect(conn))  # noqa
            size = len(scrape())
            print('%d finished, %d pending: scrape %.1f ms warm, %.1f ms'
                  ' cold (%d bytes of text)' % (
                      args.finished, pending, timed(scrape),
                      timed(scrape, conn), size))
        for name, read in log_reads(conn).items():
            print('%s: %.1f ms warm, %.1f ms cold' % (
                name, timed(read), timed(read, conn)))
        conn.close()
        db.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    transaction.manager.explicit = False
    main()
