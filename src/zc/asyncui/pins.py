"""Jobs pinned to one dispatcher: the copies that ``broadcast`` puts.

A pinned job (``job.pinned_to`` is a dispatcher UUID string) waits in
its queue like any other, but only the agents of that dispatcher may
claim it (``claim_filter``, used by ``Agent.claimJobs``), whatever
their own filters say.  When the dispatcher is deactivated -- it
stopped, or another dispatcher found it dead -- its pinned jobs that
have not finished are never handed to anyone else: they finish with an
AbortedError Failure (``abandon``), so whoever waits on them sees a
failure, not a hang.  Once finished, a pinned job's callbacks may run
anywhere (the pin only concerns its call).

Each dispatcher record keeps the pinned jobs put for it in a small BTree
(``register``), so that its deactivation finds those still in the queue
without reading the queue.  All functions work in the caller's
transaction and never commit.
"""
import BTrees.OOBTree

from zc.asyncui import errors
from zc.asyncui import lifecycle
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import ACTIVE, CALLBACKS, COMPLETED, NEW, PENDING

#: The attribute of a dispatcher record holding its pinned jobs.
INDEX = '_pinned_jobs'


def claim_filter(filter, queue, uuid):
    """The filter an agent of dispatcher ``uuid`` claims with in
    ``queue``: a pinned job waiting to be called goes only to its own
    dispatcher (and to any agent of it); any other job is left to the
    agent's ``filter``.  When nothing is pinned in the queue this is
    ``filter`` itself: pins are found in the dispatcher records' indexes
    by oid, so a claim never loads a job only to look for a pin."""
    pinned = {}
    for record in queue.dispatchers.values():
        index = getattr(record, INDEX, None)
        if index:
            pinned.update(dict.fromkeys(index.keys(), record.UUID))
    if not pinned:
        return filter

    def accepts(job):
        owner = pinned.get(job._p_oid)
        if owner is not None and job._status == PENDING:
            return owner == uuid
        return filter is None or filter(job)
    return accepts


def register(record, job):
    """Note in dispatcher ``record`` that ``job`` (put, or about to be
    put, in its queue) is pinned to it.  Forgets the finished ones."""
    index = getattr(record, INDEX, None)  # (getattr loads a ghost)
    if index is None:
        index = BTrees.OOBTree.OOBTree()
        setattr(record, INDEX, index)
    for oid, pinned in list(index.items()):
        if pinned._status in (CALLBACKS, COMPLETED):
            del index[oid]
    if job._p_oid is None:
        record._p_jar.add(job)
    index[job._p_oid] = job


def forget(record, job):
    """``job`` finished its call: its pin no longer matters (its callbacks
    run anywhere); drop it from ``record``'s index, so that claims in the
    queue go back to the agents' own filters."""
    index = getattr(record, INDEX, None)
    if index is not None and job._p_oid in index:
        del index[job._p_oid]


def fail_waiting(record, reason, now=None):
    """The dispatcher of ``record`` is deactivated: every job pinned to it
    that is still waiting in its queue finishes with an AbortedError
    Failure.  Returns how many."""
    index = getattr(record, INDEX, None)
    if not index:
        return 0
    count = 0
    for job in list(index.values()):
        queue = job._queue
        if job._status == PENDING and queue is not None and job in queue:
            queue.remove(job)
            abandon(job, record.UUID, reason, now)
            count += 1
    index.clear()
    return count


def abandon(job, uuid, reason, now=None):
    """Finish a pinned job that was not run, or whose run was cut short,
    with an AbortedError Failure; if it has callbacks, put it back in its
    queue, where any dispatcher runs them."""
    now = now or utils.now()
    outcome = 'interrupted: %s' % reason
    if job._status in (NEW, PENDING):
        lifecycle.start(job, uuid, 'pinned', now)
        outcome = 'not run: %s' % reason
    elif job._status != ACTIVE:
        return
    lifecycle.close_attempt(job, now, outcome)
    lifecycle.set_result(job, Failure(errors.AbortedError(
        'job %s was pinned to dispatcher %s, which was deactivated (%s)'
        ' before the job finished there; it is not given to another'
        ' dispatcher. Broadcast again to reach the dispatchers alive now.'
        % (job.key, job.pinned_to, reason))), now)
    if job._status == CALLBACKS and job._queue is not None:
        job._queue.putBack(job)
