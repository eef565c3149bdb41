"""Running due jobs in the calling thread: ``run_jobs``, published as
``zc.asyncui.testing.run_jobs`` (see docs/testing.rst).

No dispatcher, no threads: each job is run by the engine's own
``zc.asyncui.jobrun.JobRun``, given stand-ins for the worker thread and
the dispatcher that say what a run in the calling thread is (its
connection and transaction manager, no agent, no in-memory history).
The surface of execution used: ``mark_active(job, dispatcher, name)`` and
``JobRun(worker, oid).run()``, with the attributes of the two stand-ins
below.
"""
import contextlib
import uuid as uuidlib

import transaction
import ZODB.interfaces
import zope.interface

import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import execution
from zc.asyncui import interfaces
from zc.asyncui import jobrun
from zc.asyncui import utils
from zc.asyncui.job import JobStatus


@zope.interface.implementer(interfaces.IJobRunner)
class _InlineDispatcher:
    """What zc.asyncui.execution asks of a dispatcher, for run_jobs: no
    threads, no record in the database, no agent."""

    stopped = False

    def __init__(self, job_retry_policy_factory=None,
                 callback_retry_policy_factory=None, verbose_failures=False):
        self.UUID = uuidlib.uuid4()
        self.uuid_str = str(self.UUID)
        self.job_retry_policy_factory = job_retry_policy_factory
        self.callback_retry_policy_factory = callback_retry_policy_factory
        self.verbose_failures = verbose_failures

    def recordJob(self, job, event):
        pass  # the in-memory history is the runtime's, for its views

    def noteCompletion(self, agent, job):
        pass  # never called: run_jobs runs jobs with no agent

    def noteFinished(self, job):
        pass  # jobs run inline (tests) are not kept in the history

    def findAgent(self, conn, queue_name, agent_name):
        return None  # run_jobs runs jobs with no agent


class _InlineWorker:
    """What zc.asyncui.jobrun.JobRun asks of a worker thread, for
    run_jobs: the calling thread's connection and transaction manager."""

    #: Never start another job in this one's finishing commit: run_jobs
    #: claims one job at a time, and JobRun does that only for agents.
    retire = True
    name = 'run_jobs'

    def __init__(self, dispatcher, conn):
        self.dispatcher = dispatcher
        self.conn = conn
        self.tm = conn.transaction_manager
        self.workers = self  # JobRun reports call durations to it

    def agent(self):
        return None

    def note_call(self, seconds):
        pass

    def _stopping(self):
        return False


def run_jobs(db_or_connection, queue_names=None, clock=None, max_jobs=1000,
             **dispatcher_kw):
    """Run the due jobs of a database in the calling thread, with their
    callbacks and retries, until no job is due; return how many jobs ran.

    Like huey's immediate mode or RQ's synchronous queue, for application
    tests: no dispatcher, no threads, no waiting.  Jobs run exactly as in
    a worker thread (zc.asyncui.execution): in the calling thread's
    transaction manager, so a job's ``transaction.commit()`` works, under
    their retry policies.  A policy that retries later puts the job back
    with a future ``begin_after``: advance the clock and call run_jobs
    again.

    ``db_or_connection``: a ZODB database or a connection; commit what
    you put first (a connection, or the calling thread's transaction,
    with uncommitted changes is refused); a connection given sees the
    results when run_jobs returns.  ``queue_names``: the queues to take
    jobs from (default: all).  ``clock``: a callable returning an aware
    UTC datetime (a FakeClock) used as the time for the run; by default
    the current clock.  ``max_jobs``: stop with an error after running
    that many jobs while more are due (a job that keeps putting jobs).
    ``dispatcher_kw``: ``job_retry_policy_factory``,
    ``callback_retry_policy_factory``, ``verbose_failures``, as for
    ``zc.asyncui.dispatcher.start``.
    """
    db, caller = _db_and_connection(db_or_connection)
    tm = transaction.manager  # the thread's, as a worker thread's
    _refuse_uncommitted(tm.get(), caller)
    dispatcher = _InlineDispatcher(**dispatcher_kw)
    with _clock_used(clock):
        conn = db.open(tm)
        try:
            ran = _run_due(_InlineWorker(dispatcher, conn), queue_names,
                           max_jobs)
        finally:
            tm.abort()
            conn.close()
    if caller is not None:
        caller.transaction_manager.begin()  # see the results
    return ran


def _db_and_connection(db_or_connection):
    if ZODB.interfaces.IDatabase.providedBy(db_or_connection):
        return db_or_connection, None
    if hasattr(db_or_connection, 'root') and hasattr(db_or_connection, 'db'):
        return db_or_connection.db(), db_or_connection
    raise TypeError('run_jobs needs a ZODB database or connection, not %r'
                    % (db_or_connection,))


def _refuse_uncommitted(txn, caller):
    # A private attribute of transaction.Transaction: connections join the
    # transaction when they first register a change.
    if getattr(txn, '_resources', None) or (
            caller is not None and caller._registered_objects):
        raise ValueError(
            'run_jobs: the calling thread (or the connection given) has'
            ' uncommitted changes: commit them (the jobs you put are not'
            ' visible before) or abort them, then call run_jobs.')


@contextlib.contextmanager
def _clock_used(clock):
    if clock is None:
        yield
        return
    saved = utils._now_hook
    utils._now_hook = clock
    try:
        yield
    finally:
        utils._now_hook = saved


def _run_due(worker, queue_names, max_jobs):
    ran = 0
    while True:
        oid = utils.retry_transaction(
            worker.tm, lambda: _claim_and_start(worker, queue_names,
                                                ran >= max_jobs),
            'run_jobs: claim a due job', attempts=10)
        if oid is None:
            return ran
        jobrun.JobRun(worker, oid).run()
        ran += 1


def _claim_and_start(worker, queue_names, limit_reached):
    """In the current transaction: claim the first due job of the queues
    and start it; its oid, or None."""
    queues = zc.asyncui.getQueues(worker.conn)
    for name in (queues.keys() if queue_names is None else queue_names):
        job = queues[name].claim()
        if job is None:
            continue
        if limit_reached:  # raising aborts the claim: the job stays due
            raise errors.AsyncUIError(
                'run_jobs reached max_jobs and job %s (%r) is still due:'
                ' does a job keep putting new jobs? Pass a larger max_jobs'
                ' if that many is expected.' % (job.key, job))
        if job.status != JobStatus.CALLBACKS:  # resumed by JobRun as is
            execution.mark_active(job, worker.dispatcher, worker.name)
        return job._p_oid
    return None
