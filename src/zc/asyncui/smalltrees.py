"""BTrees with small interior nodes, for trees that grow at one end.

A tree whose keys are added in order (newest first, or by end time) fills
and splits its buckets one after the other, and each split rewrites the
interior node above them: with the default 250 children that node is
several kB, rewritten every few commits whatever the number of keys
added -- in a history of finished jobs it cost more per job than the
entry itself (bench/profile_drain.py).  With at most 32 children the
node rewritten is eight times smaller (zc.asyncui.queue.ClaimTree does
the same for the claim trees).  Trees stored before keep their class and
work the same.

Layer: persistent model.
"""
import BTrees.OOBTree

#: Children of an interior node (BTrees' default for OO trees: 250).
MAX_INTERNAL_SIZE = 32


class SmallNodeOOBTree(BTrees.OOBTree.OOBTree):
    """An OOBTree with small interior nodes (see the module docstring)."""

    max_internal_size = MAX_INTERNAL_SIZE


class SmallNodeOOTreeSet(BTrees.OOBTree.OOTreeSet):
    """An OOTreeSet with small interior nodes (see the module
    docstring)."""

    max_internal_size = MAX_INTERNAL_SIZE
