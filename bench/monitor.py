"""Monitor benchmark: the time of ``asyncdb count failed since:1H`` with
1,000 and 100,000 finished jobs (built as bench/history.py builds them:
one job every 6 seconds, one in ten failed, so "since 1H" matches about
as many jobs at either depth).  The command runs as the monitor server
runs it (a fresh connection each time, JSON written to the client);
prints the median time (warm: the database's cache kept between runs)
at each depth and the ratio 100,000 / 1,000 (should be < 3).

Usage: python bench/monitor.py [--small 1000] [--large 100000]
"""
import argparse
import datetime
import importlib.util
import os
import shutil
import statistics
import tempfile
import time

from zc.asyncui import utils
from zc.asyncui.monitor.asyncdb import asyncdb

_spec = importlib.util.spec_from_file_location(
    'benchhistory', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 'history.py'))
benchhistory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchhistory)

COMMAND = ('count', 'failed', 'since:1H')


class Client:
    """What the monitor server hands a command: a db and a write."""

    def __init__(self, db):
        self.db = db
        self.out = []

    def write(self, text):
        self.out.append(text)


def measure(base, n, now):
    db, conn, tm = benchhistory.build(os.path.join(base, 'm%d.fs' % n),
                                      n, now)
    conn.close()
    try:
        client = Client(db)
        times = []
        for _ in range(9):
            client.out = []
            started = time.perf_counter()
            asyncdb(client, *COMMAND)
            times.append(time.perf_counter() - started)
        answer = ''.join(client.out).strip()
    finally:
        db.close()
    median = statistics.median(times)
    print('%7d finished jobs: asyncdb %s -> %s in %.2f ms (median of 9)'
          % (n, ' '.join(COMMAND), answer, median * 1e3))
    return median


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--small', type=int, default=1000)
    parser.add_argument('--large', type=int, default=100000)
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix='zc-asyncui-bench-monitor-')
    try:
        now = utils.now()
        small = measure(base, args.small, now)
        large = measure(base, args.large, now)
    finally:
        shutil.rmtree(base)
    print('ratio %d / %d: %.2f (should be < 3)' % (
        args.large, args.small, large / small))


if __name__ == '__main__':
    main()
