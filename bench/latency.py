"""Put-to-start latency: how soon a dispatcher starts a job once it is put.

Prints p50 and p99 of ``job.active_start - job.put_time`` (in ms; the
put time is taken inside ``Queue.put``, so the producer's own commit is
included) for no-op jobs put one per transaction at a steady rate:

(a) put by the process that runs the dispatcher (FileStorage, default
    ``poll_interval`` 5 s, so only the wake-up after this process's own
    commits counts);
(b) put by another process through ZEO: a ZEO server process
    (``zc-asyncui zeo``), a dispatcher process (``zc-asyncui run --zeo``,
    default poll interval 5 s) and this process as the producer; the
    dispatcher notices the new transaction id.

For contrast, the same with the wake-ups disabled, so that only polling
finds work (``--contrast-polls``, default 0.1 s and 5 s).

Targets (issue 2): (a) picked up at once; (b) within about 100 ms.

``--trace`` adds, per case, the median time of each step (put
committed, poll, claim, claim committed, inbox, taken by a worker, start
committed, called) and the commits between a claim and its start
(bench/latencytrace.py; through ZEO, the API worker is traced).

Usage: python bench/latency.py [--rate 50] [--seconds 4]
       [--contrast-polls 0.1,5] [--skip-zeo] [--trace]
"""
import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time

import transaction
import ZODB.POSException

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import testing

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchjobs  # noqa: E402
import latencytrace  # noqa: E402
import multiprocess as mp  # noqa: E402

#: --trace: print where the milliseconds go (bench/latencytrace.py).
TRACE = False


def percentile(values, fraction):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(fraction * (len(values)
                                                             - 1))))]


class Producer:
    """Puts one no-op job per transaction, ``rate`` per second, like an
    application would: each put in a fresh transaction, retried on
    ConflictError (a claim may change the queue's BTree nodes meanwhile)."""

    def __init__(self, db):
        self.tm = transaction.TransactionManager()
        self.conn = db.open(self.tm)
        self.conflicts = 0

    def put(self, i):
        while True:
            self.tm.begin()
            try:
                job = zc.asyncui.getQueue(self.conn).put(
                    zc.asyncui.Job(benchjobs.noop, i))
                self.tm.commit()
                if TRACE:
                    latencytrace.mark_put(job._p_oid)
                return job
            except ZODB.POSException.ConflictError:
                self.tm.abort()
                self.conflicts += 1

    def run(self, rate, seconds):
        jobs = []
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            jobs.append(self.put(i))
        return jobs


def produce(db, rate, seconds):
    """The jobs put (their connection stays open) and the producer's
    ConflictErrors."""
    producer = Producer(db)
    return producer.run(rate, seconds), producer.conflicts


def latencies(produced, timeout=60.0):
    """Wait for the jobs to start; their put-to-start latencies in ms
    and the producer's conflicts."""
    jobs, conflicts = produced
    for job in jobs:
        testing.wait_for_start(job, timeout)
    tm = jobs[0]._p_jar.transaction_manager
    tm.begin()
    values = [(j.active_start - j.put_time).total_seconds() * 1000
              for j in jobs]
    oids = [j._p_oid for j in jobs]
    tm.abort()
    jobs[0]._p_jar.close()
    return values, conflicts, oids


def report(label, measured):
    values, conflicts = measured[:2]
    print('%-62s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  (%d jobs, %d'
          ' producer conflicts)'
          % (label, percentile(values, 0.5), percentile(values, 0.99),
             max(values), len(values), conflicts))
    if TRACE and len(measured) > 2:
        for line in latencytrace.summary(measured[2]):
            print(line)
        latencytrace.reset()


@contextlib.contextmanager
def wakeups_disabled():
    """Polling only, in this process (see multiprocess.disable_wakeups)."""
    from zc.asyncui import queue
    from zc.asyncui import worker
    try:
        from zc.asyncui import notices
    except ImportError:  # an older tree, for a comparison
        notices = queue
    saved = (queue._wake_after_commit, dispatcher.CHANGE_CHECK_SECONDS,
             worker.Inbox.get, getattr(notices, 'listen', None))
    mp.disable_wakeups()
    try:
        yield
    finally:
        (queue._wake_after_commit, dispatcher.CHANGE_CHECK_SECONDS,
         worker.Inbox.get, notices.listen) = saved


