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

Running totals (per shard, for zc.asyncui's Prometheus metrics): the
counters summed since the shard began, ``(queue, callable) -> (put,
started, succeeded, failed, retried, dead)``, and a duration histogram
per queue; retention never prunes them, so they never go down.  A shard
names at most ``TOTAL_CALLABLES`` callables in them, the first it sees;
the others count as ``OTHER``: the label stays bounded and stable.
*dead*: failed after retrying or an interruption (``gave_up``).

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
import bisect
import datetime
import fnmatch
import heapq
import itertools

import BTrees.Length
import BTrees.OOBTree
import persistent

from zc.asyncui import errors
from zc.asyncui import settings
from zc.asyncui import utils
from zc.asyncui.smalltrees import SmallNodeOOBTree, SmallNodeOOTreeSet
from zc.asyncui.historyfacts import ABORTED, Facts, gave_up  # noqa: F401

KEY = 'zc.asyncui.history'
SUCCEEDED = 'succeeded'
FAILED = 'failed'
STATUSES = (SUCCEEDED, FAILED)
#: The counters, in the order of a counter tuple.
COUNTERS = ('put', 'started', 'succeeded', 'failed', 'retried')
#: Entries (and counter rows) one prune step removes at most: a small
#: transaction, whatever the backlog.
PRUNE_STEP = 200
#: The running totals: the counters, then ``dead``.
TOTALS = COUNTERS + ('dead',)
#: How many callables a shard's totals name; the rest are OTHER.
TOTAL_CALLABLES = 50
OTHER = 'other'
#: Upper bounds (seconds) of the duration histogram's buckets; a last
#: bucket counts the longer ones.  The duration is the last attempt's.
DURATION_BUCKETS = (0.01, 0.05, 0.25, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0)


class Shard(persistent.Persistent):
    """The history written by one dispatcher (one writer)."""

    def __init__(self, name):
        self.name = name
        self.entries = SmallNodeOOBTree()   # key -> (job, fields)
        self.length = BTrees.Length.Length()
        self.indexes = {name: BTrees.OOBTree.OOBTree() for name in (
            'status', 'queue', 'callable', 'failure_type')}
        self.counters = BTrees.OOBTree.OOBTree()
        self._ensureTotals()

    # Shards stored before the totals existed get them at their first
    # write (seeded from their counters): see _ensureTotals.
    totals = durations = callables = None

    def _ensureTotals(self):
        if self.totals is not None:
            return
        self.totals = BTrees.OOBTree.OOBTree()
        self.durations = BTrees.OOBTree.OOBTree()
        self.callables = BTrees.OOBTree.OOTreeSet()
        self._addTotals(self.counters.items())

    def _label(self, name):
        # The callable as the totals name it (bounded, never renamed).
        callables = self.callables
        if name in callables:
            return name
        if len(callables) < TOTAL_CALLABLES:
            callables.insert(name)
            return name
        return OTHER

    def _addTotals(self, rows, dead=0):
        sums = {}
        for (minute, queue, name), values in rows:
            row = sums.setdefault((queue, self._label(name)),
                                  [0] * len(TOTALS))
            for i, v in enumerate(values):
                row[i] += v
        for row, add in sums.items():
            old = self.totals.get(row, (0,) * len(TOTALS))
            self.totals[row] = tuple(a + b for a, b in zip(old, add))

    def _observe(self, facts):
        # Dead and duration: once per job, when it is added.
        if facts.dead:
            row = (facts.queue, self._label(facts.callable))
            old = self.totals.get(row, (0,) * len(TOTALS))
            self.totals[row] = old[:-1] + (old[-1] + 1,)
        if facts.start is None or facts.end is None:
            return
        seconds = max(0.0, facts.end - facts.start)
        i = bisect.bisect_left(DURATION_BUCKETS, seconds)
        old = self.durations.get(facts.queue) or (
            (0,) * (len(DURATION_BUCKETS) + 1) + (0.0,))
        self.durations[facts.queue] = (old[:i] + (old[i] + 1,) +
                                       old[i + 1:-1] + (old[-1] + seconds,))

    def add(self, job, tally=None, facts=None):
        """Add a finished job (once); its counter increments go to
        ``tally`` (a dict, see ``addCounts``) when given, else at once.
        ``facts``: the job's ``Facts``, taken where it was loaded anyway
        (its worker), so that the job is not loaded here."""
        if facts is None:
            facts = Facts.of(job)
        end = facts.end or utils.now().timestamp()
        key = (-int(end * 1e6), facts.key)
        if key in self.entries:
            return
        self._ensureTotals()
        fields = {'status': FAILED if facts.failed else SUCCEEDED,
                  'queue': facts.queue, 'callable': facts.callable,
                  'failure_type': facts.failure_type}
        self.entries[key] = (job, fields)
        self.length.change(1)
        for index, value in fields.items():
            if value is not None:
                _set(self.indexes[index], value).insert(key)
        own = tally is None
        tally = {} if own else tally
        _count(facts, tally)
        self._observe(facts)
        if own:
            self.addCounts(tally)

    def addCounts(self, tally):
        """Add ``tally`` ({(minute, queue, callable): [5 ints]}) to the
        counters: one write per row, however many jobs it counts; and
        to the running totals."""
        self._ensureTotals()
        self._addTotals(tally.items())
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


def _count(facts, tally):
    # The job's events, each in the minute it happened, into ``tally``.
    queue, name = facts.queue, facts.callable

    def bump(ts, i):
        if ts is not None:
            row = (int(ts // 60), queue, name)
            values = tally.get(row)
            if values is None:
                values = tally[row] = [0] * len(COUNTERS)
            values[i] += 1
    bump(facts.put, 0)
    for n, start in enumerate(facts.starts):
        bump(start, 1)
        if n:
            bump(start, 4)
    bump(facts.end, 3 if facts.failed else 2)


def _set(tree, value):
    found = tree.get(value)
    if found is None:
        found = tree[value] = SmallNodeOOTreeSet()
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


def record(conn, jobs, shard, facts=None):
    """Add finished ``jobs`` to ``shard`` (a dispatcher's UUID), in the
    caller's transaction.  ``facts``: the ``Facts`` of each job (None
    where not known: that job is loaded to read them)."""
    if not jobs:
        return
    history = get(conn, create=True)
    found = history.shards.get(shard)
    if found is None:
        found = history.shards[shard] = Shard(shard)
    tally = {}
    for job, known in zip(jobs, facts or itertools.repeat(None)):
        found.add(job, tally, known)
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
          count, shard=None):
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
    shards = history.shards.values() if shard is None else [
        found for found in (history.shards.get(shard),) if found is not None]
    for shard in shards:
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
          before=None, failure_type=None, count=None, shard=None, start=0):
    """Finished jobs, newest first, that match every filter given:
    ``status`` ('succeeded' or 'failed'), ``queue`` (name), ``callable``
    (dotted name, or a glob such as 'myapp.*'), ``since`` <= end <
    ``before`` (aware datetimes), ``failure_type`` (dotted exception
    class), ``shard`` (a dispatcher's UUID string: the jobs its polls
    recorded, those it ran and the cancelled ones it noted), at most
    ``count``, the first ``start`` skipped (by their index keys: a deep
    page loads only its own entries)."""
    return list(iter_query(conn, status, queue, callable, since, before,
                           failure_type, count, shard, start))


def iter_query(conn, status=None, queue=None, callable=None, since=None,
               before=None, failure_type=None, count=None, shard=None,
               start=0):
    """``query`` as a lazy iterator: each entry is looked up when it is
    reached, so a reader that stops early (a page scanning for matches
    within a time limit) pays only for what it read."""
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise errors.ConfigurationError(
            'start must be an int >= 0, not %r' % (start,))
    found = _iter(conn, status, queue, callable, since, before,
                  failure_type, None if count is None else start + count,
                  shard)
    return (found_shard.entries[key][0]
            for key, found_shard in itertools.islice(found, start, None))


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


def totals(conn):
    """The running totals of every shard, summed: {(queue, callable):
    {'put': n, 'started': n, 'succeeded': n, 'failed': n, 'retried': n,
    'dead': n}}; ``callable`` may be OTHER.  They never go down."""
    summed = {}
    history = get(conn)
    for shard in (history.shards.values() if history is not None else ()):
        rows = shard.totals.items() if shard.totals is not None else [
            ((q, name), values)   # not written since the upgrade
            for (minute, q, name), values in shard.counters.items()]
        for row, values in rows:
            old = summed.setdefault(row, [0] * len(TOTALS))
            for i, v in enumerate(values):
                old[i] += v
    return {row: dict(zip(TOTALS, values)) for row, values in summed.items()}


def durations(conn):
    """The duration histogram of each queue, summed over the shards:
    {queue: (counts, seconds)}, where ``counts[i]`` counts the jobs whose
    last attempt took at most DURATION_BUCKETS[i] seconds and more than
    the bound before (the last count: longer than every bound), and
    ``seconds`` is their total duration."""
    summed = {}
    history = get(conn)
    for shard in (history.shards.values() if history is not None else ()):
        for queue, values in (shard.durations or {}).items():
            old = summed.get(queue, (0,) * len(values))
            summed[queue] = tuple(a + b for a, b in zip(old, values))
    return {queue: (list(values[:-1]), values[-1])
            for queue, values in summed.items()}


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
    found._ensureTotals()   # from the counters, before they go
    minute = cutoff // int(60e6)
    old = list(itertools.islice(found.counters.keys(max=(minute,),
                                                    excludemax=True), step))
    for row in old:
        del found.counters[row]
    return removed
