"""Queue: one named queue of jobs (installed and found by
zc.asyncui.queueroot; the ``Queues`` mapping that holds them is in
zc.asyncui.queues).

A queue has two parts, so that a producer never conflicts with a claim:

- the inbox, where ``put`` adds jobs: small standalone ``OOBucket``
  objects, held by name in one more bucket.  A put adds one key to the
  newest bucket (and changes the ``BTrees.Length`` count); when that
  bucket holds ``INBOX_LIMIT`` jobs, it adds a new bucket under a new
  name.  Puts never remove anything.  A standalone bucket never splits
  and marks nothing read-current, so it merges concurrent additions and
  removals of distinct keys.  A BTree would not do: its ``_set`` and
  ``_del`` mark the tree node read-current, so a producer inserting into
  a BTree fails at tpc_vote with ReadConflictError whenever a claim
  changed that node at the same moment (a bucket emptied, or split);
- the claim trees, written only by claims, ``putBack`` and
  ``reschedule`` (the dispatchers' side): ``DUE_SHARDS`` BTrees of jobs
  that may start now, keyed by priority, arrival and oid (packed in
  bytes, see zc.asyncui.queuekeys; the shard chosen by the oid), and one
  BTree of jobs that must wait, keyed by begin_after and oid.

Each claim takes jobs in order from the shards and the inbox buckets
(zc.asyncui.claimtake), then moves the rest of the inbox to the claim
trees and drops its buckets but the newest (a backlog first, with
savepoints: see Queue._drain).  Every bucket and tree keeps the sentinel
key ``b''``: BTrees cannot merge the removal of a bucket's first key, or a
change that empties it, with a concurrent change.  A dropped bucket loses
its sentinel too, so that a put still adding to it (begun before a newer
bucket existed: only possible with several producers) conflicts and is
retried instead of adding a job nobody would find.
"""
import heapq
import logging

import BTrees.Length
import BTrees.OOBTree
import persistent
import zope.interface

from zc.asyncui import claimshare
from zc.asyncui import claimtake
from zc.asyncui import collapse
from zc.asyncui import errors
from zc.asyncui import events
from zc.asyncui import interfaces
from zc.asyncui import jobcontext
from zc.asyncui import queuekeys as keys
from zc.asyncui import lifecycle
from zc.asyncui import putting
from zc.asyncui import quota
from zc.asyncui import utils
from zc.asyncui.dispatcheragents import DispatcherAgents
from zc.asyncui.failure import Failure
from zc.asyncui.history import note as note_finished
from zc.asyncui.job import Job
from zc.asyncui.queuekeys import expired
from zc.asyncui.queueviews import QueueViews
# Databases written before Queues moved to zc.asyncui.queues name it here.
from zc.asyncui.queues import Queues  # noqa: F401

logger = logging.getLogger(__name__)

#: How many future jobs a claim moves to the due trees at most.
PROMOTE_BATCH = 100
#: Number of due trees; see the module docstring.
DUE_SHARDS = 16
#: Jobs an inbox bucket holds before puts start a new one (claims
#: normally empty it first).  Each put rewrites one bucket: keep it small.
INBOX_LIMIT = 64
#: A drain moving a backlog takes a savepoint after this many jobs (see
#: Queue._drain).
DRAIN_SAVEPOINT_JOBS = 2000


class ClaimTree(BTrees.OOBTree.OOBTree):
    """A claim tree: an OOBTree whose interior nodes hold at most 32
    children (instead of 250).  Claims take keys from the front, so
    buckets empty one after the other and each time their parent node
    is rewritten: with 250 children that node is about 20 kB at 100,000
    pending jobs, written every few claims, which made a claim cost grow
    with the backlog (bench/growth.py).  Queues created before keep plain
    OOBTrees, which work the same."""

    max_internal_size = 32


