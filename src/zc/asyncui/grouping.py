"""Grouped commits: a worker thread finishes several short jobs in one
transaction (issue 11).

Without grouping, a busy worker makes one commit per job: the commit that
finishes a job also starts the next one (zc.asyncui.execution).  With
``group_commit_seconds`` > 0 (zc.asyncui.settings):

- the commit that finishes a job starts the next *few* jobs of the
  worker's agent (as many calls of that job's callable as fit in
  ``group_commit_seconds``, at most ``MAX_HELD``); the worker keeps them
  in ``prestarted``.  A job is never called in the transaction that
  starts it: when it is called its start is committed, so a process
  killed at any moment leaves every called job ACTIVE, and recovery
  hands it to its retry policy as interrupted -- a recorded attempt;
- a short job that succeeded, is complete (no callbacks) and whose next
  job is already started is *held*: its finishing transaction is not
  committed yet, and the next job is called; until the oldest held job
  has waited ``group_commit_seconds``, ``MAX_HELD`` are held, the started
  jobs run out, or a job cannot be held (it failed, has callbacks,
  returned a job...).  One commit (one fsync) then makes them all
  durable, and starts the next few.

What stays as without grouping, and how:

- a call is made while jobs are held only if its callable's recent calls
  fit in the time left (else the held jobs are committed first), and it
  is isolated by a savepoint taken just before it: a call that raises (a
  ConflictError included) is rolled back to it, and the held jobs are
  committed before its failure is handled as usual -- it never takes
  another job's outcome with it.  When the transaction holds nothing
  but the held jobs' own records, and these hold only values a call
  cannot change unseen (see ``_frozen``), the call is isolated without a
  savepoint (which costs a temporary file per transaction and a copy of
  every record at the commit): the held jobs' states are kept, and a
  call that raises is rolled back by aborting the transaction, after
  which the held jobs get their kept states back -- unless a held job's
  state differs from what was kept, or its record was changed by
  another transaction meanwhile: the held jobs are then lost (below);
- what is done after a job's finishing commit (the dispatcher notes the
  completion, the result is logged) is done for a held job only once the
  group has committed, whoever committed it: an after-commit hook on the
  transaction, so a job that commits by itself makes the held jobs
  durable, correctly noted;
- a group whose transaction is lost (its commit raised ConflictError, or
  a job aborted it) is *lost*: each of its jobs is run again alone by its
  worker (``zc.asyncui.jobrun``) as a new attempt, the previous one closed
  with the reason -- every call of a job is an attempt in its history, as
  with an ungrouped commit that conflicts;
- results, callbacks and events are those of the same calls ungrouped
  (events fire where ``zc.asyncui.lifecycle`` fires them, in the
  transaction, as always); ``wait_for_result`` sees a held job complete
  as soon as its group commits, at most about ``group_commit_seconds``
  after its call.

A ``Group`` belongs to one worker thread and is used only by it.
Layer: thread runtime.
"""
import datetime
import itertools
import logging
import sys
import threading
import time
import types

import persistent
import ZODB.Connection

logger = logging.getLogger(__name__)

#: The most jobs one group holds: bounds the work run again when its
#: commit conflicts, and the size of one transaction.
MAX_HELD = 64
#: The most callables whose call durations a worker remembers.
MAX_CALLABLES = 1000


def _callable_key(job):
    """What call durations are remembered by: the job's callable (the
    function, or the persistent object and method name)."""
    root = job.__dict__.get('_callable_root')
    try:
        hash(root)
    except TypeError:
        root = type(root)
    return root, job._callable_name


class Held:
    """One held job: ``job``, its ``agent``, the extra arguments of its
    call (``extra``) and what to do once it is durable (``durable``, a
    callable)."""

    def __init__(self, job, agent, extra, durable):
        self.job = job
        self.agent = agent
        self.extra = extra
        self.durable = durable


