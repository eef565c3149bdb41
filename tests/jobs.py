"""Importable job callables for the tests (jobs must be picklable by
reference, so they live in a module)."""
import os
import threading
import time

import persistent
import transaction

from zc.asyncui import local

calls = []
_lock = threading.Lock()


def noop(x=None):
    return x


def add(a, b):
    return a + b


def record(tag):
    with _lock:
        calls.append(tag)
    return tag


def fail(message='boom'):
    raise ValueError(message)


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def who_am_i():
    job = local.getJob()
    return job.key, local.getAgentName()


def return_job(value):
    from zc.asyncui import Job
    return Job(add, value, 1)


def annotate_and_wait(seconds):
    local.setLiveAnnotation('progress', 'halfway')
    time.sleep(seconds)
    return 'done'


def kill_process():
    os._exit(17)


class Counter(persistent.Persistent):

    def __init__(self):
        self.value = 0
        self.log = ()

    def increment(self, key=None):
        self.value += 1
        if key is not None:
            self.log += (key,)
        return self.value


def increment_root_counter(name='counter'):
    job = local.getJob()
    counter = job._p_jar.root()[name]
    return counter.increment(job.key)


_conflicts_left = {}


def conflict_once(tag):
    """Raise a ConflictError the first time it is called for ``tag``."""
    import ZODB.POSException
    with _lock:
        if tag not in _conflicts_left:
            _conflicts_left[tag] = True
            raise ZODB.POSException.ConflictError()
    return tag


def wait_for_file(path, timeout=30.0):
    """Block until ``path`` exists (lets a test hold a job ACTIVE)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise RuntimeError('%s never appeared' % path)
        time.sleep(0.01)
    return path


def annotate_then_wait_for_file(path):
    local.setLiveAnnotation('progress', 'halfway')
    wait_for_file(path)
    return 'done'


def only_add(job):
    """An agent filter accepting jobs that call ``add``."""
    return getattr(job.callable, '__name__', None) == 'add'


class PersistentCallable(persistent.Persistent):
    """A persistent object that is itself a job's callable."""

    def __init__(self):
        self.calls = 0

    def __call__(self, value=None):
        self.calls += 1
        return ('called', value)


def accept_record_jobs(job):
    """A filter (for queues and agents): only jobs calling ``record``."""
    return getattr(job.callable, '__name__', None) == 'record'


def reject_all(job):
    """A filter that accepts nothing."""
    return False


# -- Used by the narrative docs in docs/ (reliability, queues, tips) -----

_flaky_calls = {}


def flaky(name, failures):
    """Raise OSError the first ``failures`` times it is called for
    ``name`` (counted in this process), then succeed."""
    with _lock:
        n = _flaky_calls[name] = _flaky_calls.get(name, 0) + 1
    if n <= failures:
        raise OSError('attempt %d of %s failed' % (n, name))
    return '%s succeeded on attempt %d' % (name, n)


def no_backoff(attempt):
    """A RetryPolicy backoff that retries at once (keeps docs fast)."""
    return 0.0


def always_conflict(*args):
    """Raise a ConflictError every time."""
    import ZODB.POSException
    raise ZODB.POSException.ConflictError()


def report(name):
    return 'report %s' % name


def is_report(job):
    """A filter (for queues and agents): only jobs calling ``report``."""
    return getattr(job.callable, '__name__', None) == 'report'


def newest_first(agent, candidates):
    """A chooser: the most recently put of the eligible jobs."""
    return max(candidates, key=lambda job: job.put_time)


def put_follow_up(result):
    """A quick callback: put the slow work in a new job of the same
    queue and return that job's key."""
    from zc.asyncui import Job
    job = local.getQueue().put(Job(sleep, 0.01))
    job.annotations['for_result'] = result
    return job.key


def wait_for_log(handler, text, timeout=10.0):
    """Wait until ``handler`` (a zope.testing.loggingsupport handler) has
    a record containing ``text``; return its level and message."""
    deadline = time.monotonic() + timeout
    while True:
        for record in list(handler.records):
            try:
                message = record.getMessage()
            except Exception:  # an argument that cannot be shown any more
                continue
            if text in message:
                return '%s %s' % (record.levelname, message)
        if time.monotonic() > deadline:
            raise AssertionError('no log record containing %r' % text)
        time.sleep(0.01)


def describe_failure(failure):
    """A failure handler for ``addCallbacks``: return a description."""
    return 'handled %s' % failure.getTraceback('brief')


def note_in_transaction(text):
    """Writes through transaction.get(): the job's own transaction."""
    job = local.getJob()
    assert job._p_jar.transaction_manager.get() is transaction.get()
    job.annotations['note'] = text
    transaction.savepoint()
    return text


_barriers = {}


def meet(name, parties=2, timeout=10.0):
    """Wait until ``parties`` jobs called with ``name`` run at once."""
    with _lock:
        barrier = _barriers.setdefault(name, threading.Barrier(parties))
    barrier.wait(timeout)
    return name


def one_minute_backoff(attempt):
    """A RetryPolicy backoff: retry a minute later (tests move a
    FakeClock)."""
    return 60.0


def put_another(depth):
    """Put a job that calls this again: a job that keeps putting jobs."""
    from zc.asyncui import Job
    local.getQueue().put(Job(put_another, depth + 1))
    return depth


class RaisingRepr:
    """An argument whose repr raises (the pages must survive it)."""

    def __repr__(self):
        raise RuntimeError('this repr always fails')
