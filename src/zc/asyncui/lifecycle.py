"""The one place where a job's status, attempts, result and retry counters
change.

Every other module (queue, agents, workers, callbacks, recovery) asks
these functions; none assigns ``job._status``, ``job._attempts``,
``job._result`` or ``job.retry_counts`` itself.  Each status change is
checked against ``TRANSITIONS``, the table of allowed moves; any other
move raises BadStatusError.  The events of ``zc.asyncui.events`` about a
job's outcome fire from here.

The forward path is NEW -> PENDING -> ACTIVE -> CALLBACKS -> COMPLETED
(CALLBACKS is skipped by a job without callbacks; ASSIGNED is derived,
never stored: a PENDING job that an agent took out of its queue).  The
named back-moves exist for retries and for taking a job back.  Conflict
resolution (Job._p_resolveConflict) is the one exception: it may merge a
COMPLETED job back to CALLBACKS when a callback was added concurrently,
because that callback has not run; and ``Job.__init__`` gives a new job
its first status, NEW.  tests/test_lifecycle.py checks that no other
module assigns these attributes.

All functions work in the caller's transaction and never commit.
"""
from zc.asyncui import collapse
from zc.asyncui import errors
from zc.asyncui import events
from zc.asyncui import quota
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import ACTIVE, CALLBACKS, COMPLETED, NEW, PENDING

#: (from, to) -> the name of the move.  Nothing else is allowed.
TRANSITIONS = {
    (NEW, PENDING): 'put',                     # Queue.put
    (PENDING, NEW): 'pull',                    # Queue.pull
    (PENDING, ACTIVE): 'start',                # a worker starts it
    (NEW, ACTIVE): 'start callback',           # its parent's worker
    (ACTIVE, PENDING): 'retry',                # interrupted, or a policy
                                               # retries it (now or later)
    (ACTIVE, CALLBACKS): 'run callbacks',      # result stored
    (ACTIVE, COMPLETED): 'complete',           # result stored, no callbacks
    (CALLBACKS, COMPLETED): 'complete after callbacks',
    (PENDING, COMPLETED): 'cancel',            # Job.cancel, before a start
    (COMPLETED, PENDING): 'retry failed',      # an operator retries a
                                               # failed job (Queue.retry)
}


#: Moves made only by the function of that name (``move(job, to,
#: only=NAME)``), never by a plain move: an operator's decision.
ONLY_BY_NAME = frozenset(['retry failed'])


def move(job, to, only=None):
    """Change the job's status to ``to`` if ``TRANSITIONS`` allows it
    (and names the move ``only``, when given); returns the name of the
    move.  Raises BadStatusError otherwise."""
    current = job._status
    name = TRANSITIONS.get((current, to))
    if name is None or name != (only or name) or (
            name in ONLY_BY_NAME and only != name):
        allowed = sorted(f for (f, t), n in TRANSITIONS.items()
                         if t == to and n not in ONLY_BY_NAME)
        raise errors.BadStatusError(
            'Job %s cannot move from %s to %s: a job reaches %s only from'
            ' %s. Was it changed by two processes, or by hand?'
            % (job.key or '(unsaved)', current, to, to,
               ' or '.join(allowed) or 'nowhere'),
            job.key, current, allowed)
    job._status = to
    return name


def put(job):
    """NEW -> PENDING: the job enters a queue."""
    move(job, PENDING)


def pull(job):
    """PENDING -> NEW: the job was taken out of its queue by the
    application."""
    move(job, NEW)


def requeue(job):
    """The job goes back to its queue: an ACTIVE one is retried
    (ACTIVE -> PENDING); a PENDING one (claimed, not started) and one in
    CALLBACKS (a worker resumes them) keep their status."""
    if job._status not in (PENDING, CALLBACKS):
        move(job, PENDING, only='retry')


def start(job, dispatcher_uuid, agent, now=None):
    """The job starts an attempt in ``agent`` (an Agent, or a name for
    callbacks, which no agent holds): -> ACTIVE, with a new attempt
    record."""
    move(job, ACTIVE)
    collapse.release(job)  # a new put with its collapse key adds a job
    if isinstance(agent, str):
        name = agent
    else:
        name = agent.name
        job._agent = agent
    _open_attempt(job, dispatcher_uuid, name, now or utils.now())
    _call_start_hook(job)


