"""Agents: each claims jobs from one queue for one dispatcher.

An agent keeps the jobs it holds in a BTree keyed by oid (the one source
of truth for "held") and a bounded record of recent completions in a BTree
keyed by end time and oid.  In the common case both are written by the
dispatcher's poll thread, in the batched commits it makes to claim jobs,
and a worker thread finishing a job writes only that job, so workers do
not conflict over these trees; see IAgent for the less common writers.
"""
import logging
import struct

import BTrees.OOBTree
import persistent
import zope.interface

from zc.asyncui import events
from zc.asyncui import interfaces
from zc.asyncui import pins
from zc.asyncui import queue as queue_module
from zc.asyncui import quota
from zc.asyncui import settings
from zc.asyncui import utils
from zc.asyncui.job import check_storable
from zc.asyncui.smalltrees import SmallNodeOOBTree

logger = logging.getLogger(__name__)

DEFAULT_COMPLETED_MAX_COUNT = settings.default('agent', 'completed_max_count')
DEFAULT_COMPLETED_MAX_AGE = settings.default('agent', 'completed_max_age')
#: Candidates a chooser sees at most per claim.
CHOOSER_WINDOW = 50
_SENTINEL = b''


def _end(job):
    return job._callbacks_ts or job._end_ts or 0.0


def _completed_key(job, end):
    return struct.pack('>Q', int(end * 1e6)) + job._p_oid


def claim_share(queue, record):
    """(index, number): the place of dispatcher ``record`` among the
    active dispatchers of ``queue`` that have an active agent of size >
    0, by UUID; None when it is not one of them (zc.asyncui.claimshare)."""
    claiming = sorted(
        uuid for uuid, other in queue.dispatchers.items()
        if other.activated is not None and any(
            agent.active and agent.size for agent in other.values()))
    if record is None or record.UUID not in claiming:
        return None
    return claiming.index(record.UUID), len(claiming)


