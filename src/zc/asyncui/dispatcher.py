"""The per-process dispatcher: activation, pings, polls, worker threads.

One ``Dispatcher`` runs per process per database.  Its poll thread
activates it in every queue, pings, watches one neighbour for death (each
live dispatcher watches the next one by UUID, so all are covered), and
claims jobs for its agents in batches, one commit per batch (how many:
``zc.asyncui.polling``); the worker threads (``zc.asyncui.worker``) run
them.

Work is found without waiting for the next poll: a job put by this
process wakes the dispatcher when its transaction commits, and the poll
thread checks the storage's last transaction id every few milliseconds (a
cheap in-memory read, also for ZEO clients; on RelStorage, one small
query: ``zc.asyncui.changes``), polling the queues only when it changed.
``poll_interval`` is the safety net.
"""
import logging
import os
import socket
import threading
import time
import uuid as uuidlib

import transaction

from zc.asyncui import changes
from zc.asyncui import errors
from zc.asyncui import history
from zc.asyncui import instanceuuid
from zc.asyncui import interfaces
from zc.asyncui import notices
from zc.asyncui import polling
from zc.asyncui import queueroot
from zc.asyncui import running
from zc.asyncui import settings
from zc.asyncui import utils
from zc.asyncui.dispatcherstate import DispatcherState
from zc.asyncui.liveness import Liveness
from zc.asyncui.liveness import describe_outcomes
from zc.asyncui.worker import AgentWorkers
import zope.interface

logger = logging.getLogger(__name__)

# The dispatchers running in this process (zc.asyncui.running); the
# names stay here for callers of zc.asyncui.dispatcher.
_registry = running._registry
_registry_lock = running._registry_lock
get = running.get
wake = running.wake
stop_all = running.stop_all

# Tuning constants, not settings: each is tied to a cost measured in
# bench/ rather than to a deployment's choice (settings live in
# zc.asyncui.settings).
#: How often the poll thread reads the storage's last transaction id: a
#: cheap in-memory read; 20 ms bounds the cross-process wake-up latency
#: (p50 about 17 ms) at a negligible CPU cost.
CHANGE_CHECK_SECONDS = 0.02
#: How often agents drop old completion records: pruning reads a tree
#: range; every 30 s keeps the record near its limits at little cost.
PRUNE_SECONDS = 30.0


def _default(name):
    return settings.default('dispatcher', name)


def _validated(arguments):
    """The dispatcher settings among ``arguments`` (the locals of start()
    or Dispatcher(), whose parameters are the settings), validated by
    the one table (zc.asyncui.settings)."""
    return settings.validate('dispatcher', {
        s.name: arguments[s.name] for s in settings.DISPATCHER_SETTINGS})


def start(db, poll_interval=_default('poll_interval'), uuid=None,
          uuid_file=None, main_agent_size=_default('main_agent_size'), *,
          ping_interval=_default('ping_interval'),
          ping_death_interval=_default('ping_death_interval'),
          job_retry_policy_factory=None, callback_retry_policy_factory=None,
          verbose_failures=False, agents=(),
          group_commit_seconds=_default('group_commit_seconds')):
    """Start a dispatcher for ``db`` in this process and return it.

    The settings are those of ``zc.asyncui.settings.DISPATCHER_SETTINGS``
    (intervals in seconds).  ``uuid`` (or the file ``uuid_file``, default
    var/instance_uuid.txt) identifies this process.  ``main_agent_size``
    > 0 adds an agent named ``main`` of that size, with no filter, to
    every queue where this dispatcher has none yet; ``agents``, a
    sequence of (queue name or None for every queue, agent name, Agent
    keyword arguments), adds those likewise (see Dispatcher.addAgent).
    Raises DispatcherError if a dispatcher with the same UUID already
    runs in this process or the database cannot be opened,
    ConfigurationError for a bad setting.  A start that fails leaves nothing behind.
    """
    options = _validated(locals())
    uuid = options.pop('uuid')
    if uuid is None:
        uuid = instanceuuid.get_uuid(options['uuid_file'])
    dispatcher = Dispatcher(db, uuid, agents=agents, **options)
    running.register(dispatcher)
    try:
        dispatcher.start()
    except BaseException:
        # A failed start leaves nothing behind: no zombie for get() or
        # stop_all(), and the UUID is free for the next start.
        running.unregister(dispatcher)
        raise
    return dispatcher


