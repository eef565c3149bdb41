"""A durable history of finished jobs, with indexes and per-minute
counters, and its retention.

Today's agents list only their last ~1,000 completions; the history keeps
every finished job for ``max_age`` (7 days) and at most ``max_count``
(100,000) jobs, in ``root['zc.asyncui.history']``::

    record(conn, jobs, shard)      # poll thread: jobs just COMPLETED
    query(conn, status='failed', queue='', callable='myapp.*',
          since=dt, before=dt, failure_type='ValueError',
          count=20)                # jobs, newest first
    count(conn, ...)               # the same filters, a number
    counts(conn, since=dt)         # the per-minute counters, summed
    prune(conn, shard, now)        # retention, a bounded step

Where it is fed: the dispatcher's poll thread, in the batched commit
that takes completed jobs off their agent (zc.asyncui.polling.
flush_completions), not the worker's commit that stores the result.  Why:
the worker commit stays as cheap as before, and each dispatcher writes
only its own *shard* (keyed by its UUID), one poll transaction at a time,
so finishing workers -- in this process or in others -- never write the
same object: no conflict hot spot by construction, without conflict
resolution.  A query merges the shards (one per dispatcher that ever ran).
The price: a job appears in the history a poll after it finished.

Jobs no agent flushes reach the same commit by two other ways.  A
callback, and a job completed after its callbacks, are noted in memory by
the worker that completed them and recorded by its dispatcher's next
poll (zc.asyncui.polling.FinishedJobs).  A job cancelled before it
started finishes in its canceller's transaction, in any process: that
transaction only *notes* it (``note``) in ``History.noted``, a BTree
keyed by (end, job key) whose concurrent inserts resolve, with a sentinel
first key so that a poll emptying it never conflicts with a new note; the
next poll of any dispatcher moves the noted jobs into its own shard
(``record_noted``).

Indexes (per shard, each an OOBTree of name -> OOTreeSet of entry keys):
status ('succeeded'/'failed'), queue name, callable (dotted name) and
failure type (dotted exception class).  An entry key is
``(-end_microseconds, job_key)``, so ascending order is newest first and
``since``/``before`` are key ranges.  Counters: ``(minute, queue,
callable) -> (put, started, succeeded, failed, retried)``, each event in
the minute it happened (put time, each attempt's start, ...), counted when
the job finishes.

Layer: persistent model (imports contracts and filters).
"""
import datetime
import fnmatch
import heapq
import itertools

import BTrees.Length
import BTrees.OOBTree
import persistent

from zc.asyncui import errors
from zc.asyncui import filters
from zc.asyncui import settings
from zc.asyncui import utils
from zc.asyncui.failure import Failure

KEY = 'zc.asyncui.history'
SUCCEEDED = 'succeeded'
FAILED = 'failed'
STATUSES = (SUCCEEDED, FAILED)
#: The counters, in the order of a counter tuple.
COUNTERS = ('put', 'started', 'succeeded', 'failed', 'retried')
#: Entries (and counter rows) one prune step removes at most: a small
#: transaction, whatever the backlog.
PRUNE_STEP = 200


class Shard(persistent.Persistent):
    """The history written by one dispatcher (one writer)."""

    def __init__(self, name):
        self.name = name
        self.entries = BTrees.OOBTree.OOBTree()   # key -> (job, fields)
        self.length = BTrees.Length.Length()
        self.indexes = {name: BTrees.OOBTree.OOBTree() for name in (
            'status', 'queue', 'callable', 'failure_type')}
        self.counters = BTrees.OOBTree.OOBTree()

    def add(self, job, tally=None):
        """Add a finished job (once); its counter increments go to
        ``tally`` (a dict, see ``addCounts``) when given, else at once."""
        end = job._end_ts or utils.now().timestamp()
        key = (-int(end * 1e6), job.key)
        if key in self.entries:
            return
        failed = isinstance(job._result, Failure)
        queue = getattr(job._queue, 'name', '') or ''
        name = filters.callable_name(job)
        fields = {'status': FAILED if failed else SUCCEEDED, 'queue': queue,
                  'callable': name, 'failure_type':
                  job._result.type_name if failed else None}
        self.entries[key] = (job, fields)
        self.length.change(1)
        for index, value in fields.items():
            if value is not None:
                _set(self.indexes[index], value).insert(key)
        own = tally is None
        tally = {} if own else tally
        _count(job, queue, name, failed, tally)
        if own:
            self.addCounts(tally)

    def addCounts(self, tally):
        """Add ``tally`` ({(minute, queue, callable): [5 ints]}) to the
        counters: one write per row, however many jobs it counts."""
        for row, add in tally.items():
            old = self.counters.get(row)
            self.counters[row] = tuple(add) if old is None else tuple(
                a + b for a, b in zip(old, add))

    def remove(self, key):
        job, fields = self.entries.pop(key)
        self.length.change(-1)
        for index, value in fields.items():
            if value is None:
                continue
            tree = self.indexes[index]
            found = tree.get(value)
            if found is not None:
                found.remove(key)
                if not found:
                    del tree[value]


