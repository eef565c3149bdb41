"""Where a job's put-to-start milliseconds go: timestamps of each step
for every job of a bench/latency.py run, in the dispatcher's process.

Patches internals (for benchmarks only): ``install()`` before the
dispatcher starts, ``summary()`` after the jobs started.  Steps, per job
(by oid): put committed (the producer, same process only), poll begun
(the first poll after it), claimed (in the poll transaction), claim
committed, handed to the inbox, taken by a worker, start committed,
called; and every commit of the process by thread, so that a commit
between a claim and its start shows.

Usage: python bench/latency.py --trace (prints the summary per case).
"""
import collections
import threading
import time

STEPS = ('put', 'poll', 'claim', 'claimed', 'inbox', 'taken', 'started',
         'called')

_times = collections.defaultdict(dict)   # oid -> step -> time
_commits = []   # (thread name, begin, end)
_polls = []     # poll begin times
_installed = []


def _mark(oid, step, when=None):
    _times[oid].setdefault(step, time.perf_counter() if when is None
                           else when)


def mark_put(oid):
    _mark(oid, 'put')


def install():
    """Patch the dispatcher, polling, inbox, worker and transaction
    commit to record the steps."""
    if _installed:
        return
    _installed.append(True)
    import transaction._transaction
    from zc.asyncui import dispatcher
    from zc.asyncui import inbox
    from zc.asyncui import polling

    commit = transaction._transaction.Transaction.commit

    def traced_commit(self):
        begun = time.perf_counter()
        writes = bool(self._resources)  # else nothing reaches the storage
        try:
            return commit(self)
        finally:
            if writes:
                _commits.append((threading.current_thread().name, begun,
                                 time.perf_counter()))
    transaction._transaction.Transaction.commit = traced_commit

    poll = dispatcher.Dispatcher._poll

    def traced_poll(self):
        _polls.append(time.perf_counter())
        return poll(self)
    dispatcher.Dispatcher._poll = traced_poll

    claim = polling.claim

    def traced_claim(*args, **kw):
        oids = claim(*args, **kw)
        now = time.perf_counter()
        for oid in oids:
            _mark(oid, 'poll', _polls[-1] if _polls else now)
            _mark(oid, 'claim', now)
        return oids
    polling.claim = traced_claim

    after = dispatcher.Dispatcher._after_poll_commit

    def traced_after(self, name, result, record):
        if result is not None:
            now = time.perf_counter()
            for _, oids in result.claims:
                for oid in oids:
                    _mark(oid, 'claimed', now)
        return after(self, name, result, record)
    dispatcher.Dispatcher._after_poll_commit = traced_after

    put_many = inbox.Inbox.put_many

    def traced_put_many(self, oids):
        now = time.perf_counter()
        for oid in oids:
            _mark(oid, 'inbox', now)
        return put_many(self, oids)
    inbox.Inbox.put_many = traced_put_many

    for name in ('get', 'get_nowait'):
        _trace_get(inbox.Inbox, name)

    from zc.asyncui import execution
    mark_active = execution.mark_active

    def traced_mark_active(job, *args, **kw):
        result = mark_active(job, *args, **kw)
        oid = job._p_oid
        import transaction as txnmod
        txnmod.get().addAfterCommitHook(
            lambda ok: ok and _mark(oid, 'started'))
        return result
    execution.mark_active = traced_mark_active

    call = execution._call

    def traced_call(run, job, *args):
        _mark(job._p_oid, 'called')
        return call(run, job, *args)
    execution._call = traced_call


def _trace_get(cls, name):
    original = getattr(cls, name)

    def traced(self, *args):
        oid = original(self, *args)
        if oid is not None:
            _mark(oid, 'taken')
        return oid
    setattr(cls, name, traced)


def reset():
    _times.clear()
    del _commits[:]
    del _polls[:]


def _median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else float('nan')


def summary(oids):
    """Lines: the median ms of each step after the previous one, and the
    commits (by thread) between each job's claim commit and its start."""
    lines = []
    rows = [_times.get(oid, {}) for oid in oids]
    previous = None
    for step in STEPS:
        if previous is not None:
            deltas = [(r[step] - r[previous]) * 1000 for r in rows
                      if step in r and previous in r]
            if deltas:
                lines.append('      %-8s -> %-8s median %7.2f ms  p90 %7.2f'
                             ' ms  (%d jobs)' % (
                                 previous, step, _median(deltas),
                                 sorted(deltas)[int(0.9 * (len(deltas) - 1))],
                                 len(deltas)))
        if any(step in r for r in rows):
            previous = step
    between = collections.Counter()
    for r in rows:
        if 'claimed' in r and 'started' in r:
            for thread, begun, end in _commits:
                if r['claimed'] < end < r['started'] and begun > r['claimed']:
                    between[thread.split(' ')[1] if ' ' in thread
                            else thread] += 1
    lines.append('      writing commits begun between claim commit and'
                 ' start commit: %s over %d jobs' % (dict(between), len(rows)))
    by_thread = collections.Counter(
        thread.split(' ')[1] if ' ' in thread else thread
        for thread, _, _ in _commits)
    lines.append('      per job: %.2f polls, writing commits %s' % (
        len(_polls) / max(1, len(rows)), {
            t: round(n / max(1, len(rows)), 2) for t, n in by_thread.items()}))
    return lines


def dump(path):
    """Write the steps (oids in hex) and commits to ``path`` (JSON)."""
    import json
    with open(path, 'w') as f:
        json.dump({'times': {oid.hex(): steps for oid, steps in
                             _times.items()},
                   'commits': _commits, 'polls': _polls}, f)


def load(path):
    """Merge what a dispatcher process dumped into this process's record
    (perf_counter is the system's monotonic clock on Linux: one time
    base for all processes)."""
    import json
    with open(path) as f:
        data = json.load(f)
    for oid, steps in data['times'].items():
        for step, when in steps.items():
            _mark(bytes.fromhex(oid), step, when)
    _commits.extend(tuple(c) for c in data['commits'])
    _polls.extend(data['polls'])


def worker_argv(argv):
    """The command line of a traced API worker (bench/multiprocess.py's,
    through this module), from that of a plain one."""
    return [argv[0], __file__] + argv[2:]


if __name__ == '__main__':
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import multiprocess
    assert sys.argv[1] == '_worker'
    install()
    multiprocess.api_worker(sys.argv[2:])
    dump(os.environ['ZC_ASYNCUI_LATENCY_TRACE'])
