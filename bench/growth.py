"""Growth with the work: costs at 1,000 and at 100,000 pending jobs.

For each backlog size P (default 1,000 and 100,000 no-op jobs pending in
one queue on a FileStorage) prints:

- start-up: seconds from opening the FileStorage in a new process to the
  first job completed by a dispatcher started there, all P jobs having
  been put before (so they are all still in the queue's inbox, which the
  first claims move to the claim trees); target < 5 s;
- dispatcher RSS: that process's resident memory a second after its
  first completed job, with P pending, and its peak until then (the
  first claim moves all P jobs from the inbox to the claim trees);
- put: ms per put, one transaction per put (``--ops`` puts), after that;
- claim: ms per ``queue.claim()``, one transaction per claim (after one
  claim not timed);

then the 100k / 1k ratio of put and claim costs (target within 1.5).

Usage: python bench/growth.py [--pending 1000,100000] [--ops 300]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import transaction
import zope.event

import zc.asyncui
from zc.asyncui import events

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchjobs  # noqa: E402
import throughput  # noqa: E402


def fill(db, pending):
    """Put ``pending`` no-op jobs, 1,000 per transaction."""
    zc.asyncui.install(db)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    queue = zc.asyncui.getQueue(conn)
    for i in range(pending):
        queue.put(zc.asyncui.Job(benchjobs.noop, i))
        if (i + 1) % 1000 == 0:
            tm.commit()
    tm.commit()
    conn.close()


def per_op_ms(db, ops, op):
    """(wall ms, CPU ms) per ``op(queue)``, each in its own committed
    transaction.  CPU time is the steadier figure on a shared machine."""
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    queue = zc.asyncui.getQueue(conn)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(ops):
        op(queue, i)
        tm.commit()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    conn.close()
    return elapsed / ops * 1000, cpu / ops * 1000


def put_op(queue, i):
    queue.put(zc.asyncui.Job(benchjobs.noop, i))


def claim_op(queue, i):
    if queue.claim() is None:
        raise SystemExit('the queue ran out of jobs to claim')


def rss_mb(field='VmRSS'):
    """This process's resident memory in MB (``VmHWM``: its peak)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def child(directory):
    """In a new process: open the database, start a dispatcher, report the
    start-up time (to the first completed job) and the RSS."""
    from zc.asyncui import dispatcher
    first = threading.Event()

    def on_event(event):
        if isinstance(event, events.JobCompleted):
            first.set()
    zope.event.subscribers.append(on_event)
    begun = time.perf_counter()
    db = throughput.open_db(directory)
    d = dispatcher.start(db, poll_interval=1.0, main_agent_size=1,
                         uuid_file=os.path.join(directory, 'uuid.txt'))
    if not first.wait(120):
        raise SystemExit('no job completed within 120 s of start-up')
    startup = time.perf_counter() - begun
    time.sleep(1)
    rss, peak = rss_mb(), rss_mb('VmHWM')
    d.stop(10)
    db.close()
    print(json.dumps({'startup_s': startup, 'rss_mb': rss,
                      'peak_mb': peak}))


def measure(base, pending, ops):
    directory = throughput.fresh_dir(base, 'p%d' % pending)
    db = throughput.open_db(directory)
    try:
        # More than P: the dispatcher started below runs some, the claims
        # take some, and P should still be about pending.
        fill(db, pending + ops + 2000)
    finally:
        db.close()  # writes the index: a restart reads it, as in production
    out = subprocess.run([sys.executable, os.path.abspath(__file__),
                          '--child', directory], check=True,
                         capture_output=True, text=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    db = throughput.open_db(directory)
    try:
        put = per_op_ms(db, ops, put_op)
        per_op_ms(db, 1, claim_op)
        claim = per_op_ms(db, ops, claim_op)
    finally:
        db.close()
    return put, claim, found['startup_s'], (found['rss_mb'],
                                            found['peak_mb'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pending', default='1000,100000')
    parser.add_argument('--ops', type=int, default=300)
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    base = tempfile.mkdtemp(prefix='zc.asyncui-growth-')
    results = {}
    try:
        for pending in [int(p) for p in args.pending.split(',')]:
            put, claim, startup, rss = results[pending] = measure(
                base, pending, args.ops)
            print('%7d pending: put %.3f ms (CPU %.3f)  claim %.3f ms (CPU'
                  ' %.3f)  start-up to first job %.2f s  dispatcher RSS'
                  ' %.0f MB (peak %.0f)' % (pending, put[0], put[1],
                                            claim[0], claim[1], startup,
                                            rss[0], rss[1]))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    sizes = sorted(results)
    if len(sizes) >= 2:
        low, high = results[sizes[0]], results[sizes[-1]]
        print('cost at %d / at %d pending, wall (CPU): put %.2fx (%.2fx)'
              '  claim %.2fx (%.2fx); target <= 1.5x'
              % (sizes[-1], sizes[0], high[0][0] / low[0][0],
                 high[0][1] / low[0][1], high[1][0] / low[1][0],
                 high[1][1] / low[1][1]))
        print('dispatcher RSS at %d / at %d pending: %.2fx (peak %.2fx);'
              ' target about 1.2x' % (sizes[-1], sizes[0],
                                     high[3][0] / low[3][0],
                                     high[3][1] / low[3][1]))


if __name__ == '__main__':
    main()
