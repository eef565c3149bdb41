"""Releasing the jobs of a dispatcher that stopped or died.

``release`` is called for every job an agent holds when its dispatcher
record is deactivated: by the dispatcher's own graceful stop, by a live
dispatcher that found it dead, or by the same instance restarting after an
unclean shutdown.  It never loses a job:

- not yet started (ASSIGNED): back to its queue, at its old place;
- started (ACTIVE): its retry policy's ``interrupted()`` decides: retry
  now (back to the queue), retry later, or give up (the result is an
  AbortedError Failure naming the dispatchers that died, and the
  callbacks run);
- in CALLBACKS: back to the queue; a worker resumes the callbacks.
"""
import datetime
import logging

from zc.asyncui import errors
from zc.asyncui import history
from zc.asyncui import lifecycle
from zc.asyncui import pins
from zc.asyncui import retry
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import ACTIVE, CALLBACKS, COMPLETED
from zc.asyncui.job import describe

logger = logging.getLogger(__name__)


def release(job, agent, reason, now=None, dispatcher=None):
    """Take ``job`` from ``agent`` and put it where it can go on.  Returns
    a word for the outcome ('requeued', 'retry', 'rescheduled', 'aborted',
    'resumed', 'completed')."""
    now = now or utils.now()
    status = job._status
    queue = queue_of(job, agent)
    agent.remove(job)
    if status == COMPLETED:
        # Its dispatcher stopped (or died) before a poll flushed this
        # completion: record it now, in the shard of the dispatcher that
        # ran it (which writes it no more), so that no stop, restart or
        # kill -9 loses a history entry.
        agent.recordCompletions([job])
        if agent._p_jar is not None:
            history.record(agent._p_jar, [job], agent.__parent__.UUID)
        return 'completed'
    if status == CALLBACKS:
        queue.putBack(job)
        return 'resumed'
    if job.pinned_to is not None:
        # No other dispatcher may run it (zc.asyncui.pins): it fails.
        pins.abandon(job, job.pinned_to, reason, now)
        return 'aborted'
    if status != ACTIVE:
        queue.putBack(job)
        return 'requeued'
    close_attempt(job, now, 'interrupted: %s' % reason)
    policy = retry.checked_policy_for(job, agent, dispatcher)
    decision = policy.interrupted()
    lifecycle.save_counts(job, policy.counts)
    return apply_decision(job, decision, queue, now, abort_reason=reason)


def release_isolated(job, agent, reason, now=None, dispatcher=None):
    """``release``, isolated: a job that cannot be released is logged at
    ERROR, its changes are rolled back, and it is put back in its queue
    without asking its policy ('requeued'; 'failed' if even that fails),
    so that one job never stops the recovery of the others."""
    savepoint = _savepoint(agent)
    try:
        return release(job, agent, reason, now, dispatcher)
    except Exception:
        logger.error('%s: could not be released from agent %r (%s);'
                     ' putting it back in its queue as it is. Check the'
                     ' job (traceback below).', describe(job), agent.name,
                     reason, exc_info=True)
    if savepoint is not None:
        savepoint.rollback()
        savepoint = _savepoint(agent)
    try:
        agent.remove(job)
        queue_of(job, agent).putBack(job)
        return 'requeued'
    except Exception:
        logger.error('%s: could not be put back in its queue either;'
                     ' it is left with agent %r', describe(job), agent.name,
                     exc_info=True)
        if savepoint is not None:
            savepoint.rollback()
        return 'failed'


def _savepoint(obj):
    jar = obj._p_jar
    return None if jar is None else jar.transaction_manager.get().savepoint()


def apply_decision(job, decision, queue, now, abort_reason=None):
    """Act on a retry policy's answer for a job no agent holds any more:
    back to ``queue`` now or later, or (the policy gave up) finished with
    an AbortedError Failure naming ``abort_reason``.  Returns the outcome
    word ('retry', 'rescheduled', 'aborted')."""
    if decision is True:
        queue.putBack(job)
        return 'retry'
    if isinstance(decision, (datetime.timedelta, datetime.datetime)):
        when = (now + decision if isinstance(decision, datetime.timedelta)
                else decision)
        queue.reschedule(job, max(when, now))
        return 'rescheduled'
    failure = Failure(errors.AbortedError(_aborted_message(
        job, abort_reason)))
    set_result(job, failure, now)
    if job._status == CALLBACKS:
        queue.putBack(job)  # a worker claims it and runs the callbacks
    return 'aborted'


def _aborted_message(job, reason):
    dispatchers = sorted({a.get('dispatcher') for a in job.attempts
                          if str(a.get('outcome', '')).startswith(
                              'interrupted')} - {None})
    return ('job %s was interrupted %d times (last: %s) and its retry policy'
            ' gave up; dispatchers that were running it: %s. If the job'
            ' itself kills its process, fix the job; otherwise raise the'
            ' policy\'s interruption limit.'
            % (job.key, job.retry_counts.get('interrupted', 0), reason,
               ', '.join(dispatchers) or 'unknown'))


# Kept here for callers that know them from recovery; the one place
# where they are written is zc.asyncui.lifecycle.
close_attempt = lifecycle.close_attempt
set_result = lifecycle.set_result


def queue_of(job, agent):
    """The queue a job belongs to: its own, its agent's, or (for a
    callback added before its parent was put) its parent's."""
    while job._queue is None and job._parent is not None:
        job = job._parent
    # Not ``job._queue or ...``: an empty queue is false.
    return job._queue if job._queue is not None else agent.queue


def resolve_from_inner(outer, result):
    """The callback that a job returned by ``outer`` gets: ``outer``
    finishes with its result.  An outer job in CALLBACKS afterwards, or
    an outer callback whose parent waited for it, goes back to the queue,
    where a worker resumes the callbacks."""
    now = utils.now()
    outer.waiting_on = None
    set_result(outer, result, now)
    if outer._status == CALLBACKS:
        queue_of(outer, None).putBack(outer)
    parent = outer._parent
    if parent is not None and parent._status == CALLBACKS:
        if parent._agent is not None:
            parent._agent.remove(parent)
        queue_of(parent, None).putBack(parent)
