"""Worker threads: each runs jobs with its own connection and
transaction manager.

The commits of one job, in the common case (no callbacks, no errors):

1. start: the job becomes ACTIVE (and an attempt record is added);
2. finish: the result is stored, the job becomes COMPLETED and leaves its
   agent, and -- when the agent already holds another job for this
   worker -- that next job is started in the same commit.

So a busy worker makes about one commit per job.  Callbacks run in the
same thread right after the job's finishing commit, each in its own
transactions and under its own retry policy.
"""
import collections
import logging
import threading
import time

import transaction
import zope.event

from zc.asyncui import errors
from zc.asyncui import events
from zc.asyncui import interfaces
from zc.asyncui import local
from zc.asyncui import recovery
from zc.asyncui import retry
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.job import ACTIVE, CALLBACKS, COMPLETED, PENDING

logger = logging.getLogger(__name__)

IDLE_WAIT = 0.5


class Inbox:
    """The claimed-but-unstarted job oids of one agent, shared by its
    worker threads."""

    def __init__(self):
        self._items = collections.deque()
        self._cond = threading.Condition()

    def put_many(self, oids):
        with self._cond:
            self._items.extend(oids)
            self._cond.notify(len(oids))
            self._low_signalled = False

    def put_front(self, oid):
        with self._cond:
            self._items.appendleft(oid)
            self._cond.notify()

    def get(self, timeout):
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            item = self._items.popleft() if self._items else None
        self._check_low()
        return item

    def get_nowait(self):
        with self._cond:
            item = self._items.popleft() if self._items else None
        self._check_low()
        return item

    #: Called (without the lock) when the inbox runs low, so the
    #: dispatcher claims more before the workers go idle.
    on_low = None
    low_water = 1
    _low_signalled = False

    def _check_low(self):
        # Once per episode: the flag is reset when the inbox is refilled.
        length = len(self._items)
        if self.on_low is not None and (length == 0 or (
                not self._low_signalled and length <= self.low_water)):
            self._low_signalled = True
            self.on_low()

    def drain(self):
        with self._cond:
            items = list(self._items)
            self._items.clear()
            return items

    def __len__(self):
        return len(self._items)

    def wake_all(self):
        with self._cond:
            self._cond.notify_all()


class AgentWorkers:
    """The worker threads of one agent of a dispatcher."""

    def __init__(self, dispatcher, queue_name, agent_name):
        self.dispatcher = dispatcher
        self.queue_name = queue_name
        self.agent_name = agent_name
        self.inbox = Inbox()
        self.inbox.on_low = dispatcher.wake
        self.threads = []
        self.busy = 0
        self.known = set()  # oids in the inbox or running here
        self.duration_ema = None
        self._lock = threading.Lock()

    def resize(self, size):
        self.inbox.low_water = size
        self.threads = [t for t in self.threads if t.is_alive()]
        while len(self.threads) < size:
            thread = WorkerThread(self, len(self.threads))
            self.threads.append(thread)
            thread.start()
        for thread in self.threads[size:]:
            thread.retire = True
        self.threads = self.threads[:size] + [
            t for t in self.threads[size:] if t.is_alive()]
        self.inbox.wake_all()

    @property
    def size(self):
        return sum(1 for t in self.threads if not t.retire)

    @property
    def idle(self):
        return max(0, self.size - self.busy - len(self.inbox))

    def submit(self, oids):
        with self._lock:
            fresh = [oid for oid in oids if oid not in self.known]
            self.known.update(fresh)
        self.inbox.put_many(fresh)

    def forget(self, oid):
        with self._lock:
            self.known.discard(oid)

    def note_duration(self, seconds):
        ema = self.duration_ema
        self.duration_ema = seconds if ema is None else 0.8 * ema + 0.2 * seconds

    def stop(self):
        for thread in self.threads:
            thread.retire = True
        self.inbox.wake_all()

    def join(self, deadline):
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in self.threads if t.is_alive()]


