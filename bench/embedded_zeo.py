"""The cost of the embedded ZEO path of ``zc-asyncui run``.

``run`` serves its FileStorage through a ZEO StorageServer in a thread of
the same process, on a Unix socket, and connects to it as a client, so
that ``put``/``jobs`` (and other local tools) can reach the data while it
runs.  This prints, in one run, for each way a dispatcher can reach the
FileStorage:

- direct: the FileStorage opened in the process (``run --storage direct``);
- unix:   embedded ZEO server on a Unix socket (``run``, the default);
- tcp:    the same embedded server on TCP loopback (what a worker pays
          against ``zc-asyncui zeo``, minus the second process);

the raw commit rate of a one-object transaction, the drain rate of N
no-op jobs with one dispatcher, CPU time per job, and the ratios of each
path to direct.  The servers and clients are set up with the same
``zc.asyncui.server`` functions that ``run`` uses.

Usage: python bench/embedded_zeo.py [--jobs 1000] [--size 3]
"""
import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time

import ZODB
import ZODB.FileStorage
import zope.event

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import server
from zc.asyncui import utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import throughput  # noqa: E402  (reused: put_jobs, CompletionCounter, Cell)

KINDS = ('direct', 'unix', 'tcp')


@contextlib.contextmanager
def opened(kind, directory):
    """A DB on a new FileStorage in ``directory``, reached the ``kind``
    way; everything is closed (and the server stopped) on exit."""
    fs = ZODB.FileStorage.FileStorage(os.path.join(directory, 'Data.fs'))
    if kind == 'direct':
        db = ZODB.DB(fs, pool_size=20)
        try:
            yield db
        finally:
            db.close()
        return
    address = (os.path.join(directory, server.SOCKET_NAME) if kind == 'unix'
               else ('127.0.0.1', 0))
    srv = server.serve(fs, address)
    try:
        db = server.connect(server.listening_address(srv), 10.0)
        db.setPoolSize(20)
        try:
            yield db
        finally:
            db.close()
    finally:
        server.stop_server(srv, address)


def drain(db, n, size, directory):
    """(jobs/s, CPU ms per job, conflicts per job) for ``n`` no-op jobs
    drained by one dispatcher with a main agent of ``size``."""
    zc.asyncui.install(db)
    throughput.put_jobs(db, n, 100)
    counter = throughput.CompletionCounter(n)
    zope.event.subscribers.append(counter)
    conflicts0 = utils.conflicts.count
    cpu0 = time.process_time()
    start = time.perf_counter()
    d = dispatcher.start(db, poll_interval=1.0, main_agent_size=size,
                         uuid_file=os.path.join(directory, 'uuid.txt'))
    try:
        if not counter.done.wait(300):
            raise SystemExit('drain did not finish: %d of %d jobs'
                             % (counter.count, n))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    finally:
        zope.event.subscribers.remove(counter)
        d.stop(10)
    return (n / elapsed, cpu / n * 1000,
            (utils.conflicts.count - conflicts0) / n)


def measure(kind, base, n, size):
    directory = os.path.join(base, kind)
    os.makedirs(os.path.join(directory, 'raw'))
    os.makedirs(os.path.join(directory, 'drain'))
    with opened(kind, os.path.join(directory, 'raw')) as db:
        raw = throughput.commit_rate(db)
    with opened(kind, os.path.join(directory, 'drain')) as db:
        rate, cpu, conflicts = drain(db, n, size,
                                     os.path.join(directory, 'drain'))
    return {'raw': raw, 'drain': rate, 'cpu': cpu, 'conflicts': conflicts}


def report(results, n, size):
    print('%d no-op jobs, one dispatcher, agent size %d' % (n, size))
    print('%-7s %14s %14s %12s %10s %14s' % (
        'path', 'raw commits/s', 'drain jobs/s', 'drain/raw', 'CPU ms/job',
        'conflicts/job'))
    for kind in KINDS:
        r = results[kind]
        print('%-7s %14.0f %14.0f %12.2f %10.3f %14.3f' % (
            kind, r['raw'], r['drain'], r['drain'] / r['raw'], r['cpu'],
            r['conflicts']))
    direct = results['direct']
    for kind in KINDS[1:]:
        r = results[kind]
        print('%s / direct: raw commit rate %.2f, drain rate %.2f,'
              ' CPU per job %.2f' % (
                  kind, r['raw'] / direct['raw'],
                  r['drain'] / direct['drain'], r['cpu'] / direct['cpu']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=1000)
    parser.add_argument('--size', type=int, default=3)
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix='zc.asyncui-ezeo-')
    try:
        results = {kind: measure(kind, base, args.jobs, args.size)
                   for kind in KINDS}
        report(results, args.jobs, args.size)
        with opened('direct', tempfile.mkdtemp(dir=base)) as db:
            print('direct raw commit rate again (drift check): %.0f /s'
                  % throughput.commit_rate(db))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
