"""Demo jobs, and a bounded trickle of them for ``zc-asyncui serve
--demo``.

The jobs are plain importable functions, so they can also be put by
hand (``zc-asyncui put zc.asyncui.demo.add 1 2``).  Together they show
what a new user wants to see at once: successes, failures with
tracebacks, retries, scheduled jobs, jobs that report progress, long
jobs and callbacks.

``Trickle`` puts one demo job every ``interval_seconds`` in a thread,
cycling through ``KINDS``, and puts nothing while the queue already has
``max_pending`` jobs pending: however long it runs, it never floods the
database or the workers.
"""
import datetime
import logging
import random
import threading
import time

import transaction

import zc.asyncui
from zc.asyncui import local
from zc.asyncui import retry
from zc.asyncui import utils

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 3.0
DEFAULT_MAX_PENDING = 10
#: How far in the future the scheduled demo job begins.
SCHEDULE_SECONDS = 15.0


class DemoError(Exception):
    """Raised on purpose by the failing demo jobs."""


class DemoUnavailable(DemoError):
    """Raised by ``flaky`` until its third attempt; retried."""


# -- the jobs -------------------------------------------------------------

def add(a, b):
    """A quick success."""
    return a + b


def fail(reason='the demo asked for it'):
    """A failure with a traceback."""
    return _check_invoice({'number': 42, 'total': None}, reason)


def _check_invoice(invoice, reason):
    if invoice['total'] is None:
        raise DemoError('invoice %d has no total (%s)'
                        % (invoice['number'], reason))
    return invoice['total']


def flaky(succeed_on_attempt=3):
    """Fails with DemoUnavailable until attempt ``succeed_on_attempt``;
    put it with ``FLAKY_RETRY`` as its retry policy."""
    attempt = len(local.getJob().attempts)
    if attempt < succeed_on_attempt:
        raise DemoUnavailable('the remote service did not answer (attempt'
                              ' %d of %d)' % (attempt, succeed_on_attempt))
    return 'answered at attempt %d' % attempt


def retry_after_two_seconds(attempt):
    """The demo's backoff: a short fixed delay, so retries show soon."""
    return 2.0


#: The retry policy of ``flaky``: DemoUnavailable is retried.
FLAKY_RETRY = retry.RetryPolicy(max_attempts=5, retry_on=(DemoUnavailable,),
                                backoff=retry_after_two_seconds)


def progress(steps=10, step_seconds=0.5):
    """Reports its progress as the live annotation 'progress'."""
    for step in range(1, steps + 1):
        time.sleep(step_seconds)
        local.setLiveAnnotation('progress', '%d/%d' % (step, steps))
    return 'done %d steps' % steps


def long_job(seconds=20.0):
    """Keeps a worker busy for ``seconds``."""
    time.sleep(seconds)
    return 'slept %gs' % seconds


def report(result):
    """A callback: receives the job's result (or its Failure)."""
    return 'the job answered %r' % (result,)


# -- putting them ----------------------------------------------------------

def _put_add(queue):
    job = queue.put(zc.asyncui.Job(add, random.randint(1, 99),
                                   random.randint(1, 99)))
    job.addCallback(report)
    return job


def _put_scheduled(queue):
    return queue.put(zc.asyncui.Job(add, 1, 1), begin_after=utils.now()
                     + datetime.timedelta(seconds=SCHEDULE_SECONDS))


#: (name, put function) in the order the trickle cycles through them.
KINDS = (
    ('success with a callback', _put_add),
    ('failure', lambda queue: queue.put(zc.asyncui.Job(fail))),
    ('retried', lambda queue: queue.put(zc.asyncui.Job(flaky),
                                        retry_policy_factory=FLAKY_RETRY)),
    ('progress', lambda queue: queue.put(zc.asyncui.Job(progress))),
    ('scheduled in 15s', _put_scheduled),
    ('long', lambda queue: queue.put(zc.asyncui.Job(long_job))),
)


def put_one(db, index, queue_name='', max_pending=DEFAULT_MAX_PENDING):
    """Put demo job number ``index`` (cycling through KINDS) in its own
    transaction; returns its kind's name, or None when the queue already
    has ``max_pending`` jobs pending."""
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        with tm:
            queue = zc.asyncui.getQueue(conn, queue_name)
            if len(queue) >= max_pending:
                return None
            name, put = KINDS[index % len(KINDS)]
            put(queue)
        return name
    finally:
        conn.close()


class Trickle:
    """A thread that puts a demo job every ``interval_seconds``."""

    def __init__(self, db, queue_name='',
                 interval_seconds=DEFAULT_INTERVAL_SECONDS,
                 max_pending=DEFAULT_MAX_PENDING):
        self.db = db
        self.queue_name = queue_name
        self.interval_seconds = interval_seconds
        self.max_pending = max_pending
        self.put_count = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='zc.asyncui demo trickle')

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout=10.0):
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self):
        while not self._stopping.is_set():
            self._put_next()
            self._stopping.wait(self.interval_seconds)

    def _put_next(self):
        try:
            name = put_one(self.db, self.put_count, self.queue_name,
                           self.max_pending)
        except Exception:
            # The database may be unreachable for a while (ZEO): the
            # trickle only waits for the next turn.
            logger.exception('demo trickle: could not put a demo job in'
                             ' queue %r; trying again in %gs',
                             self.queue_name, self.interval_seconds)
            return
        if name is not None:
            self.put_count += 1
            logger.debug('demo trickle: put a %s job in queue %r', name,
                         self.queue_name)
