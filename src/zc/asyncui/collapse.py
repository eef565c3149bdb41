"""Collapsing puts: ``Queue.put(job, collapse_key=K)`` returns the job
already pending with key ``K`` in that queue instead of adding another
(the queueing lock of Procrastinate, the unique jobs of Sidekiq).

Each queue keeps an index ``collapse key -> job`` in ``SHARDS``
standalone ``OOBucket`` objects, the shard chosen by a CRC of the key.
Like the queue's inbox (see zc.asyncui.queue), a standalone bucket never
splits and merges concurrent changes of distinct keys, and keeps the
sentinel key ``''`` so that removing its first real key still merges.
So:

- puts with distinct keys never conflict with each other;
- two transactions putting the same new key both insert it: the bucket
  cannot merge that, one commit wins and the other gets a ConflictError;
  retried, it finds the winner's job pending and returns it;
- a put that returns a pending job marks that job read-current: if the
  job starts in a concurrent transaction (which writes it), the put
  conflicts and, retried, adds a new job.  A caller never gets back a
  job that had already started before its transaction committed.

The key is released when its job starts (``release``, called by
zc.asyncui.lifecycle.start); a job that is retried later, or recovered
from a dead process, is pending again but no longer holds its key.  A
stale entry (the job was pulled) is replaced by the next put.
"""
import zlib

import BTrees.OOBTree

from zc.asyncui.job import PENDING

#: Number of index buckets per queue.
SHARDS = 16
#: The annotation of a job put with a collapse key: the key.
ANNOTATION = 'zc.asyncui.collapse_key'
_SENTINEL = ''


def check_key(key):
    """The key, or TypeError/ValueError saying what to pass."""
    if not isinstance(key, str):
        raise TypeError(
            'collapse_key must be a string such as "reindex:%%s" %% oid, not'
            ' %r (%s)' % (key, type(key).__name__))
    if not key:
        raise ValueError('collapse_key must be a non-empty string; pass'
                         ' None to put without collapsing.')
    return key


def new_index():
    """The collapse index of a new queue (see the module docstring)."""
    return tuple(BTrees.OOBTree.OOBucket({_SENTINEL: None})
                 for _ in range(SHARDS))


def _shard(queue, key, create=False):
    shards = getattr(queue, '_collapse', None)
    if shards is None:
        # A queue stored before collapse keys existed: its first put with
        # a key adds the index (one write of the queue itself).
        if not create:
            return None
        shards = queue._collapse = new_index()
    return shards[zlib.crc32(key.encode('utf-8')) % len(shards)]


def pending(queue, key):
    """The job put in ``queue`` with ``key`` that has not started yet, or
    None.  Marks it read-current (module docstring)."""
    bucket = _shard(queue, check_key(key))
    job = None if bucket is None else bucket.get(key)
    if job is None or job._status != PENDING or job._queue is not queue:
        return None
    jar = queue._p_jar
    if job._p_jar is jar and job._p_oid is not None:
        jar.readCurrent(job)
    return job


def hold(queue, key, job):
    """Record ``job`` as the pending job of ``key`` in ``queue``."""
    _shard(queue, key, create=True)[key] = job
    job._collapse_key = key
    job.annotations[ANNOTATION] = key


def release(job):
    """Forget the key of a job that starts: a new put with the key then
    adds a new job.  A no-op for jobs put without a key."""
    key = job._collapse_key
    queue = job._queue
    if key is None or queue is None:
        return
    bucket = _shard(queue, key)
    if bucket is not None and bucket.get(key) is job:
        del bucket[key]


