"""Queues in their own database: drain rates on one FileStorage and on a
multi-database of two (issue 11).

Prints, for N jobs drained by one dispatcher (agent size 1) in this
process, the jobs per second and CPU ms per job of:

- no-op jobs, queues in the application's database (one FileStorage);
- no-op jobs, queues in 'async' of a multi-database ('main' + 'async',
  a FileStorage each): the job's transaction writes 'async' only;
- jobs that change an object of 'main' (a method of a persistent object
  there), in both layouts: in the multi-database each such transaction
  commits two storages (two-phase commit, two fsyncs).

Usage: python bench/multidb.py [--jobs 1000]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import persistent
import persistent.mapping
import transaction
import ZODB
import ZODB.FileStorage

import zc.asyncui
from zc.asyncui import config
from zc.asyncui import testing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchjobs  # noqa: E402


class Cell(persistent.Persistent):
    """An application object whose method is the job."""

    value = 0

    def bump(self):
        self.value += 1
        return self.value


def open_databases(directory, names):
    databases = {}
    for name in names:
        storage = ZODB.FileStorage.FileStorage(
            os.path.join(directory, name + '.fs'))
        ZODB.DB(storage, databases=databases, database_name=name,
                pool_size=20)
    return databases


def drain(directory, names, jobs, writes_main):
    """(jobs per second, CPU ms per job) of draining ``jobs`` jobs."""
    databases = open_databases(directory, names)
    main = databases[names[0]]
    try:
        zc.asyncui.install(main, database=names[-1])
        tm = transaction.TransactionManager()
        conn = main.open(tm)
        cells = conn.root()['cells'] = persistent.mapping.PersistentMapping()
        for i in range(jobs):  # one object per job: no conflicts
            cells[i] = Cell()
        tm.commit()
        queue = zc.asyncui.getQueue(conn)
        for start in range(0, jobs, 100):
            for i in range(start, min(jobs, start + 100)):
                queue.put(zc.asyncui.Job(cells[i].bump) if writes_main
                          else zc.asyncui.Job(benchjobs.noop, i))
            tm.commit()
        began, cpu = time.perf_counter(), time.process_time()
        d = config.startDispatcher(main, main_agent_size=1,
                                   poll_interval=0.5,
                                   uuid_file=os.path.join(directory, 'u'))
        testing.run_until_idle(d, timeout=600)
        seconds = time.perf_counter() - began
        cpu = time.process_time() - cpu
        config.stopDispatcher()
        conn.close()
        return jobs / seconds, 1000.0 * cpu / jobs
    finally:
        for db in databases.values():
            db.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=1000)
    args = parser.parse_args(argv)
    print('%d jobs, one dispatcher, agent size 1 (indicative: one run)'
          % args.jobs)
    for writes_main in (False, True):
        for names, label in ((('main',), 'one database'),
                             (('main', 'async'), 'main + async')):
            directory = tempfile.mkdtemp(prefix='zc.asyncui-multidb-')
            try:
                rate, cpu = drain(directory, names, args.jobs, writes_main)
            finally:
                shutil.rmtree(directory)
            print('%-22s %-14s %7.0f jobs/s  %5.2f ms CPU/job' % (
                'job writes main' if writes_main else 'no-op job', label,
                rate, cpu))


if __name__ == '__main__':
    main()
