"""One job, found by its key and described as plain data: its call as a
user would write it (``os.getpid()``), its times, attempts, result or
failure, callbacks and annotations.  What ``zc-asyncui job``, the
``asyncdb`` monitor command and the job page show.

Never commits, never writes.  Layer: configuration (part of
``zc.asyncui.queries``, which re-exports every public name).
"""
import importlib
import reprlib

import ZODB.POSException

from zc.asyncui import errors
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.queries.selection import state_of

#: The job annotation that keeps a callable's name as the user typed it
#: (``zc-asyncui put os.getpid``), shown instead of ``posix.getpid``.
NAME_ANNOTATION = 'zc.asyncui.cli.name'
#: Modules whose functions live in an implementation module.
_PUBLIC_MODULES = {'posix': 'os', 'nt': 'os', 'posixpath': 'os.path',
                   'ntpath': 'os.path'}
_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


def find_job(conn, key):
    """The job of ``key`` (``0x3a1f`` or decimal) in ``conn``'s database,
    whatever its state: pending, held, or finished -- the history keeps
    finished jobs (and so their keys) for its retention, after their
    agent forgot them.  ConfigurationError for a key that is not one,
    JobNotFoundError for a key that names no job."""
    try:
        oid = utils.key_to_oid(key)
    except ValueError as e:
        raise errors.ConfigurationError(str(e)) from None
    try:
        job = conn.get(oid)
        job._p_activate()
    except (ZODB.POSException.POSKeyError, KeyError):
        raise errors.JobNotFoundError(
            'no job %s in this database (never put, packed away, or a key'
            ' of another database)' % key, key) from None
    if not isinstance(job, Job):
        raise errors.JobNotFoundError('%s is not a job but a %s' % (
            key, type(job).__name__), key)
    return job


def call_name(job):
    """The dotted name of the job's callable, as a user would write it:
    the name it was put with, else the public module that offers it
    (``os.getpid``, not ``posix.getpid``)."""
    name = job.annotations.get(NAME_ANNOTATION)
    if name is not None:
        return name
    func = job.callable
    module = getattr(func, '__module__', None)
    qualname = getattr(func, '__qualname__', None)
    if qualname is None or isinstance(func, Job):
        return repr(func)
    if not module or module == 'builtins':
        return qualname
    return '%s.%s' % (_public_module(module, qualname, func), qualname)


def _public_module(module, qualname, func):
    """``module``, or the public module that offers the same function
    (``operator`` for ``_operator``, ``os`` for ``posix``)."""
    public = _PUBLIC_MODULES.get(module, module.lstrip('_'))
    if public == module or not public:
        return module
    try:
        offered = importlib.import_module(public)
        for attr in qualname.split('.'):
            offered = getattr(offered, attr)
    except Exception:  # not importable here, or not offered there
        return module
    return public if offered is func else module


def describe_call(job):
    """``name(args)`` for the job's call (reprs shortened), or the job's
    repr when its callable or arguments cannot be loaded here."""
    try:
        args = [_short.repr(a) for a in job.args] + [
            '%s=%s' % (k, _short.repr(v)) for k, v in job.kwargs.items()]
        return '%s(%s)' % (call_name(job), ', '.join(args))
    except Exception:  # a callable or argument that cannot be loaded here
        return repr(job)


def iso(when):
    """An aware datetime as ISO 8601 text, None as None."""
    return None if when is None else when.isoformat()


def _type_name(cls):
    if isinstance(cls, str):
        return cls
    return '%s.%s' % (getattr(cls, '__module__', '?'),
                      getattr(cls, '__qualname__', cls))


def plain(value):
    """A JSON-friendly rendering of an argument, result or annotation:
    itself when JSON holds it, else its repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return repr(value)


def job_detail(job):
    """Every field of ``job`` as plain data:

    key, status (JobStatus value, 'COMPLETED'), state (asyncdb's word:
    pending ... succeeded, failed), queue (name or None), callable, call
    (``name(args)``), args, kwargs, priority, the times put_time,
    begin_after, active_start, active_end, callbacks_completed,
    cancel_requested, attempts (dicts: start, end, dispatcher, agent,
    outcome), result (None when failed), failure (None, or type,
    message, traceback), parent (the key of the job whose callback this
    is, or None), callbacks (dicts: key, status, call), annotations.
    """
    result = job.result
    failure = isinstance(result, Failure)
    try:
        args = [plain(a) for a in job.args]
        kwargs = {k: plain(v) for k, v in job.kwargs.items()}
    except Exception as e:  # cannot be loaded here
        args, kwargs = '<cannot load: %s>' % e, {}
    parent = job.parent
    return {
        'key': job.key,
        'status': job.status.value,
        'state': state_of(job),
        'queue': getattr(job.queue, 'name', None),
        'callable': call_name(job),
        'call': describe_call(job),
        'args': args,
        'kwargs': kwargs,
        'priority': job.priority,
        'put_time': iso(job.put_time),
        'begin_after': iso(job.begin_after),
        'active_start': iso(job.active_start),
        'active_end': iso(job.active_end),
        'callbacks_completed': iso(job.callbacks_completed),
        'cancel_requested': bool(job.cancel_requested),
        'attempts': [{name: (iso(v) if name in ('start', 'end')
                             else plain(v)) for name, v in a.items()}
                     for a in job.attempts],
        'result': None if failure else plain(result),
        'failure': (None if not failure else {
            'type': _type_name(result.type),
            'message': result.getErrorMessage(),
            'traceback': result.getTraceback()}),
        'parent': None if parent is None else parent.key,
        'callbacks': [{'key': cb.key, 'status': cb.status.value,
                       'call': describe_call(cb)}
                      for cb in job.callbacks],
        'annotations': {str(k): plain(v)
                        for k, v in job.annotations.items()},
    }
