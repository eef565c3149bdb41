"""Job callables for the tests of a job's lifecycle (test_execution.py):
importable, so that jobs can store them by reference."""
import threading

from zc.asyncui import local

calls = []
_lock = threading.Lock()


def record(tag):
    with _lock:
        calls.append(tag)
    return tag


def raise_base(name):
    """Raise the BaseException named ``name`` (SystemExit, ...)."""
    with _lock:
        calls.append(name)
    raise {'SystemExit': SystemExit('job asked to exit'),
           'KeyboardInterrupt': KeyboardInterrupt(),
           'GeneratorExit': GeneratorExit('odd')}[name]


def return_self():
    return local.getJob()


def return_parent(result=None):
    return local.getJob().parent


_conflicted = set()


def conflict_once(tag):
    """Raise a ConflictError the first time it is called for ``tag``."""
    import ZODB.POSException
    with _lock:
        if tag not in _conflicted:
            _conflicted.add(tag)
            raise ZODB.POSException.ConflictError()
    return tag


def identity(value):
    return value


def fail_if(fail):
    if fail:
        raise ValueError('asked to fail')
    return 'ok'
