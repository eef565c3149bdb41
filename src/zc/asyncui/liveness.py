"""Dispatcher liveness: activation in each queue, watching a neighbour
for death, and the "UUID already activated" situation (seed item 2).

A dispatcher activates itself in a queue by writing its process token in
its record.  If the record is already active for another token, either
this instance died uncleanly (written on this host by a process that is
gone: recover its jobs at once; otherwise its old record stops pinging:
wait for the death interval, then recover them quietly) or another live
process uses the same instance UUID (its record keeps pinging: warn once,
with a periodic reminder, and stay out of the queue).

Nobody is judged dead from silence that overlaps the judge's own
inability to reach the storage (failed, blocked or disconnected polls):
see ``Liveness._fair_to_judge``.
"""
import logging
import os
import threading
import time

import transaction

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import polling
from zc.asyncui import queueroot
from zc.asyncui import settings
from zc.asyncui import utils
from zc.asyncui.agent import Agent

logger = logging.getLogger('zc.asyncui.dispatcher')

#: How often the "another live process uses this UUID" warning repeats:
#: often enough to be seen in a log, rarely enough not to flood it.
UUID_REMINDER_SECONDS = 600.0
#: After its own outage, a dispatcher waits this long beyond the death
#: interval before judging others: ZEO clients reconnect on their own
#: schedule (a try every 1 to 2 seconds, then cache verification), so a
#: live neighbour may get back a few seconds after the judge.
RECONNECT_GRACE_SECONDS = 5.0


