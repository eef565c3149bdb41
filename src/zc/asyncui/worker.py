"""Worker threads: each runs jobs with its own connection and
transaction manager.

The agent's claimed jobs wait in an in-memory ``Inbox`` shared by its
worker threads.  A worker starts a job (one commit), then hands it to
``zc.asyncui.jobrun``, which runs it and -- when another job is
waiting -- starts that next job in the same commit that finishes this
one, so a busy worker makes about one commit per job.
"""
import collections
import contextlib
import itertools
import logging
import threading
import time

import transaction

from zc.asyncui import errors
from zc.asyncui import grouping
from zc.asyncui import historyfacts
from zc.asyncui import jobrun
from zc.asyncui import queueroot
from zc.asyncui import recovery
from zc.asyncui import utils
from zc.asyncui import workerlog
from zc.asyncui.inbox import Inbox
from zc.asyncui.execution import start_held
from zc.asyncui.job import ACTIVE, COMPLETED

logger = logging.getLogger(__name__)

# Tuning constants, not settings (those live in zc.asyncui.settings):
#: How long an idle worker waits on its inbox before checking whether it
#: should retire; a new job wakes it at once, so this only bounds how
#: long a resize or stop waits for idle threads.
IDLE_WAIT = 0.5
#: Calls shorter than this (on average) are "tiny": see AgentWorkers.turn.
#: A millisecond is well under one commit (an fsync), the point below
#: which threads cannot overlap anything useful.
TINY_CALL_SECONDS = 0.001
#: The longest a worker waits for its turn behind a call that turned out
#: long: short enough that concurrency returns before anyone notices.
TURN_WAIT_SECONDS = 0.05
# A completion noted by a worker leaves its agent in the next commit the
# poll thread makes anyway; it gets a commit of its own only when this
# many wait or the oldest waited this long, or once the agent's workers
# are quiet (the next poll then writes them: no commit carries them).
COMPLETION_FLUSH_SECONDS = 5.0
COMPLETION_FLUSH_COUNT = 200
#: The shortest time between two replacements of dead worker threads of
#: one agent, so that a thread that dies on start cannot spin.
REPLACE_SECONDS = 1.0


