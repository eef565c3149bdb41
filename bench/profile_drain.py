"""Profile of the direct-FileStorage no-op drain: where a job's CPU goes.

Puts N no-op jobs (100 per transaction), then drains them with one
dispatcher (main agent of size 1) under cProfile, measuring each thread's CPU time -- every thread the drain
starts (the poll thread and the workers) gets a profiler of its own, and
their statistics are added together.  Prints the CPU per job and the top
functions by own time and by cumulative time; ``--out FILE`` also writes
them to FILE (bench/profiles/ keeps the ones quoted in CHANGES.txt).

Usage: python bench/profile_drain.py [--jobs 2000] [--size 1] [--top 20]
       [--out bench/profiles/after.txt]
"""
import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time

import zope.event

import zc.asyncui
from zc.asyncui import dispatcher

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import throughput  # noqa: E402


def profiled_threads():
    """Make every thread started from now on run under a profiler of its
    own; returns (the list the profilers go in, a function undoing it)."""
    # Thread._bootstrap_inner calls run(), which subclasses (the worker
    # threads) override.
    profiles = []
    original = threading.Thread._bootstrap_inner

    def bootstrap(self):
        # CPU time of the thread, not wall time: waits for the commit
        # lock, an fsync or the inbox cost nothing and must not show.
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()
    threading.Thread._bootstrap_inner = bootstrap

    def undo():
        threading.Thread._bootstrap_inner = original
    return profiles, undo


def profile_drain(directory, n, size):
    db = throughput.open_db(directory)
    try:
        zc.asyncui.install(db)
        throughput.put_jobs(db, n, 100)
        counter = throughput.CompletionCounter(n)
        zope.event.subscribers.append(counter)
        profiles, undo = profiled_threads()
        cpu0 = time.process_time()
        start = time.perf_counter()
        d = dispatcher.start(db, poll_interval=1.0, main_agent_size=size,
                             uuid_file=os.path.join(directory, 'uuid.txt'))
        try:
            if not counter.done.wait(300):
                raise SystemExit('the drain did not finish')
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu0
        finally:
            zope.event.subscribers.remove(counter)
            d.stop(10)
            undo()
    finally:
        db.close()
    return n / elapsed, cpu / n * 1000, profiles


def report(profiles, n, rate, cpu, top):
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for profile in profiles[1:]:
        stats.add(profile)
    out.write('%d no-op jobs, direct FileStorage: %.0f jobs/s, %.3f ms CPU'
              ' per job (profiled: cProfile slows it down)\n\n'
              % (n, rate, cpu))
    stats.strip_dirs()
    stats.sort_stats('tottime').print_stats(top)
    stats.sort_stats('cumulative').print_stats(top)
    return out.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=2000)
    parser.add_argument('--size', type=int, default=1)
    parser.add_argument('--top', type=int, default=20)
    parser.add_argument('--out')
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix='zc.asyncui-profile-')
    try:
        rate, cpu, profiles = profile_drain(base, args.jobs, args.size)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    text = report(profiles, args.jobs, rate, cpu, args.top)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
