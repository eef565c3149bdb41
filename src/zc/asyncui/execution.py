"""Running one job in a worker thread: the call, the retry policy, the
finishing commit, and a job that returns a job.

The commits of one job, in the common case (no callbacks, no errors):

1. start: the job becomes ACTIVE and gets an attempt record (made by the
   worker, or merged into the previous job's finishing commit);
2. finish: the result is stored and the job becomes COMPLETED -- and when
   the agent already holds another job for this worker, that next job is
   started in the same commit.

The finishing commit writes nothing but the jobs: the agent's bookkeeping
is done later by the dispatcher's poll thread (see ``_completed``), so
worker threads never conflict with each other.  Callbacks
(``zc.asyncui.callbacks``) run right after, in the same thread: a
``zc.asyncui.jobrun.JobRun`` calls this module, then that one, for each
job.  The ``run`` argument of the functions here is that JobRun, or
anything with its attributes (tm, conn, dispatcher, start_next_in).
"""
import logging
import sys
import time

from zc.asyncui import errors
from zc.asyncui import jobcontext
from zc.asyncui import lifecycle
from zc.asyncui import local
from zc.asyncui import recovery
from zc.asyncui import retry
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.job import describe
from zc.asyncui.job import ACTIVE, CALLBACKS, COMPLETED, PENDING

logger = logging.getLogger(__name__)


def mark_active(job, dispatcher, agent):
    """In the current transaction: the job starts an attempt in ``agent``
    (an Agent, or a name for callbacks, which no agent holds)."""
    lifecycle.start(job, dispatcher.uuid_str, agent)


def start_held(job, agent, dispatcher):
    """In the current transaction: start a job that ``agent`` holds, if it
    can run now -- a PENDING one becomes ACTIVE, one in CALLBACKS (put
    back by recovery) is resumed by this agent.  False otherwise."""
    if job not in agent:
        return False
    if job._status == PENDING:
        mark_active(job, dispatcher, agent)
        return True
    if job._status == CALLBACKS:
        job._agent = agent
        return True
    return False


def _check_ours(job, agent, dispatcher, attempt_no):
    """Raise ReassignedError unless the job is ACTIVE in ``agent`` and its
    latest attempt is still attempt ``attempt_no``, started here.  (After
    a false death this same dispatcher may have claimed and started the
    job again: the older attempt must then give way.)"""
    attempts = job._attempts
    ours = (job._status == ACTIVE and len(attempts) == attempt_no
            and attempts[-1][2] == dispatcher.uuid_str
            and attempts[-1][1] is None)
    if agent is not None:
        ours = ours and job._agent is agent
    if not ours:
        raise errors.ReassignedError(
            'dispatcher %s: job %s was taken away while this attempt ran'
            ' it: this dispatcher was stopped with a timeout, or thought'
            ' dead (pings were late, perhaps from long commits or a paused'
            ' machine). Dropping this attempt; the job runs to completion'
            ' elsewhere (or here, in a newer attempt).'
            % (dispatcher.UUID, job.key))


#: What ``execute`` returns when the job's finished state was lost with a
#: grouped commit (zc.asyncui.grouping): the job is in ``run.group.lost``
#: and its worker runs it again.
LOST = 'lost'


def execute(run, job, agent, extra_args, lost=None):
    """Call a started job under its retry policy until it has a result,
    is rescheduled, or turns out to be reassigned.  Returns 'done',
    'rescheduled' or LOST.  The job's context (zc.asyncui.jobcontext) is
    restored before its call and undone after its finishing commit.
    ``lost``: the reason why the job runs again (its grouped commit was
    lost, see zc.asyncui.grouping): its attempt is closed with it and a
    new one opened first."""
    if lost is not None:
        _again_after_lost(run, job, agent, lost)
    context = jobcontext.Restored(job)
    try:
        return _execute(run, job, agent, extra_args, context)
    finally:
        context.exit()


def _again_after_lost(run, job, agent, reason):
    """Record, in a commit of its own, that the job runs again because
    its previous call's outcome was lost: its attempt is closed with
    ``reason`` and a new one opened.  ReassignedError if it is no longer
    this worker's."""
    dispatcher = run.dispatcher

    def work():
        attempts = job._attempts
        if not (job._status == ACTIVE and job._agent is agent
                and attempts and attempts[-1][2] == dispatcher.uuid_str
                and attempts[-1][1] is None):
            return False
        lifecycle.new_attempt(job, dispatcher.uuid_str, 'retry now: %s'
                              % reason)
        return True
    if not utils.retry_transaction(run.tm, work, 'record that job %s runs'
                                   ' again' % job.key,
                                   stop=run.worker._stopping):
        raise errors.ReassignedError(
            'dispatcher %s: job %s ran in a grouped commit that did not'
            ' happen (%s), and is no longer held by this worker\'s agent'
            ' (it was reassigned); it runs to completion elsewhere.'
            % (dispatcher.UUID, job.key, reason))


