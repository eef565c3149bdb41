"""Job callables for the multi-process tests.

The worker subprocesses import this module through PYTHONPATH, so
everything a job needs lives here.  Each job and each callback counts
itself in a ``Ledger`` in the database root, *in its own transaction*: a
job's effects are committed together with its result or not at all, so
a count above 1 means a job's effects were applied twice, and a missing
count means a job was lost.  Calls (attempts, including those a kill
interrupted) are also appended to a plain file, outside any transaction,
to show that some jobs really were run more than once.
"""
import os
import time

import BTrees.Length
import BTrees.OOBTree
import persistent

from zc.asyncui import local

LEDGER = 'mpjobs.ledger'


class Ledger(persistent.Persistent):
    """Per-tag counts of committed job and callback effects.

    ``prepare`` creates every tag's entry up front, so that jobs only
    change values of existing keys: concurrent changes to distinct keys of
    a bucket are resolved by BTrees, where bucket splits would conflict.
    """

    def __init__(self):
        self.runs = BTrees.OOBTree.OOBTree()
        self.callbacks = BTrees.OOBTree.OOBTree()
        self.run_count = BTrees.Length.Length()
        self.callback_count = BTrees.Length.Length()

    def prepare(self, tags):
        for tag in tags:
            self.runs[tag] = 0
            self.callbacks[tag] = 0


def ledger(conn):
    """The ledger in the database of ``conn`` (created if missing; the
    caller commits)."""
    root = conn.root()
    if LEDGER not in root:
        root[LEDGER] = Ledger()
    return root[LEDGER]


def _current_ledger():
    return local.getJob()._p_jar.root()[LEDGER]


def _note_call(calls_file, tag, what):
    if calls_file:
        with open(calls_file, 'a') as f:
            f.write('%s %s %d\n' % (what, tag, os.getpid()))


def work(tag, seconds=0.0, calls_file=None):
    """The job: count ``tag`` in the ledger, then take ``seconds``.

    The sleep comes after the writes, so a kill during it leaves written
    but uncommitted effects: the test shows they never count.
    """
    _note_call(calls_file, tag, 'job')
    book = _current_ledger()
    book.runs[tag] += 1
    book.run_count.change(1)
    if seconds:
        time.sleep(seconds)
    return tag


def record_callback(result, calls_file=None):
    """A callback: count the parent's result (its tag) in the ledger."""
    _note_call(calls_file, result, 'callback')
    book = _current_ledger()
    book.callbacks[result] += 1
    book.callback_count.change(1)
    return result