@zope.interface.implementer(interfaces.IDispatcher)
class Dispatcher:
    """See IDispatcher.

    Composed of parts with explicit inputs: ``state`` (in-memory history
    for status and views, zc.asyncui.dispatcherstate), ``liveness``
    (activation and death verdicts, zc.asyncui.liveness) and one
    ``AgentWorkers`` per agent (zc.asyncui.worker), which is the one
    place that says where a job is in this process.
    """

    def __init__(self, db, uuid, poll_interval=_default('poll_interval'),
                 main_agent_size=_default('main_agent_size'),
                 ping_interval=_default('ping_interval'),
                 ping_death_interval=_default('ping_death_interval'),
                 job_retry_policy_factory=None,
                 callback_retry_policy_factory=None, verbose_failures=False,
                 uuid_file=None, agents=(),
                 group_commit_seconds=_default('group_commit_seconds')):
        options = _validated(locals())
        if options['uuid'] is None:
            raise errors.ConfigurationError(
                'Dispatcher needs a uuid; dispatcher.start() reads one from'
                ' uuid_file when none is given.')
        self.db = db
        self.UUID = options['uuid']
        self.uuid_str = str(self.UUID)
        #: Seconds, as every interval (see zc.asyncui.settings).
        self.poll_interval = options['poll_interval']
        self.ping_interval = options['ping_interval']
        self.ping_death_interval = options['ping_death_interval']
        self.main_agent_size = options['main_agent_size']
        self.job_retry_policy_factory = options['job_retry_policy_factory']
        self.callback_retry_policy_factory = options[
            'callback_retry_policy_factory']
        self.verbose_failures = options['verbose_failures']
        self.group_commit_seconds = options['group_commit_seconds']
        self.uuid_file = options['uuid_file'] or instanceuuid.DEFAULT_PATH
        self.token = uuidlib.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.activated = False
        self.stopped = False
        self._stopping = False
        self._wake_event = threading.Event()
        self._workers = {}
        self._finished = polling.FinishedJobs()
        self._last_prune = 0.0
        self._queue_names = []   # as the last poll read them
        self._flush_at = None    # monotonic time, see _quiet_flush
        self._thread = None
        self.state = DispatcherState()
        self.liveness = Liveness(
            self.UUID, self.token, host=self.host, pid=self.pid,
            poll_interval=self.poll_interval,
            ping_interval=self.ping_interval,
            ping_death_interval=self.ping_death_interval,
            main_agent_size=self.main_agent_size, uuid_file=self.uuid_file,
            is_connected=getattr(db.storage, 'is_connected', None),
            agents=agents)

    def addAgent(self, queue_name, name, **options):
        """Add an agent ``name`` (``Agent(**options)``, checked now) to
        this dispatcher in queue ``queue_name`` (None: every queue) if it
        has none of that name there: at once (at the next poll) where it
        is active, at activation elsewhere.  An existing agent keeps its
        settings.  Any thread may call it; it writes nothing itself."""
        self.liveness.addAgentSpec(queue_name, name, options)
        self.wake()

    # -- lifecycle ----------------------------------------------------

    def start(self):
        """See IDispatcher.start."""
        tm = transaction.TransactionManager()
        try:
            primary, conn = queueroot.openConnection(self.db, tm)
        except Exception as e:
            self.stopped = True
            raise errors.DispatcherError(
                'dispatcher %s cannot start: opening a connection to the'
                ' database failed with %s: %s. Is the database closed? Start'
                ' the dispatcher on an open database.'
                % (self.UUID, type(e).__name__, e)) from e
        try:
            self._check_databases(conn)
        except BaseException:
            self.stopped = True
            tm.abort()
            primary.close()
            raise
        thread = threading.Thread(
            target=self._run, daemon=True,
            name='zc.asyncui dispatcher %s' % str(self.UUID)[:8])
        try:
            self._tm, self._conn, self._primary = tm, conn, primary
            self.state.start_time = time.monotonic()
            self.activated = True
            thread.start()
        except BaseException:
            self.activated = False
            self.stopped = True
            primary.close()
            raise
        self._thread = thread
        logger.info('dispatcher %s: started (poll every %.1fs, ping every'
                    ' %gs, dead after %gs of silence)', self.UUID,
                    self.poll_interval, self.ping_interval,
                    self.ping_death_interval)

    def _check_databases(self, conn):
        """Refuse to start where the jobs' other databases are missing:
        every job that refers to their objects would fail to load, and
        with it every poll of its queue."""
        queues = conn.root().get(interfaces.KEY)
        linked = getattr(queues, 'linked_databases', ())
        conn.transaction_manager.abort()
        opened = getattr(self.db, 'databases', {})
        missing = [name for name in linked if name not in opened]
        if missing:
            raise errors.DispatcherError(
                'dispatcher %s cannot start: the queues of database %r are'
                ' used from database(s) %s, whose objects jobs may refer to,'
                ' but this process opened only %s. Open them together as a'
                ' multi-database (ZODB.DB(storage, databases=dbs,'
                ' database_name=NAME) for each, sharing the dict dbs; in'
                ' zope.conf, and in the zconfig:///FILE of zc-asyncui --db,'
                ' one <zodb NAME> section each).' % (
                    self.UUID, self.db.database_name,
                    ', '.join(map(repr, missing)),
                    ', '.join(map(repr, sorted(opened)))))

    def wake(self):
        self._wake_event.set()

    def _run(self):
        failures = 0
        # The poll thread's own: opened and closed here.
        self._changes = changes.watch(self.db)
        notices.listen(self.db, self._heard_of_commit)
        while not self._stopping:
            try:
                self.liveness.note_gap(failures, self.state.last_poll)
                self.liveness.poll_started()
                self._poll()
                self.liveness.note_stall()
                failures = 0
            except Exception as e:
                failures += 1
                self._tm.abort()
                polling.log_poll_failure(self.UUID, e, failures)
                time.sleep(min(self.poll_interval, 0.1 * failures))
            self._wait_for_work()
        notices.unlisten(self.db, self._heard_of_commit)
        self._changes.close()

    def _heard_of_commit(self):
        # Another process committed (zc.asyncui.notices; the storage's
        # thread): poll now rather than at the next check of the changes.
        if self._wants_work():
            self._wake_event.set()

    def _wait_for_work(self):
        deadline = time.monotonic() + self.poll_interval
        if self._flush_at is not None:   # quiet completions to write
            deadline = min(deadline, self._flush_at)
            self._flush_at = None
        last_tid = self._changes.lastChange()
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._wake_event.wait(min(CHANGE_CHECK_SECONDS, remaining)):
                self._wake_event.clear()
                return
            # Busy workers could not take a change's work anyway; asking
            # only when they could spares RelStorage its query.
            if not self._wants_work():
                continue
            tid = self._changes.lastChange()
            if tid != last_tid:
                return

    def _wants_work(self):
        """False when every agent's workers have plenty of claimed jobs
        queued: a database change then need not trigger a poll (under load
        most changes are our own workers' commits)."""
        if not self._workers or not self.liveness.activated_queues:
            return True
        return any(len(w.inbox) <= w.inbox.low_water or w.idle
                   for w in list(self._workers.values()))

    def stop(self, timeout=30.0):
        """See IDispatcher.stop."""
        if self.stopped:
            return
        if self._thread is None:  # never started
            self.stopped = True
            return
        self._stopping = True
        self.wake()
        if self._thread is not threading.current_thread():
            self._thread.join(max(timeout, self.poll_interval) + 5)
        deadline = time.monotonic() + timeout
        for workers in self._workers.values():
            workers.stop()
        still_running = []
        for workers in self._workers.values():
            still_running.extend(workers.join(deadline))
        self.stopped = True
        counts = self._deactivate_all('clean stop of dispatcher %s'
                                      % self.UUID, max(5.0, timeout))
        for workers in self._workers.values():
            workers.join(time.monotonic() + 1.0)
        self._tm.abort()
        self._primary.close()
        self.activated = False
        logger.info('dispatcher %s: stopped; %d workers still busy at the'
                    ' %.1fs timeout; the jobs it held: %s', self.UUID,
                    len(still_running), timeout, describe_outcomes(counts))
        # Read by bench/multiprocess.py.
        logger.info('dispatcher %s: ConflictErrors retried in this process:'
                    ' %d', self.UUID, utils.conflicts.count)

    def _deactivate_all(self, reason, seconds):
        """Deactivate this dispatcher's records, trying for at most about
        ``seconds`` (see Liveness.deactivate_all)."""
        return self.liveness.deactivate_all(self.db, self._finished, reason,
                                            seconds)

    # -- polling ------------------------------------------------------

    def _poll(self):
        """Poll every queue once (called by the poll thread): one
        transaction per queue, each of which also reads the queues' names
        (no transaction of its own before the first claim)."""
        tm = self._tm
        record = {}
        polled = set()
        name = next(iter(self._queue_names), None)
        while True:
            result, names = utils.retry_transaction(
                tm, lambda: self._poll_queue(name), 'dispatcher %s: poll'
                ' queue %r' % (self.UUID, name), attempts=5)
            if name is not None:
                polled.add(name)
                self._after_poll_commit(name, result, record)
            self._queue_names = names
            name = next((n for n in names if n not in polled), None)
            if name is None:
                break
        self.state.notePoll(record)

    def _after_poll_commit(self, name, result, record):
        if result is None:
            return
        for level, message, args in result.messages:
            logger.log(level, message, *args)
        if result.activated:
            self.liveness.activated_queues.add(name)
        if result.agents_applied is not None:
            self.liveness.agents_applied[name] = result.agents_applied
        for workers, pairs in result.flushed:
            workers.drop_completions(pairs)
        self._finished.drop(result.finished)
        claimed = {}
        for workers, oids in result.claims:
            workers.submit(oids)
            if oids:
                claimed[workers.agent_name] = [utils.oid_key(o) for o in oids]
        record[name] = {'activated': result.activated, 'claimed': claimed}

    def _poll_queue(self, name):
        """Poll queue ``name`` (None: none) in the current transaction;
        return its PollResult (None: no such queue) and the names of
        the queues."""
        queues = self._conn.root().get(interfaces.KEY)
        names = list(queues.keys()) if queues is not None else []
        queue = queues.get(name) if name in names else None
        if queue is None:
            return None, names
        return self._poll_found(name, queue), names

    def _poll_found(self, name, queue):
        now = utils.now()
        result = polling.PollResult()
        record = queue.getDispatcherAgents(self.UUID)
        if (name not in self.liveness.activated_queues or record is None
                or record.process_token != self.token):
            if not self.liveness.activate(queue, record, now, result):
                result.activated = False
                return result
            record = queue.getDispatcherAgents(self.UUID)
        else:
            record.ping(now)
        if self.liveness.agentsOutdated(name):
            result.agents_applied = self.liveness.createAgents(queue, record)
        if not self._stopping:
            self._claim(name, record, now, result)
        # After the claims: a neighbour's records (other processes write
        # them) are not read before the claim; the jobs of a dead one go
        # back to the queue here and the next poll claims them.
        if self.liveness.check_neighbour(queue, now, result):
            self.wake()
        return result

    def _claim(self, name, record, now, result):
        """Claim for every agent of ``record`` and write what is due, in
        the poll transaction of queue ``name``."""
        prune = time.monotonic() - self._last_prune > PRUNE_SECONDS
        for agent_name, agent in record.items():
            workers = self._workers_for(name, agent_name)
            done, urgent = workers.take_completions()
            idle = workers.idle
            claimed = polling.claim(agent, workers, now, done,
                                    self._grow_pool)
            result.claims.append((workers, claimed))
            if done and polling.flush_now(claimed, idle, self._quiet_flush(
                    workers, done, now), urgent or prune):
                polling.flush_completions(agent, workers, done, result)
            if prune:
                agent.pruneCompleted(now)
        if prune:
            self._last_prune = time.monotonic()
        writing = prune or bool(result.flushed) or any(
            oids for _, oids in result.claims)
        polling.record_finished(self._conn, str(self.UUID), self._finished,
                                writing or self._quiet(), result)
        # Retention of the durable history: a bounded step each poll,
        # in this dispatcher's own shard (no other writer).
        history.prune(self._conn, str(self.UUID), now)

    def _quiet_flush(self, workers, done, now):
        """Whether ``workers`` are quiet and their completions ``done``
        waited long enough for more (polling.quiet_flush_delay); if not,
        the poll thread polls again when they have."""
        if not workers.quiet:
            return False
        delay = polling.quiet_flush_delay(done, now.timestamp())
        if delay > 0:
            self._flush_at = min(self._flush_at or float('inf'),
                                 time.monotonic() + delay)
        return delay == 0

    def _quiet(self):
        """No worker of this dispatcher runs or waits for a job."""
        return all(w.quiet for w in list(self._workers.values()))

    def _workers_for(self, queue_name, agent_name):
        key = (queue_name, agent_name)
        workers = self._workers.get(key)
        if workers is None:
            workers = self._workers[key] = AgentWorkers(
                self, queue_name, agent_name)
        return workers

    def _grow_pool(self, delta):
        # Each worker's connection opens one connection to every other
        # database its jobs reach: grow their pools alike.
        databases = getattr(self.db, 'databases', {}) or {'': self.db}
        for db in {id(d): d for d in databases.values()}.values():
            db.setPoolSize(max(7, db.getPoolSize() + delta))

    def findAgent(self, conn, queue_name, agent_name):
        """See IJobRunner.findAgent."""
        queues = conn.root().get(interfaces.KEY)
        queue = queues.get(queue_name) if queues is not None else None
        if queue is None:
            return None
        record = queue.getDispatcherAgents(self.UUID)
        return None if record is None else record.get(agent_name)

    # -- what this process knows (IDispatcher), delegated to its parts --

    def noteCompletion(self, agent, job):
        """See IJobRunner.noteCompletion."""
        self._workers[(agent.queue.name, agent.name)].note_completion(job)

    def noteFinished(self, job):
        """See IJobRunner.noteFinished."""
        self._finished.note(job)

    def recordJob(self, job, event):
        """See IJobRunner.recordJob."""
        self.state.recordJob(job, event)

    def getJobInfo(self, key):
        """See IDispatcher.getJobInfo."""
        return self.state.getJobInfo(key)

    def getActiveJobs(self, queue_name=None, agent_name=None):
        """See IDispatcher.getActiveJobs."""
        keys = []
        for (queue, agent), workers in list(self._workers.items()):
            if queue_name is not None and queue != queue_name or \
                    agent_name is not None and agent != agent_name:
                continue
            keys.extend(utils.oid_key(o) for o in workers.known_oids())
        return sorted(keys)

    def getStatusInfo(self):
        """See IDispatcher.getStatusInfo."""
        info = self.state.getStatusInfo(
            time.monotonic(), running=self.activated and not self.stopped,
            poll_interval=self.poll_interval)
        info.update(
            uuid=str(self.UUID), poll_interval=self.poll_interval,
            ping_interval=self.ping_interval,
            ping_death_interval=self.ping_death_interval,
            active_queues=sorted(self.liveness.activated_queues),
            active_jobs=len(self.getActiveJobs()),
            workers=[w.status() for w in list(self._workers.values())])
        return info
