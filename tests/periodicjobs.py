"""Jobs for the periodic and cancellation tests: importable by worker
threads and processes."""
import time

import BTrees.OOBTree

from zc.asyncui import errors
from zc.asyncui import local
from zc.asyncui import periodic

LEDGER = 'periodic-ledger'


def tick(tag='tick', seconds=0.0):
    """Record this run in the ledger under its period (after sleeping
    ``seconds``): a period with two entries ran twice."""
    time.sleep(seconds)
    job = local.getJob()
    root = job._p_jar.root()
    period = job.annotations[periodic.ANNOTATION]['period']
    ledger = root[LEDGER]
    ledger[period] = ledger.get(period, ()) + (
        (job.key, str(local.getDispatcher().UUID)),)
    return tag


def install_ledger(conn):
    conn.root()[LEDGER] = BTrees.OOBTree.OOBTree()


def loop_until_cancelled(seconds=30.0):
    """Work in small steps, checking for cancellation between them."""
    steps = 0
    deadline = time.monotonic() + seconds
    local.setLiveAnnotation('started', True)
    while time.monotonic() < deadline:
        if local.cancelled():
            raise errors.JobCancelledError('stopped after %d steps' % steps)
        steps += 1
        time.sleep(0.02)
    return 'not cancelled'


def cancelled_now():
    return local.cancelled()


def seen(result):
    """A callback: what its parent ended with."""
    return 'callback saw %s' % getattr(result, 'type_name', result)
