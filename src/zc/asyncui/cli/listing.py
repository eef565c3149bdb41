"""``zc-asyncui jobs``: jobs described one line each, in aligned columns.

Order: pending jobs queue by queue (queues by name), each queue in claim
order; then jobs held by dispatchers, oldest first; then recent
completions, newest first.  A call is shown by the name it was put with
(``os.getpid``, not ``posix.getpid``): the name typed at ``put``, else
the public module that offers the function.
"""
import itertools
import reprlib
import sys

import transaction

import zc.asyncui
from zc.asyncui import queries
from zc.asyncui import utils
from zc.asyncui.cli import put
from zc.asyncui.cli import server
from zc.asyncui.job import JobStatus

#: Lines ``jobs`` prints by default.
DEFAULT_LIMIT = 50
#: Columns are padded to their widest cell, up to this width.
MAX_COLUMN_WIDTH = 50


def jobs_command(args):
    """``zc-asyncui jobs``."""
    db, where = server.open_tool_database(args)
    try:
        rows = _list_rows(db, args.queue, args.status, args.limit)
    finally:
        server.close_database(db)
    for line in align(rows):
        print(line)
    if not rows:
        print('no %sjobs in %s' % (
            args.status.value + ' ' if args.status else '', where),
            file=sys.stderr)
    return 0


def _list_rows(db, queue_name, status, limit, row=None):
    """``row(job, now)`` of each job listed (default job_columns)."""
    row = row or job_columns
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        queues = put.get_queues(conn)
        queues = ([queues[name] for name in sorted(queues)]
                  if queue_name is None else [put.get_queue(conn, queue_name)])
        jobs = (job for job in _unique(_jobs_of(queues, status, limit))
                if status is None or job.status == status)
        now = utils.now()
        return [row(job, now)
                for job in itertools.islice(jobs, limit or None)]
    finally:
        tm.abort()
        conn.close()


def _jobs_of(queues, status, limit):
    """Pending jobs, held ones, then recent completions (see the module
    docstring); sections that cannot hold ``status`` are skipped."""
    agents = [agent for queue in queues
              for record in queue.dispatchers.values()
              for agent in record.values()]
    if status in (None, JobStatus.PENDING, JobStatus.CALLBACKS):
        for queue in queues:
            yield from itertools.islice(queue, limit or None)
    if status not in (JobStatus.NEW, JobStatus.PENDING,
                      JobStatus.COMPLETED):
        held = [job for agent in agents for job in agent]
        held.sort(key=_start_time)
        yield from held
    if status in (None, JobStatus.COMPLETED):
        done = [job for agent in agents
                for job in agent.recentCompletions(limit or None)]
        done.sort(key=_end_time, reverse=True)
        yield from done


def _timestamp(when):
    return when.timestamp() if when is not None else 0.0


def _start_time(job):
    return _timestamp(job.active_start or job.put_time), job.key


def _end_time(job):
    return _timestamp(job.callbacks_completed or job.active_end
                      or job.put_time), job.key


def _unique(jobs):
    # In one snapshot a job is pending, held or recorded as completed,
    # never two of these; this only guarantees that a listing never shows
    # a job twice whatever agents record.
    seen = set()
    for job in jobs:
        if job.key not in seen:
            seen.add(job.key)
            yield job


# -- one job --------------------------------------------------------------

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


def format_job(job, now=None):
    """One line: key, status, queue, call, times, result."""
    return '  '.join(job_columns(job, now or utils.now()))


def align(rows):
    """Lines of ``rows`` (lists of cells) whose columns line up; the last
    cell of a row is never padded."""
    widths = {}
    for row in rows:
        for n, cell in enumerate(row[:-1]):
            if len(cell) <= MAX_COLUMN_WIDTH:
                widths[n] = max(widths.get(n, 0), len(cell))
    return ['  '.join([cell.ljust(widths.get(n, 0))
                       for n, cell in enumerate(row[:-1])] + row[-1:])
            for row in rows]


def job_columns(job, now):
    """[key, status, queue, call, details] for ``job`` at ``now``."""
    status = job.status
    details = _describe_times(job, status, now)
    if status == JobStatus.COMPLETED:
        details.append('-> ' + _describe_result(job.result))
    return [job.key, status.value, 'queue %r' % (
        getattr(job.queue, 'name', None),), describe_call(job),
        '  '.join(details)]


#: ``name(args)`` and the dotted name of a job's call (zc.asyncui.queries).
describe_call = queries.describe_call
call_name = queries.call_name


def _describe_times(job, status, now):
    times = []
    if job.put_time is not None:
        times.append('put ' + _local(job.put_time))
    if status == JobStatus.PENDING and job.begin_after is not None and \
            job.begin_after > now:
        times.append('begins ' + _local(job.begin_after))
    attempts = job.attempts
    if status in (JobStatus.PENDING, JobStatus.ASSIGNED) and attempts:
        times.append('after %d attempt%s (the last %s)' % (
            len(attempts), 's' if len(attempts) > 1 else '',
            attempts[-1]['outcome'] or 'unfinished'))
    elif status == JobStatus.ACTIVE and job.active_start is not None:
        times.append('started %s  running %.1fs  attempt %d' % (
            _local(job.active_start),
            (now - job.active_start).total_seconds(), len(attempts)))
    elif status in (JobStatus.CALLBACKS, JobStatus.COMPLETED) and \
            job.active_start is not None:
        times.append('started ' + _local(job.active_start))
        if job.active_end is not None:
            times.append('ran %.3fs' % (
                job.active_end - job.active_start).total_seconds())
        if len(attempts) > 1:
            times.append('%d attempts' % len(attempts))
    return times


def _local(when):
    return when.astimezone().strftime('%Y-%m-%d %H:%M:%S')


def _describe_result(result):
    if isinstance(result, zc.asyncui.Failure):
        return ' '.join(result.getTraceback('brief').split())
    return _short.repr(result)
