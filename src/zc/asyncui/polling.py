"""One poll's decisions for one agent of a dispatcher: how many jobs to
claim (prefetch included), which held jobs to hand to the workers again,
and how the jobs the workers completed are written back; and how failed
polls are logged.

Functions of explicit inputs (the agent, its ``AgentWorkers``, the time),
called by the dispatcher's poll thread inside its poll transaction
(zc.asyncui.dispatcher); they never commit.
"""
import logging
import threading
import time

from zc.asyncui import history
from zc.asyncui import utils

logger = logging.getLogger('zc.asyncui.dispatcher')

# Tuning constants, not settings: each is tied to a cost measured in
# bench/ rather than to a deployment's choice (settings live in
# zc.asyncui.settings).
#: Work claimed ahead per worker, in seconds at the agent's recent pace:
#: long enough that short jobs are claimed in batches (one commit each),
#: short enough that other processes still get a share.
PREFETCH_SECONDS = 0.25
#: Jobs at least this long are not prefetched: the claim commit is then
#: negligible next to the job, and the job stays free for idle processes.
LONG_JOB_SECONDS = 0.5
#: A bound on one agent's prefetch, so that a burst of tiny jobs does not
#: hold thousands of jobs in one process (and one claim commit).
MAX_PREFETCH = 128
#: At light load the completions of a quiet agent wait this long (from
#: the last one) for more, or until this many wait, before a commit of
#: their own writes them: one such commit per job doubled the poll
#: thread's commits, and the lock its fsync holds delays the next claim
#: or start.  Busy agents' completions ride on claims, as before.
QUIET_FLUSH_SECONDS = 0.2
QUIET_FLUSH_COUNT = 32


class PollResult:
    """What one poll of one queue did, for the poll thread to act on after
    its commit: activated in the queue?, (workers, oids) claimed, log
    messages (level, message, args), (workers, completions) flushed, and
    the generation of agent specs applied (see Liveness.createAgents)."""

    def __init__(self):
        self.agents_applied = None
        self.activated = True
        self.claims = []
        self.messages = []
        self.flushed = []
        self.finished = []   # FinishedJobs oids recorded