class Group:
    """The jobs a worker finished in its current transaction and holds
    uncommitted; and the jobs whose group was lost, to run again."""

    def __init__(self, tm, seconds):
        self.tm = tm
        #: How long the oldest held job may wait (0: grouping is off).
        self.seconds = seconds
        self.held = []
        #: (Held, reason) of jobs whose finished state was lost with
        #: their group's transaction; the worker runs them again.
        self.lost = []
        #: Grouping is paused while lost jobs run again.
        self.paused = False
        self._began = None
        self._txn = None
        self._savepoint = None
        #: Without a savepoint (see ``before_call``): id(job) -> (job,
        #: serial, state) of the held jobs, to restore after a failed
        #: call; None when not used in this transaction.
        self._kept = None
        self._calls = {}
        #: Counts every end of a transaction that held jobs, so that a
        #: call that committed or aborted it can be told.
        self.ends = 0

    @property
    def enabled(self):
        return self.seconds > 0 and not self.paused

    def __len__(self):
        return len(self.held)

    def oids(self):
        """The oids of the jobs held or lost here."""
        return [item.job._p_oid for item in self.held] + [
            item.job._p_oid for item, _ in self.lost]

    def keeps(self, oid):
        """True if the job of ``oid`` is held or lost here."""
        return any(item.job._p_oid == oid for item in self.held) or any(
            item.job._p_oid == oid for item, _ in self.lost)

    # -- holding ------------------------------------------------------

    def hold(self, job, agent, extra, durable):
        """Hold ``job`` (finished in the current transaction): its
        ``durable()`` is called once that transaction commits."""
        txn = self.tm.get()
        if txn is not self._txn:
            self._txn = txn
            txn.addAfterCommitHook(self._after_commit)
            txn.addAfterAbortHook(self._after_abort)
        if not self.held:
            self._began = time.monotonic()
        self.held.append(Held(job, agent, extra, durable))

    def due(self):
        """True when the held jobs should be committed now: the oldest
        waited long enough, or the group is full."""
        return bool(self.held) and (
            len(self.held) >= MAX_HELD
            or time.monotonic() - self._began >= self.seconds)

    def batch_size(self, job):
        """How many jobs to start in one commit after ``job``: as many as
        calls of its callable fit in ``seconds`` (at most MAX_HELD); one
        when its calls are not known to be that short."""
        estimate = self._calls.get(_callable_key(job))
        if estimate is None or estimate >= self.seconds:
            return 1
        return max(1, min(MAX_HELD, int(self.seconds / max(estimate,
                                                           1e-5))))

    def fits(self, job):
        """True when ``job`` may be called while jobs are held: its
        callable's recent calls (by this worker) were short enough that
        the oldest held job will not wait longer than ``seconds``.  A
        callable not seen yet does not fit: the held jobs are committed
        before it is called."""
        estimate = self._calls.get(_callable_key(job))
        return estimate is not None and (
            time.monotonic() - self._began + estimate < self.seconds)

    def note_call(self, job, seconds):
        """Remember how long a call of ``job``'s callable took."""
        key = _callable_key(job)
        old = self._calls.get(key)
        if old is None and len(self._calls) >= MAX_CALLABLES:
            self._calls.clear()
        # The longer of the last call and a decaying average: one slow
        # call is enough to stop holding jobs across its callable.
        self._calls[key] = seconds if old is None else max(
            seconds, 0.8 * old + 0.2 * seconds)

    def before_call(self):
        """Isolate the next call: a savepoint of the held jobs, or their
        states kept (``_keep_held``).  False if the transaction cannot
        take a savepoint (a data manager that a held job joined does not
        support savepoints): the held jobs must then be committed
        first."""
        # Asked first: a savepoint refused by a data manager fails the
        # whole transaction (a "commitish" error), held jobs included.
        resources = getattr(self.tm.get(), '_resources', ())
        if not all(hasattr(rm, 'savepoint') for rm in resources):
            self._savepoint = None
            return False
        self._savepoint = None
        if self._keep_held(resources):
            return True
        self._kept = None
        self._savepoint = self.tm.savepoint()
        return True

    def _keep_held(self, resources):
        """Keep the held jobs' states instead of taking a savepoint, if
        that isolates the next call as well: the transaction's only
        change is the held jobs' records (one connection, no savepoint
        taken yet, no object added), each holding only ``_frozen``
        values.  False otherwise."""
        if len(resources) != 1 or not self.held:
            return False
        conn = resources[0]
        if not isinstance(conn, ZODB.Connection.Connection) or \
                conn._savepoint_storage is not None or conn._added:
            return False
        kept = {} if self._kept is None else self._kept
        for item in self.held[len(kept):]:
            job = item.job
            # Finished in this transaction: one of the registered objects.
            if job._p_jar is not conn or not job._p_changed or \
                    id(job) in kept:
                return False
            state = job.__getstate__()
            if not _frozen_state(job, state):
                return False
            kept[id(job)] = (job, job._p_serial, state)
        # The held jobs are registered: nothing else is if there are as
        # many registered objects.
        if len(conn._registered_objects) != len(kept):
            return False
        self._kept = kept
        return True

    def call(self, job, call):
        """Make ``job``'s call (``call()`` returns (result, failure)),
        keeping the held jobs out of harm's way; returns what ``call``
        does.  The job's own start is durable (see zc.asyncui.jobrun), so
        whatever happens to the held jobs, it goes on as without
        grouping."""
        if self.held and not (self.fits(job) and self.before_call()):
            # A call that may be long (or of a callable not seen yet), or
            # that no savepoint can isolate: the held jobs do not wait.
            self.commit_held()
        grouped = bool(self.held)
        ends = self.ends
        begun = time.perf_counter()
        result, failure = call()
        self.note_call(job, time.perf_counter() - begun)
        if failure is not None and grouped and self.ends == ends:
            # Its changes are rolled back alone; the held jobs committed.
            self.settle_failed_call()
        return result, failure

    def commit_held(self):
        """Commit the held jobs (with whatever else the transaction
        holds); None, or the exception of the commit, after which the
        transaction is aborted and the held jobs are lost."""
        if not self.held:
            return None
        try:
            self.tm.commit()
        except Exception as e:
            self.tm.abort()
            return e
        return None

    def settle_failed_call(self):
        """A call raised while jobs were held: roll its changes back to
        the savepoint taken before it (or abort them and restore the
        held jobs' kept states) and commit the held jobs, so that its
        failure is handled on its own.  None, or the exception that lost
        the group."""
        if not self.held:
            return None
        if self._savepoint is None and self._kept is not None:
            return self._restore_held()
        try:
            self._savepoint.rollback()
        except Exception as e:
            self.tm.abort()
            return e
        return self.commit_held()

    def _restore_held(self):
        """``settle_failed_call`` without a savepoint: abort the failed
        call's transaction, give the held jobs the states kept before it
        (see ``_keep_held``) in a new one, and commit them.  None, or
        the exception that lost the group."""
        kept = [self._kept[id(item.job)] for item in self.held]
        if not all(_same_state(job.__getstate__(), state)
                   for job, _, state in kept):
            return self._abort_and_lose(
                'a call made while it was held changed its record, then'
                ' failed')
        self._txn = None  # its hooks must not lose the held jobs
        self.tm.abort()
        try:
            for job, serial, state in kept:
                job._p_activate()
                if job._p_serial != serial:
                    raise ValueError('its record was changed by another'
                                     ' transaction meanwhile')
                job.__setstate__(state)
                job._p_changed = True
        except Exception as e:
            return self._abort_and_lose(
                'its result could not be kept after a failing call'
                ' (%s: %s)' % (type(e).__name__, e), e)
        self._kept = None
        txn = self._txn = self.tm.get()
        txn.addAfterCommitHook(self._after_commit)
        txn.addAfterAbortHook(self._after_abort)
        return self.commit_held()

    def _abort_and_lose(self, reason, error=None):
        # The held jobs are lost with the transaction: run again alone.
        self._txn = None
        self.tm.abort()
        held, self.held = self.held, []
        self._kept = None
        self.ends += 1
        self._lose(held, reason)
        return error if error is not None else RuntimeError(reason)

    # -- the transaction's end (hooks) ----------------------------------

    def _after_commit(self, ok):
        if self._txn is None:
            return
        self._txn = self._savepoint = self._kept = None
        held, self.held = self.held, []
        self.ends += 1
        if not ok:
            error = sys.exc_info()[1]
            self._lose(held, 'the grouped commit of its result failed%s' % (
                '' if error is None else ' with %s: %s' % (
                    type(error).__name__, error)))
            return
        for item in held:
            try:
                item.durable()
            except Exception:
                logger.exception('after the grouped commit of job %s',
                                 item.job.key)

    def _after_abort(self):
        if self._txn is None:
            return  # already counted by _after_commit
        self._txn = self._savepoint = self._kept = None
        held, self.held = self.held, []
        self.ends += 1
        self._lose(held, 'the transaction holding its result was aborted'
                   ' before the grouped commit')

    def _lose(self, held, reason):
        self.lost.extend((item, reason) for item in held)
        if held:
            logger.warning(
                '%s: a grouped commit of %d job(s) did not happen (%s): %s;'
                ' each is run again alone as a new attempt',
                threading.current_thread().name, len(held), reason,
                ', '.join(item.job.key for item in held))

    def unlose(self, job):
        """Take ``job`` off the jobs to run again: it was alone in the
        commit that failed, and is handled as without grouping."""
        self.lost = [(item, reason) for item, reason in self.lost
                     if item.job is not job]


