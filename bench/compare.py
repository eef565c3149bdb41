"""zc.asyncui against the fastest durable peer, Huey with SQLite, on the
same no-op jobs in one run.

Prints, for N no-op jobs put first and then drained by one worker (in
this process for both, results stored by both):

- the raw FileStorage commit rate of a one-object transaction;
- Huey ``SqliteHuey`` (WAL, synchronous=FULL: durable), one thread
  worker: drain rate and CPU per job;
- zc.asyncui on direct FileStorage, one dispatcher with a main agent of
  size 1: drain rate and CPU per job;
- zc.asyncui / Huey, and each rate / the raw commit rate.

Each is run ``--repeat`` times, alternating, and the medians are printed
(the machine is shared: the figures are indicative, the ratios of one
run are what counts).  Huey comes from the ``bench`` extra
(``pip install -e .[bench]``; ``make bench`` does it).

Usage: python bench/compare.py [--jobs 2000] [--repeat 3]
"""
import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import throughput  # noqa: E402

try:
    import huey
    import huey.consumer
except ImportError:  # pragma: no cover - said clearly below
    huey = None


def huey_drain(directory, n):
    """(jobs/s, CPU ms per job) of SqliteHuey draining ``n`` no-op jobs
    with one thread worker."""
    # WAL with synchronous=FULL: every commit synced, durable as a
    # FileStorage commit is (the configuration of perf_baseline.md).
    queue = huey.SqliteHuey('bench', filename=os.path.join(
        directory, 'huey.db'), fsync=True)

    @queue.task()
    def noop(x):
        return x

    for i in range(n):
        noop(i)
    consumer = queue.create_consumer(workers=1, worker_type='thread',
                                     periodic=False, initial_delay=0.001,
                                     max_delay=0.01, check_worker_health=False)
    cpu0 = time.process_time()
    start = time.perf_counter()
    handlers = {sig: signal.getsignal(sig) for sig in (
        signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    consumer.start()  # its threads; and its signal handlers, put back below
    try:
        deadline = start + 300
        while queue.result_count() < n:
            if time.perf_counter() > deadline:
                raise SystemExit('huey did not drain %d jobs' % n)
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    finally:
        consumer.stop(graceful=True)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return n / elapsed, cpu / n * 1000


def asyncui_drain(directory, n):
    """(jobs/s, CPU ms per job) of zc.asyncui draining ``n`` no-op jobs
    with one dispatcher and a main agent of size 1."""
    rate, _, cpu = throughput.drain(directory, n, 1)
    return rate, cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=2000)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args(argv)
    if huey is None:
        raise SystemExit('bench/compare.py needs huey: pip install -e'
                         ' .[bench] (make bench installs it)')
    base = tempfile.mkdtemp(prefix='zc.asyncui-compare-')
    runs = {'raw': [], 'huey': [], 'asyncui': []}
    try:
        for i in range(args.repeat):
            runs['raw'].append(throughput.raw_commit_rate(
                throughput.fresh_dir(base, 'raw%d' % i)))
            runs['huey'].append(huey_drain(
                throughput.fresh_dir(base, 'huey%d' % i), args.jobs))
            runs['asyncui'].append(asyncui_drain(
                throughput.fresh_dir(base, 'asyncui%d' % i), args.jobs))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    raw = statistics.median(runs['raw'])
    print('%d no-op jobs, medians of %d runs (indicative: shared machine)'
          % (args.jobs, args.repeat))
    print('raw FileStorage commit rate (1 object/txn): %8.0f /s' % raw)
    medians = {}
    for name, label in (('huey', 'Huey SqliteHuey, 1 thread worker'),
                        ('asyncui', 'zc.asyncui FileStorage, agent size 1')):
        rate = statistics.median(r for r, _ in runs[name])
        cpu = statistics.median(c for _, c in runs[name])
        medians[name] = rate
        print('%-38s %8.0f jobs/s  ratio to raw commit %.2f  CPU %.3f'
              ' ms/job' % (label + ':', rate, rate / raw, cpu))
    print('zc.asyncui / Huey SqliteHuey: %.2f'
          % (medians['asyncui'] / medians['huey']))


if __name__ == '__main__':
    main()
