"""The keys under which a queue keeps its pending jobs, and so their order.

Keys are bytes, cheap to pickle and compare: a due job's key sorts by
priority (highest first), then arrival, then oid; a scheduled job's by
begin_after, then oid.  The last 8 bytes of every key are the job's oid.
An inbox key is a claim-tree key behind a one-byte tag, ``DUE`` or
``LATER``, saying which claim tree the job goes to.  See zc.asyncui.queue
for the trees and the inbox that use them.
"""
import datetime
import struct

#: Inbox keys are a claim-tree key behind one of these tags (due keys sort
#: first).
DUE, LATER = b'd', b's'
PRIORITY_OFFSET = 2 ** 31
#: The first key of every due and scheduled tree, never removed: BTrees
#: cannot merge the removal of a bucket's first key with any other change
#: to that bucket, and claims remove the first jobs while producers add
#: jobs at the end.
FIRST = b''


def time_prefix(ts):
    """8 bytes that sort like the timestamp ``ts``."""
    return struct.pack('>Q', int(ts * 1e6))


def prefix_time(prefix):
    """The aware UTC datetime of a ``time_prefix``."""
    return datetime.datetime.fromtimestamp(
        struct.unpack('>Q', prefix)[0] / 1e6, datetime.timezone.utc)


def until(ts):
    """A key bound above every scheduled key at or before ``ts``."""
    return time_prefix(ts) + b'\xff' * 8


def pack_due(priority, ts, oid):
    return struct.pack('>I', PRIORITY_OFFSET - priority) + \
        time_prefix(ts) + oid


def due_key(job):
    """The job's key in the due trees: bytes that sort by priority (highest
    first), then arrival, then oid.  Bytes keys keep buckets cheap to
    pickle."""
    return pack_due(job.priority, job._arrival, job._p_oid)


def scheduled_key(job):
    """The job's key in the scheduled tree: begin_after, then oid."""
    return time_prefix(job._begin_after_ts) + job._p_oid


def expired(job, now_ts):
    """True when the job's ``begin_by`` has passed: a claim takes it
    whatever the filter, so that a worker records its timeout."""
    begin_by = job._begin_by
    return (begin_by is not None and job._begin_after_ts is not None
            and job._begin_after_ts + begin_by.total_seconds() < now_ts)


def first_key(tree):
    """The first key that is not the sentinel, or None."""
    for key in tree.keys(min=FIRST, excludemin=True):
        return key
    return None


def first_key_after(bucket, tag):
    """The first key of an inbox bucket tagged ``tag``, without the tag,
    or None."""
    for key in bucket.keys(min=tag, max=bytes([tag[0] + 1]),
                           excludemax=True):
        return key[1:]
    return None


def arrival_prefix(key):
    """The time prefix of a due key: its arrival."""
    return key[4:12]


def level_firsts(tree, tag=b''):
    """The first due key (without ``tag``) of each priority level of a
    due tree (or of the keys tagged ``tag`` in an inbox bucket): one
    lookup per level, whatever the number of keys."""
    low = tag + b'\x00'
    while True:
        key = None
        for found in tree.keys(min=low, max=tag + b'\xff' * 5):
            key = found
            break
        if key is None or not key.startswith(tag) or len(key) < len(
                tag) + 12:
            return
        key = key[len(tag):]
        yield key
        level = struct.unpack('>I', key[:4])[0]
        if level == 0xFFFFFFFF:
            return
        low = tag + struct.pack('>I', level + 1)


def has_jobs(tree):
    return first_key(tree) is not None


def key_of(pair):
    return pair[0]


def placements(job):
    """The (kind, key) placements where a job may be pending."""
    if job._arrival is not None:
        yield DUE, due_key(job)
    if job._begin_after_ts is not None:
        yield LATER, scheduled_key(job)


def inbox_due(bucket, now_ts):
    """True when an inbox bucket holds a job that may start at ``now_ts``:
    due keys sort before scheduled ones, and these by begin_after."""
    first = first_key(bucket)
    return first is not None and (
        first[:1] == DUE or first[1:9] <= time_prefix(now_ts))


def check_priority(priority):
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError('priority must be an int, not %r' % (priority,))
    if not -PRIORITY_OFFSET < priority < PRIORITY_OFFSET:
        raise ValueError('priority must be between %d and %d, not %d'
                         % (-PRIORITY_OFFSET + 1, PRIORITY_OFFSET - 1,
                            priority))


def inbox_name(newest, oid):
    """The name of a new inbox bucket: it sorts after ``newest`` (the name
    of the newest bucket, or FIRST), and the bucket's ``oid`` keeps names
    distinct when two puts add a bucket at once."""
    number = struct.unpack('>Q', newest[:8])[0] + 1 if newest else 0
    return struct.pack('>Q', number) + oid
