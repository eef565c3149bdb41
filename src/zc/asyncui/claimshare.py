"""How the dispatchers claiming from one queue share its due trees
(zc.asyncui.queue.Queue.claimMany), so that their claims do not take the
same jobs.

Layer: model.
"""
import itertools


def spread(due, count, shards, index, number):
    """The due (key, job) pairs a claim of dispatcher ``index`` of
    ``number`` takes, in claim order, from a queue of ``shards`` due
    trees: among the first ``count * number`` due jobs, those of its own
    due trees (tree ``i`` is its own when ``i % number == index``), when
    they make at least half of its fair part of that window; else
    ``due`` itself.

    Dispatchers of several processes otherwise all take the front of
    the queue: their claim commits, of up to a hundred jobs each,
    conflicted over the same keys and were redone (issue 11).  Taking
    from distinct trees, they write distinct buckets.  A job waits at
    most for the ``count * number`` jobs ahead of it in that window
    (like a prefetch), whatever the other dispatchers do: when they
    do not claim (busy, or dead but not yet declared so), their
    jobs fill the window's front until a claim falls back to the
    plain order."""
    if number <= 1:
        return due
    window = list(itertools.islice(due, count * number))
    mine = [(key, job) for key, job in window
            if key[-1] % shards % number == index]
    # Near the end of a backlog, each takes its share of what is left.
    fair = min(count, -(-len(window) // number))
    if 2 * len(mine) < fair:
        return itertools.chain(window, due)
    return iter(mine)