def claim(agent, workers, now, done, grow_pool):
    """Claim jobs for ``agent`` in the current transaction, as many as its
    ``workers`` have room for, prefetch included; return their oids.
    Resizes the workers to the agent's size first (``grow_pool(delta)``
    grows the database's connection pool to match) and hands held jobs
    no worker knows about to them again.  ``done``: the completions noted
    for this agent, (oid, end) pairs."""
    size = agent.size
    workers.replace_dead()
    if workers.size != size:
        grow_pool(size - workers.size)
        workers.resize(size)
    if size == 0:
        return []
    _resubmit_held(agent, workers, done)
    capacity = size + prefetch(agent, workers)
    batch = max(1, capacity // 2)
    # Ask for the next poll as soon as a batch fits: when the jobs
    # waiting in the inbox (plus one running per worker) leave room.
    workers.inbox.low_water = max(0, capacity - batch - size)
    # The ``done`` held jobs are complete and leave the agent in this
    # transaction if it claims anything.
    free = capacity - len(agent) + len(done)
    # Whether due work may be left in the queue once this claim is done
    # (see AgentWorkers.backlog): when it took all there was, nothing
    # but a new job (which wakes the dispatcher itself) needs a poll.
    workers.backlog = True
    if free <= 0 or (free < batch and not workers.idle):
        return []
    if not agent.queue.hasDue(now):
        workers.backlog = False
        return []
    oids = [job._p_oid for job in agent.claimJobs(free, now)]
    workers.backlog = len(oids) >= free or agent.queue.hasDue(now)
    return oids

def _resubmit_held(agent, workers, done):
    # Self-healing: a held job no thread of this process knows about
    # (dropped on a stale snapshot, or its worker lost it) goes to the
    # workers again; _start skips what is not startable any more and
    # hands a lost ACTIVE job to its retry policy.  ``done``: the
    # completions noted for this agent, (oid, end) pairs.
    # (Membership tests only: worker threads change ``known``.)
    known = workers.known
    finished = {oid for oid, _ in done}
    missing = [oid for oid in agent.heldOids()
               if oid not in known and oid not in finished]
    if missing:
        workers.submit(missing)

def prefetch(agent, workers):
    """How many claimed jobs to hold beyond ``size``.

    Enough for about PREFETCH_SECONDS of work per worker at the
    agent's recent pace, so that short jobs are claimed in batches
    (one commit per batch) while long jobs stay in the queue for
    other dispatchers.  ``agent.prefetch`` overrides it.

    The pace is that of the calls (the jobs' own work), not of the whole
    runs: a run includes its commit, which waits for the commits of the
    other processes (RelStorage's commit lock, a ZEO server) and for
    CPU.  Paced by runs, more processes made slower commits, hence
    smaller claims and smaller groups (zc.asyncui.grouping), hence more
    commits per job: with 4 processes on RelStorage the prefetch fell to
    about 20 and the commits per job doubled (bench/multiprocess.py).
    """
    if agent.prefetch is not None:
        return agent.prefetch
    ema = workers.call_ema
    if ema is None:
        ema = workers.duration_ema
    if ema is None:
        return agent.size
    if ema >= LONG_JOB_SECONDS:
        return 0
    return min(MAX_PREFETCH, max(agent.size, int(
        agent.size * PREFETCH_SECONDS / max(ema, 1e-6))))


def flush_now(claimed, idle, quiet, due):
    """Whether this poll writes the completions noted for an agent:
    ``claimed``, the jobs it claims for the agent; ``idle``, its workers
    with nothing to do before the claim; ``quiet``, no job of the agent
    running, being started or waiting (AgentWorkers.quiet); ``due``: they
    may not wait (many, old, or the poll prunes anyway).

    Busy workers' completions wait for a commit the poll makes anyway (a
    claim, one per batch).  A claim that idle workers start at once is
    not that commit: its start waits for it, so it stays small, and the
    completions wait for the poll that follows once the workers are quiet
    (they ask for it), which writes them in a commit of its own -- after
    the start, never between a claim and its start."""
    if due:
        return True
    if claimed:
        return not idle
    return quiet


def quiet_flush_delay(done, now):
    """Seconds the completions ``done`` ((oid, end timestamp) pairs) of a
    quiet agent may still wait for more at ``now`` (a timestamp); 0.0:
    write them now."""
    ends = [end for _, end in done if end is not None]
    if len(done) >= QUIET_FLUSH_COUNT or not ends:
        return 0.0
    return max(0.0, QUIET_FLUSH_SECONDS - (now - max(ends)))


def flush_completions(agent, workers, done, result):
    """Take the jobs the workers completed (``done``: (oid, end) pairs)
    off ``agent`` and record their completion; ``result`` (a PollResult)
    says which to drop from ``workers`` once this transaction commits."""
    # Noted only after a commit that made each job COMPLETED, which is
    # final: no need to load (unpickle) the jobs here.
    conn = agent._p_jar
    jobs = [conn.get(oid) for oid, _ in done]
    for job in jobs:
        agent.remove(job)
    agent.recordCompletions(jobs, [end for _, end in done])
    # The durable history, in this batched commit of the poll thread:
    # one writer per shard (this dispatcher), the worker commits untouched.
    history.record(conn, jobs, agent.__parent__.UUID,
                   workers.completion_facts(done))
    result.flushed.append((workers, done))


class FinishedJobs:
    """Jobs this process's workers committed COMPLETED that no agent's
    completion flush records in the history: callbacks (no agent holds
    them) and jobs completed after their callbacks (their agent let them
    go in that commit).  Workers ``note``; the poll thread ``take``s,
    records them in a commit, then ``drop``s them.  Thread-safe."""

    #: Worth a commit of their own when this many or this old (seconds).
    FLUSH_COUNT = 200
    FLUSH_SECONDS = 5.0

    def __init__(self):
        self._lock = threading.Lock()
        self._noted = []   # (noted at, oid)

    def note(self, job):
        with self._lock:
            self._noted.append((time.monotonic(), job._p_oid))

    def take(self):
        """(oids, urgent), as AgentWorkers.take_completions."""
        with self._lock:
            noted = list(self._noted)
        if not noted:
            return [], False
        urgent = (len(noted) >= self.FLUSH_COUNT or
                  time.monotonic() - noted[0][0] > self.FLUSH_SECONDS)
        return [oid for _, oid in noted], urgent

    def drop(self, oids):
        # Only appended meanwhile: the recorded ones are still the first.
        with self._lock:
            del self._noted[:len(oids)]


def record_finished(conn, uuid, finished, writing, result):
    """In the poll transaction: record in the history (shard ``uuid``)
    the ``finished`` jobs (a FinishedJobs) when this transaction writes
    anyway (``writing``) or they are urgent, and the jobs other
    transactions noted (cancelled before they started, see
    history.note); ``result.finished`` says what to drop after the
    commit."""
    oids, urgent = finished.take()
    if oids and (writing or urgent):
        history.record(conn, [conn.get(oid) for oid in oids], uuid)
        result.finished = oids
    history.record_noted(conn, uuid)


def missing_database(error):
    """The name of the database that ``error`` (or what caused it) failed
    to reach because this process's multi-database lacks it: ZODB's
    Connection.get_connection raises KeyError(name) while loading an
    object that refers to it.  None for any other error."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, KeyError) and error.args and isinstance(
                error.args[0], str):
            tb = error.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_name == 'get_connection':
                    return error.args[0]
                tb = tb.tb_next
        error = error.__cause__ or error.__context__
    return None


def log_poll_failure(uuid, error, failures):
    """Log that the poll of dispatcher ``uuid`` failed with ``error``,
    the ``failures``-th time in a row."""
    # Once, then after 10 and every 100 failures in a row.
    repeated = failures in (1, 10) or failures % 100 == 0
    if utils.is_conflict(error):
        # Routine under load (each poll already retried its
        # transaction): DEBUG until they repeat.
        level = logging.WARNING if (
            failures >= 10 and repeated) else logging.DEBUG
        logger.log(level, 'dispatcher %s: poll failed %d times in a row'
                   ' with a conflict (%s); retrying. Other processes'
                   ' writing the same queue cause this; it resolves'
                   ' itself.', uuid, failures, error)
        return
    if not repeated:
        return
    missing = missing_database(error)
    if missing is not None:
        logger.error('dispatcher %s: poll failed %d times in a row: a job'
                     ' refers to objects of the database %r, which this'
                     ' process did not open; retrying. Open it in the'
                     ' multi-database of every worker process (docs/'
                     'tips.rst, "Queues in their own database").', uuid,
                     failures, missing)
    elif utils.is_transient(error):
        logger.warning('dispatcher %s: poll failed %d times in a row'
                       ' with %s: %s; retrying. A database that is down'
                       ' or busy resolves itself when it returns.',
                       uuid, failures, type(error).__name__,
                       str(error) or 'the storage is unreachable')
    else:
        logger.error('dispatcher %s: poll failed %d times in a row;'
                     ' retrying.', uuid, failures, exc_info=True)