def _execute(run, job, agent, extra_args, context):
    dispatcher = run.dispatcher
    tm = run.tm
    policy = retry.checked_policy_for(job, agent, dispatcher)
    attempt_no = len(job._attempts)
    while True:
        # Fresh snapshot: we come from a commit or an abort (or, in a
        # group, the job was started in the held jobs' transaction).
        _check_ours(job, agent, dispatcher, attempt_no)
        result, failure = _call_grouped(run, job, agent, extra_args,
                                        context)
        raised = failure is not None
        if raised:
            tm.abort()
            outcome, attempt_no = _act_on(run, job, agent, policy,
                                          attempt_no, failure, 'call')
            if outcome == 'again':
                continue
            if outcome:
                return outcome
            result = failure
        # The counters go in the finishing commit: an abort after a
        # failed attempt would discard them anywhere earlier.
        lifecycle.save_counts(job, policy.counts)
        failure = _try_finish(run, job, agent, result, raised, extra_args)
        if failure is None:
            return 'done'
        tm.abort()
        run.undo_next()
        if failure is LOST:
            return LOST
        outcome, attempt_no = _act_on(run, job, agent, policy, attempt_no,
                                      failure, 'commit')
        if outcome == 'again':
            continue
        if outcome:
            return outcome
        _store_final(run, job, agent, failure, policy, attempt_no)
        return 'done'


def _call_grouped(run, job, agent, extra_args, context):
    """``_call``, through the worker's Group (zc.asyncui.grouping)."""
    group = getattr(run, 'group', None)

    def call():
        return _call(run, job, agent, extra_args, context)
    return call() if group is None else group.call(job, call)


def _call(run, job, agent, extra_args, context):
    """Call the job in the current transaction: (result, None) or
    (None, Failure)."""
    local._set(job, run.dispatcher, getattr(agent, 'name', None))
    try:
        if job._cancel_requested:
            return Failure(errors.JobCancelledError(
                'job %s was cancelled (job.cancel()) before this attempt;'
                ' it was not called again' % job.key)), None
        deadline = job.deadline
        if deadline is not None and job._start_ts > deadline.timestamp():
            return Failure(errors.JobTimeoutError(
                'job %s did not start by %s (begin_after %s + begin_by %s);'
                ' it was not called' % (job.key, deadline.isoformat(),
                                        job.begin_after.isoformat(),
                                        job.begin_by))), None
        context.enter()
        begun = time.perf_counter()
        try:
            return job(*extra_args), None
        finally:
            run.worker.workers.note_call(time.perf_counter() - begun)
    except errors.ReassignedError:
        raise
    except BaseException as e:
        # SystemExit, KeyboardInterrupt and the like, raised by the job in
        # a worker thread, are the job's failure: they must not end the
        # thread (a real Ctrl-C goes to the main thread, not here).
        e.__traceback__ = _from_job_frame(e.__traceback__)
        return None, Failure(e, run.dispatcher.verbose_failures)
    finally:
        local._set()


_ENGINE_FILES = frozenset((__file__, sys.modules[Job.__module__].__file__))


def _from_job_frame(tb):
    """The traceback from the job's own frame on: the engine's frames
    (this module's and Job.__call__) tell the reader nothing."""
    while tb is not None and tb.tb_next is not None and \
            tb.tb_frame.f_code.co_filename in _ENGINE_FILES:
        tb = tb.tb_next
    return tb


def _act_on(run, job, agent, policy, attempt_no, failure, where):
    """Ask the policy about a failure of the call or of the commit and
    carry out its decision.  Returns (outcome, attempt number): 'again'
    to call the job again now (in a new attempt), 'rescheduled' once the
    job is back in its queue, False to give up."""
    decide = policy.jobError if where == 'call' else policy.commitError
    decision = decide(failure)
    if decision is not False and _past_deadline(job):
        # As zc.async meant (its comparison was inverted): once
        # begin_after + begin_by has passed, a job is not started again.
        logger.warning('%s: %s raised %s; not retried: its begin_by deadline'
                       ' (%s) has passed', describe(job), where,
                       failure.getTraceback('brief'),
                       job.deadline.isoformat())
        decision = False
    if decision is True:
        _log_retry(job, failure, policy, where)
        return 'again', _new_attempt(run, job, agent, policy, attempt_no,
                                     failure, where)
    if decision is not False:
        return _reschedule(run, job, agent, policy, decision, failure,
                           attempt_no), attempt_no
    return False, attempt_no


