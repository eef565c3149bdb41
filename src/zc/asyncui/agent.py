"""Agents: each claims jobs from one queue for one dispatcher.

An agent keeps the jobs it holds in a BTree (one source of truth, together
with ``job.agent``) and a bounded record of recent completions in another.
Both are keyed by the job's oid with its bytes reversed: consecutive oids
then land far apart in the tree, so worker threads finishing jobs at the
same time write to different buckets, and a bucket split (which BTrees
cannot resolve) rarely meets a concurrent change.  Completion records are
``(end timestamp, job)`` pairs, sorted when read.
"""
import datetime
import logging

import BTrees.OOBTree
import persistent
import zope.interface

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import utils
from zc.asyncui.job import ASSIGNED
from zc.asyncui.job import check_storable

logger = logging.getLogger(__name__)

DEFAULT_COMPLETED_MAX_COUNT = 1000
DEFAULT_COMPLETED_MAX_AGE = datetime.timedelta(days=7)
#: Candidates a chooser sees at most per claim.
CHOOSER_WINDOW = 50
_SENTINEL = b''


def _spread(oid):
    return oid[::-1]


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise errors.ConfigurationError(
            'agent size must be an int >= 0 (0 pauses the agent), not %r'
            % (size,))
    return size


@zope.interface.implementer(interfaces.IAgent)
class Agent(persistent.Persistent):
    """See IAgent."""

    name = None
    __parent__ = None

    def __init__(self, *, size=3, filter=None, chooser=None,
                 retry_policy_factory=None,
                 completed_max_count=DEFAULT_COMPLETED_MAX_COUNT,
                 completed_max_age=DEFAULT_COMPLETED_MAX_AGE,
                 prefetch=None):
        self.size = _check_size(size)
        for what, value in (('filter', filter), ('chooser', chooser),
                            ('retry_policy_factory', retry_policy_factory)):
            if value is not None:
                if not callable(value):
                    raise errors.ConfigurationError(
                        'agent %s must be callable, not %r' % (what, value))
                check_storable(value, 'the agent %s' % what)
        self.filter = filter
        self.chooser = chooser
        self.retry_policy_factory = retry_policy_factory
        if completed_max_count < 0:
            raise errors.ConfigurationError(
                'completed_max_count must be >= 0, not %r'
                % (completed_max_count,))
        self.completed_max_count = completed_max_count
        self.completed_max_age = completed_max_age
        self.prefetch = prefetch
        # The sentinel keeps the tree from ever becoming empty: BTrees
        # cannot resolve two concurrent removals that empty a bucket, and
        # workers finishing jobs at once remove the last keys all the time.
        self._held = BTrees.OOBTree.OOBTree({_SENTINEL: None})
        self._completed = BTrees.OOBTree.OOBTree()

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
        queue = self.queue
        now = now or utils.now()
        if self.chooser is None:
            job = queue.claim(self.filter, now)
        else:
            job = self._choose(queue, now)
        if job is not None:
            job._agent = self
            job._status = ASSIGNED if job._status != 'CALLBACKS' \
                else job._status
            self._held[_spread(job._p_oid)] = job
        return job

    def _choose(self, queue, now):
        candidates = []
        for job in queue:
            if job.begin_after > now:
                break
            if self.filter is None or self.filter(job):
                candidates.append(job)
                if len(candidates) >= CHOOSER_WINDOW:
                    break
        if not candidates:
            return None
        job = self.chooser(self, candidates)
        if job is None:
            return None
        queue.remove(job)
        return job

    # -- holding ------------------------------------------------------

    def remove(self, job):
        """See IAgent.remove: idempotent (seed item 1)."""
        if self._held.pop(_spread(job._p_oid), None) is None:
            logger.debug('agent %r: job %s was not held (already removed)',
                         self.name, job.key)
        if job._agent is self:
            job._agent = None

    def jobCompleted(self, job, now=None, record=True):
        """See IAgent.jobCompleted.

        Workers pass ``record=False`` and let their dispatcher add the
        completion record later with ``recordCompletions``, in a commit it
        makes anyway: a bucket split in the completion tree then never
        makes a job's own commit conflict.
        """
        self.remove(job)
        if record:
            end = job.active_end or now or utils.now()
            self.recordCompletions([(utils.timestamp(end), job)])

    def recordCompletions(self, pairs):
        """Add ``(end timestamp, job)`` pairs to the completion record."""
        if not self.completed_max_count:
            return
        for end, job in pairs:
            self._completed[_spread(job._p_oid)] = (end, job)

    def recentCompletions(self, limit=None):
        """Completed jobs, newest first (at most ``limit``)."""
        pairs = sorted(self._completed.values(), key=lambda p: p[0],
                       reverse=True)
        return [job for _, job in pairs[:limit]]

    @property
    def completed(self):
        """See IAgent.completed."""
        return self.recentCompletions()

    def pruneCompleted(self, now=None):
        """Drop completion records beyond the count and age limits;
        returns how many were dropped."""
        now = now or utils.now()
        oldest = utils.timestamp(now - self.completed_max_age)
        items = sorted(self._completed.items(), key=lambda kv: kv[1][0],
                       reverse=True)
        drop = [key for n, (key, (end, _)) in enumerate(items)
                if n >= self.completed_max_count or end < oldest]
        for key in drop:
            del self._completed[key]
        return len(drop)

    def heldOids(self):
        """The oids of the held jobs."""
        return [job._p_oid for job in self]

    def __len__(self):
        return len(self._held) - 1

    def __iter__(self):
        return iter([job for key, job in self._held.items()
                     if key != _SENTINEL])

    def __contains__(self, job):
        return _spread(job._p_oid) in self._held

    def __repr__(self):
        return '<%s %r size=%d>' % (type(self).__name__, self.name, self.size)
