"""Waiting, without blind sleeps, for what a real dispatcher does: a job
to start, complete or get an annotation (seen through a fresh
transaction), a dispatcher to have nothing left to do, or any condition;
and a dispatcher with short intervals, stopped after the test.

Layer: configuration (part of ``zc.asyncui.testing``, which re-exports
every public name: import them from there).
"""
import contextlib
import time

import transaction

from zc.asyncui import dispatcher
from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import queueroot
from zc.asyncui import utils
from zc.asyncui.job import ACTIVE, CALLBACKS, COMPLETED

POLL_SECONDS = 0.01


def _refresh(job):
    """Begin a new transaction in the job's connection so it sees what
    other connections committed.  Refuses to throw away changes."""
    jar = job._p_jar
    if jar is None:
        raise ValueError('%r is not stored in a database: commit it (put it'
                         ' in a queue and commit) before waiting for it'
                         % (job,))
    if jar._registered_objects:
        raise ValueError(
            'The connection of %r has uncommitted changes: commit (or abort)'
            ' before waiting, or the dispatcher will never see the job.'
            % (job,))
    jar.transaction_manager.begin()


def _wait(job, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        _refresh(job)
        if predicate(job):
            return
        if time.monotonic() >= deadline:
            raise errors.WaitTimeoutError(
                'Job %s (%r) did not %s within %.1f seconds; its status is'
                ' %s. Is a dispatcher running on this database, with an'
                ' agent whose filter accepts the job?'
                % (job.key, job, what, timeout, job.status.value))
        time.sleep(POLL_SECONDS)


def wait_for_result(job, timeout=10.0):
    """Wait until ``job`` is COMPLETED and return its result (a value or a
    Failure)."""
    _wait(job, lambda j: j._status == COMPLETED, timeout, 'complete')
    return job.result


def wait_for_start(job, timeout=10.0):
    """Wait until ``job`` has started (ACTIVE or later)."""
    _wait(job, lambda j: j._status in (ACTIVE, CALLBACKS, COMPLETED),
          timeout, 'start')


def wait_for_annotation(job, name, timeout=10.0):
    """Wait until ``job.annotations`` has ``name`` and return its value."""
    _wait(job, lambda j: name in j.annotations, timeout,
          'get annotation %r' % name)
    return job.annotations[name]


def wait_until(predicate, timeout, what, interval=0.05):
    """Call ``predicate()`` every ``interval`` seconds until it returns a
    true value, and return that value.  A transient database error
    (a conflict, an unreachable ZEO server) counts as "not yet".  Raises
    WaitTimeoutError saying it waited ``timeout`` seconds for ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception as e:
            if not utils.is_transient(e):
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise errors.WaitTimeoutError(
                'timed out after %.0fs waiting for %s' % (timeout, what))
        time.sleep(interval)


def run_until_idle(dispatcher, timeout=30.0):
    """Wait until the dispatcher has activated itself in every queue, no
    queue of its database has a due job, and no agent holds an unfinished
    one.  Raises WaitTimeoutError."""
    db = dispatcher.db
    deadline = time.monotonic() + timeout
    tm = transaction.TransactionManager()
    primary, conn = queueroot.openConnection(db, tm)
    try:
        while True:
            tm.begin()
            queues = conn.root().get(interfaces.KEY) or {}
            due = sum(1 for q in queues.values() if q.hasDue())
            held = sum(1 for q in queues.values()
                       for r in q.dispatchers.values() for a in r.values()
                       for job in a if job._status != COMPLETED)
            names = set(queues.keys()) if queues else set()
            tm.abort()
            activated = names <= set(dispatcher.getStatusInfo()[
                'active_queues'])
            if activated and not due and not held and \
                    not dispatcher.getActiveJobs():
                return
            if time.monotonic() >= deadline:
                raise errors.WaitTimeoutError(
                    'dispatcher %s not idle after %.1f seconds: %d queues'
                    ' with due jobs, %d jobs held by agents'
                    % (dispatcher.UUID, timeout, due, held))
            time.sleep(POLL_SECONDS)
    finally:
        primary.close()


@contextlib.contextmanager
def dispatcher_running(db, **kw):
    """Start a dispatcher (short intervals by default) and stop it after."""
    kw.setdefault('poll_interval', 0.1)
    kw.setdefault('ping_interval', 1.0)
    kw.setdefault('ping_death_interval', 5.0)
    d = dispatcher.start(db, **kw)
    try:
        yield d
    finally:
        d.stop(10.0)