def _call_start_hook(job):
    # ``job._on_start`` (zc.asyncui.periodic's Schedule) is called in the
    # transaction that starts the job, or cancels it before it started:
    # what it changes commits with that transaction, or not at all.  It
    # is called at every start (retries too) and must be idempotent.
    hook = job._on_start
    if hook is not None:
        hook(job)


def new_attempt(job, dispatcher_uuid, outcome, now=None):
    """An ACTIVE job is called again at once: close its attempt with
    ``outcome`` and open the next, so every call is a recorded attempt."""
    if job._status != ACTIVE:
        raise errors.BadStatusError(
            'Job %s cannot start a new attempt: its status is %s, expected'
            ' ACTIVE.' % (job.key, job._status), job.key, job._status,
            (ACTIVE,))
    now = now or utils.now()
    close_attempt(job, now, outcome)
    agent_name = job._attempts[-1][3] if job._attempts else None
    _open_attempt(job, dispatcher_uuid, agent_name, now)


def _open_attempt(job, dispatcher_uuid, agent_name, now):
    job._start_ts = now.timestamp()
    job._attempts += ((job._start_ts, None, dispatcher_uuid, agent_name,
                       None),)


def close_attempt(job, now, outcome):
    """Record the end of the job's latest attempt, if it is open."""
    if not job._attempts:
        return
    start_ts, end, dispatcher, agent, _ = job._attempts[-1]
    if end is None:
        job._attempts = job._attempts[:-1] + (
            (start_ts, now.timestamp(), dispatcher, agent, outcome),)


def set_result(job, result, now):
    """Store the final result of an ACTIVE job: -> CALLBACKS if it has
    any, else COMPLETED; the job leaves its quotas.  Fires JobFailed (the
    result is a Failure) or JobCompleted."""
    move(job, CALLBACKS if job._callbacks else COMPLETED)
    quota.release(job)  # its own work is done: room for the next job
    job._result = result
    job._end_ts = now.timestamp()
    if job._status == COMPLETED:
        job._callbacks_ts = job._end_ts
    failed = isinstance(result, Failure)
    events.notify((events.JobFailed if failed else events.JobCompleted)(job))


def complete(job, now):
    """CALLBACKS -> COMPLETED: every callback has completed."""
    move(job, COMPLETED)
    job._callbacks_ts = now.timestamp()


def cancel(job, failure, now):
    """PENDING -> COMPLETED without a call (``Job.cancel``; the caller
    took the job out of its queue): the result is ``failure``, a Failure
    of JobCancelledError.  Fires JobFailed and calls the start hook (a
    periodic run that is cancelled is over)."""
    move(job, COMPLETED)
    job._result = failure
    job._end_ts = job._callbacks_ts = now.timestamp()
    events.notify(events.JobFailed(job))
    _call_start_hook(job)


def retry_failed(job):
    """COMPLETED with a Failure -> PENDING: an operator retries a failed
    job as a new attempt (``Queue.retry``, ``zc-asyncui retry``).  Its
    result, end times, cancel request and retry counters are cleared; its
    attempts are kept, so the next one is added to them.  A job with
    callbacks is refused: they already ran with the failure."""
    if job._status != COMPLETED or not isinstance(job._result, Failure):
        raise errors.BadStatusError(
            'Job %s cannot be retried: only a COMPLETED job whose result is'
            ' a failure can be, and its status is %s%s.'
            % (job.key or '(unsaved)', job._status,
               ' with a successful result' if job._status == COMPLETED
               else ''), job.key, job._status, (COMPLETED,))
    if job._callbacks:
        raise errors.BadStatusError(
            'Job %s cannot be retried: its %d callback(s) already ran with'
            ' its failure; put a new job instead.'
            % (job.key, len(job._callbacks)), job.key, job._status,
            (COMPLETED,))
    move(job, PENDING, only='retry failed')
    job._result = None
    job._end_ts = job._callbacks_ts = None
    if job._cancel_requested:
        job._cancel_requested = False
    save_counts(job, {})


def request_cancel(job):
    """Ask a started (or claimed) job to stop: ``zc.asyncui.local.
    cancelled()`` returns True in it from now on, and it is never called
    again (a retry finishes it with JobCancelledError)."""
    if not job._cancel_requested:
        job._cancel_requested = True


def save_counts(job, counts):
    """Keep a retry policy's counters on the job (written only when they
    changed, so an unchanged job is not rewritten)."""
    if counts != job.retry_counts:
        job.retry_counts = dict(counts)
