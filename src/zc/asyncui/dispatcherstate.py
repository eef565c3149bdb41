"""In-memory history and status of a dispatcher, for the monitor, views
and tests: recent polls, recent jobs, and a status summary.  Bounded, and
never written to the database."""
import collections
import logging
import threading
import time

from zc.asyncui import utils
from zc.asyncui.failure import Failure

logger = logging.getLogger(__name__)

# Bounds of in-memory history, not settings: enough for the monitor and
# views to show recent activity, small enough to cost nothing.
POLLS_KEPT = 400
JOBS_KEPT = 200
# A completion noted by a worker leaves its agent in the next commit the
# poll thread makes anyway; it gets a commit of its own only when this
# many wait or the oldest waited this long, so that agents do not list
# finished jobs for long while an idle dispatcher makes no extra commits.
COMPLETION_FLUSH_SECONDS = 5.0
COMPLETION_FLUSH_COUNT = 200


class DispatcherState:
    """The bookkeeping half of Dispatcher."""

    def __init__(self):
        self.polls = collections.deque(maxlen=POLLS_KEPT)
        self.jobs = collections.OrderedDict()
        self.poll_count = 0
        self.last_poll = None
        self.start_time = None
        self._state_lock = threading.Lock()
        self._completions = {}

    # -- completion records, added to agents by the poll thread ----------

    def noteCompletion(self, agent, job):
        """Remember (in memory) that a worker committed ``job`` as
        COMPLETED; the poll thread then takes it off its agent."""
        key = (agent.queue.name, agent.name)
        with self._state_lock:
            self._completions.setdefault(key, []).append(
                (time.monotonic(), job._p_oid, job._end_ts))

    def takeCompletions(self, queue_name, agent_name):
        """(done, urgent): the noted completions of one agent as (oid, end
        timestamp) pairs, and whether they are worth a commit of their own
        (many, or an old one).  The caller records them and calls
        ``dropCompletions`` after its commit."""
        with self._state_lock:
            pending = list(self._completions.get((queue_name, agent_name),
                                                 ()))
        if not pending:
            return [], False
        urgent = (len(pending) >= COMPLETION_FLUSH_COUNT or
                  time.monotonic() - pending[0][0] > COMPLETION_FLUSH_SECONDS)
        return [(oid, end) for _, oid, end in pending], urgent

    def dropCompletions(self, queue_name, agent_name, flushed):
        with self._state_lock:
            pending = self._completions.get((queue_name, agent_name), [])
            del pending[:len(flushed)]

    def notePoll(self, record):
        self.poll_count += 1
        self.last_poll = time.monotonic()
        if any(q['claimed'] or not q['activated'] for q in record.values()):
            self.polls.appendleft({'time': utils.now(), 'number':
                                   self.poll_count, 'queues': record})

    def recordJob(self, job, event):
        """Remember what happened to a job in this process."""
        # Cheap on purpose (runs for every job): the job itself is in the
        # database for anyone who wants more.
        info = {
            'key': job.key, 'event': event, 'status': job._status,
            'thread': threading.current_thread().name, 'time': time.time(),
            'failed': isinstance(job._result, Failure),
        }
        with self._state_lock:
            self.jobs.pop(job.key, None)
            self.jobs[job.key] = info
            while len(self.jobs) > JOBS_KEPT:
                self.jobs.popitem(last=False)

    def getJobInfo(self, key):
        with self._state_lock:
            return dict(self.jobs[key]) if key in self.jobs else None

    def getActiveJobs(self):
        """Keys of the jobs this process's workers hold right now."""
        keys = []
        for workers in list(self._workers.values()):
            keys.extend(utils.oid_key(o) for o in list(workers.known))
        return sorted(keys)

    def getStatusInfo(self):
        """See IDispatcher.getStatusInfo."""
        now = time.monotonic()
        if self.stopped or not self.activated:
            status = 'STOPPED'
        elif self.last_poll is None:
            status = ('STARTING' if now - self.start_time <
                      self.poll_interval * 2 + 1 else 'STUCK')
        elif now - self.last_poll > self.poll_interval * 2 + 1:
            status = 'STUCK'
        else:
            status = 'RUNNING'
        return {
            'uuid': str(self.UUID),
            'status': status,
            'poll_interval': self.poll_interval,
            'ping_interval': self.ping_interval,
            'ping_death_interval': self.ping_death_interval,
            'uptime': (None if self.start_time is None or self.stopped
                       else now - self.start_time),
            'since_last_poll': (None if self.last_poll is None
                                else now - self.last_poll),
            'polls': self.poll_count,
            'active_queues': sorted(self._activated_queues),
            'active_jobs': len(self.getActiveJobs()),
            'workers': self._worker_info(),
        }

    def _worker_info(self):
        """Per agent: its queue and name, worker threads wanted and alive,
        and how many died and were replaced (with the last death)."""
        return [{'queue': w.queue_name, 'agent': w.agent_name,
                 'size': w.size,
                 'alive': sum(1 for t in list(w.threads)
                              if t.is_alive() and not t.retire),
                 'replaced': w.replaced, 'last_death': w.last_death}
                for w in list(self._workers.values())]