class WorkerThread(threading.Thread):
    """One worker: a connection, a transaction manager, a loop."""

    def __init__(self, workers, number):
        dispatcher = workers.dispatcher
        super().__init__(
            name='zc.asyncui worker %s/%s/%s#%d' % (
                dispatcher.uuid_str[:8], workers.queue_name,
                workers.agent_name, number),
            daemon=True)
        self.workers = workers
        self.dispatcher = dispatcher
        self.retire = False
        self.current = None

    # -- the loop -----------------------------------------------------

    def run(self):
        dispatcher = self.dispatcher
        self.tm = transaction.TransactionManager()
        self.conn = dispatcher.db.open(self.tm)
        try:
            started = None
            while not (self.retire and started is None):
                if started is None:
                    started = self._start_next()
                    continue
                started = self._run_safely(started)
        finally:
            self.tm.abort()
            self.conn.close()

    def _start_next(self):
        oid = self.workers.inbox.get(IDLE_WAIT)
        if oid is None:
            return None
        try:
            return utils.retry_transaction(
                self.tm, lambda: self._start(oid), 'start job',
                stop=self._stopping)
        except Exception:
            logger.exception('dispatcher %s: could not start job %s; it'
                             ' stays with its agent until recovery',
                             self.dispatcher.UUID, utils.oid_key(oid))
            self.workers.forget(oid)
            return None

    def _stopping(self):
        return self.dispatcher.stopped

    def _run_safely(self, oid):
        self.workers.busy += 1
        begun = time.monotonic()
        try:
            return JobRun(self, oid).run()
        except errors.ReassignedError as e:
            self.tm.abort()
            logger.error('%s', e)
            return None
        except Exception:
            self.tm.abort()
            logger.critical(
                'dispatcher %s: worker %s met an unexpected error running'
                ' job %s; the job stays ACTIVE until its dispatcher is'
                ' recovered. This is a bug in zc.asyncui: please report it.',
                self.dispatcher.UUID, self.name, utils.oid_key(oid),
                exc_info=True)
            return None
        finally:
            self.workers.busy -= 1
            self.workers.forget(oid)
            self.workers.note_duration(time.monotonic() - begun)

    # -- transaction steps (called inside retry_transaction) ------------

    _agent = None

    def agent(self):
        """This worker's agent, as seen by its connection (cached: a
        persistent object keeps its identity within a connection)."""
        agent = self._agent
        if agent is None or agent._p_jar is None:
            agent = self._agent = self.dispatcher.findAgent(
                self.conn, self.workers.queue_name, self.workers.agent_name)
        return agent

    def _start(self, oid):
        """Mark the job ACTIVE; return its oid, or None if it is not ours
        to start (cancelled, reassigned)."""
        job = self.conn.get(oid)
        agent = self.agent()
        if agent is None or job not in agent:
            logger.debug('dispatcher %s: job %s is no longer held by agent'
                         ' %r; skipping it', self.dispatcher.UUID, job.key,
                         self.workers.agent_name)
            self.workers.forget(oid)
            return None
        if job._status == PENDING:
            mark_active(job, self.dispatcher, agent)
            return oid
        if job._status == CALLBACKS:
            job._agent = agent
            return oid  # recovered: its callbacks are resumed
        logger.debug('dispatcher %s: job %s is %s, not ASSIGNED; skipping it',
                     self.dispatcher.UUID, job.key, job._status)
        self.workers.forget(oid)
        return None


def mark_active(job, dispatcher, agent):
    """In the current transaction: the job starts an attempt in ``agent``
    (an Agent, or a name for callbacks, which no agent holds)."""
    now = utils.now().timestamp()
    job._status = ACTIVE
    job._start_ts = now
    if isinstance(agent, str):
        name = agent
    else:
        name = agent.name
        job._agent = agent
    job._attempts += ((now, None, dispatcher.uuid_str, name, None),)


class JobRun:
    """Runs one started job (or resumes one in CALLBACKS) in a worker."""

    def __init__(self, worker, oid):
        self.worker = worker
        self.tm = worker.tm
        self.conn = worker.conn
        self.dispatcher = worker.dispatcher
        self.oid = oid
        self.next_oid = None

    def run(self):
        """Returns the oid of the next job, already started, or None."""
        # The connection is fresh: the job was just started by a commit
        # (ZODB syncs a connection after each commit and abort).
        job = self.conn.get(self.oid)
        agent = self.worker.agent()
        if job._status == CALLBACKS:
            self.dispatcher.recordJob(job, 'resuming callbacks')
            run_callbacks(self, job)
            return None
        # A callback put in the queue (its parent was already COMPLETED)
        # gets the parent's result like any callback.
        extra = () if job._parent is None else (job._parent._result,)
        outcome = execute(self, job, agent, extra)
        if outcome == 'done' and job._status == CALLBACKS:
            run_callbacks(self, job)
        return self.next_oid

    # Hook for execute(): start the agent's next job in the finishing
    # transaction of this one.
    def start_next_in(self, job, agent):
        if job._callbacks or agent is None or self.worker.retire:
            return
        oid = self.worker.workers.inbox.get_nowait()
        if oid is None:
            return
        nxt = self.conn.get(oid)
        if nxt in agent and nxt._status == PENDING:
            mark_active(nxt, self.dispatcher, agent)
            self.next_oid = oid
        elif nxt in agent and nxt._status == CALLBACKS:
            nxt._agent = agent
            self.next_oid = oid
        else:
            self.worker.workers.forget(oid)

    def undo_next(self):
        if self.next_oid is not None:
            self.worker.workers.inbox.put_front(self.next_oid)
            self.next_oid = None


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
            'dispatcher %s: job %s was given to another dispatcher while'
            ' this one ran it (this dispatcher was thought dead: pings'
            ' were late, perhaps from long commits or a paused machine).'
            ' Dropping this attempt; the new owner runs it to completion.'
            % (dispatcher.UUID, job.key))