class Liveness:
    """One dispatcher's standing among the dispatchers of each queue: its
    activation, its judgement of its neighbour, and its own outages.

    A component the dispatcher holds (``dispatcher.liveness``), with
    explicit inputs: the identity of this process (UUID, process token,
    host, pid, instance file), its intervals in seconds, the agents it
    adds (the ``main`` agent of ``main_agent_size``, and ``agents``: see
    ``addAgentSpec``), and ``is_connected`` (the storage's, or None).
    Called by the poll thread only, inside its poll transactions, except
    ``addAgentSpec`` and ``deactivate_all`` (at stop, in a transaction of
    its own).
    """

    def __init__(self, uuid, token, *, host, pid, poll_interval,
                 ping_interval, ping_death_interval, main_agent_size,
                 uuid_file, is_connected=None, agents=()):
        self.uuid = uuid
        self.token = token
        self.host = host
        self.pid = pid
        self.poll_interval = poll_interval
        self.ping_interval = ping_interval
        self.ping_death_interval = ping_death_interval
        self.main_agent_size = main_agent_size
        self.uuid_file = uuid_file
        self._is_connected = is_connected
        # Agents to create where missing: queue name (None: every queue)
        # -> {agent name: Agent keyword arguments}.  Replaced, never
        # changed in place, so the poll thread reads it without a lock.
        self._agent_specs = {}
        self._specs_lock = threading.Lock()
        #: Bumped by each addAgentSpec; ``agents_applied`` holds, per
        #: queue, the generation whose agents a committed poll created.
        self.agent_generation = 0
        self.agents_applied = {}
        if main_agent_size:
            self.addAgentSpec(None, 'main', {'size': main_agent_size})
        for queue_name, name, options in agents:
            self.addAgentSpec(queue_name, name, options)
        #: Names of the queues where this dispatcher is active.
        self.activated_queues = set()
        #: When polls last resumed after an outage (monotonic; -inf: none
        #: since start).
        self.healthy_since = float('-inf')
        # When the current poll began (monotonic), to tell a blocked poll
        # from a slow one; and how long a poll, or the pause between
        # polls beyond poll_interval, may take before it counts as an
        # outage: half the margin between ping and death intervals, so
        # that a shorter stall cannot make a live neighbour look dead.
        self._poll_started = None
        self._stall_seconds = (ping_death_interval - ping_interval) / 2
        self._busy_uuid = {}

    # -- the poll thread's outages ----------------------------------------

    def poll_started(self):
        self._poll_started = time.monotonic()

    def note_gap(self, failures, last_poll):
        """Before a poll: after failed polls or a long pause (the
        database was away, the machine stalled), every dispatcher's pings
        are late, not only a dead one's: see _fair_to_judge."""
        now = time.monotonic()
        if failures or (last_poll is not None and now - last_poll >
                        self.poll_interval + self._stall_seconds):
            self.healthy_since = now

    def activate(self, queue, record, now, result):
        """Activate this dispatcher in ``queue`` (``record``: its record
        there, or None); False if another live process holds it."""
        if record is None:
            record = queue.getDispatcherAgents(self.uuid, create=True)
        if record.activated is not None and \
                record.process_token != self.token:
            if queue.name in self.activated_queues:
                return self._reactivate_after_false_death(queue, record, now,
                                                          result)
            earlier = self._is_own_earlier_run(record)
            state = self._watch_busy_record(queue, record)
            if not earlier and not self._may_take_over(record, now, state):
                self._explain_busy_uuid(queue, record, now, state)
                return False
            self._recover_earlier_run(queue, record, now, result, earlier)
        elif record.activated is None and queue.name in \
                self.activated_queues:
            result.messages.append((
                logging.WARNING, 'dispatcher %s: was deactivated in queue %r'
                ' by another dispatcher that thought it dead (no ping for'
                ' %.0fs). Jobs it was running there were handed on; their'
                ' attempts here will be dropped. Reactivating now. If this'
                ' repeats, raise ping_death_interval or find what delays'
                ' polling (long commits, a paused machine, clock skew).',
                (self.uuid, queue.name, self.ping_death_interval)))
        record.ping_interval = self.ping_interval
        record.ping_death_interval = self.ping_death_interval
        record.activate(self.host, self.pid, self.token, now)
        self.createAgents(queue, record)
        self._busy_uuid.pop(queue.name, None)
        return True

    # -- the agents this dispatcher adds ---------------------------------

    def addAgentSpec(self, queue_name, name, options):
        """Create an agent ``name`` (``Agent(**options)``) in queue
        ``queue_name`` (None: in every queue) wherever this dispatcher
        activates and has no agent of that name; an existing agent keeps
        its settings.  Any thread may call it: the poll thread then
        creates the agent at its next poll in queues where it is already
        active (see ``agentsOutdated``).  ``options`` are checked now
        against the agent settings table (ConfigurationError), so that a
        bad agent fails where it is specified, not at a later poll."""
        if not isinstance(name, str) or not name:
            raise errors.ConfigurationError(
                'An agent name is a non-empty string, not %r' % (name,))
        settings.validate('agent', options)
        with self._specs_lock:  # two threads adding: neither is lost
            specs = {q: dict(a) for q, a in self._agent_specs.items()}
            specs.setdefault(queue_name, {})[name] = dict(options)
            self._agent_specs = specs
            self.agent_generation += 1

    def agentsOutdated(self, queue_name):
        """True when agents were specified since the last committed poll
        that created the agents of ``queue_name``."""
        return self.agents_applied.get(queue_name) != self.agent_generation

    def createAgents(self, queue, record):
        """Add the specified agents missing from ``record`` (this
        dispatcher's record in ``queue``); the queue's own specs first,
        then those for every queue.  Returns the generation applied."""
        generation, specs = self.agent_generation, self._agent_specs
        for key in (queue.name, None):
            for name, options in specs.get(key, {}).items():
                if name not in record:
                    record[name] = Agent(**options)
        return generation

    def _is_own_earlier_run(self, record):
        """True when ``record`` was left by an earlier run of this
        instance that cannot be alive: written on this host by this
        process (an earlier dispatcher of it) or by a process that no
        longer exists.  Such a record need not wait for its death
        interval.  A live process with that pid (perhaps a reused pid)
        or another host: we cannot tell, so the record is judged by its
        pings."""
        if record.host != self.host or not record.pid:
            return False
        return record.pid == self.pid or not _pid_alive(record.pid)

    def _recover_earlier_run(self, queue, record, now, result, at_once):
        counts = record.deactivate(
            'unclean shutdown of dispatcher %s found at restart'
            % self.uuid, now)
        if at_once:
            why = ' at once (its process, pid %s on this host, is gone)' % (
                record.pid,)
        else:
            why = ' (silent for more than %gs)' % record.ping_death_interval
        result.messages.append((
            logging.INFO, 'dispatcher %s: recovered from an unclean'
            ' shutdown of this instance in queue %r%s; its jobs: %s',
            (self.uuid, queue.name, why, describe_outcomes(counts))))

    def _reactivate_after_false_death(self, queue, record, now, result):
        # Our record was taken by another process with our UUID.
        state = self._watch_busy_record(queue, record, taken=True)
        self._explain_busy_uuid(queue, record, now, state)
        self.activated_queues.discard(queue.name)
        return False

    def _fair_to_judge(self):
        """False while silence this dispatcher sees may overlap its own
        inability to reach the storage: its polls failed, or this poll
        (or the pause before it) was blocked, recently.  The others then
        get a death interval, plus time to reconnect, to ping again
        before anyone is judged by their old pings."""
        now = self.note_stall()
        return now - self.healthy_since >= (
            self.ping_death_interval + RECONNECT_GRACE_SECONDS)

    def note_stall(self):
        """A poll blocked longer than a stall (waiting for an unreachable
        storage, say) counts as an outage, and so does a storage that
        says it is disconnected (a ZEO client then serves reads from its
        cache: a poll that writes nothing neither fails nor blocks).
        Returns the monotonic time."""
        now = time.monotonic()
        started = self._poll_started
        is_connected = self._is_connected
        if (started is not None and now - started > self._stall_seconds) \
                or (is_connected is not None and not is_connected()):
            self.healthy_since = now
        return now

    def check_neighbour(self, queue, now, result):
        """Deactivate this dispatcher's neighbour in ``queue`` if it is
        dead, judged fairly; True if it did (its jobs went back to the
        queue or to their retry policies)."""
        if not self._fair_to_judge():
            return False
        live = sorted(u for u, r in queue.dispatchers.items()
                      if r.activated is not None)
        me = str(self.uuid)
        if me not in live or len(live) < 2:
            return False
        neighbour = queue.dispatchers[live[(live.index(me) + 1) % len(live)]]
        if not neighbour.isDead(now):
            return False
        seen = neighbour.lastSeen()
        counts = neighbour.deactivate('dispatcher %s found it dead'
                                      % self.uuid, now)
        result.messages.append((
            logging.WARNING, 'dispatcher %s: dispatcher %s in queue %r was'
            ' silent since %s (more than %gs): deactivated it; its jobs: %s',
            (self.uuid, neighbour.UUID, queue.name, seen.isoformat(),
             neighbour.ping_death_interval, describe_outcomes(counts))))
        return True

    # -- deactivation at a clean stop ----------------------------------

    def deactivate_all(self, db, finished, reason, seconds):
        """Deactivate this dispatcher's records in every queue of ``db``
        for ``reason``, and record in the history the ``finished`` jobs
        no agent holds (a polling.FinishedJobs), in one transaction,
        trying for at most about ``seconds`` (the database may be gone:
        then another dispatcher recovers the jobs after
        ``ping_death_interval``).  Returns the outcome counts of the jobs
        it held (describe_outcomes)."""
        is_connected = getattr(db.storage, 'is_connected', None)
        if is_connected is not None and not is_connected():
            logger.warning(
                'dispatcher %s: the database is unreachable, so it stops'
                ' without deactivating; another dispatcher (or this one,'
                ' restarted) recovers its jobs after %gs of silence',
                self.uuid, self.ping_death_interval)
            return {}
        deadline = time.monotonic() + seconds
        tm = transaction.TransactionManager()
        primary, conn = queueroot.openConnection(db, tm)
        totals = {}

        result = polling.PollResult()

        def work():
            totals.clear()
            queues = conn.root().get(interfaces.KEY) or {}
            for queue in queues.values():
                record = queue.getDispatcherAgents(self.uuid)
                if record is None or record.process_token != self.token:
                    continue
                # Its held jobs the workers completed are recorded as
                # they are released (recovery.release) ...
                for outcome, n in record.deactivate(reason).items():
                    totals[outcome] = totals.get(outcome, 0) + n
            # ... and the finished jobs no agent holds (callbacks, jobs
            # completed after them) in this same last transaction.
            polling.record_finished(conn, str(self.uuid), finished,
                                    True, result)
        try:
            utils.retry_transaction(
                tm, work, 'deactivate dispatcher %s' % self.uuid,
                stop=lambda: time.monotonic() > deadline)
            finished.drop(result.finished)
        except Exception:
            logger.exception(
                'dispatcher %s: could not deactivate at stop; another'
                ' dispatcher (or this one, restarted) recovers its jobs'
                ' after %gs of silence', self.uuid, self.ping_death_interval)
        finally:
            primary.close()
        return totals

    # -- "UUID already activated" (seed item 2) -------------------------

    def _watch_busy_record(self, queue, record, taken=False):
        """What this dispatcher saw of a record of its UUID that another
        process holds: its last ping, when that last changed (monotonic),
        and whether that process showed it is alive (it pinged while we
        watched, its pid lives on this host, or it took our record)."""
        state = self._busy_uuid.get(queue.name)
        if state is None:
            state = self._busy_uuid[queue.name] = {
                'ping': record.last_ping, 'changed': time.monotonic(),
                'live': False, 'warned': None, 'explained': False}
        elif record.last_ping != state['ping']:
            state['ping'], state['changed'] = record.last_ping, \
                time.monotonic()
            state['live'] = True
        if taken or (record.host == self.host and record.pid != self.pid
                     and _pid_alive(record.pid)):
            state['live'] = True
        return state

    def _may_take_over(self, record, now, state):
        """A record of our UUID held by another process may be taken over
        when it is dead, judged fairly (see _fair_to_judge); and, once
        that process showed it is alive, only after we watched its record
        stay silent for a death interval of our own healthy time."""
        if not self._fair_to_judge() or not record.isDead(now):
            return False
        if not state['live']:
            return True
        watched = time.monotonic() - max(state['changed'], self.healthy_since)
        return watched > record.ping_death_interval

    def _explain_busy_uuid(self, queue, record, now, state):
        """Log, calmly and at most once (plus a periodic reminder for a real
        duplicate), why this dispatcher cannot activate in ``queue`` yet."""
        if state['live']:
            self._warn_duplicate_uuid(queue, record, state)
        elif not state['explained']:
            state['explained'] = True
            self._log_waiting(queue, record, now)

    def _log_waiting(self, queue, record, now):
        seen = record.lastSeen()
        wait = max(0.0, record.ping_death_interval - (
            now - seen).total_seconds())
        if record.host == self.host:
            held = sum(len(a) for a in record.values())
            logger.info(
                'dispatcher %s: recovering from an unclean shutdown of'
                ' this instance in queue %r; %d jobs will be re-queued'
                ' once its last ping (at %s) is older than %gs, in about'
                ' %.0f seconds', self.uuid, queue.name, held,
                seen.isoformat(), record.ping_death_interval, wait)
        else:
            logger.info(
                'dispatcher %s: queue %r shows this UUID active in pid %s'
                ' on host %s (last ping %s). Waiting about %.0f seconds:'
                ' if that process died, its jobs are then recovered; if'
                ' it keeps pinging, two processes share the instance'
                ' file %s.', self.uuid, queue.name, record.pid,
                record.host, seen.isoformat(), wait, self.uuid_file)

    def _warn_duplicate_uuid(self, queue, record, state):
        last = state['warned']
        if last is not None and \
                time.monotonic() - last < UUID_REMINDER_SECONDS:
            return
        state['warned'] = time.monotonic()
        logger.warning(
            'dispatcher %s: another live process (pid %s on host %s) uses'
            ' the same instance UUID in queue %r: two processes share the'
            ' instance file %s. Stop one of them, or give each process its'
            ' own file (--uuid-file; delete a copied file to get a new'
            ' UUID). This process will not run jobs from queue %r until'
            ' the other stops.%s', self.uuid, record.pid, record.host,
            queue.name, self.uuid_file, queue.name,
            ' (reminder)' if last is not None else '')


#: What happened to the jobs of a deactivated record, in words operators
#: understand, per outcome of zc.asyncui.recovery.release.
_OUTCOMES = (
    ('requeued', '%d not started yet, back in their queue'),
    ('retry', '%d interrupted while running, queued to run again'),
    ('rescheduled', '%d interrupted while running, rescheduled by their'
     ' retry policy'),
    ('aborted', '%d interrupted too often, failed with AbortedError'),
    ('resumed', '%d completed, back in their queue to run their'
     ' callbacks'),
    ('completed', '%d already completed, only taken off the agent'),
)


def describe_outcomes(counts):
    """``{'requeued': 2, 'completed': 11}`` in words: "2 not started yet,
    back in their queue; 11 already completed, only taken off the
    agent"; "no jobs" when there were none."""
    words = [text % counts[outcome] for outcome, text in _OUTCOMES
             if counts.get(outcome)]
    known = {outcome for outcome, _ in _OUTCOMES}
    words.extend('%d %s' % (n, outcome) for outcome, n in sorted(
        counts.items()) if outcome not in known and n)
    return '; '.join(words) or 'no jobs'


def _pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