class AgentWorkers:
    """The worker threads of one agent of a dispatcher, and the one place
    that says where each of the agent's jobs is in this process.

    The database says which jobs the agent holds (``agent.heldOids()``).
    For those, this process keeps, and nothing else keeps:

    - ``inbox``: claimed jobs waiting for a worker, in claim order;
    - ``running``: oid -> ident of the thread running (or starting) it;
    - ``known``: every oid in the inbox or in a worker's hands; so
      ``inbox`` and ``running`` are subsets of ``known``, an oid is
      queued at most once while known, and an oid leaves ``known`` when
      its worker is done with it (finished, skipped or lost);
    - ``_completions``: jobs a worker committed COMPLETED (no longer
      known) that the agent still holds until the poll thread takes them
      off in one of its commits (``take_completions``, then
      ``drop_completions`` after that commit).

    A held job in none of these is one this process lost: the poll
    thread submits it again (zc.asyncui.polling.claim).  ``known``,
    ``running`` and ``_completions`` change under ``_lock``; the inbox
    has its own condition.
    """

    def __init__(self, dispatcher, queue_name, agent_name):
        self.dispatcher = dispatcher
        self.queue_name = queue_name
        self.agent_name = agent_name
        self.inbox = Inbox()
        self.inbox.on_low = self._inbox_low
        #: Set by each claim (zc.asyncui.polling.claim): due work may be
        #: left in the queue.  Only then does an inbox running low, or a
        #: completion freeing room, ask for a poll.
        self.backlog = True
        self.threads = []
        self.busy = 0
        self.known = set()
        self.running = {}
        self._completions = []  # (noted at, oid, end timestamp)
        self._facts = {}  # oid -> historyfacts.Facts of a noted completion
        self.duration_ema = None
        self.call_ema = None
        #: Jobs that could not start for a database this process did not
        #: open (logged once each, see zc.asyncui.workerlog).
        self.unloadable = set()
        #: Worker threads that died and were replaced, and the last death
        #: ("thread name: error"), for getStatusInfo.
        self.replaced = 0
        self.last_death = None
        self._numbers = itertools.count()
        self._last_replacement = float('-inf')
        self._turn = threading.Lock()
        #: When a call last ended (or the turn was taken): see ``turn``.
        self._progress = time.monotonic()
        self._lock = threading.Lock()

    def resize(self, size):
        self.threads = [t for t in self.threads if t.is_alive()]
        while len(self.threads) < size:
            thread = WorkerThread(self, next(self._numbers))
            self.threads.append(thread)
            thread.start()
        for thread in self.threads[size:]:
            thread.retire = True
        self.threads = self.threads[:size] + [
            t for t in self.threads[size:] if t.is_alive()]
        self.inbox.wake_all()

    def replace_dead(self):
        """Replace worker threads that died (a bug, or an exception no
        handler caught) and were not retired; returns how many.  Called
        by the poll thread, at most once a second per agent, so that a
        thread dying at once again cannot spin."""
        dead = [t for t in self.threads if not t.retire and not
                t.is_alive() and t.ident is not None]
        if not dead or time.monotonic() - self._last_replacement < (
                REPLACE_SECONDS):
            return 0
        self._last_replacement = time.monotonic()
        size = self.size
        for thread in dead:
            thread.retire = True
        self.resize(size)
        # Counted once replaced (and said), so that a reader of status()
        # never sees a replacement that does not exist yet.
        for thread in dead:
            logger.warning(
                'dispatcher %s: replaced worker thread %s of agent %r in'
                ' queue %r, which died (%s); %d replaced so far',
                self.dispatcher.UUID, thread.name, self.agent_name,
                self.queue_name, thread.death, self.replaced + 1)
            self.last_death = '%s: %s' % (thread.name, thread.death)
            self.replaced += 1
        return len(dead)

    @property
    def size(self):
        return sum(1 for t in self.threads if not t.retire)

    @property
    def idle(self):
        return max(0, self.size - self.busy - len(self.inbox))

    @property
    def quiet(self):
        """No job running, being started, or waiting in the inbox."""
        return not self.busy and not len(self.inbox) and not self.known

    def _inbox_low(self):
        if self.backlog:
            self.dispatcher.wake()

    def _ask_for_poll(self):
        # A completion noted, or a worker done with its job: the poll
        # thread claims more when a claim left due work behind and the
        # inbox is empty (room only frees as jobs complete: polling only,
        # nothing else would ask), and writes the completions once the
        # workers are quiet (AgentWorkers.quiet).
        if not len(self.inbox) and (self.backlog or (
                self._completions and self.quiet)):
            self.backlog = False  # once per claim
            self.dispatcher.wake()

    def submit(self, oids):
        with self._lock:
            fresh = [oid for oid in oids if oid not in self.known]
            self.known.update(fresh)
        self.inbox.put_many(fresh)

    def forget(self, oid):
        with self._lock:
            self.known.discard(oid)

    def forget_thread(self, ident):
        """Forget the jobs a dead thread had in hand, so that the poll
        thread submits them again (as lost) to a live one."""
        with self._lock:
            mine = [oid for oid, owner in self.running.items()
                    if owner == ident]
            for oid in mine:
                del self.running[oid]
                self.known.discard(oid)

    def known_oids(self):
        with self._lock:
            return list(self.known)

    def note_completion(self, job):
        """A worker committed ``job`` as COMPLETED (and has it loaded:
        what the history records of it is read now, see
        zc.asyncui.historyfacts)."""
        facts = historyfacts.Facts.of(job)
        with self._lock:
            self._completions.append(
                (time.monotonic(), job._p_oid, job._end_ts))
            self._facts[job._p_oid] = facts
        self._ask_for_poll()

    def completion_facts(self, done):
        """The Facts of the noted completions ``done`` ((oid, end) pairs
        from ``take_completions``), None for those not known."""
        with self._lock:
            return [self._facts.get(oid) for oid, _ in done]

    def take_completions(self):
        """(done, urgent): the noted completions as (oid, end timestamp)
        pairs, and whether they are worth a commit of their own (many, or
        an old one).  The caller records them and calls
        ``drop_completions`` after its commit."""
        with self._lock:
            pending = list(self._completions)
        if not pending:
            return [], False
        urgent = (len(pending) >= COMPLETION_FLUSH_COUNT or
                  time.monotonic() - pending[0][0] > COMPLETION_FLUSH_SECONDS)
        return [(oid, end) for _, oid, end in pending], urgent

    def drop_completions(self, flushed):
        # Completions are only appended meanwhile: the flushed ones are
        # still the first.
        with self._lock:
            for _, oid, _ in self._completions[:len(flushed)]:
                self._facts.pop(oid, None)
            del self._completions[:len(flushed)]

    def status(self):
        """For getStatusInfo: queue, agent, threads wanted and alive, and
        how many died and were replaced (with the last death)."""
        return {'queue': self.queue_name, 'agent': self.agent_name,
                'size': self.size,
                'alive': sum(1 for t in list(self.threads)
                             if t.is_alive() and not t.retire),
                'replaced': self.replaced, 'last_death': self.last_death}

    def acquire(self, oid):
        """Make the calling thread the one running ``oid`` in this process;
        False if another thread already runs it (an oid may reach the
        inbox twice, e.g. resubmitted while a stale snapshot showed it)."""
        me = threading.get_ident()
        with self._lock:
            owner = self.running.setdefault(oid, me)
        return owner == me

    def release(self, oid):
        me = threading.get_ident()
        with self._lock:
            if self.running.get(oid) == me:
                del self.running[oid]

    def note_duration(self, seconds):
        ema = self.duration_ema
        self.duration_ema = seconds if ema is None else 0.8 * ema + 0.2 * seconds

    def note_call(self, seconds):
        ema = self.call_ema
        self.call_ema = seconds if ema is None else 0.8 * ema + 0.2 * seconds
        self._progress = time.monotonic()

    @property
    def tiny(self):
        """True while the agent's calls are tiny (see ``turn``)."""
        return self.call_ema is not None and \
            self.call_ema < TINY_CALL_SECONDS

    @contextlib.contextmanager
    def turn(self, stop=lambda: False):
        """Start and run jobs with the agent's other workers held back,
        while the agent's calls are tiny.

        A call much shorter than a commit leaves nothing to overlap: the
        GIL and the storage's commit lock serialize such jobs anyway, and
        threads handing those locks back and forth only add cost (and
        split a stream of short jobs into tiny groups, each its own
        commit), so one thread at a time takes jobs and runs them: the
        holder keeps the turn over its whole chain of started jobs.  When
        no call has ended for TURN_WAIT_SECONDS (a job turned out long,
        or hangs), the others stop waiting and run as usual: long jobs
        still run in parallel, ``size`` of them at most.  ``stop()``:
        True when the waiting thread should give up (it retires).
        """
        if not self.tiny:
            yield
            return
        acquired = False
        while not acquired and self.tiny and not stop():
            acquired = self._turn.acquire(timeout=TURN_WAIT_SECONDS)
            if not acquired and time.monotonic() - self._progress >= (
                    TURN_WAIT_SECONDS):
                break
        if acquired:
            self._progress = time.monotonic()
        try:
            yield
        finally:
            if acquired:
                self._turn.release()

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
        #: What killed the thread ("Type: message"), or None.
        self.death = None
        #: Its grouped commits (``transaction.manager`` is the running
        #: thread's own).
        self.group = grouping.Group(transaction.manager, getattr(
            dispatcher, 'group_commit_seconds', 0.0))
        #: Oids of jobs a committed transaction started for this thread to
        #: run next (several at once when grouping; see jobrun.JobRun).
        self.prestarted = collections.deque()

    # -- the loop -----------------------------------------------------

    def run(self):
        try:
            self._loop()
        except BaseException as e:
            # Nothing may kill a worker silently: say so, and have the
            # poll thread replace it (AgentWorkers.replace_dead).  The job
            # it ran stays ACTIVE in its agent, and is handed to its retry
            # policy as interrupted at the next poll.
            self.death = '%s: %s' % (type(e).__name__, e)
            logger.error(
                'dispatcher %s: worker thread %s of agent %r in queue %r'
                ' died with %s; the dispatcher replaces it.',
                self.dispatcher.UUID, self.name, self.workers.agent_name,
                self.workers.queue_name, self.death, exc_info=True)
            self.workers.forget_thread(threading.get_ident())
            for oid in self.group.oids():
                # Held or lost with it: the poll hands them out again.
                self.workers.forget(oid)
            self.dispatcher.wake()

    def _loop(self):
        dispatcher = self.dispatcher
        # The thread's own transaction manager (transaction.manager is
        # thread-local), so that job code using transaction.get(),
        # savepoint() or commit() works on the job's transaction, as it
        # did with zc.async.
        self.tm = transaction.manager
        self.primary, self.conn = queueroot.openConnection(dispatcher.db)
        try:
            started = None
            while not (self.retire and started is None
                       and not self.prestarted):
                with self.workers.turn(lambda: self.retire):
                    started = self._chain(started)
        finally:
            self.tm.abort()
            self.primary.close()

    def _chain(self, started):
        """Run ``started`` (or start the next job if None) and the jobs
        started after it, until none is started or the agent's calls stop
        being tiny; returns the oid of the next started job, or None."""
        if started is None:
            if self.prestarted:
                started = self.prestarted.popleft()
            elif self.retire:
                return None   # retired while waiting for the turn
            else:
                started = self._start_next()
        while started is not None:
            started = self._run_safely(started)
            if started is None and self.prestarted:
                started = self.prestarted.popleft()
            if not self.workers.tiny:
                break
        return started

    def _start_next(self):
        oid = self.workers.inbox.get(IDLE_WAIT)
        if oid is None:
            return None
        try:
            return utils.retry_transaction(
                self.tm, lambda: self._start(oid), 'start job',
                stop=self._stopping)
        except Exception as e:
            workerlog.start_failure(self, oid, e)
            self.workers.release(oid)
            self.workers.forget(oid)
            return None

    def _stopping(self):
        return self.dispatcher.stopped

    def _run_safely(self, oid):
        self.workers.busy += 1
        begun = time.monotonic()
        run = jobrun.JobRun(self, oid)
        try:
            return run.run()
        except errors.ReassignedError as e:
            self.tm.abort()
            run.undo_next()
            logger.error('%s', e)
            run.run_lost()  # jobs held with it, if any
            return None
        except Exception as e:
            self.tm.abort()
            run.undo_next()
            workerlog.lost(self, oid, e)
            run.run_lost()
            return None
        finally:
            self.workers.busy -= 1
            self.workers.release(oid)
            if not self.group.keeps(oid):
                # A job held uncommitted (zc.asyncui.grouping) stays known
                # until its group commits, or it has run again: the poll
                # thread must not hand it out as lost meanwhile.
                self.workers.forget(oid)
            self.workers.note_duration(time.monotonic() - begun)
            self.workers._ask_for_poll()

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
        if not self.workers.acquire(oid):
            logger.debug('dispatcher %s: job %s already runs in another'
                         ' worker', self.dispatcher.UUID, utils.oid_key(oid))
            return None
        started = self._start_or_skip(oid)
        if started is None:
            self.workers.release(oid)
        return started

    def _start_or_skip(self, oid):
        job = self.conn.get(oid)
        agent = self.agent()
        if agent is not None and start_held(job, agent, self.dispatcher):
            return oid
        if agent is None or job not in agent:
            logger.debug('dispatcher %s: job %s is no longer held by agent'
                         ' %r; skipping it', self.dispatcher.UUID, job.key,
                         self.workers.agent_name)
            self.workers.forget(oid)
            return None
        if job._status == ACTIVE:
            # Held here, ACTIVE, yet no thread of this process runs it (a
            # worker lost it): an interruption like any other.
            outcome = recovery.release(
                job, agent, 'its worker in dispatcher %s lost it'
                % self.dispatcher.UUID, dispatcher=self.dispatcher)
            logger.warning('dispatcher %s: job %s was ACTIVE but no worker'
                           ' ran it; released it (%s)', self.dispatcher.UUID,
                           job.key, outcome)
            self.workers.forget(oid)
            return None
        if job._status == COMPLETED:
            # Held here, COMPLETED, its completion not noted (its note was
            # lost): the next flush takes it off the agent and records it.
            self.workers.note_completion(job)
            self.workers.forget(oid)
            return None
        logger.debug('dispatcher %s: job %s is %s, not ASSIGNED; skipping it',
                     self.dispatcher.UUID, job.key, job._status)
        self.workers.forget(oid)
        return None
