"""Queues: the ``Queues`` mapping in the database root and each ``Queue``.

A queue keeps jobs that may start now in ``DUE_SHARDS`` BTrees keyed by
priority, arrival and oid (packed in bytes), the shard chosen by the job's
oid, and jobs that must wait in one BTree keyed by begin_after and oid.  BTrees
resolve concurrent inserts and removals of distinct keys, but not two
concurrent changes to a bucket that splits; since every producer appends
at the end of the due order, sharding makes concurrent producers write to
different buckets.  Claims merge the shards in order.  The pending count
is a ``BTrees.Length``.  So producers putting jobs and dispatchers
claiming them rarely conflict.
"""
import heapq
import logging
import struct

import BTrees.Length
import BTrees.OOBTree
import persistent
import transaction
import ZODB.interfaces
import zope.interface

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import lifecycle
from zc.asyncui import utils
from zc.asyncui.dispatcheragents import DispatcherAgents
from zc.asyncui.job import Job
from zc.asyncui.job import NEW
from zc.asyncui.job import check_storable

logger = logging.getLogger(__name__)

#: How many future jobs a claim moves to the due trees at most.
PROMOTE_BATCH = 100
#: Number of due trees; see the module docstring.
DUE_SHARDS = 16
_PRIORITY_OFFSET = 2 ** 31
#: The first key of every due and scheduled tree, never removed: BTrees
#: cannot merge the removal of a bucket's first key with any other change
#: to that bucket, and claims remove the first jobs while producers add
#: jobs at the end.
_FIRST = b''


def _time_prefix(ts):
    """8 bytes that sort like the timestamp ``ts``."""
    return struct.pack('>Q', int(ts * 1e6))


def _until(ts):
    """A key bound above every scheduled key at or before ``ts``."""
    return _time_prefix(ts) + b'\xff' * 8


def _pack_due(priority, ts, oid):
    return struct.pack('>I', _PRIORITY_OFFSET - priority) + \
        _time_prefix(ts) + oid


def due_key(job):
    """The job's key in the due trees: bytes that sort by priority (highest
    first), then arrival, then oid.  Bytes keys keep buckets cheap to
    pickle."""
    return _pack_due(job.priority, job._arrival, job._p_oid)


def scheduled_key(job):
    """The job's key in the scheduled tree: begin_after, then oid."""
    return _time_prefix(job._begin_after_ts) + job._p_oid


def expired(job, now_ts):
    """True when the job's ``begin_by`` has passed: a claim takes it
    whatever the filter, so that a worker records its timeout."""
    begin_by = job._begin_by
    return (begin_by is not None and job._begin_after_ts is not None
            and job._begin_after_ts + begin_by.total_seconds() < now_ts)


def _first_key(tree):
    """The first key that is not the sentinel, or None."""
    for key in tree.keys(min=_FIRST, excludemin=True):
        return key
    return None


def _has_jobs(tree):
    return _first_key(tree) is not None


def _check_priority(priority):
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError('priority must be an int, not %r' % (priority,))
    if not -_PRIORITY_OFFSET < priority < _PRIORITY_OFFSET:
        raise ValueError('priority must be between %d and %d, not %d'
                         % (-_PRIORITY_OFFSET + 1, _PRIORITY_OFFSET - 1,
                            priority))