def same_process(base, rate, seconds, poll=5.0):
    """(a): producer and dispatcher in one process, on a FileStorage."""
    directory = mp.fresh_dir(base, 'same')
    db = testing.file_storage_db(directory)
    zc.asyncui.install(db)
    d = dispatcher.start(db, poll_interval=poll,
                         uuid_file=os.path.join(directory, 'uuid.txt'))
    try:
        mp.wait_for(lambda: d.getStatusInfo()['active_queues'], 30,
                    'the dispatcher to activate')
        return latencies(produce(db, rate, seconds))
    finally:
        d.stop(10.0)
        db.close()


def other_process(base, rate, seconds, use_cli, runner, poll=5.0,
                  extra=()):
    """(b): a ZEO server, a dispatcher process, and this process putting
    the jobs."""
    directory = mp.fresh_dir(base, 'zeo')
    server = mp.ZeoServer(directory, use_cli).start()
    db = server.open_db()
    zc.asyncui.install(db)
    session = mp.Session(db)
    trace = os.path.join(directory, 'trace.json')
    if TRACE:  # the API worker, through bench/latencytrace.py
        os.environ['ZC_ASYNCUI_LATENCY_TRACE'] = trace
        workers = [mp.Process(latencytrace.worker_argv(mp.worker_argv(
            'api', server, os.path.join(directory, 'uuid-0.txt'),
            poll=poll, extra=extra)), os.path.join(directory, 'worker.log'))]
    else:
        workers = mp.start_workers(server, runner, 1, directory, poll=poll,
                                   extra=extra)
    try:
        mp.wait_for(lambda: session.active_dispatchers() == 1, 120,
                    'the dispatcher process to activate')
        return latencies(produce(db, rate, seconds))
    finally:
        mp.stop_all(workers)
        if TRACE:
            latencytrace.load(trace)
        session.close()
        db.close()
        server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rate', type=float, default=50.0)
    parser.add_argument('--seconds', type=float, default=4.0)
    parser.add_argument('--contrast-polls', default='0.1,5')
    parser.add_argument('--skip-zeo', action='store_true')
    parser.add_argument('--trace', action='store_true',
                        help='where the milliseconds go, per step')
    args = parser.parse_args(argv)
    if args.trace:
        global TRACE
        TRACE = True
        latencytrace.install()
    polls = [float(p) for p in args.contrast_polls.split(',') if p]
    use_cli = mp.cli_available()
    base = tempfile.mkdtemp(prefix='zc.asyncui-latency-')
    print('no-op jobs, one per transaction, %g/s; poll_interval 5 s unless'
          ' noted; %d CPUs' % (args.rate, os.cpu_count()))
    try:
        report('(a) same process, FileStorage, wake-ups',
               same_process(base, args.rate, args.seconds))
        for poll in polls:
            with wakeups_disabled():
                report('    contrast: polling only, poll_interval %gs' % poll,
                       same_process(base, args.rate, max(args.seconds,
                                                         2 * poll), poll))
        if not args.skip_zeo:
            zeo_cases(base, args, polls, use_cli)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def zeo_cases(base, args, polls, use_cli):
    runner = 'cli' if use_cli else 'api'
    report('(b) other process through ZEO (%s), wake-ups'
           % ('zc-asyncui run --zeo' if use_cli else 'API worker'),
           other_process(base, args.rate, args.seconds, use_cli, runner))
    for poll in polls:
        report('    contrast: polling only, poll_interval %gs' % poll,
               other_process(base, args.rate, max(args.seconds, 2 * poll),
                             use_cli, 'api', poll, extra=['--no-wakeups']))


if __name__ == '__main__':
    main()
