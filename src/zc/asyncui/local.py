"""Access for running jobs: which job, queue, dispatcher and agent this
thread is working for, and live annotations.

These are set by the worker around each call (callbacks included) and are
None outside a job.
"""
import threading
import time

import transaction

from zc.asyncui import queueroot
from zc.asyncui import utils

_state = threading.local()


def _set(job=None, dispatcher=None, agent_name=None):
    _state.job = job
    _state.dispatcher = dispatcher
    _state.agent_name = agent_name


def getJob():
    """The job this thread is running, or None."""
    return getattr(_state, 'job', None)


def getQueue():
    """The queue of the job this thread is running, or None."""
    job = getJob()
    return None if job is None else job.queue


def getDispatcher():
    """The dispatcher running this thread's job, or None."""
    return getattr(_state, 'dispatcher', None)


def getAgentName():
    """The name of the agent running this thread's job, or None."""
    return getattr(_state, 'agent_name', None)


def _job_or_current(job):
    job = job if job is not None else getJob()
    if job is None or job._p_jar is None:
        raise ValueError('no job: call this inside a running job or pass a'
                         ' job stored in the database')
    return job


def setLiveAnnotation(name, value, job=None):
    """Set ``job.annotations[name]`` (default: the running job) in a
    separate transaction that commits at once, so other connections see
    it before the job itself commits.  ``value`` should be a small,
    immutable, non-persistent value."""
    job = _job_or_current(job)
    db = job._p_jar.db()
    oid = job._p_oid
    tm = transaction.TransactionManager()
    primary, conn = queueroot.openConnection(db, tm)
    try:
        def write():
            conn.get(oid).annotations[name] = value
        utils.retry_transaction(tm, write, 'live annotation %r of job %s'
                                % (name, job.key), attempts=20)
    finally:
        primary.close()


def getLiveAnnotation(name, default=None, timeout=0, poll=0.1, job=None):
    """Read ``job.annotations[name]`` from a fresh connection, waiting up
    to ``timeout`` seconds for it to appear; ``default`` if it does not."""
    job = _job_or_current(job)
    db = job._p_jar.db()
    oid = job._p_oid
    deadline = time.monotonic() + timeout
    tm = transaction.TransactionManager()
    primary, conn = queueroot.openConnection(db, tm)
    try:
        while True:
            tm.begin()
            annotations = conn.get(oid).annotations
            if name in annotations:
                value = annotations[name]
                tm.abort()
                return value
            tm.abort()
            if time.monotonic() >= deadline:
                return default
            time.sleep(poll)
    finally:
        primary.close()


def cancelled(job=None):
    """True when ``job.cancel()`` (default: the running job) was committed
    by any transaction or process since the job started: the job should
    stop soon, and may raise ``zc.asyncui.errors.JobCancelledError``.
    Reads a fresh connection, so the cancellation is seen while this
    job's own transaction still runs; cheap enough to call in a loop
    every few items.  False outside a job."""
    if job is None:
        job = getJob()
        if job is None or job._p_jar is None:
            return False
    if job._cancel_requested:
        return True
    job = _job_or_current(job)
    tm = transaction.TransactionManager()
    primary, conn = queueroot.openConnection(job._p_jar.db(), tm)
    try:
        return bool(conn.get(job._p_oid)._cancel_requested)
    finally:
        tm.abort()
        primary.close()
