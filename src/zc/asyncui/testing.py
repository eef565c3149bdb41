"""Public helpers for testing applications that use zc.asyncui.

- ``wait_for_result``, ``wait_for_start``, ``wait_for_annotation``: wait
  (without blind sleeps) for a job to reach a state, seen through a
  fresh transaction; raise WaitTimeoutError naming the job and status.
- ``run_until_idle``: wait until a dispatcher has nothing left to do.
- ``FakeClock``: a settable clock for ``zc.asyncui`` timestamps.
- ``file_storage_db``: a DB on a FileStorage in a directory.
"""
import contextlib
import datetime
import os
import time

import transaction
import ZODB
import ZODB.FileStorage

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import utils
from zc.asyncui.job import ACTIVE, CALLBACKS, COMPLETED
from zc.asyncui.job import check_storable

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


def run_until_idle(dispatcher, timeout=30.0):
    """Wait until the dispatcher has activated itself in every queue, no
    queue of its database has a due job, and no agent holds an unfinished
    one.  Raises WaitTimeoutError."""
    db = dispatcher.db
    deadline = time.monotonic() + timeout
    tm = transaction.TransactionManager()
    conn = db.open(tm)
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
        conn.close()


class FakeClock:
    """A clock for zc.asyncui timestamps that moves only when told.

    Use as a context manager: ``with FakeClock(start) as clock:
    clock.advance(seconds=5)``.
    """

    def __init__(self, start=None):
        self.current = start or datetime.datetime(
            2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)

    def __call__(self):
        return self.current

    def advance(self, **timedelta_kwargs):
        self.current += datetime.timedelta(**timedelta_kwargs)
        return self.current

    def __enter__(self):
        self._saved = utils._now_hook
        utils._now_hook = self
        return self

    def __exit__(self, *exc):
        utils._now_hook = self._saved


def file_storage_db(directory, name='Data.fs', **db_kw):
    """A ``ZODB.DB`` on a FileStorage at ``directory/name``."""
    storage = ZODB.FileStorage.FileStorage(os.path.join(directory, name))
    return ZODB.DB(storage, **db_kw)


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


class FilterConformance:
    """Mix into a test class and define ``makeFilter()`` (returning the
    filter under test) and ``makeJobs(queue)`` (returning a list of
    ``(job, expected)`` pairs put in ``queue``); every filter must pass.

    The test class gets a ``db`` from the ``db`` pytest fixture of
    zc.asyncui's conftest, or by overriding ``makeDB()``.
    """

    def _queue(self, db):
        zc.asyncui.install(db)
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        return tm, zc.asyncui.getQueue(conn)

    def test_filter_is_storable(self):
        check_storable(self.makeFilter(), 'the filter')

    def test_filter_answers_and_changes_nothing(self, db):
        tm, queue = self._queue(db)
        pairs = self.makeJobs(queue)
        tm.commit()
        filter = self.makeFilter()
        for job, expected in pairs:
            assert bool(filter(job)) is expected, (job, expected)
            assert not job._p_changed
        assert not queue._p_changed
        tm.abort()