@zope.interface.implementer(interfaces.IQueue)
class Queue(persistent.Persistent):
    """See IQueue.

    A job is pending while it is in one of the trees; it is not written
    when claimed (see Job), so ``claim`` only removes a key.
    """

    def __init__(self, name=''):
        self.name = name
        self.__parent__ = None
        self._due = tuple(BTrees.OOBTree.OOBTree({_FIRST: None})
                          for _ in range(DUE_SHARDS))
        # Same sentinel: promotions remove the first scheduled jobs while
        # producers add future ones.
        self._scheduled = BTrees.OOBTree.OOBTree({_FIRST: None})
        self._length = BTrees.Length.Length()
        self.dispatchers = BTrees.OOBTree.OOBTree()
        self.filter = None

    @property
    def __name__(self):
        return self.name

    # -- putting ------------------------------------------------------

    def put(self, item, begin_after=None, begin_by=None, priority=0,
            retry_policy_factory=None, failure_log_level=None):
        """See IQueue.put."""
        job = item if isinstance(item, Job) else Job(item)
        if job._status != NEW:
            job._require('be put in a queue', NEW)
        _check_priority(priority)
        jar = self._p_jar
        if jar is None:
            raise errors.NotInDatabaseError(
                'Queue %r is not stored in a database yet: put jobs in a'
                ' queue found with zc.asyncui.getQueue(connection).'
                % self.name)
        check_storable((job.args, job.kwargs), 'the arguments of %r' % job)
        factory = (job.retry_policy_factory if retry_policy_factory is None
                   else retry_policy_factory)
        check_storable(factory, 'the retry policy factory of %r' % job)
        now = utils.now()
        if begin_after is not None:
            job.begin_after = begin_after
        elif job._begin_after_ts is None:
            job.begin_after = now
        if begin_by is not None:
            job.begin_by = begin_by
        if priority:
            job.priority = priority
        if retry_policy_factory is not None:
            job.retry_policy_factory = retry_policy_factory
        if failure_log_level is not None:
            job.failure_log_level = failure_log_level
        if job._p_jar is None:
            jar.add(job)
        job._put_ts = now.timestamp()
        job._queue = self
        lifecycle.put(job)
        self._insert(job, job._put_ts)
        _wake_after_commit(jar)
        return job

    def _insert(self, job, now_ts=None):
        now_ts = now_ts or utils.now().timestamp()
        if job._begin_after_ts > now_ts:
            self._scheduled[scheduled_key(job)] = job
        else:
            arrival = max(job._put_ts or now_ts, job._begin_after_ts)
            if job._arrival != arrival:
                job._arrival = arrival
            self._due_tree(job._p_oid)[due_key(job)] = job
        self._length.change(1)

    def _due_tree(self, oid):
        # Sharded by oid, over the queue's own number of trees (a queue
        # keeps the count it was created with, whatever DUE_SHARDS says).
        return self._due[oid[-1] % len(self._due)]

    def _scheduled_due(self, now_ts):
        """True when the first scheduled job may start at ``now_ts``."""
        first = _first_key(self._scheduled)
        return first is not None and first[:8] <= _time_prefix(now_ts)

    def _find(self, job):
        """(tree, key) where the job is pending, or (None, None)."""
        if job._queue is not self or job._p_oid is None:
            return None, None
        if job._arrival is not None:
            tree, key = self._due_tree(job._p_oid), due_key(job)
            if key in tree:
                return tree, key
        if job._begin_after_ts is not None:
            key = scheduled_key(job)
            if key in self._scheduled:
                return self._scheduled, key
        return None, None

    def putBack(self, job):
        """Return a claimed but unstarted (or recovered) job to this queue
        at its original place."""
        if job._agent is not None:
            job._agent = None
        lifecycle.requeue(job)
        if self._find(job)[0] is None:
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
        lifecycle.requeue(job)
        job._begin_after_ts = utils.check_aware(
            begin_after, 'begin_after').timestamp()
        job._arrival = None
        self._insert(job)
        _wake_after_commit(self._p_jar)

    # -- taking out ---------------------------------------------------

    def remove(self, job):
        """See IQueue.remove."""
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

    def _promote(self, now_ts):
        # Move future jobs that became due to the due trees, so claim order
        # is priority then time among everything that may start now.
        for n, key in enumerate(list(self._scheduled.keys(
                min=_FIRST, max=_until(now_ts), excludemin=True))):
            if n >= PROMOTE_BATCH:
                break
            job = self._scheduled.pop(key)
            job._arrival = job._begin_after_ts
            self._due_tree(job._p_oid)[due_key(job)] = job

    def claim(self, filter=None, now=None):
        """See IQueue.claim."""
        jobs = self.claimMany(1, filter, now)
        return jobs[0] if jobs else None

    def claimMany(self, count, filter=None, now=None):
        """Remove and return up to ``count`` due jobs that ``filter``
        accepts, in claim order (one pass over the queue)."""
        now_ts = (now or utils.now()).timestamp()
        if self._scheduled_due(now_ts):
            self._promote(now_ts)
        taken = []
        for key, job in self._iter_due():
            if len(taken) >= count:
                break
            if filter is None or expired(job, now_ts) or filter(job):
                taken.append((key, job))
        for key, job in taken:
            del self._due_tree(key[-8:])[key]
        if taken:
            self._length.change(-len(taken))
        return [job for _, job in taken]

    def _iter_due(self):
        """(key, job) of the due jobs in claim order, merging the shards."""
        return heapq.merge(*(tree.items(min=_FIRST, excludemin=True)
                             for tree in self._due),
                           key=lambda pair: pair[0])

    def hasDue(self, now=None):
        """True when a job could be claimed now (cheap: no filter)."""
        if any(_has_jobs(tree) for tree in self._due):
            return True
        return self._scheduled_due((now or utils.now()).timestamp())

    # -- reading ------------------------------------------------------

    def __len__(self):
        return self._length()

    def __iter__(self):
        bound = _until(utils.now().timestamp())
        # Scheduled jobs already due sort as if promoted (arrival =
        # begin_after); sorted, as heapq.merge needs each input in order.
        promoted = sorted(
            ((_pack_due(j.priority, j._begin_after_ts, j._p_oid), j)
             for j in self._scheduled.values(min=_FIRST, max=bound,
                                             excludemin=True)),
            key=lambda pair: pair[0])
        for _, job in heapq.merge(self._iter_due(), promoted,
                                  key=lambda pair: pair[0]):
            yield job
        for job in self._scheduled.values(min=bound, excludemin=True):
            yield job

    def __contains__(self, job):
        return self._find(job)[0] is not None

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


