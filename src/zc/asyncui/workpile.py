"""WorkPile: a persistent pile of work items that application code
appends to in its own transactions, and one job that takes them all.

    pile = WorkPile()                     # store it somewhere
    pile.append(('reindex', doc_oid))     # in any transaction
    pile.ensureJob(queue, processor)      # one pending job per pile

When the job runs it takes every item visible at that moment and calls
``processor(items)`` in the same transaction: if the processor fails,
the items go back to the pile with the abort.

Conflicts: the items are spread over ``SHARDS`` persistent parts whose
``_p_resolveConflict`` merges by item key (each append adds a fresh
unique key to one part, the draining job removes the keys it took), so
concurrent appends never conflict with each other nor with the draining
job.  Two drains that took the same item do conflict (one retries and
takes what is left): an item is processed once.  ``ensureJob`` is a put
with the collapse key ``zc.asyncui.workpile:<pile oid>``
(zc.asyncui.collapse): it returns the pending job without writing
anything, except when that job starts at the same moment -- then the put
conflicts and, retried, puts a new job, so no item is left behind with
no job to take it.

Cost: an append rewrites one part, about 1/SHARDS of the items waiting;
a pile is meant to be drained often, not to hold a backlog of millions.
"""
import itertools
import os
import struct

import persistent
import ZODB.POSException
import zope.interface

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import local
from zc.asyncui import utils
from zc.asyncui.calls import check_storable
from zc.asyncui.job import Job

#: The annotations of a pile's job: the pile's key (its oid) and, once
#: the job has run, how many items it took.
PILE = 'zc.asyncui.workpile'
TAKEN = 'zc.asyncui.workpile.taken'
#: Persistent parts a pile's items are spread over.
SHARDS = 16


#: Appends in this process, in order: breaks ties of the time (a frozen
#: test clock, two appends in one microsecond).
_append_count = itertools.count()


def _new_key():
    # Time first, then this process's append count, so items are taken in
    # append order; random bits last (they also pick the shard) so two
    # processes appending at the same moment never pick one key.
    return (struct.pack('>dQ', utils.now().timestamp(), next(_append_count))
            + os.urandom(8))


@zope.interface.implementer(interfaces.IWorkPile)
class WorkPile(persistent.Persistent):
    """See IWorkPile; conflicts are discussed in the module docstring.
    Items must be picklable; persistent objects are stored by reference.
    """

    def __init__(self):
        # Never written again: appends and drains write the shards.
        self._shards = tuple(_Shard() for _ in range(SHARDS))

    def append(self, item):
        """See IWorkPile.append."""
        check_storable(item, 'a WorkPile item')
        key = _new_key()
        shard = self._shards[key[-1] % len(self._shards)]
        shard._items[key] = item
        shard._p_changed = True

    def __len__(self):
        return sum(len(shard._items) for shard in self._shards)

    def __iter__(self):
        """See IWorkPile.__iter__."""
        return iter([item for _, item in self._sorted()])

    def _sorted(self):
        return sorted((pair for shard in self._shards
                       for pair in shard._items.items()),
                      key=lambda pair: pair[0])

    @property
    def key(self):
        """The pile's printable id (its oid), or None before it is stored."""
        oid = self._p_oid
        return None if oid is None else utils.oid_key(oid)

    def ensureJob(self, queue, processor):
        """Return the pile's pending job in ``queue``, putting one that
        calls ``processor(items)`` if there is none.  A pile not stored
        yet is added to the queue's connection (its oid is the key)."""
        jar = getattr(queue, '_p_jar', None)
        if self._p_jar is None and jar is not None:
            jar.add(self)
        if self._p_oid is None:
            raise errors.NotInDatabaseError(
                'WorkPile.ensureJob: %r is not a stored queue; pass one'
                ' found with zc.asyncui.getQueue(connection).' % (queue,))
        job = queue.put(Job(drain, self, processor),
                        collapse_key='%s:%s' % (PILE, self.key))
        if PILE not in job.annotations:
            job.annotations[PILE] = self.key
        return job

    def take(self):
        """Remove and return every item, in append order (what the pile's
        job does; call it yourself to drain by hand)."""
        taken = [item for _, item in self._sorted()]
        for shard in self._shards:
            if shard._items:
                shard._items = {}
        return taken

    def __repr__(self):
        return '<WorkPile %s>' % (self.key or 'unsaved')


class _Shard(persistent.Persistent):
    """Part of a pile's items: an append writes one shard (chosen by its
    key's random last byte), so each commit writes 1/SHARDS of the pile.
    Conflicts are resolved by item (module docstring)."""

    def __init__(self):
        self._items = {}

    def _p_resolveConflict(self, old, committed, new):
        # Three-way merge by item key: keep what the committed state has,
        # add what ``new`` appended, drop what ``new`` took -- unless the
        # committed state took it too (two drains at once).
        old_items, new_items = old['_items'], new['_items']
        merged = dict(committed['_items'])
        for key, item in new_items.items():
            if key not in old_items:
                merged[key] = item
        for key in old_items:
            if key not in new_items:
                if key not in merged:
                    # Two drains took the same item: one must retry, or
                    # the item would be processed twice.
                    raise ZODB.POSException.ConflictError(
                        'WorkPile: an item was taken twice')
                del merged[key]
        if not set(old) == set(new) == set(committed) == {'_items'}:
            raise ZODB.POSException.ConflictError(
                'WorkPile: attributes other than the items changed')
        resolved = dict(committed)
        resolved['_items'] = merged
        return resolved


def drain(pile, processor):
    """The job of a pile: take every item and call ``processor(items)``.
    Returns what the processor returns."""
    items = pile.take()
    job = local.getJob()
    if job is not None:
        job.annotations[TAKEN] = len(items)
    return processor(items)


def pileOf(job):
    """The WorkPile a job drains, or None: for views and the monitor,
    which show ``len(pileOf(job))``, the items waiting.  (The pile size is
    not copied into the job's annotations: appends would then write the
    job and conflict with each other.)"""
    if job.callable is not drain or not job.args:
        return None
    pile = job.args[0]
    return pile if isinstance(pile, WorkPile) else None