#: Values a call cannot change in place: a held job's state holding only
#: these (in tuples and frozensets, and in the copies of its arguments
#: ``Job.__getstate__`` makes) is kept without a savepoint.  A stored
#: persistent object is its own record: a change to it joins the
#: transaction, and is seen.
_FROZEN_TYPES = frozenset((type(None), bool, int, float, complex, str,
                           bytes, datetime.timedelta, types.FunctionType,
                           types.BuiltinFunctionType, type))


def _frozen_state(job, state):
    """True when a call cannot change ``state`` (the job's
    ``__getstate__``) unseen: ``_frozen`` values, but for the job's
    arguments, a list and a dict copied by ``__getstate__``, whose
    items are ``_frozen``."""
    for key, value in state.items():
        if key in ('args', 'kwargs') and type(value) in (list, dict) and \
                value is not job.__dict__.get(key):
            items = value if type(value) is list else itertools.chain(
                value.keys(), value.values())
            if not all(_frozen(item) for item in items):
                return False
        elif type(value) not in _FROZEN_TYPES and not _frozen(value):
            return False
    return True


def _frozen(value, depth=0):
    if type(value) in _FROZEN_TYPES:
        return True
    if isinstance(value, persistent.Persistent):
        # Stored already: a change to it joins the transaction.  (A new
        # one, not yet stored, would change unseen.)
        return value._p_jar is not None and value._p_oid is not None
    if depth < 3 and type(value) in (tuple, frozenset):
        for item in value:
            if type(item) not in _FROZEN_TYPES and not _frozen(
                    item, depth + 1):
                return False
        return True
    return False


def _same_state(current, kept):
    """True when a held job's state is still the one kept: the same
    values, and equal copies of its arguments."""
    return current.keys() == kept.keys() and all(
        current[key] is value or (type(value) in (list, dict)
                                  and type(current[key]) is type(value)
                                  and current[key] == value)
        for key, value in kept.items())
