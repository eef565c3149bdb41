"""What the durable history (zc.asyncui.history) records of a finished
job, read where the job is loaded anyway.

The dispatcher's poll thread records finished jobs in the history, in a
commit it makes anyway; reading the jobs there would load each one in
the poll's connection (a worker's commit invalidated its copy).  The
worker that finished a job has it loaded: it takes its ``Facts`` and
hands them over with the completion (zc.asyncui.worker), so that the
poll writes the history entry without loading the job.

Layer: persistent model (imports contracts and filters).
"""
import collections

from zc.asyncui import filters
from zc.asyncui.failure import Failure

#: The failure of a job whose policy gave up after an interruption.
ABORTED = 'zc.asyncui.errors.AbortedError'


def gave_up(job):
    """True for a *dead* job: it failed after retrying (more than one
    attempt) or after an interruption (AbortedError)."""
    result = job._result
    return isinstance(result, Failure) and (
        len(job._attempts) > 1 or result.type_name == ABORTED)


class Facts(collections.namedtuple('Facts', (
        'end', 'key', 'failed', 'failure_type', 'queue', 'callable', 'put',
        'starts', 'start', 'dead'))):
    """What the history records of a finished job, read where the job is
    loaded anyway (by the worker that finished it), so that recording it
    in a poll's commit loads nothing: ``end`` (timestamp, or None),
    ``key``, ``failed``, ``failure_type`` (dotted name, or None),
    ``queue`` and ``callable`` (names), ``put`` (timestamp),
    ``starts`` (each attempt's start), ``start`` (the last attempt's)
    and ``dead`` (see ``gave_up``).  A tuple: cheap, immutable, safe to
    hand from a worker thread to the poll thread."""

    __slots__ = ()

    @classmethod
    def of(cls, job):
        """The facts of ``job`` (finished: COMPLETED)."""
        result = job._result
        failed = isinstance(result, Failure)
        return cls(job._end_ts, job.key, failed,
                   result.type_name if failed else None,
                   getattr(job._queue, 'name', '') or '',
                   filters.callable_name(job), job._put_ts,
                   tuple(attempt[0] for attempt in job._attempts),
                   job._start_ts, gave_up(job))

