"""Job callables for the quota tests with worker processes
(tests/test_quota_multiprocess.py): each job records when it ran, in the
database and in its own transaction, so the test sees only runs whose
effects committed."""
import os
import time

import BTrees.OOBTree

from zc.asyncui import local

RUNS = 'quotajobs.runs'


def runs(conn):
    """tag -> (start, end, pid) of each committed run (created if
    missing; the caller commits)."""
    root = conn.root()
    if RUNS not in root:
        root[RUNS] = BTrees.OOBTree.OOBTree()
    return root[RUNS]


def prepare(conn, tags):
    # Jobs then only change values of existing keys, which BTrees merge.
    book = runs(conn)
    for tag in tags:
        book[tag] = None


def timed(tag, seconds):
    """The job: take ``seconds`` and record (start, end, pid) under
    ``tag``; a second committed run of the same tag would fail the
    test's exactly-once check."""
    start = time.time()
    time.sleep(seconds)
    book = local.getJob()._p_jar.root()[RUNS]
    if book[tag] is not None:
        raise AssertionError('job %s already ran: %r' % (tag, book[tag]))
    book[tag] = (start, time.time(), os.getpid())
    return tag


#: (tag, start, end) of the calls of ``timed_here`` in this process.
calls = []


def timed_here(tag, seconds):
    """Like ``timed``, recorded in this process (for in-process tests)."""
    start = time.time()
    time.sleep(seconds)
    calls.append((tag, start, time.time()))
    return tag