def _past_deadline(job):
    deadline = job.deadline
    return deadline is not None and utils.now() > deadline


def _new_attempt(run, job, agent, policy, attempt_no, failure, where):
    """Before calling the job again at once: close this attempt with its
    reason and open the next, in a commit of their own, so that every
    call of a job is a recorded attempt.  Returns the new attempt's
    number."""
    def work():
        _check_ours(job, agent, run.dispatcher, attempt_no)
        lifecycle.save_counts(job, policy.counts)
        lifecycle.new_attempt(job, run.dispatcher.uuid_str,
                              'retry now: %s raised %s'
                              % (where, failure.getTraceback('brief')))
    utils.retry_transaction(run.tm, work, 'record a new attempt of job %s'
                            % job.key, stop=run.worker._stopping)
    return attempt_no + 1


def _try_finish(run, job, agent, result, raised, extra_args=()):
    """Store the result and commit; None, or the Failure of the commit,
    or LOST when it was held in its worker's group, whose commit failed
    (zc.asyncui.grouping).  A short job may be held uncommitted instead:
    None, and what follows its commit is done when the group commits."""
    group = getattr(run, 'group', None)
    others = group is not None and len(group) > 0
    held = False
    try:
        if isinstance(result, Job):
            result = _refuse_cycle(job, result)
        if isinstance(result, Job):
            _wait_for_inner(job, agent, result)
        else:
            finish(run.dispatcher, job, agent, result)
            run.start_next_in(job, agent)
            if _may_hold(group, job, agent, raised) and \
                    run.next_is_durable():
                group.hold(job, agent, extra_args, lambda: _durable(
                    run.dispatcher, job, agent, raised,
                    run.worker.workers.forget))
                held = True
                if not group.due():
                    return None
        run.tm.commit()
    except errors.ReassignedError:
        raise
    except Exception as e:
        utils.explain_commit_error('dispatcher %s: finishing job %s'
                                   % (run.dispatcher.UUID, describe(job)), e)
        if held:
            # The group's hooks listed it with the held jobs, to run
            # again; alone in its commit, its policy decides instead, as
            # without grouping.
            run.tm.abort()
            if others:
                return LOST
            group.unlose(job)
        return Failure()
    run.after_commit()
    if not held:
        _durable(run.dispatcher, job, agent, raised)
    return None


def _may_hold(group, job, agent, raised):
    """Whether a finished job may wait in its worker's group: grouping is
    on, and the job succeeded, is complete (no callbacks to run) and is
    no callback itself."""
    return (group is not None and group.enabled and not raised
            and agent is not None and job._status == COMPLETED
            and job._parent is None)


def _durable(dispatcher, job, agent, raised, forget=None):
    # After the commit that finished the job (a group's, perhaps: then
    # its worker forgets it only now, see zc.asyncui.worker).
    _completed(dispatcher, job, agent)
    _log_result(dispatcher, job, raised)
    if forget is not None:
        forget(job._p_oid)


def _completed(dispatcher, job, agent):
    # After the finishing commit.  The agent still holds the job: the
    # dispatcher's poll thread removes it (and records the completion) in
    # a commit it makes anyway, so that worker threads finishing jobs at
    # the same time write nothing but their own jobs and never conflict.
    if agent is not None and job._status == COMPLETED:
        dispatcher.noteCompletion(agent, job)
    elif job._status == COMPLETED:   # a callback: for the history
        dispatcher.noteFinished(job)
    dispatcher.recordJob(job, 'completed')


def finish(dispatcher, job, agent, result):
    """In the current transaction: store the job's result and, unless it
    has callbacks to run, mark it COMPLETED.  Its agent keeps holding it
    until the dispatcher records the completion (see _completed)."""
    now = utils.now()
    failed = isinstance(result, Failure)
    lifecycle.close_attempt(job, now, 'failed' if failed else 'succeeded')
    lifecycle.set_result(job, result, now)


