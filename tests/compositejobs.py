"""Job callables for the composite tests (importable: jobs are stored
by reference)."""
import os

from zc.asyncui import composite
from zc.asyncui import local
from zc.asyncui.job import Job


def grow(value, *more):
    """A component that adds ``more`` components to its own composite."""
    outer = composite.outer_of(local.getJob())
    composite.extend(outer, *[Job(echo, m) for m in more])
    return value


def echo(value):
    return value


def total(*jobs):
    """A postprocess: the sum of the components' results."""
    return sum(job.result for job in jobs)


def keys(*jobs):
    """A postprocess that shows what it was given."""
    return [job.status.value for job in jobs]


def pid():
    return os.getpid()


def pid_slowly(seconds):
    import time
    time.sleep(seconds)
    return os.getpid()


def slow_results(*jobs):
    """A postprocess that takes a while (so a test can kill its process)
    and counts its own completed runs in the mpjobs ledger."""
    import time
    import mpjobs
    time.sleep(1.5)
    book = local.getJob()._p_jar.root()[mpjobs.LEDGER]
    book.runs['postprocess'] += 1
    book.run_count.change(1)
    return [job.result for job in jobs]


def broadcast_echo(value):
    """A job that broadcasts, to its own queue (the default)."""
    return composite.broadcast(echo, value)