@zope.interface.implementer(interfaces.IQueue)
class Queue(QueueViews, persistent.Persistent):
    """See IQueue.

    A job is pending while it is in the inbox or one of the claim trees;
    it is not written when claimed (see Job), so ``claim`` only removes a
    key.  See the module docstring for which transactions write what.
    """

    def __init__(self, name=''):
        self.name = name
        self.__parent__ = None
        self._due = tuple(ClaimTree({keys.FIRST: None})
                          for _ in range(DUE_SHARDS))
        # Same sentinel: promotions remove the first scheduled jobs while
        # producers add future ones.
        self._scheduled = ClaimTree({keys.FIRST: None})
        # Name -> bucket; see the module docstring.
        self._inbox = BTrees.OOBTree.OOBucket({
            keys.FIRST: None,
            keys.inbox_name(keys.FIRST, b''): BTrees.OOBTree.OOBucket(
                {keys.FIRST: None})})
        self._length = BTrees.Length.Length()
        self.dispatchers = BTrees.OOBTree.OOBTree()
        self.filter = None
        self._collapse = collapse.new_index()
        self.quotas = quota.Quotas()
        self.quotas.__parent__ = self

    @property
    def __name__(self):
        return self.name

    #: Queues stored by an older release have none until ``install``
    #: (zc.asyncui.queueroot) calls ``_upgrade`` (issue 8).
    quotas = None

    #: See IQueue.paused (queues stored before it existed read False).
    paused = False

    def _upgrade(self):
        """Add what a queue stored by an older release lacks (written only
        then: install runs at every start-up)."""
        if self.quotas is None:
            self.quotas = quota.Quotas()
            self.quotas.__parent__ = self

    # -- putting ------------------------------------------------------

    def put(self, item, begin_after=None, begin_by=None, priority=0,
            retry_policy_factory=None, failure_log_level=None,
            collapse_key=None, quota_names=None):
        """See IQueue.put."""
        job = item if isinstance(item, Job) else Job(item)
        jar = putting.check_putable(self, job, priority, quota_names)
        if collapse_key is not None:
            pending = collapse.pending(self, collapse_key)
            if pending is not None:
                return pending
        now = utils.now()
        putting.set_options(job, now, begin_after, begin_by, priority,
                            retry_policy_factory, failure_log_level)
        putting.check_filter(self, job)
        if job._p_jar is None:
            jar.add(job)
        if collapse_key is not None:
            collapse.hold(self, collapse_key, job)
        job._put_ts = now.timestamp()
        job._queue = self
        lifecycle.put(job)
        jobcontext.capture(job)
        self._receive(job, job._put_ts)
        _wake_after_commit(jar)
        return job

    def _receive(self, job, now_ts):
        """Add a job a producer puts: to the inbox (module docstring)."""
        kind, key = self._placement(job, now_ts)
        self._newest_inbox_bucket()[kind + key] = job
        self._length.change(1)

    def _newest_inbox_bucket(self):
        """The inbox bucket puts add to: the newest, or a new one when the
        newest is full (no claim emptied it for a while)."""
        newest = self._inbox.maxKey()
        bucket = self._inbox[newest]
        if bucket is not None and len(bucket) <= INBOX_LIMIT:  # + sentinel
            return bucket
        bucket = BTrees.OOBTree.OOBucket({keys.FIRST: None})
        self._p_jar.add(bucket)
        self._inbox[keys.inbox_name(newest, bucket._p_oid)] = bucket
        return bucket

    def _insert(self, job, now_ts=None):
        """Add a job to the claim trees (the dispatchers' side)."""
        kind, key = self._placement(job, now_ts or utils.now().timestamp())
        self._tree(kind, key)[key] = job
        self._length.change(1)

    def _placement(self, job, now_ts):
        """(kind, key): the claim tree a job goes to and its key there.
        Sets the arrival of a due job (before the job is in any tree)."""
        if job._begin_after_ts > now_ts:
            return keys.LATER, keys.scheduled_key(job)
        arrival = max(job._put_ts or now_ts, job._begin_after_ts)
        if job._arrival != arrival:
            job._arrival = arrival
        return keys.DUE, keys.due_key(job)

    def _tree(self, kind, key):
        """The claim tree of a (kind, key) placement."""
        if kind == keys.LATER:
            return self._scheduled
        return self._due_tree(key[-8:])

    def _due_tree(self, oid):
        # Sharded by oid, over the queue's own number of trees (a queue
        # keeps the count it was created with, whatever DUE_SHARDS says).
        return self._due[oid[-1] % len(self._due)]

    def _inbox_buckets(self):
        return self._inbox.values(min=keys.FIRST, excludemin=True)

    def _drain(self):
        """Move every job of the inbox to the claim trees, and drop its
        buckets but the newest, which puts add to.

        A backlog put while no dispatcher claimed (100,000 jobs before
        a start-up) is moved in this one transaction, so that claims keep
        their order (priority, then arrival, across every pending job).
        Every ``DRAIN_SAVEPOINT_JOBS`` jobs moved, a savepoint writes the
        changes so far to the connection's temporary file and lets its
        cache drop them: the memory a drain needs stays bounded (it grew
        with the backlog: 31 MB at 1,000 pending jobs, 57 MB at 100,000,
        bench/growth.py)."""
        newest = self._inbox.maxKey()
        names = list(self._inbox.keys(min=keys.FIRST, excludemin=True))
        moved = 0
        for name in names:
            bucket = self._inbox[name]
            moved += self._drain_bucket(bucket)
            if name != newest:
                # Removing the sentinel too makes a put that still adds
                # to this bucket (it began before a newer one existed)
                # conflict and retry, rather than add a job nobody finds.
                del bucket[keys.FIRST]
            if moved >= DRAIN_SAVEPOINT_JOBS:
                moved = 0
                _savepoint(self._p_jar)
        # At the end: each savepoint would write the changed inbox again.
        for name in names:
            if name != newest:
                del self._inbox[name]

    def _drain_bucket(self, bucket):
        """Move the jobs of an inbox bucket to the claim trees; how many."""
        tagged_keys = list(bucket.keys(min=keys.FIRST, excludemin=True))
        for tagged in tagged_keys:
            job = bucket.pop(tagged)
            self._tree(tagged[:1], tagged[1:])[tagged[1:]] = job
        return len(tagged_keys)

    def _scheduled_due(self, now_ts):
        """True when the first scheduled job may start at ``now_ts``."""
        first = keys.first_key(self._scheduled)
        return first is not None and first[:8] <= keys.time_prefix(now_ts)

    def _find(self, job):
        """(tree or bucket, key) where the job is pending, or (None,
        None)."""
        if job._queue is not self or job._p_oid is None:
            return None, None
        places = list(keys.placements(job))
        for kind, key in places:
            tree = self._tree(kind, key)
            if key in tree:
                return tree, key
        for bucket in self._inbox_buckets():
            for kind, key in places:
                if kind + key in bucket:
                    return bucket, kind + key
        return None, None

    def putBack(self, job):
        """Return a claimed but unstarted (or recovered) job to this queue
        at its original place."""
        if job._agent is not None:
            job._agent = None
        quota.release(job)
        lifecycle.requeue(job)
        if self._find(job)[0] is None:
            self._insert(job)
        _wake_after_commit(self._p_jar)

    def retry(self, job):
        """Put a failed COMPLETED job of this queue back as PENDING, for a
        new attempt (see lifecycle.retry_failed); it is due at once."""
        if job._queue is not self:
            raise ValueError('Job %s is not a job of queue %r.'
                             % (job.key, self.name))
        if (job._agent is not None and job in job._agent
                and isinstance(job._result, Failure)):
            # Its dispatcher has not yet taken the finished job off its
            # agent (polling.flush_completions, within seconds); that
            # would take the retried job off again once claimed, and it
            # would stay ASSIGNED with no worker to run it.
            raise errors.BadStatusError(
                'Job %s cannot be retried yet: it finished moments ago and'
                ' its dispatcher has not yet recorded that (it does within'
                ' a few seconds). Retry it again in a few seconds.'
                % job.key, job.key, job._status)
        lifecycle.retry_failed(job)
        if job._agent is not None:
            job._agent = None
        job._begin_after_ts = utils.now().timestamp()
        job._arrival = None
        self._insert(job)
        _wake_after_commit(self._p_jar)

    def reschedule(self, job, begin_after):
        """Put a job back to begin after ``begin_after`` (used by retry
        policies that ask for a delay)."""
        tree, key = self._find(job)
        if tree is not None:
            del tree[key]
            self._length.change(-1)
        job._agent = None
        quota.release(job)
        lifecycle.requeue(job)
        job._begin_after_ts = utils.check_aware(
            begin_after, 'begin_after').timestamp()
        job._arrival = None
        self._insert(job)
        _wake_after_commit(self._p_jar)

    # -- pausing ------------------------------------------------------

    def pause(self):
        """See IQueue.pause."""
        if self.paused:
            return False
        self.paused = True
        logger.info('queue %r paused: no job is claimed from it until it'
                    ' is resumed', self.name)
        events.notify(events.QueuePaused(self))
        return True

    def resume(self):
        """See IQueue.resume."""
        if not self.paused:
            return False
        self.paused = False
        logger.info('queue %r resumed: its jobs are claimed again',
                    self.name)
        events.notify(events.QueueResumed(self))
        if self._p_jar is not None:
            _wake_after_commit(self._p_jar)
        return True

    # -- taking out ---------------------------------------------------

    def remove(self, job):
        """See IQueue.remove."""
        if not isinstance(job, Job):
            # zc.async's pull(index=0) took a position.
            raise TypeError(
                'Queue %r: pull and remove take the job itself, not %r.'
                ' (zc.async\'s pull(index) is queue.pull(list(queue)[index])'
                ' here.)' % (self.name, job))
        tree, key = self._find(job)
        if tree is None:
            raise LookupError('Job %s is not pending in queue %r (its status'
                              ' is %s)' % (job.key, self.name, job.status))
        del tree[key]
        self._length.change(-1)

    def pull(self, job):
        """See IQueue.pull."""
        self.remove(job)
        lifecycle.pull(job)
        return job

    def cancel(self, job):
        """See IJob.cancel: a pending job is taken out and completed with
        a JobCancelledError failure (its callbacks put here to see it); a
        claimed or running one is asked to stop."""
        if self._find(job)[0] is None:
            lifecycle.request_cancel(job)
            return
        self.remove(job)
        lifecycle.cancel(job, Failure(errors.JobCancelledError(
            'job %s was cancelled before it started' % job.key)),
            utils.now())
        note_finished(job)  # no agent ran it: a poll records it (history)
        for callback in job._callbacks:
            self.put(callback)  # each gets the cancellation failure

    def _promote(self, now_ts):
        # Move future jobs that became due to the due trees, so claim order
        # is priority then time among everything that may start now.
        for n, key in enumerate(list(self._scheduled.keys(
                min=keys.FIRST, max=keys.until(now_ts), excludemin=True))):
            if n >= PROMOTE_BATCH:
                break
            job = self._scheduled.pop(key)
            job._arrival = job._begin_after_ts
            self._due_tree(job._p_oid)[keys.due_key(job)] = job

    def claim(self, filter=None, now=None):
        """See IQueue.claim."""
        jobs = self.claimMany(1, filter, now)
        return jobs[0] if jobs else None

    def claimMany(self, count, filter=None, now=None, *, share=None):
        """Remove and return up to ``count`` due jobs that ``filter``
        accepts, in claim order (one pass over the queue).

        ``share``, (index, number) of the dispatchers claiming from this
        queue, spreads concurrent claims (see zc.asyncui.claimshare)."""
        if self.paused:
            return []
        now_ts = (now or utils.now()).timestamp()
        claimtake.before(self)
        if self._scheduled_due(now_ts):
            self._promote(now_ts)
        taken = []
        due = self._iter_due()
        # Without a filter or quotas every due job is taken (an expired
        # one too): nothing to ask the job, which is not loaded.
        takes_all = filter is None and not len(self.quotas or ())
        if share is not None and takes_all:
            due = claimshare.spread(due, count, len(self._due), *share)
        for key, job in due:
            if len(taken) >= count:
                break
            if takes_all or expired(job, now_ts) or (
                    (filter is None or filter(job))
                    and quota.take(self, job)):
                taken.append((key, job))
        due = None  # its iterators keep inbox buckets loaded
        claimtake.take(self, taken)
        self._drain()  # what is left (see zc.asyncui.claimtake)
        if taken:
            self._length.change(-len(taken))
        return [job for _, job in taken]

    def _iter_due(self):
        """(key, job) of the due jobs in claim order, merging the shards
        and the inbox."""
        return heapq.merge(*(tree.items(min=keys.FIRST, excludemin=True)
                             for tree in self._due),
                           *self._inbox_items(keys.DUE), key=keys.key_of)

    def _inbox_items(self, kind, after=None):
        """One iterator per inbox bucket of its (key, job) of ``kind``, the
        key without its tag, in key order (after ``after``)."""
        low = kind if after is None else kind + after
        return [((key[1:], job) for key, job in bucket.items(
            min=low, max=bytes([kind[0] + 1]), excludemin=after is not None,
            excludemax=True))
            for bucket in self._inbox_buckets()]

    def hasDue(self, now=None):
        """True when a job could be claimed now (cheap: no filter)."""
        if self.paused:
            return False
        if any(keys.has_jobs(tree) for tree in self._due):
            return True
        now_ts = (now or utils.now()).timestamp()
        return self._scheduled_due(now_ts) or any(
            keys.inbox_due(bucket, now_ts)
            for bucket in self._inbox_buckets())

    # -- reading (more in QueueViews) ---------------------------------

    def __len__(self):
        return self._length()

    def __repr__(self):
        return '<%s %r>' % (type(self).__name__, self.name)

    # -- dispatchers --------------------------------------------------

    def getDispatcherAgents(self, uuid, create=False):
        """The record of dispatcher ``uuid`` in this queue (created on
        request), or None."""
        uuid = str(uuid)
        record = self.dispatchers.get(uuid)
        if record is None and create:
            record = DispatcherAgents(uuid)
            record.__parent__ = self
            self.dispatchers[uuid] = record
        return record


def _savepoint(jar):
    """Write the transaction's changes so far to the connections'
    temporary files, so that their caches may drop the objects (ZODB's
    savepoint runs the cache's garbage collection).  Optimistic: a data
    manager of the transaction without savepoints does not stop it."""
    if jar is not None:
        jar.transaction_manager.get().savepoint(optimistic=True)


# -- waking dispatchers of this process --------------------------------

#: Called with the database after each commit that put jobs in a queue;
#: see add_put_hook.
_put_hooks = []


def add_put_hook(hook):
    """Call ``hook(db)`` after each transaction that put jobs in a queue
    (or put them back) commits, once per transaction.  The dispatchers of
    this process register their wake-up here when the first one starts:
    the persistent model does not import the thread runtime."""
    if hook not in _put_hooks:
        _put_hooks.append(hook)


def _wake_after_commit(jar):
    txn = jar.transaction_manager.get()
    try:
        txn.data(_wake_after_commit)
        return  # this transaction already wakes them
    except KeyError:
        txn.set_data(_wake_after_commit, True)
    txn.addAfterCommitHook(_wake, (jar.db(),))


def _wake(committed, db):
    if committed:
        for hook in list(_put_hooks):
            hook(db)