def _refuse_cycle(job, inner):
    """``inner``, or a Failure if ``inner`` is ``job`` or waits on it (its
    result, directly or through the jobs and callbacks it waits on)."""
    path = _path_to(inner, job)
    if path is None:
        return inner
    if len(path) == 1:
        message = 'job %s returned itself' % job.key
    else:
        message = 'job %s returned job %s, which waits on it (%s)' % (
            job.key, inner.key, ' -> '.join(j.key for j in path))
    return Failure(errors.JobCycleError(
        message + '; a job that returns a job finishes with that job\'s'
        ' result, so it would wait forever. Return a value instead.'))


def _path_to(start, target):
    """The chain of jobs by which ``start`` waits on ``target``, or None.
    A job waits on the job it returned and on its callbacks."""
    seen = set()
    stack = [(start, (start,))]
    while stack:
        current, path = stack.pop()
        if current is target:
            return path
        if id(current) in seen:
            continue
        seen.add(id(current))
        nexts = list(current._callbacks)
        if current.waiting_on is not None:
            nexts.append(current.waiting_on)
        stack.extend((n, path + (n,)) for n in nexts)
    return None


def _wait_for_inner(job, agent, inner):
    # A job that returns a job finishes when that one does, with its
    # result; meanwhile it stays ACTIVE but leaves its agent.
    if inner._status == 'NEW':
        recovery.queue_of(job, agent).put(inner)
    job.waiting_on = inner
    inner.addCallback(Job(recovery.resolve_from_inner, job))
    lifecycle.close_attempt(job, utils.now(), 'waiting for job %s'
                           % inner.key)
    if agent is not None:
        agent.remove(job)


def _reschedule(run, job, agent, policy, decision, failure, attempt_no):
    def work():
        _check_ours(job, agent, run.dispatcher, attempt_no)
        lifecycle.save_counts(job, policy.counts)
        now = utils.now()
        lifecycle.close_attempt(job, now, 'retry later: %s'
                               % failure.getTraceback('brief'))
        if agent is not None:
            agent.remove(job)
        queue = recovery.queue_of(job, agent)
        return recovery.apply_decision(job, decision, queue, now)
    utils.retry_transaction(run.tm, work, 'reschedule job %s' % job.key,
                            stop=run.worker._stopping)
    logger.warning('dispatcher %s: %s failed with %s; its retry'
                   ' policy retries it after %s',
                   run.dispatcher.UUID, describe(job),
                   failure.getTraceback('brief'), decision)
    run.dispatcher.recordJob(job, 'rescheduled')
    return 'rescheduled'


def _store_final(run, job, agent, failure, policy, attempt_no):
    # The policy gave up on committing the job's own changes: store the
    # commit failure as the result.  This bookkeeping must not be lost.
    def work():
        _check_ours(job, agent, run.dispatcher, attempt_no)
        lifecycle.save_counts(job, policy.counts)
        finish(run.dispatcher, job, agent, failure)
    utils.retry_transaction(run.tm, work, 'store failure of job %s'
                            % job.key)
    _completed(run.dispatcher, job, agent)
    _log_result(run.dispatcher, job, True)


def _log_retry(job, failure, policy, where):
    counts = policy.counts
    logger.warning('%s: %s raised %s; retrying now (%s)',
                   describe(job), where,
                   failure.getTraceback('brief'),
                   ', '.join('%s=%d' % kv for kv in sorted(counts.items())))
    # "Now" still means after a short jittered pause: two workers whose
    # jobs conflict would otherwise collide again at once.
    time.sleep(utils.backoff_seconds(sum(counts.values()), base=0.005,
                                     cap=0.5))


def _log_result(dispatcher, job, raised):
    result = job._result
    if not isinstance(result, Failure):
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug('dispatcher %s: %s succeeded',
                         dispatcher.UUID, describe(job))
        return
    if not raised and job.parent is not None:
        # A callback that returned a Failure (addCallbacks passing the
        # parent's failure through) did not fail itself.
        logger.debug('dispatcher %s: %s, a callback of job %s, passed a'
                     ' failure through', dispatcher.UUID, describe(job),
                     job.parent.key)
        return
    level = job.failure_log_level
    if level is None:
        level = logging.CRITICAL if job.parent is not None else logging.ERROR
    if job.parent is not None:
        logger.log(level, 'dispatcher %s: %s, a callback of job %s, failed;'
                   ' its result is the Failure below. Callbacks should not'
                   ' fail: check the callback.\n%s', dispatcher.UUID,
                   describe(job), job.parent.key,
                   result.getTraceback())
    else:
        logger.log(level, 'dispatcher %s: %s failed:\n%s',
                   dispatcher.UUID, describe(job),
                   result.getTraceback())
