"""Running a job's callbacks, in the worker thread that finished it.

Each callback is a Job called with the parent's result appended to its
arguments, in its own transactions and under its own retry policy
(RetryCommonForever by default: a lost callback is lost data).  The parent
becomes COMPLETED only when every callback has; callbacks added meanwhile
(even by a concurrent transaction, see Job._p_resolveConflict) are run
too.  A callback left ACTIVE by a dead process is handed to its policy's
``interrupted()`` when the parent is resumed.
"""
import logging

from zc.asyncui import errors
from zc.asyncui import execution
from zc.asyncui import lifecycle
from zc.asyncui import retry
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import ACTIVE, CALLBACKS, COMPLETED, NEW, PENDING

logger = logging.getLogger(__name__)


def run_callbacks(run, job):
    """Run the job's callbacks that have not completed, then complete the
    job.  Loops while callbacks are added concurrently."""
    tm = run.tm
    while True:
        tm.begin()
        pending = [cb for cb in job._callbacks if cb._status != COMPLETED]
        tm.abort()
        for callback in pending:
            run_callback(run, job, callback)
        if _complete_after_callbacks(run, job) or _all_waiting(run, job):
            return


def _all_waiting(run, job):
    # Callbacks that returned a job wait for it; when it could not run
    # here, the parent stays in CALLBACKS and is put back in its queue
    # when they are resolved (see recovery.resolve_from_inner).
    run.tm.begin()
    try:
        return all(cb.waiting_on is not None for cb in job._callbacks
                   if cb._status != COMPLETED)
    finally:
        run.tm.abort()


def _complete_after_callbacks(run, job):
    def work():
        if job._status != CALLBACKS:
            return True
        if any(cb._status != COMPLETED for cb in job._callbacks):
            return False  # one was added meanwhile
        now = utils.now()
        lifecycle.complete(job, now)
        agent = job._agent
        if agent is not None:
            agent.jobCompleted(job)
        return True
    done = utils.retry_transaction(run.tm, work, 'complete job %s after its'
                                   ' callbacks' % job.key)
    if done:
        run.tm.begin()
        # Conflict resolution may have merged in a callback added while we
        # committed: the job is then back in CALLBACKS.
        done = job._status == COMPLETED
        run.tm.abort()
    if done:   # its agent (if any) let it go: the poll records it
        run.dispatcher.noteFinished(job)
    return done


def run_callback(run, parent, callback):
    """Run one callback with the parent's result."""
    dispatcher = run.dispatcher
    tm = run.tm
    tm.begin()
    status = callback._status
    tm.abort()
    if status == COMPLETED:
        return
    if status == CALLBACKS:
        run_callbacks(run, callback)
        return
    if status == ACTIVE and callback.waiting_on is not None:
        _run_awaited(run, callback)
        return
    if status == ACTIVE:
        # It was interrupted (its dispatcher died): ask its policy.
        decision = _callback_interrupted(run, callback)
        if decision is False:
            return
    started = utils.retry_transaction(
        tm, lambda: _start_callback(dispatcher, callback),
        'start callback %s' % callback.key)
    if not started:
        return  # run_callbacks looks at it again
    extra = () if parent is None else (parent._result,)
    outcome = execution.execute(run, callback, None, extra)
    if outcome == 'done' and callback._status == CALLBACKS:
        run_callbacks(run, callback)
    _run_awaited(run, callback)


def _run_awaited(run, callback):
    """A callback that returned a new job (``addCallbacks`` given Jobs
    does) waits for it: run that job here and now, as a callback of its
    own parent, if any; its result then resolves the waiting one."""
    run.tm.begin()
    inner = callback.waiting_on
    owner = None if inner is None else inner._parent
    run.tm.abort()
    if inner is not None:
        run_callback(run, owner, inner)


def _start_callback(dispatcher, callback):
    # The status is read again in this transaction: the one run_callback
    # read may be stale (another dispatcher may have resumed the parent
    # after a false death and run this callback meanwhile).
    if callback._status not in (NEW, PENDING):
        logger.debug('dispatcher %s: callback %s is %s, not starting it',
                     dispatcher.uuid_str, callback.key, callback._status)
        return False
    if callback._status == PENDING and callback._queue is not None \
            and callback in callback._queue:
        # A late callback that was also put in the queue: take it out.
        callback._queue.remove(callback)
    execution.mark_active(callback, dispatcher, 'callbacks')
    return True


def _callback_interrupted(run, callback):
    outcome = {}

    def work():
        if callback._status != ACTIVE:
            # Finished or restarted elsewhere since run_callback looked.
            outcome['decision'] = False
            return
        policy = retry.checked_policy_for(callback, None, run.dispatcher)
        decision = policy.interrupted()
        lifecycle.save_counts(callback, policy.counts)
        now = utils.now()
        lifecycle.close_attempt(callback, now, 'interrupted')
        if decision is False:
            failure = Failure(errors.AbortedError(
                'callback %s was interrupted and its retry policy gave up'
                % callback.key))
            lifecycle.set_result(callback, failure, now)
        else:
            lifecycle.requeue(callback)  # restarted by _start_callback
        outcome['decision'] = decision is not False
    utils.retry_transaction(run.tm, work, 'interrupted callback %s'
                            % callback.key)
    return outcome['decision']
