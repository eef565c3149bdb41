"""One job's run in a worker thread: its call (zc.asyncui.execution), then
its callbacks (zc.asyncui.callbacks), and the next job of its agent
started in its finishing commit.

This module uses both and neither uses it: a callback is executed like a
job (callbacks calls execution), and a job's callbacks run after its call
(JobRun calls both).  Used by the worker threads (zc.asyncui.worker) and
by ``zc.asyncui.testing.run_jobs`` (zc.asyncui.inline).
"""
import logging

from zc.asyncui import callbacks
from zc.asyncui import errors
from zc.asyncui import utils
from zc.asyncui.execution import execute
from zc.asyncui.execution import start_held
from zc.asyncui.job import CALLBACKS
from zc.asyncui.job import PENDING

logger = logging.getLogger(__name__)


class JobRun:
    """Runs one started job (or resumes one in CALLBACKS) in a worker."""

    def __init__(self, worker, oid):
        self.worker = worker
        self.tm = worker.tm
        self.conn = worker.conn
        self.dispatcher = worker.dispatcher
        self.oid = oid
        self.next_oid = None
        #: With grouped commits (zc.asyncui.grouping, ``group``): the jobs
        #: started in the current transaction, which join the worker's
        #: ``prestarted`` once it commits.
        self.batch = []
        self.group = getattr(worker, 'group', None)
        self._again = False

    def run(self):
        """Returns the oid of the next job, already started, or None."""
        # The connection is fresh: the job was just started by a commit
        # (ZODB syncs a connection after each commit and abort).
        job = self.conn.get(self.oid)
        agent = self.worker.agent()
        if job._status == CALLBACKS:
            self.dispatcher.recordJob(job, 'resuming callbacks')
            callbacks.run_callbacks(self, job)
            return None
        # A callback put in the queue (its parent was already COMPLETED)
        # gets the parent's result like any callback.
        extra = () if job._parent is None else (job._parent._result,)
        outcome = execute(self, job, agent, extra)
        if outcome == 'done' and job._status == CALLBACKS:
            callbacks.run_callbacks(self, job)
        self.run_lost()
        return self.next_oid

    def run_lost(self):
        """Run again, alone and each as a new attempt, the jobs whose
        finished state was lost with a grouped commit (see
        zc.asyncui.grouping), committing any held jobs first."""
        group = self.group
        if group is None or not group.lost:
            return
        group.commit_held()  # what fails joins the lost
        group.paused = self._again = True
        try:
            while group.lost:
                held, reason = group.lost.pop(0)
                self._run_again(held, reason)
        finally:
            group.paused = self._again = False

    def _run_again(self, held, reason):
        job = held.job
        try:
            outcome = execute(self, job, held.agent, held.extra, lost=reason)
            if outcome == 'done' and job._status == CALLBACKS:
                callbacks.run_callbacks(self, job)
        except errors.ReassignedError as e:
            self.tm.abort()
            logger.error('%s', e)
        finally:
            self.worker.workers.forget(job._p_oid)

    # Hooks for execute(): start the agent's next job (or, grouping, the
    # next few) in the finishing transaction of this one.
    def start_next_in(self, job, agent):
        if job._callbacks or agent is None or self.worker.retire or \
                self.next_oid is not None or self._again:
            return
        group = self.group
        if group is None or not group.enabled:
            self.next_oid = self._start_one(agent)
        elif not self.worker.prestarted:
            # Their starts are durable before any of them is called: a
            # job is never called in the transaction that starts it.
            size = group.batch_size(job)
            while len(self.batch) < size:
                oid = self._start_one(agent)
                if oid is None:
                    break
                self.batch.append(oid)

    def next_is_durable(self):
        """True when the worker's next job was started by a committed
        transaction (a job may be held only then)."""
        return bool(getattr(self.worker, 'prestarted', None)) and \
            not self.batch

    def after_commit(self):
        """The finishing transaction committed: the jobs it started are
        the worker's next ones."""
        if self.batch:
            self.worker.prestarted.extend(self.batch)
            self.batch = []

    def _start_one(self, agent):
        workers = self.worker.workers
        oid = workers.inbox.get_nowait()
        if oid is None or not workers.acquire(oid):
            return None
        if not self._start_held_next(oid, agent):
            # Not startable as this snapshot sees it, which may be older
            # than the claim: back to the end of the inbox, where a
            # worker's _start decides on a fresh snapshot.
            workers.release(oid)
            workers.inbox.put_many([oid])
            return None
        return oid

    def _start_held_next(self, oid, agent):
        # This snapshot began before this job's finishing commit and may
        # predate the next job's claim, or the next job itself: loading it
        # then raises ReadConflictError ("object deleted, likely by
        # simultaneous pack").  That is the next job's trouble: it must
        # never fail this job's commit, whose retry would call this job
        # again.  Whatever goes wrong, the next job is started later on a
        # fresh snapshot.
        try:
            job = self.conn.get(oid)
            if job._on_start is not None:
                # Its start hook (a periodic run puts the next) writes
                # more objects: a failure there must not fail this commit.
                return False
            if job._status != PENDING:
                # Callbacks to resume: started by a worker on its own
                # (they begin and abort transactions of their own, which
                # must not end a group of held jobs).
                return False
            return start_held(job, agent, self.dispatcher)
        except errors.ReassignedError:
            raise
        except Exception as e:
            logger.debug('dispatcher %s: next job %s not loadable in the'
                         ' finishing transaction of this one (%s); it is'
                         ' started on a fresh snapshot', self.dispatcher.UUID,
                         utils.oid_key(oid), e)
            return False

    def undo_next(self):
        workers = self.worker.workers
        for oid in reversed(self.batch):
            workers.release(oid)
            workers.inbox.put_front(oid)
        self.batch = []
        if self.next_oid is not None:
            self.worker.workers.release(self.next_oid)
            self.worker.workers.inbox.put_front(self.next_oid)
            self.next_oid = None
