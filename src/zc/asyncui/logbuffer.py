"""An in-memory ring of the recent log records of the ``zc.asyncui``
loggers, for the log page (``/++async++/@@log``)::

    buffer = install(size=1000, level='INFO')   # once per process
    buffer.select(level='ERROR', job='0x3f2a', dispatcher=uuid, count=50)
    uninstall()

The handler sits on the ``zc.asyncui`` logger, so it sees what that
logger lets through (``zc-asyncui serve --log-level``, or the
application's logging configuration) at the buffer's level or above.
Each record is kept as plain data (strings, never the record's
arguments, which may be persistent objects), with the job keys and
dispatcher UUIDs it concerns: those named in its message, and the job
and dispatcher of the worker thread that logged it.  The buffer keeps
the newest ``size`` records of this process; they are gone at restart.
``stored_failures`` reads the failures the job history keeps in the
database, which the log page shows too: they survive restarts.

Layer: configuration (imports the model's ``local``).
"""
import collections
import itertools
import logging
import re
import threading
import traceback

import ZODB.POSException

from zc.asyncui import filters
from zc.asyncui import history
from zc.asyncui import local
from zc.asyncui import queries
from zc.asyncui import settings
from zc.asyncui import utils
from zc.asyncui.job import Job

LOGGER = 'zc.asyncui'
#: Characters of a message, and of a traceback, kept at most.
MESSAGE_LIMIT = 2000
TRACEBACK_LIMIT = 8000
JOB_KEY = re.compile(r'\b0x[0-9a-f]+\b')
UUID = re.compile(r'\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                  r'[0-9a-f]{12}\b')

_lock = threading.Lock()
_installed = []


def _truncate(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + '... (%d more characters)' % (len(text) - limit)


def _context():
    # The job and dispatcher of the worker thread logging, if any.
    job, dispatcher = local.getJob(), local.getDispatcher()
    key = getattr(job, 'key', None)
    uuid = getattr(dispatcher, 'UUID', None)
    return ([key] if key else []), ([str(uuid)] if uuid else [])


class LogBuffer(logging.Handler):
    """A logging handler keeping the newest ``size`` records as dicts:
    time (seconds since the epoch), level, logger, message, traceback
    (or None), jobs and dispatchers (sorted lists of keys and UUIDs)."""

    def __init__(self, size, level='INFO'):
        values = settings.validate('log', dict(size=size, level=level))
        super().__init__(values['level'])
        self.size = values['size']
        self.records = collections.deque(maxlen=self.size)

    def emit(self, record):
        try:
            message = _truncate(record.getMessage(), MESSAGE_LIMIT)
            trace = None
            if record.exc_info:
                trace = _truncate(''.join(traceback.format_exception(
                    *record.exc_info)), TRACEBACK_LIMIT)
            jobs, dispatchers = _context()
            self.records.append({
                'time': record.created, 'level': record.levelname,
                'levelno': record.levelno, 'logger': record.name,
                'message': message, 'traceback': trace,
                'jobs': sorted(set(jobs + JOB_KEY.findall(message))),
                'dispatchers': sorted(set(dispatchers +
                                          UUID.findall(message))),
            })
        except Exception:
            self.handleError(record)

    def select(self, level=None, job=None, dispatcher=None, count=None):
        """The records, newest first, at ``level`` (a name) or above,
        concerning the job ``job`` (a key) and the dispatcher
        ``dispatcher`` (a UUID string), at most ``count``."""
        least = logging.getLevelName(settings.get('log', 'level').validate(
            level)) if level is not None else 0
        self.acquire()   # emit appends under this lock
        try:
            records = list(self.records)
        finally:
            self.release()
        found = (r for r in reversed(records)
                 if r['levelno'] >= least
                 and (job is None or job in r['jobs'])
                 and (dispatcher is None or dispatcher in r['dispatchers']))
        return [dict(r) for r in itertools.islice(found, count)]


def install(size=settings.default('log', 'size'),
            level=settings.default('log', 'level')):
    """Install the buffer on the ``zc.asyncui`` logger (replacing one
    installed before, whose records are kept as far as they fit) and
    return it; ``size`` 0 uninstalls it and returns None.
    ConfigurationError for a bad size or level."""
    buffer = LogBuffer(size, level)
    with _lock:
        old = _installed[0] if _installed else None
        if old is not None:
            logging.getLogger(LOGGER).removeHandler(old)
            buffer.records.extend(old.records)
            _installed.clear()
        if buffer.size:
            logging.getLogger(LOGGER).addHandler(buffer)
            _installed.append(buffer)
    return buffer if buffer.size else None


def get():
    """The installed buffer, or None."""
    with _lock:
        return _installed[0] if _installed else None


def uninstall():
    """Remove the buffer (for tests and restarts of the configuration)."""
    with _lock:
        for buffer in _installed:
            logging.getLogger(LOGGER).removeHandler(buffer)
        _installed.clear()


# -- failures kept in the database ------------------------------------------

#: Failed entries of a dispatcher's history shard a dispatcher filter
#: looks through at most.
SCAN_LIMIT = 5000


def failure_row(job):
    """A failed job as plain data, for the log page."""
    failure = job.result
    parent = getattr(job.parent, 'key', None)   # a callback's job
    return {'time': job.active_end.timestamp() if job.active_end else None,
            'key': job.key, 'parent': parent,
            'callable': filters.callable_name(job) or '',
            'queue': getattr(job.queue, 'name', '') or '',
            'dispatcher': str(queries.dispatcher_of(job) or ''),
            'attempts': len(job.attempts),
            'error': _truncate('%s: %s' % (failure.type_name,
                                           failure.message), MESSAGE_LIMIT)}


def stored_failures(conn, job=None, dispatcher=None, count=100):
    """Failed jobs kept by the history (zc.asyncui.history), newest
    first, as ``failure_row`` dicts (``parent``: the key of the job whose
    callback failed, else None): the job with the key ``job`` and its
    callbacks, those that failed, or the failures whose last attempt ran
    in ``dispatcher`` (a UUID string; among the newest SCAN_LIMIT
    failures its part of the history holds); at most ``count``."""
    conn = getattr(conn, '_p_jar', None) or conn
    if job is not None:   # the job's failure and its callbacks'
        rows = [failure_row(j) for j in _failed_job(conn, job)]
        return [r for r in rows if dispatcher in (None, r['dispatcher'])
                ][:count]
    if dispatcher is None:
        return [failure_row(j) for j in history.query(
            conn, status=history.FAILED, count=count)]
    # A dispatcher's failures are in its own shard of the history (its
    # polls record what it ran), with the cancelled jobs it noted; read
    # lazily, as far as needed.
    found = history.iter_query(conn, status=history.FAILED,
                               shard=dispatcher, count=SCAN_LIMIT)
    rows = (failure_row(j) for j in found
            if str(queries.dispatcher_of(j) or '') == dispatcher)
    return list(itertools.islice(rows, count))


def _failed_job(conn, key):
    # The job with ``key`` and its callbacks, those that failed.
    try:
        found = conn.get(utils.key_to_oid(key))
    except (ValueError, ZODB.POSException.POSKeyError):
        return []
    if not isinstance(found, Job):
        return []
    return [j for j in (found,) + tuple(found.callbacks)
            if isinstance(j, Job) and queries.state_of(j) == 'failed']
