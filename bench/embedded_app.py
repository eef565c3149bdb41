"""The default ``zc-asyncui run`` as an application uses it.

A real ``zc-asyncui run`` subprocess serves a fresh FileStorage (the
default embedded mode: its dispatcher commits to the file, and its ZEO
server listens on zeo.sock).  This process, like an application, connects
through that socket, puts N no-op jobs (``benchjobs.noop``) in
transactions of 100 and watches them finish, in the order it put them
(a new transaction every 20 ms; the jobs seen completed since the last
look are loaded together).

Prints the jobs per second from the first put to the moment this process
sees the last job completed, the drain rate of the ``run`` process alone
(from the commit of the first batch to the latest ``active_end``), the
``run`` process's CPU per job, and their ratios to the raw one-object
commit rate of a FileStorage opened in this process (measured before and
after, as a drift check), and the drain of the same jobs on a
FileStorage opened in this process (``run --storage direct``), the
ceiling of the embedded path.  Then the latency from a put through the
socket (one job per transaction) to the job's start in ``run``.

Usage: python bench/embedded_app.py [--jobs 2000] [--batch 100]
       [--reps 3] [--size 3]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import transaction
import ZEO
import ZODB
import ZODB.FileStorage

import zc.asyncui
from zc.asyncui.job import COMPLETED

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchjobs  # noqa: E402
import multiprocess  # noqa: E402  (reused: Process, wait_for, CLI)
import throughput  # noqa: E402  (reused: commit_rate)

WATCH_SECONDS = 0.02
#: How many jobs the watcher loads together at least.
WATCH_AHEAD = 20
#: Jobs put one at a time for the put-to-start latency.
LATENCY_JOBS = 100


def raw_rate(base):
    directory = tempfile.mkdtemp(dir=base)
    db = ZODB.DB(ZODB.FileStorage.FileStorage(
        os.path.join(directory, 'Data.fs')))
    try:
        return throughput.commit_rate(db)
    finally:
        db.close()


def direct_drain(base, n, size):
    """(jobs/s, CPU ms per job) of the same drain in this process on a
    FileStorage opened directly (``run --storage direct``): the ceiling
    for the embedded path, which adds the socket and the other process."""
    directory = tempfile.mkdtemp(dir=base)
    db = ZODB.DB(ZODB.FileStorage.FileStorage(
        os.path.join(directory, 'Data.fs')), pool_size=20)
    try:
        rate, cpu, _ = throughput.drain_db(db, n, size, directory)
        return rate, cpu
    finally:
        db.close()


def start_run(directory, size):
    path = os.path.join(directory, 'Data.fs')
    sock = os.path.join(directory, 'zeo.sock')
    process = multiprocess.Process(
        [multiprocess.CLI, 'run', '--path', path, '--uuid-file',
                            os.path.join(directory, 'uuid.txt'),
                            '--agent-size', str(size),
                            '--monitor-port', '0'],
        os.path.join(directory, 'run.log'))
    try:
        multiprocess.wait_for(lambda: 'run ready' in process.output()
                              or process.popen.poll() is not None, 60,
                              'zc-asyncui run to start')
    except BaseException:
        process.kill()
        raise
    if process.popen.poll() is not None:
        raise SystemExit('zc-asyncui run did not start:\n' + process.output())
    return process, sock


def put_and_watch(sock, n, batch):
    """(seconds from the first put to all seen done, seconds from the
    first commit to the latest active_end)."""
    db = ZEO.DB(sock, wait_timeout=30)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        start = time.time()
        jobs, first_commit = [], None
        for first in range(0, n, batch):
            jobs.extend(_put_batch(tm, conn, range(first,
                                                   min(n, first + batch))))
            first_commit = first_commit or time.time()
        _watch(tm, conn, jobs)
        seen = time.time()
        tm.begin()
        last_end = max(j.active_end.timestamp() for j in jobs)
        tm.abort()
        return seen - start, last_end - first_commit
    finally:
        tm.abort()
        conn.close()
        db.close()


def _put_batch(tm, conn, numbers):
    # As an application does: a conflict with the dispatcher (which
    # claims from the same queue) retries the transaction.
    for attempt in tm.attempts(20):
        with attempt:
            queue = zc.asyncui.getQueue(conn)
            jobs = [queue.put(zc.asyncui.Job(benchjobs.noop, i))
                    for i in numbers]
    return jobs


def _watch(tm, conn, jobs, timeout=600):
    # As an application waiting for its jobs in the order it put them
    # (zc.asyncui.testing.wait_for_result, job after job), but cheaply: a
    # new transaction every 20 ms loads nothing while the first job not
    # yet seen completed is unchanged (it stays in the ZEO cache until
    # invalidated); once it is completed, the next ones are loaded
    # together (one pipelined ZEO round trip: prefetch), twice as many
    # each time all were completed, up to the first one still running.
    # So the jobs are seen as they complete, not all loaded at the end.
    remaining = list(jobs)
    deadline = time.monotonic() + timeout
    while remaining:
        if time.monotonic() > deadline:
            raise SystemExit('%d of %d jobs not done in %ds' % (
                len(remaining), len(jobs), timeout))
        time.sleep(WATCH_SECONDS)
        tm.begin()
        ahead = WATCH_AHEAD
        while remaining and remaining[0]._status == COMPLETED:
            chunk = remaining[:ahead]
            conn.prefetch(chunk)
            done = next((i for i, j in enumerate(chunk)
                         if j._status != COMPLETED), len(chunk))
            del remaining[:done]
            ahead *= 2
        tm.abort()


def measure(base, n, batch, size):
    directory = tempfile.mkdtemp(dir=base)
    process, sock = start_run(directory, size)
    try:
        cpu0 = process.cpu_seconds()
        app_seconds, drain_seconds = put_and_watch(sock, n, batch)
        cpu = process.cpu_seconds() - cpu0
    finally:
        status = process.terminate()
    if status != 0:
        raise SystemExit('zc-asyncui run exited with %s:\n%s' % (
            status, process.output()))
    return n / app_seconds, n / drain_seconds, cpu / n * 1000


def measure_latency(base, size, n=LATENCY_JOBS):
    """(p50, p90) in ms from the commit of a put through the socket (one
    job per transaction, every 20 ms) to the job's start in ``run``."""
    directory = tempfile.mkdtemp(dir=base)
    process, sock = start_run(directory, size)
    db = ZEO.DB(sock, wait_timeout=30)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        put = []
        for i in range(n):
            job = _put_batch(tm, conn, [i])[0]
            put.append((job, time.time()))
            time.sleep(WATCH_SECONDS)
        _watch(tm, conn, [job for job, _ in put])
        tm.begin()
        waits = sorted((job.active_start.timestamp() - committed) * 1000
                       for job, committed in put)
        tm.abort()
    finally:
        tm.abort()
        conn.close()
        db.close()
        process.terminate()
    return waits[n // 2], waits[n * 9 // 10]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=2000)
    parser.add_argument('--batch', type=int, default=100)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--size', type=int, default=3)
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix='zc.asyncui-eapp-')
    try:
        raw = raw_rate(base)
        print('%d no-op jobs put through var/zeo.sock of a running'
              ' zc-asyncui run (embedded default, agent size %d), %d per'
              ' transaction' % (args.jobs, args.size, args.batch))
        print('raw one-object commit rate, direct FileStorage: %.0f /s'
              % raw)
        print('%-4s %16s %10s %16s %10s %12s' % (
            'rep', 'app jobs/s', 'app/raw', 'drain jobs/s', 'drain/raw',
            'CPU ms/job'))
        results = []
        for rep in range(1, args.reps + 1):
            app, drain, cpu = measure(base, args.jobs, args.batch, args.size)
            results.append(app)
            print('%-4d %16.0f %10.2f %16.0f %10.2f %12.3f' % (
                rep, app, app / raw, drain, drain / raw, cpu))
        p50, p90 = measure_latency(base, args.size)
        print('put-to-start through the socket, one job per transaction'
              ' every 20 ms: p50 %.1f ms, p90 %.1f ms' % (p50, p90))
        direct, direct_cpu = direct_drain(base, args.jobs, args.size)
        raw_after = raw_rate(base)
        best = sorted(results)[len(results) // 2]
        print('direct FileStorage drain in one process (the ceiling):'
              ' %.0f jobs/s, %.2f of raw, %.3f ms CPU per job'
              % (direct, direct / raw, direct_cpu))
        print('median app rate %.0f jobs/s: %.2f of the raw commit rate'
              ' (target 0.8), %.2f of the direct drain; raw rate again'
              ' (drift check): %.0f /s'
              % (best, best / raw, best / direct, raw_after))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
