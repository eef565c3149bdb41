"""In-memory history and status of a dispatcher, for the monitor, views
and tests: recent polls, recent jobs, and a status summary.  Bounded, and
never written to the database.  (Where each job is in this process is
kept by zc.asyncui.worker.AgentWorkers.)"""
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


class DispatcherState:
    """The in-memory history of one dispatcher: recent polls, recent jobs,
    poll count and times.  A component the dispatcher holds
    (``dispatcher.state``); it reads nothing of the dispatcher.  Polls
    are noted by the poll thread, jobs by any worker thread (under
    ``_lock``)."""

    def __init__(self):
        self.polls = collections.deque(maxlen=POLLS_KEPT)
        self.jobs = collections.OrderedDict()
        self.poll_count = 0
        self.last_poll = None
        self.start_time = None
        self._lock = threading.Lock()

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
        key = job.key
        info = {
            'key': key, 'event': event, 'status': job._status,
            'thread': threading.current_thread().name, 'time': time.time(),
            'failed': isinstance(job._result, Failure),
            'started': job._start_ts, 'ended': job._end_ts,
            'queue': getattr(job._queue, 'name', None),
            'agent': getattr(job._agent, 'name', None),
        }
        with self._lock:
            self.jobs.pop(key, None)
            self.jobs[key] = info
            while len(self.jobs) > JOBS_KEPT:
                self.jobs.popitem(last=False)

    def getJobInfo(self, key):
        with self._lock:
            return dict(self.jobs[key]) if key in self.jobs else None

    def recentJobs(self):
        """Copies of the remembered job records, oldest first."""
        with self._lock:
            return [dict(info) for info in self.jobs.values()]

    def getStatusInfo(self, now, running, poll_interval):
        """status, uptime, since_last_poll and polls at monotonic time
        ``now``, for a dispatcher that is ``running`` (started, not
        stopped) and polls every ``poll_interval`` seconds."""
        late = poll_interval * 2 + 1
        if not running:
            status = 'STOPPED'
        elif self.last_poll is None:
            status = 'STARTING' if now - self.start_time < late else 'STUCK'
        elif now - self.last_poll > late:
            status = 'STUCK'
        else:
            status = 'RUNNING'
        return {
            'status': status,
            'uptime': (None if self.start_time is None or not running
                       else now - self.start_time),
            'since_last_poll': (None if self.last_poll is None
                                else now - self.last_poll),
            'polls': self.poll_count,
        }