def execute(run, job, agent, extra_args):
    """Call a started job under its retry policy until it has a result,
    is rescheduled, or turns out to be reassigned.  Returns 'done' or
    'rescheduled'."""
    dispatcher = run.dispatcher
    tm = run.tm
    policy = retry.policy_for(job, agent, dispatcher)
    attempt_no = len(job._attempts)
    while True:
        # Fresh snapshot: we come from a commit or an abort.
        _check_ours(job, agent, dispatcher, attempt_no)
        if policy.counts != job.retry_counts:
            job.retry_counts = dict(policy.counts)
        result, failure = _call(run, job, agent, extra_args)
        if failure is not None:
            tm.abort()
            decision = policy.jobError(failure)
            if decision is True:
                _log_retry(job, failure, policy, 'call')
                continue
            if decision is not False:
                return _reschedule(run, job, agent, policy, decision,
                                   failure, attempt_no)
            result = failure
        failure = _try_finish(run, job, agent, result)
        if failure is None:
            return 'done'
        tm.abort()
        run.undo_next()
        decision = policy.commitError(failure)
        if decision is True:
            _log_retry(job, failure, policy, 'commit')
            continue
        if decision is not False:
            return _reschedule(run, job, agent, policy, decision, failure,
                               attempt_no)
        _store_final(run, job, agent, failure, policy, attempt_no)
        return 'done'


def _call(run, job, agent, extra_args):
    """Call the job in the current transaction: (result, None) or
    (None, Failure)."""
    local._set(job, run.dispatcher, getattr(agent, 'name', None))
    try:
        deadline = job.deadline
        if deadline is not None and job._start_ts > deadline.timestamp():
            return Failure(errors.JobTimeoutError(
                'job %s did not start by %s (begin_after %s + begin_by %s);'
                ' it was not called' % (job.key, deadline.isoformat(),
                                        job.begin_after.isoformat(),
                                        job.begin_by))), None
        return job(*extra_args), None
    except errors.ReassignedError:
        raise
    except Exception:
        return None, Failure(capture_locals=run.dispatcher.verbose_failures)
    finally:
        local._set()


def _try_finish(run, job, agent, result):
    """Store the result and commit; None, or the Failure of the commit."""
    try:
        if isinstance(result, Job):
            _wait_for_inner(job, agent, result)
        else:
            finish(run.dispatcher, job, agent, result)
            run.start_next_in(job, agent)
        run.tm.commit()
    except errors.ReassignedError:
        raise
    except Exception:
        return Failure()
    _completed(run.dispatcher, job, agent)
    _log_result(run.dispatcher, job)
    return None


def _completed(dispatcher, job, agent):
    # After the finishing commit.  The agent still holds the job: the
    # dispatcher's poll thread removes it (and records the completion) in
    # a commit it makes anyway, so that worker threads finishing jobs at
    # the same time write nothing but their own jobs and never conflict.
    if agent is not None and job._status == COMPLETED:
        dispatcher.noteCompletion(agent, job)
    dispatcher.recordJob(job, 'completed')


def finish(dispatcher, job, agent, result):
    """In the current transaction: store the job's result and, unless it
    has callbacks to run, mark it COMPLETED.  Its agent keeps holding it
    until the dispatcher records the completion (see _completed)."""
    now = utils.now()
    failed = isinstance(result, Failure)
    recovery.close_attempt(job, now, 'failed' if failed else 'succeeded')
    recovery.set_result(job, result, now)
    zope.event.notify((events.JobFailed if failed else events.JobCompleted)(
        job))


def _wait_for_inner(job, agent, inner):
    # A job that returns a job finishes when that one does, with its
    # result; meanwhile it stays ACTIVE but leaves its agent.
    if inner._status == 'NEW':
        (job._queue or agent.queue).put(inner)
    job.waiting_on = inner
    inner.addCallback(Job(job._resolve_from_inner))
    recovery.close_attempt(job, utils.now(), 'waiting for job %s'
                           % inner.key)
    if agent is not None:
        agent.remove(job)


def _resolve_from_inner(self, result):
    """Callback of an inner job: give the outer job its result."""
    now = utils.now()
    self.waiting_on = None
    recovery.set_result(self, result, now)
    if self._status == CALLBACKS:
        self._queue.putBack(self)  # a worker resumes its callbacks
    zope.event.notify((events.JobFailed if isinstance(result, Failure)
                       else events.JobCompleted)(self))


Job._resolve_from_inner = _resolve_from_inner


