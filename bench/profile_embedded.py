"""Profile of the embedded default as an application uses it: where the
serving process's CPU goes.

This process plays ``zc-asyncui run`` (embedded default): it opens a
fresh FileStorage with zc.asyncui.cli.embedded.open_database (the ZEO
server on a Unix socket, the local ZODB.DB committing to the file) and
starts a dispatcher with a main agent of ``--size``; every thread it
starts (the ZEO server's, the poll thread, the workers) runs under a
cProfile profiler of its own, measuring thread CPU time.  A subprocess
plays the application, as bench/embedded_app.py does: it puts N no-op
jobs through the socket, 100 per transaction, and watches them finish.

Prints the CPU per job of this process, per thread kind, a few counts
per job (transactions committed locally and by ZEO clients,
invalidations sent, storage loads, polls), then the top functions by own
time and by cumulative time.  ``--out FILE`` also writes them to FILE.

``--no-profile`` prints only the rates and the CPU per thread kind,
unslowed by cProfile.

Usage: python bench/profile_embedded.py [--jobs 2000] [--size 3]
       [--top 25] [--out bench/profiles/embedded.txt] [--no-profile]
"""
import argparse
import collections
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import ZODB.FileStorage

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui.cli import embedded
from zc.asyncui.cli import server

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

APP = '''
import sys
sys.path.insert(0, %r)
import embedded_app
seconds, drain = embedded_app.put_and_watch(%r, %d, %d)
print(seconds, drain)
'''


def profiled_threads(profile=True):
    """Every thread started from now on runs under a profiler of its own
    (thread CPU time) if ``profile``; returns ({thread name: profile},
    {thread name: CPU seconds}, undo)."""
    profiles, cpu = {}, {}
    original = threading.Thread._bootstrap_inner

    def bootstrap(self):
        start = time.thread_time()
        if profile:
            profiles[self.name] = cProfile.Profile(time.thread_time)
            profiles[self.name].enable()
        try:
            original(self)
        finally:
            if profile:
                profiles[self.name].disable()
            cpu[self.name] = time.thread_time() - start
    threading.Thread._bootstrap_inner = bootstrap

    def undo():
        threading.Thread._bootstrap_inner = original
    return profiles, cpu, undo


def thread_kind(name):
    if 'worker' in name.lower():
        return 'workers'
    if 'poll' in name.lower() or name.startswith('zc.asyncui'):
        return 'poll thread'
    if 'zeo' in name.lower() or 'StorageServer' in name:
        return 'ZEO server'
    return name


def profile_run(directory, n, size, batch, profile=True):
    path = os.path.join(directory, 'Data.fs')
    sock = os.path.join(directory, 'zeo.sock')
    profiles, threads_cpu, undo = profiled_threads(profile)
    cpu0 = time.process_time()
    srv, db = embedded.open_database(ZODB.FileStorage.FileStorage(path),
                                     sock)
    try:
        zc.asyncui.install(db)
        d = dispatcher.start(db, poll_interval=5.0, main_agent_size=size,
                             uuid_file=os.path.join(directory, 'uuid.txt'))
        try:
            out = subprocess.run(
                [sys.executable, '-c', APP % (HERE, sock, n, batch)],
                check=True, capture_output=True, text=True).stdout
        finally:
            d.stop(10)
        cpu = time.process_time() - cpu0
    finally:
        db.close()
        server.stop_server(srv, sock)
        undo()
    app_seconds, drain_seconds = (float(x) for x in out.split())
    return (n / app_seconds, n / drain_seconds, cpu / n * 1000,
            profiles, threads_cpu)


COUNTED = [
    ('FileStorage.py', 'tpc_finish', 'storage commits (local + ZEO)'),
    ('embedded.py', 'announceLocalCommit', 'local commits announced'),
    ('embedded.py', 'invalidate', 'ZEO client commits'),
    ('StorageServer.py', 'loadBefore', 'ZEO loadBefore served'),
    ('FileStorage.py', 'loadBefore', 'FileStorage loadBefore'),
    ('dispatcher.py', '_poll', 'dispatcher polls'),
    ('embedded.py', '_wake', 'wake-ups after ZEO client commits'),
]


def report(n, rates, threads_cpu, profiles, top):
    app, drain, cpu = rates
    out = io.StringIO()
    out.write('%d no-op jobs put by another process through the embedded'
              ' socket: app %.0f jobs/s, drain %.0f jobs/s, %.3f ms CPU per'
              ' job in the serving process%s\n' % (
                  n, app, drain, cpu,
                  ' (profiled: cProfile slows it down)' if profiles else ''))
    by_kind = collections.Counter()
    for name, seconds in threads_cpu.items():
        by_kind[thread_kind(name)] += seconds
    for kind, seconds in sorted(by_kind.items()):
        out.write('  %-14s %7.3f ms CPU per job\n'
                  % (kind, seconds / n * 1000))
    if profiles:
        _print_profile(out, profiles, n, top)
        server_thread = {name: p for name, p in profiles.items()
                         if thread_kind(name) == 'ZEO server'}
        if server_thread:
            out.write('\nThe ZEO server thread alone:\n')
            stats = pstats.Stats(*server_thread.values(), stream=out)
            stats.strip_dirs()
            stats.sort_stats('cumulative').print_stats(top)
    return out.getvalue()


def _print_profile(out, profiles, n, top):
    stats = pstats.Stats(*profiles.values(), stream=out)
    calls = collections.Counter()
    for (filename, _, func), (_, ncalls, *_) in stats.stats.items():
        for suffix, name, label in COUNTED:
            if filename.endswith(suffix) and func == name:
                calls[label] += ncalls
    for _, _, label in COUNTED:
        out.write('  %-40s %7.3f per job\n' % (label, calls[label] / n))
    out.write('\n')
    stats.strip_dirs()
    stats.sort_stats('tottime').print_stats(top)
    stats.sort_stats('cumulative').print_stats(top)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=2000)
    parser.add_argument('--batch', type=int, default=100)
    parser.add_argument('--size', type=int, default=3)
    parser.add_argument('--top', type=int, default=25)
    parser.add_argument('--out')
    parser.add_argument('--no-profile', action='store_true',
                        help='only the rates and CPU per thread kind')
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix='zc.asyncui-eprofile-')
    try:
        app, drain, cpu, profiles, threads_cpu = profile_run(
            base, args.jobs, args.size, args.batch, not args.no_profile)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    text = report(args.jobs, (app, drain, cpu), threads_cpu, profiles,
                  args.top)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
