"""QueueViews: the read-only side of a queue (zc.asyncui.queue.Queue):
its jobs in claim order, the jobs that wait, their count and the age of
the oldest due job, read without writing anything.

Layer: model.
"""
import heapq
import itertools

from zc.asyncui import queuekeys as keys
from zc.asyncui import utils


class QueueViews:
    """Reading methods of Queue, over the trees and the inbox buckets it
    keeps (``_due``, ``_scheduled``, ``_iter_due``, ``_inbox_items``,
    ``_inbox_buckets``, ``_find``; see zc.asyncui.queue)."""

    def __iter__(self):
        bound = keys.until(utils.now().timestamp())
        scheduled = self._iter_scheduled()
        # Scheduled jobs already due sort as if promoted (arrival =
        # begin_after); sorted, as heapq.merge needs each input in order.
        promoted, later = [], []
        for key, job in scheduled:
            if key > bound:
                later.append(job)
                break
            promoted.append(
                (keys.pack_due(job.priority, job._begin_after_ts, job._p_oid),
                 job))
        promoted.sort(key=keys.key_of)
        for _, job in heapq.merge(self._iter_due(), promoted, key=keys.key_of):
            yield job
        yield from later
        for _, job in scheduled:
            yield job

    def __contains__(self, job):
        return self._find(job)[0] is not None

    def scheduled(self, now=None, reverse=False):
        """See IQueue.scheduled."""
        bound = keys.until((now or utils.now()).timestamp())
        later = self._iter_scheduled(after=bound, reverse=reverse)
        return (job for _, job in later)

    def countScheduled(self, now=None):
        """See IQueue.countScheduled."""
        return sum(1 for _ in self._iter_scheduled(after=keys.until(
            (now or utils.now()).timestamp()), load=False))

    def oldestDue(self, now=None):
        """See IQueue.oldestDue.  Reads keys only: the first key of each
        priority level of each due tree and inbox bucket, and the first
        scheduled keys."""
        bound = keys.time_prefix((now or utils.now()).timestamp())
        buckets = list(self._inbox_buckets())
        firsts = [keys.arrival_prefix(key) for tree in self._due
                  for key in keys.level_firsts(tree)]
        firsts += [keys.arrival_prefix(key) for bucket in buckets
                   for key in keys.level_firsts(bucket, keys.DUE)]
        later = [keys.first_key(self._scheduled)] + [
            keys.first_key_after(bucket, keys.LATER) for bucket in buckets]
        firsts += [key[:8] for key in later
                   if key is not None and key[:8] <= bound]
        return keys.prefix_time(min(firsts)) if firsts else None

    def _iter_scheduled(self, after=keys.FIRST, reverse=False, load=True):
        """(key, job) of the jobs that wait, by begin_after (``reverse``:
        latest first), keys after ``after`` only; ``load=False`` gives
        keys alone."""
        trees = [self._scheduled.items(min=after, excludemin=True)
                 if load else self._scheduled.keys(min=after,
                                                   excludemin=True)]
        trees += self._inbox_items(keys.LATER, after)
        if not load:
            return itertools.chain(*trees)
        if reverse:
            trees = [reversed(list(items)) for items in trees]
        return heapq.merge(*trees, key=keys.key_of, reverse=reverse)
