"""Throughput benchmark: put and drain rates of no-op jobs on FileStorage.

Prints, for N no-op jobs in one process:

- the raw FileStorage commit rate of a one-object transaction (same run),
- put rates: one transaction per put, and 100 puts per transaction,
- drain rates with one dispatcher and agent sizes 1 and 4,
- drain_rate / raw_commit_rate, ZODB conflicts per job, CPU ms per job,
- producer conflicts: the ConflictErrors of 8 threads putting one job per
  transaction at once, and of one producer putting one job per
  transaction while a dispatcher drains the queue (as a share of puts).

Usage: python bench/throughput.py [--jobs 2000] [--sizes 1,4]
       [--producers 8]
"""
import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

import persistent
import transaction
import ZODB
import ZODB.POSException
import ZODB.FileStorage
import zope.event

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import events
from zc.asyncui import settings
from zc.asyncui import utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchjobs  # noqa: E402


class Cell(persistent.Persistent):
    value = 0


def open_db(directory):
    path = os.path.join(directory, 'Data.fs')
    return ZODB.DB(ZODB.FileStorage.FileStorage(path), pool_size=20)


def raw_commit_rate(directory, seconds=1.5):
    """One-object commits per second on a new FileStorage in
    ``directory``."""
    db = open_db(directory)
    try:
        return commit_rate(db, seconds)
    finally:
        db.close()


def commit_rate(db, seconds=1.5):
    """One-object commits per second through ``db``."""
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    conn.root()['cell'] = cell = Cell()
    tm.commit()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        cell.value += 1
        tm.commit()
        n += 1
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


def put_jobs(db, n, per_txn):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    queue = zc.asyncui.getQueue(conn)
    start = time.perf_counter()
    for i in range(n):
        queue.put(zc.asyncui.Job(benchjobs.noop, i))
        if (i + 1) % per_txn == 0:
            tm.commit()
    tm.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def put_retrying(conn, i):
    """Put one job in its own transaction, retried until it commits;
    returns the number of ConflictErrors on the way."""
    tm = conn.transaction_manager
    conflicts = 0
    while True:
        tm.begin()
        try:
            zc.asyncui.getQueue(conn).put(zc.asyncui.Job(benchjobs.noop, i))
            tm.commit()
            return conflicts
        except ZODB.POSException.ConflictError:
            tm.abort()
            conflicts += 1


def producer_conflicts(db, threads, n):
    """ConflictErrors per put of ``threads`` producers putting ``n`` jobs
    in all, one per transaction, at the same time."""
    zc.asyncui.install(db)
    counts = []

    def produce(share):
        conn = db.open(transaction.TransactionManager())
        try:
            counts.append(sum(put_retrying(conn, i) for i in range(share)))
        finally:
            conn.close()
    pool = [threading.Thread(target=produce, args=(n // threads,))
            for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (n // threads * threads)


def conflicts_while_draining(db, n, directory):
    """ConflictErrors per put of one producer putting ``n`` jobs, one per
    transaction, while one dispatcher (agent size 4) drains them."""
    zc.asyncui.install(db)
    d = dispatcher.start(db, poll_interval=1.0, main_agent_size=4,
                         uuid_file=os.path.join(directory, 'uuid.txt'))
    conn = db.open(transaction.TransactionManager())
    try:
        return sum(put_retrying(conn, i) for i in range(n)) / n
    finally:
        conn.close()
        d.stop(10)


class CompletionCounter:
    """Counts JobCompleted events (fired in the worker threads), so the
    benchmark does not poll the database while it measures."""

    def __init__(self, n):
        self.n = n
        self.count = 0
        self.done = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, event):
        if isinstance(event, events.JobCompleted):
            with self.lock:
                self.count += 1
                if self.count >= self.n:
                    self.done.set()


def drain(directory, n, size, **options):
    """(jobs/s, conflicts per job, CPU ms per job) on a new FileStorage;
    ``options``: more settings of the dispatcher."""
    db = open_db(directory)
    try:
        rate, cpu, conflicts = drain_db(db, n, size, directory, **options)
    finally:
        db.close()
    return rate, conflicts, cpu


def drain_db(db, n, size, directory, **options):
    """(jobs/s, CPU ms per job, conflicts per job) for ``n`` no-op jobs put
    in ``db`` and drained by one dispatcher with a main agent of
    ``size`` (and the settings ``options``)."""
    zc.asyncui.install(db)
    put_jobs(db, n, 100)
    counter = CompletionCounter(n)
    zope.event.subscribers.append(counter)
    conflicts0 = utils.conflicts.count
    cpu0 = time.process_time()
    start = time.perf_counter()
    d = dispatcher.start(db, poll_interval=1.0, main_agent_size=size,
                         uuid_file=os.path.join(directory, 'uuid.txt'),
                         **options)
    try:
        if not counter.done.wait(300):
            raise SystemExit('drain with size %d did not finish: %d of %d'
                             ' jobs' % (size, counter.count, n))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    finally:
        zope.event.subscribers.remove(counter)
        d.stop(10)
    return (n / elapsed, cpu / n * 1000,
            (utils.conflicts.count - conflicts0) / n)


def fresh_dir(base, name):
    path = os.path.join(base, name)
    os.makedirs(path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=2000)
    parser.add_argument('--sizes', default='1,4')
    parser.add_argument('--producers', type=int, default=8)
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix='zc.asyncui-bench-')
    try:
        raw = raw_commit_rate(fresh_dir(base, 'raw'))
        print('raw FileStorage commit rate (1 object/txn): %8.0f /s' % raw)
        for per_txn in (1, 100):
            db = open_db(fresh_dir(base, 'put%d' % per_txn))
            zc.asyncui.install(db)
            rate = put_jobs(db, args.jobs, per_txn)
            db.close()
            print('put rate, %3d puts per transaction:       %8.0f jobs/s'
                  % (per_txn, rate))
        default = settings.default('dispatcher', 'group_commit_seconds')
        for size in [int(s) for s in args.sizes.split(',')]:
            for group in (default, 0.0) if default else (0.0,):
                rate, cpj, cpu = drain(
                    fresh_dir(base, 'drain%d-%g' % (size, group)), args.jobs,
                    size, group_commit_seconds=group)
                print('drain rate, agent size %d, grouped commits %s:'
                      ' %8.0f jobs/s  ratio to raw commit %.2f  conflicts/job'
                      ' %.3f  CPU %.3f ms/job' % (
                          size, '%gs' % group if group else 'off', rate,
                          rate / raw, cpj, cpu))
        print_producer_conflicts(base, args)
        raw_after = raw_commit_rate(fresh_dir(base, 'raw2'))
        print('raw FileStorage commit rate again (drift check): %8.0f /s'
              % raw_after)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def print_producer_conflicts(base, args):
    db = open_db(fresh_dir(base, 'producers'))
    try:
        share = producer_conflicts(db, args.producers, args.jobs)
    finally:
        db.close()
    print('producer conflicts, %d threads putting one job per transaction:'
          ' %.2f%% of puts' % (args.producers, share * 100))
    directory = fresh_dir(base, 'producer-drain')
    db = open_db(directory)
    try:
        share = conflicts_while_draining(db, args.jobs, directory)
    finally:
        db.close()
    print('producer conflicts, one producer while a dispatcher drains:'
          '    %.2f%% of puts' % (share * 100))


if __name__ == '__main__':
    main()