def _count(job, queue, name, failed, tally):
    # The job's events, each in the minute it happened, into ``tally``.
    def bump(ts, i):
        if ts is not None:
            row = (int(ts // 60), queue, name)
            values = tally.get(row)
            if values is None:
                values = tally[row] = [0] * len(COUNTERS)
            values[i] += 1
    bump(job._put_ts, 0)
    for n, attempt in enumerate(job._attempts):
        bump(attempt[0], 1)
        if n:
            bump(attempt[0], 4)
    bump(job._end_ts, 3 if failed else 2)


def _set(tree, value):
    found = tree.get(value)
    if found is None:
        found = tree[value] = BTrees.OOBTree.OOTreeSet()
    return found


class History(persistent.Persistent):
    """The root object: shards by name, and the retention settings."""

    #: Finished jobs waiting for a poll to record them, (end
    #: microseconds, job key) -> job, after NOTED_SENTINEL; None in a
    #: history made before it existed (``note`` creates it).
    noted = None

    def __init__(self):
        self.shards = BTrees.OOBTree.OOBTree()
        self.max_age = settings.default('history', 'max_age')
        self.max_count = settings.default('history', 'max_count')
        self.noted = _noted_tree()

    def __len__(self):
        return sum(s.length() for s in self.shards.values())

    def notedCount(self):
        """How many noted jobs wait for a poll to record them."""
        return 0 if self.noted is None else len(self.noted) - 1


#: The first key of ``History.noted``, never removed (see ``note``).
NOTED_SENTINEL = (-1, '')


def _noted_tree():
    return BTrees.OOBTree.OOBTree({NOTED_SENTINEL: None})


def get(conn, create=False):
    """The History of the database of ``conn`` (None if there is none and
    not ``create``)."""
    root = conn.root()
    history = root.get(KEY)
    if history is None and create:
        history = root[KEY] = History()
    return history


def configure(conn, **values):
    """Set the retention (``max_age``, a timedelta; ``max_count``) in the
    caller's transaction; ConfigurationError for a bad value."""
    checked = {name: settings.get('history', name).validate(value)
               for name, value in values.items()}
    history = get(conn, create=True)
    for name, value in checked.items():
        setattr(history, name, value)
    return history


def record(conn, jobs, shard):
    """Add finished ``jobs`` to ``shard`` (a dispatcher's UUID), in the
    caller's transaction."""
    if not jobs:
        return
    history = get(conn, create=True)
    found = history.shards.get(shard)
    if found is None:
        found = history.shards[shard] = Shard(shard)
    tally = {}
    for job in jobs:
        found.add(job, tally)
    found.addCounts(tally)


def note(job):
    """Note ``job``, finished where no dispatcher records it (cancelled
    before it started), in the caller's transaction; the next poll of any
    dispatcher records it (``record_noted``).  Concurrent notes insert
    distinct keys in a BTree: they resolve."""
    history = get(job._p_jar, create=True)
    if history.noted is None:
        history.noted = _noted_tree()
    end = job._end_ts or utils.now().timestamp()
    history.noted[(int(end * 1e6), job.key)] = job


def record_noted(conn, shard, step=PRUNE_STEP):
    """Move at most ``step`` noted jobs into ``shard`` (a dispatcher's
    UUID), oldest first, in the caller's transaction (a poll's).  Returns
    how many; reads no more than a bucket when there are none."""
    history = get(conn)
    noted = None if history is None else history.noted
    if noted is None:
        return 0
    keys = list(itertools.islice(noted.keys(min=NOTED_SENTINEL,
                                            excludemin=True), step))
    if keys:
        record(conn, [noted.pop(key) for key in keys], shard)
    return len(keys)


# -- queries ------------------------------------------------------------------

def _micro(dt, name):
    if dt is None:
        return None
    if not isinstance(dt, datetime.datetime) or dt.tzinfo is None:
        raise errors.ConfigurationError(
            '%s must be an aware datetime (e.g. zc.asyncui.utils.now() -'
            ' timedelta(hours=1)), not %r' % (name, dt))
    return int(dt.timestamp() * 1e6)


def _check(status, count):
    if status is not None and status not in STATUSES:
        raise errors.ConfigurationError(
            'status must be one of %s, not %r' % (', '.join(STATUSES),
                                                  status))
    if count is not None and (isinstance(count, bool) or not isinstance(
            count, int) or count < 0):
        raise errors.ConfigurationError(
            'count must be an int >= 0, not %r' % (count,))


def _shard_keys(shard, exact, since, before):
    # Entry keys of one shard matching the exact filters and the time
    # range, newest first; walks the smallest candidate index.
    lo = None if before is None else (-before + 1,)   # end < before
    hi = None if since is None else (-since + 1,)     # end >= since
    sets = []
    for index, value in exact.items():
        found = shard.indexes[index].get(value)
        if found is None:
            return iter(())
        sets.append(found)
    # Walk the first set (the most selective index first, see _iter);
    # never len() one: that loads all of its buckets.
    source = sets[0] if sets else shard.entries
    keys = source.keys(min=lo, max=hi, excludemax=True) if (
        lo is not None or hi is not None) else source.keys()
    others = [s for s in sets if s is not source]
    if not others:
        return iter(keys)
    return (k for k in keys if all(k in s for s in others))


def _iter(conn, status, queue, callable, since, before, failure_type,
          count):
    _check(status, count)
    since, before = _micro(since, 'since'), _micro(before, 'before')
    history = get(conn)
    if history is None:
        return iter(())
    exact = {name: value for name, value in (   # most selective first
        ('failure_type', failure_type),
        ('callable', None if callable is None or any(
            c in callable for c in '*?[') else callable),
        ('queue', queue), ('status', status))
        if value is not None}
    streams = []
    for shard in history.shards.values():
        keys = _shard_keys(shard, exact, since, before)
        streams.append(((key, shard) for key in keys))
    merged = heapq.merge(*streams, key=lambda pair: pair[0])
    if callable is not None and 'callable' not in exact:
        merged = (
            (key, shard) for key, shard in merged
            if fnmatch.fnmatchcase(shard.entries[key][1]['callable'],
                                   callable))
    return itertools.islice(merged, count)


def query(conn, status=None, queue=None, callable=None, since=None,
          before=None, failure_type=None, count=None, start=0):
    """Finished jobs, newest first, that match every filter given:
    ``status`` ('succeeded' or 'failed'), ``queue`` (name), ``callable``
    (dotted name, or a glob such as 'myapp.*'), ``since`` <= end <
    ``before`` (aware datetimes), ``failure_type`` (dotted exception
    class), at most ``count``, the first ``start`` skipped (by their
    index keys: a deep page loads only its own entries)."""
    return list(iter_query(conn, status, queue, callable, since, before,
                           failure_type, count, start))


def iter_query(conn, status=None, queue=None, callable=None, since=None,
               before=None, failure_type=None, count=None, start=0):
    """``query`` as a lazy iterator: each entry is looked up when it is
    reached, so a reader that stops early (a page scanning for matches
    within a time limit) pays only for what it read."""
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise errors.ConfigurationError(
            'start must be an int >= 0, not %r' % (start,))
    found = _iter(conn, status, queue, callable, since, before,
                  failure_type, None if count is None else start + count)
    return (shard.entries[key][0]
            for key, shard in itertools.islice(found, start, None))


def count(conn, status=None, queue=None, callable=None, since=None,
          before=None, failure_type=None):
    """How many finished jobs match (the filters of ``query``)."""
    return sum(1 for _ in _iter(conn, status, queue, callable, since,
                                before, failure_type, None))


def counts(conn, since=None, before=None, queue=None, callable=None):
    """The per-minute counters summed over [since, before) (whole
    minutes), optionally for one queue and callable (a glob):
    {'put': n, 'started': n, 'succeeded': n, 'failed': n, 'retried': n}."""
    lo = None if since is None else int(_micro(since, 'since') // 60e6)
    hi = None if before is None else int(_micro(before, 'before') // 60e6)
    total = [0] * len(COUNTERS)
    history = get(conn)
    for shard in (history.shards.values() if history is not None else ()):
        rows = shard.counters.items(
            min=None if lo is None else (lo,),
            max=None if hi is None else (hi,), excludemax=hi is not None)
        for (minute, q, name), values in rows:
            if queue is not None and q != queue:
                continue
            if callable is not None and not fnmatch.fnmatchcase(
                    name, callable):
                continue
            for i, v in enumerate(values):
                total[i] += v
    return dict(zip(COUNTERS, total))


# -- retention -------------------------------------------------------------------

def prune(conn, shard, now=None, step=PRUNE_STEP):
    """Remove at most ``step`` of ``shard``'s oldest entries that are older
    than the history's ``max_age`` or beyond its ``max_count`` (counted
    over every shard), and counter rows older than ``max_age``; in the
    caller's transaction.  Returns how many entries were removed."""
    history = get(conn)
    found = None if history is None else history.shards.get(shard)
    if found is None:
        return 0
    now = now or utils.now()
    cutoff = int((now - history.max_age).timestamp() * 1e6)
    excess = len(history) - history.max_count
    removed = 0
    entries = found.entries
    while removed < step and entries:
        key = entries.maxKey()                       # the oldest
        if -key[0] >= cutoff and excess <= 0:
            break
        found.remove(key)
        excess -= 1
        removed += 1
    minute = cutoff // int(60e6)
    old = list(itertools.islice(found.counters.keys(max=(minute,),
                                                    excludemax=True), step))
    for row in old:
        del found.counters[row]
    return removed
