"""The cost of the embedded ZEO path of ``zc-asyncui run``.

``run`` serves its FileStorage through a ZEO StorageServer in a thread of
the same process, on a Unix socket, so that ``put``/``jobs`` (and other
local tools) can reach the data while it runs; its own dispatcher commits
to the file directly (since issue 11: bench/embedded_app.py measures that
default).  This prints, in one run, for each way a dispatcher can reach
the FileStorage:

- direct: the FileStorage opened in the process (``run`` and ``run
          --storage direct``);
- unix:   as a client of the server on a Unix socket in the same process
          (what ``run`` did before issue 11; an extra worker ``run --zeo
          var/zeo.sock`` pays this plus a second process);
- tcp:    the same embedded server on TCP loopback (what a worker pays
          against ``zc-asyncui zeo``, minus the second process);

the raw commit rate of a one-object transaction, the drain rate of N
no-op jobs with one dispatcher, CPU time per job, and the ratios of each
path to direct.  The servers and clients are set up with the same
``zc.asyncui.cli.server`` functions that ``run`` uses.

Usage: python bench/embedded_zeo.py [--jobs 1000] [--size 3]
"""
import argparse
import contextlib
import os
import shutil
import sys
import tempfile

import ZODB
import ZODB.FileStorage

from zc.asyncui.cli import server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import throughput  # noqa: E402  (reused: commit_rate, drain_db)

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


def measure(kind, base, n, size):
    directory = os.path.join(base, kind)
    os.makedirs(os.path.join(directory, 'raw'))
    os.makedirs(os.path.join(directory, 'drain'))
    with opened(kind, os.path.join(directory, 'raw')) as db:
        raw = throughput.commit_rate(db)
    with opened(kind, os.path.join(directory, 'drain')) as db:
        rate, cpu, conflicts = throughput.drain_db(db, n, size,
                                                  os.path.join(directory,
                                                               'drain'))
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
