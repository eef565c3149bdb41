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