@zope.interface.implementer(interfaces.IAgent)
class Agent(persistent.Persistent):
    """See IAgent."""

    name = None
    __parent__ = None
    #: See IAgent.active (agents stored before it existed read True).
    active = True

    def __init__(self, *, size=settings.default('agent', 'size'),
                 filter=None, chooser=None, retry_policy_factory=None,
                 completed_max_count=DEFAULT_COMPLETED_MAX_COUNT,
                 completed_max_age=DEFAULT_COMPLETED_MAX_AGE,
                 prefetch=None):
        # Checked by the one table of settings (zc.asyncui.settings).
        options = settings.validate('agent', dict(
            size=size, filter=filter, chooser=chooser,
            retry_policy_factory=retry_policy_factory,
            completed_max_count=completed_max_count,
            completed_max_age=completed_max_age, prefetch=prefetch))
        for what in ('filter', 'chooser', 'retry_policy_factory'):
            if options[what] is not None:
                check_storable(options[what], 'the agent %s' % what)
        for name, value in options.items():
            setattr(self, name, value)
        # The sentinel keeps the tree from ever becoming empty: BTrees
        # cannot resolve two concurrent removals that empty a bucket, and
        # workers finishing jobs at once remove the last keys all the time.
        self._held = BTrees.OOBTree.OOBTree({_SENTINEL: None})
        self._completed = SmallNodeOOBTree()

    @property
    def __name__(self):
        return self.name

    @property
    def dispatcher_record(self):
        return self.__parent__

    @property
    def queue(self):
        record = self.__parent__
        return None if record is None else record.__parent__

    # -- claiming -----------------------------------------------------

    def claimJob(self, now=None):
        """See IAgent.claimJob."""
        jobs = self.claimJobs(1, now)
        return jobs[0] if jobs else None

    def claimJobs(self, count, now=None):
        """Claim up to ``count`` jobs; returns them in claim order."""
        queue = self.queue
        if not self.active or queue.paused:
            return []
        now = now or utils.now()
        accepts = pins.claim_filter(self.filter, queue,
                                    self.__parent__.UUID)
        if self.chooser is None:
            jobs = queue.claimMany(count, accepts, now,
                                   share=claim_share(queue, self.__parent__))
        else:
            jobs = []
            while len(jobs) < count:
                job = self._choose(queue, now, accepts)
                if job is None:
                    break
                jobs.append(job)
        for job in jobs:
            # Only this tree records the claim: the job itself is written
            # when a worker starts it (see Job's implementation notes).
            self._held[job._p_oid] = job
        return jobs

    def _choose(self, queue, now, accepts):
        candidates = []
        for job in queue:
            if job.begin_after > now:
                break
            if queue_module.expired(job, now.timestamp()):
                # Expired jobs are taken whatever the filter, as by
                # Queue.claim: the worker only records their timeout.
                queue.remove(job)
                return job
            if ((accepts is None or accepts(job))
                    and quota.take(queue, job, check_only=True)):
                candidates.append(job)
                if len(candidates) >= CHOOSER_WINDOW:
                    break
        if not candidates:
            return None
        job = self.chooser(self, candidates)
        if job is None:
            return None
        quota.take(queue, job)
        queue.remove(job)
        return job

    # -- activation ---------------------------------------------------

    def deactivate(self):
        """See IAgent.deactivate."""
        if not self.active:
            return False
        self.active = False
        logger.info('agent %r of dispatcher %s deactivated: it claims no'
                    ' job until it is activated', self.name,
                    getattr(self.__parent__, 'UUID', None))
        events.notify(events.AgentDeactivated(self))
        return True

    def activate(self):
        """See IAgent.activate."""
        if self.active:
            return False
        self.active = True
        logger.info('agent %r of dispatcher %s activated: it claims jobs'
                    ' again', self.name, getattr(self.__parent__, 'UUID',
                                                 None))
        events.notify(events.AgentActivated(self))
        if self._p_jar is not None:
            # The dispatchers of this process poll after the commit.
            queue_module._wake_after_commit(self._p_jar)
        return True

    # -- holding ------------------------------------------------------

    def remove(self, job):
        """See IAgent.remove: idempotent (seed item 1).  Does not load or
        change the job: ``job.agent`` keeps naming the agent that ran it."""
        if self._held.pop(job._p_oid, None) is None:
            logger.debug('agent %r: job %s was not held (already removed)',
                         self.name, job.key)

    def jobCompleted(self, job):
        """See IAgent.jobCompleted.

        In the common path the dispatcher's poll thread records
        completions in batches instead (``remove`` and
        ``recordCompletions``, in a commit it makes anyway); this is for
        a worker completing a job after its callbacks.
        """
        self.remove(job)
        self.recordCompletions([job])

    def recordCompletions(self, jobs, end_times=None):
        """Add completed jobs to the completion record.  ``end_times``
        (timestamps, one per job) spare loading the jobs."""
        if not self.completed_max_count:
            return
        if end_times is None:
            end_times = [_end(job) for job in jobs]
        for job, end in zip(jobs, end_times):
            self._completed[_completed_key(job, end)] = job

    def recentCompletions(self, limit=None):
        """Completed jobs, newest first (at most ``limit``)."""
        jobs = list(self._completed.values())
        jobs.reverse()
        return jobs[:limit]

    @property
    def completed(self):
        """See IAgent.completed."""
        return self.recentCompletions()

    def pruneCompleted(self, now=None):
        """Drop completion records beyond the count and age limits;
        returns how many were dropped."""
        now = now or utils.now()
        cutoff = struct.pack('>Q', int(
            utils.timestamp(now - self.completed_max_age) * 1e6))
        drop = list(self._completed.keys(max=cutoff))
        excess = len(self._completed) - len(drop) - self.completed_max_count
        if excess > 0:
            keys = self._completed.keys(min=cutoff)
            drop.extend(key for key, _ in zip(keys, range(excess)))
        for key in drop:
            del self._completed[key]
        return len(drop)

    def heldOids(self):
        """The oids of the held jobs (its keys: nothing is loaded)."""
        return list(self._held.keys(min=_SENTINEL, excludemin=True))

    def __len__(self):
        return len(self._held) - 1

    def __iter__(self):
        return iter([job for key, job in self._held.items()
                     if key != _SENTINEL])

    def __contains__(self, job):
        return job._p_oid in self._held

    def __repr__(self):
        return '<%s %r size=%d>' % (type(self).__name__, self.name, self.size)