def _reschedule(run, job, agent, policy, decision, failure, attempt_no):
    def work():
        _check_ours(job, agent, run.dispatcher, attempt_no)
        job.retry_counts = dict(policy.counts)
        now = utils.now()
        recovery.close_attempt(job, now, 'retry later: %s'
                               % failure.getTraceback('brief'))
        if agent is not None:
            agent.remove(job)
        queue = job._queue or agent.queue
        return recovery.apply_decision(job, decision, queue, now)
    utils.retry_transaction(run.tm, work, 'reschedule job %s' % job.key,
                            stop=run.worker._stopping)
    logger.warning('dispatcher %s: job %s (%r) failed with %s; its retry'
                   ' policy retries it after %s',
                   run.dispatcher.UUID, job.key, job,
                   failure.getTraceback('brief'), decision)
    run.dispatcher.recordJob(job, 'rescheduled')
    return 'rescheduled'


def _store_final(run, job, agent, failure, policy, attempt_no):
    # The policy gave up on committing the job's own changes: store the
    # commit failure as the result.  This bookkeeping must not be lost.
    def work():
        _check_ours(job, agent, run.dispatcher, attempt_no)
        job.retry_counts = dict(policy.counts)
        finish(run.dispatcher, job, agent, failure)
    utils.retry_transaction(run.tm, work, 'store failure of job %s'
                            % job.key)
    _completed(run.dispatcher, job, agent)
    _log_result(run.dispatcher, job)


def _log_retry(job, failure, policy, where):
    logger.warning('job %s (%r): %s raised %s; retrying now (%s)',
                   job.key, job, where, failure.getTraceback('brief'),
                   ', '.join('%s=%d' % kv for kv in sorted(
                       policy.counts.items())))


def _log_result(dispatcher, job):
    result = job._result
    if not isinstance(result, Failure):
        logger.debug('dispatcher %s: job %s (%r) succeeded',
                     dispatcher.UUID, job.key, job)
        return
    level = job.failure_log_level
    if level is None:
        level = logging.CRITICAL if job.parent is not None else logging.ERROR
    if job.parent is not None:
        logger.log(level, 'dispatcher %s: callback %s (%r) of job %s failed;'
                   ' its result is the Failure below. Callbacks should not'
                   ' fail: check the callback.\n%s', dispatcher.UUID,
                   job.key, job, job.parent.key, result.getTraceback())
    else:
        logger.log(level, 'dispatcher %s: job %s (%r) failed:\n%s',
                   dispatcher.UUID, job.key, job, result.getTraceback())


# -- callbacks ----------------------------------------------------------

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
        if _complete_after_callbacks(run, job):
            return


def _complete_after_callbacks(run, job):
    def work():
        if job._status != CALLBACKS:
            return True
        if any(cb._status != COMPLETED for cb in job._callbacks):
            return False  # one was added meanwhile
        now = utils.now()
        job._status = COMPLETED
        job._callbacks_ts = now.timestamp()
        agent = job._agent
        if agent is not None:
            agent.jobCompleted(job, now)
        return True
    done = utils.retry_transaction(run.tm, work, 'complete job %s after its'
                                   ' callbacks' % job.key)
    if done:
        run.tm.begin()
        # Conflict resolution may have merged in a callback added while we
        # committed: the job is then back in CALLBACKS.
        done = job._status == COMPLETED
        run.tm.abort()
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
    if status == ACTIVE:
        # It was interrupted (its dispatcher died): ask its policy.
        decision = _callback_interrupted(run, callback)
        if decision is False:
            return
    utils.retry_transaction(
        tm, lambda: _start_callback(dispatcher, callback),
        'start callback %s' % callback.key)
    outcome = execute(run, callback, None, (parent._result,))
    if outcome == 'done' and callback._status == CALLBACKS:
        run_callbacks(run, callback)


def _start_callback(dispatcher, callback):
    if callback._status == PENDING and callback._queue is not None \
            and callback in callback._queue:
        # A late callback that was also put in the queue: take it out.
        callback._queue.remove(callback)
    mark_active(callback, dispatcher, 'callbacks')
    # an interrupted callback marked ACTIVE before keeps that status


def _callback_interrupted(run, callback):
    outcome = {}

    def work():
        policy = retry.policy_for(callback, None, run.dispatcher)
        decision = policy.interrupted()
        callback.retry_counts = dict(policy.counts)
        now = utils.now()
        recovery.close_attempt(callback, now, 'interrupted')
        if decision is False:
            failure = Failure(errors.AbortedError(
                'callback %s was interrupted and its retry policy gave up'
                % callback.key))
            recovery.set_result(callback, failure, now)
        else:
            callback._status = PENDING  # restarted by _start_callback
        outcome['decision'] = decision is not False
    utils.retry_transaction(run.tm, work, 'interrupted callback %s'
                            % callback.key)
    return outcome['decision']
