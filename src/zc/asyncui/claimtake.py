"""Where a claim takes its jobs from (zc.asyncui.queue.Queue.claimMany):
a queue's claim trees, or straight from its inbox.

A claim takes due jobs in order from the claim trees and the inbox
buckets together; only then does the queue move what is left in the
inbox to the claim trees.  A job claimed soon after its put, the common
case while dispatchers keep up, is never written to a claim tree: before,
each claim moved the inbox first, then took the same jobs out again,
rewriting up to every due tree (16) per claim.

Layer: model.
"""
from zc.asyncui import queuekeys as keys

#: A claim takes due jobs from an inbox of at most this many buckets; a
#: larger one (a backlog) is moved to the claim trees first, by the
#: queue's ``_drain``, in bounded memory.
INBOX_BUCKETS = 4


def before(queue):
    """Make ``queue`` ready for a claim: move a backlog in its inbox to
    the claim trees, else only the jobs that must wait."""
    if len(queue._inbox) > INBOX_BUCKETS + 1:  # + its sentinel
        queue._drain()
    else:
        move_later(queue)


def move_later(queue):
    """Move the inbox's jobs that must wait to the scheduled tree (due
    ones are claimed from the inbox, or moved after the claim)."""
    for bucket in queue._inbox_buckets():
        if keys.first_key_after(bucket, keys.LATER) is None:
            continue
        for tagged in list(bucket.keys(min=keys.LATER, max=bytes(
                [keys.LATER[0] + 1]), excludemax=True)):
            queue._scheduled[tagged[1:]] = bucket.pop(tagged)


def take(queue, taken):
    """Remove the claimed (key, job) pairs ``taken`` from their due tree,
    or else from their inbox bucket."""
    buckets = None
    for key, job in taken:
        if queue._due_tree(key[-8:]).pop(key, None) is not None:
            continue
        if buckets is None:
            buckets = list(queue._inbox_buckets())
        if not any(bucket.pop(keys.DUE + key, None) is not None
                   for bucket in buckets):
            raise KeyError(key)  # cannot happen: the claim just read it