@zope.interface.implementer(interfaces.IQueues)
class Queues(persistent.Persistent):
    """See IQueues: the mapping ``root['zc.asyncui']``."""

    def __init__(self):
        self._data = BTrees.OOBTree.OOBTree()

    def __setitem__(self, name, queue):
        if not isinstance(name, str):
            raise TypeError('queue names are strings, not %r' % (name,))
        if not interfaces.IQueue.providedBy(queue):
            raise TypeError('%r is not a queue (IQueue)' % (queue,))
        queue.name = name
        queue.__parent__ = self
        self._data[name] = queue
        if self._p_jar is not None and queue._p_jar is None:
            self._p_jar.add(queue)  # usable (put) before the commit

    def __getitem__(self, name):
        try:
            return self._data[name]
        except KeyError:
            raise errors.QueueNotFoundError(_unknown_queue(name, self)) \
                from None

    def __delitem__(self, name):
        queue = self[name]
        if len(queue):
            raise ValueError('Queue %r still has %d pending jobs: pull them'
                             ' first.' % (name, len(queue)))
        del self._data[name]

    def get(self, name, default=None):
        return self._data.get(name, default)

    def __contains__(self, name):
        return name in self._data

    def __iter__(self):
        return iter(self._data.keys())

    def __len__(self):
        return len(self._data)

    def keys(self):
        return list(self._data.keys())

    def values(self):
        return list(self._data.values())

    def items(self):
        return list(self._data.items())

    def put(self, item, **kw):
        """See IQueues.put."""
        job = item if isinstance(item, Job) else Job(item)
        fallback = None
        for name, queue in self._data.items():
            if queue.filter is None:
                fallback = fallback or (queue if name == '' else None)
                continue
            if queue.filter(job):
                return queue.put(job, **kw)
        if fallback is None:
            raise errors.QueueNotFoundError(
                'No queue accepts %r: no queue filter matched and there is'
                ' no unfiltered default queue named "". Install one with'
                ' zc.asyncui.install(db, names=("",)).' % (job,))
        return fallback.put(job, **kw)


def _unknown_queue(name, queues):
    names = ', '.join(repr(n) for n in queues) or 'none'
    return ('No queue named %r; installed queues: %s. Install it with'
            ' zc.asyncui.install(db, names=[%r]).' % (name, names, name))


# -- module functions: install and find ---------------------------------

def _open(db_or_connection):
    """(connection, transaction manager, close?) for a DB or connection."""
    if ZODB.interfaces.IDatabase.providedBy(db_or_connection):
        tm = transaction.TransactionManager()
        return db_or_connection.open(tm), tm, True
    if hasattr(db_or_connection, 'root') and hasattr(db_or_connection, 'db'):
        return db_or_connection, db_or_connection.transaction_manager, False
    raise TypeError('Expected a ZODB database or connection, not %r'
                    % (db_or_connection,))


def install(db_or_connection, names=('',)):
    """Create ``root['zc.asyncui']`` and the named queues if missing.

    With a database it commits its own transaction; with a connection it
    only adds to the connection's current transaction (the caller
    commits).  Idempotent.  Returns the list of queue names created.
    """
    if isinstance(names, str):
        raise TypeError('names must be a sequence of queue names, not the'
                        ' string %r (write names=[%r])' % (names, names))
    conn, tm, own = _open(db_or_connection)
    try:
        def work():
            root = conn.root()
            queues = root.get(interfaces.KEY)
            if queues is None:
                queues = root[interfaces.KEY] = Queues()
                conn.add(queues)
            created = []
            for name in names:
                if name not in queues:
                    queues[name] = Queue(name)
                    created.append(name)
            return created
        if own:
            return utils.retry_transaction(tm, work, 'install queues',
                                           attempts=10)
        return work()
    finally:
        if own:
            conn.close()


def getQueues(obj_or_connection):
    """The Queues mapping of the database of a persistent object or
    connection; raises NotInstalledError if missing."""
    conn = _connection_of(obj_or_connection)
    queues = conn.root().get(interfaces.KEY)
    if queues is None:
        raise errors.NotInstalledError(
            'This database has no zc.asyncui queues: call'
            ' zc.asyncui.install(db) once (it is idempotent).')
    return queues


def getQueue(obj_or_connection, name=''):
    """The queue ``name`` of the database of a persistent object or
    connection."""
    return getQueues(obj_or_connection)[name]


def _connection_of(obj):
    if hasattr(obj, 'root') and hasattr(obj, 'db'):
        return obj
    jar = getattr(obj, '_p_jar', None)
    if jar is None:
        raise errors.NotInDatabaseError(
            '%r is not stored in a database: pass a connection, or an object'
            ' that has been added to one.' % (obj,))
    return jar


# -- waking dispatchers of this process --------------------------------

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
        from zc.asyncui import dispatcher
        dispatcher.wake(db)
