"""``zc-asyncui job KEY``, ``cancel KEY`` and ``retry KEY``: one job.

``retry`` puts a failed COMPLETED job back in its queue for a new
attempt.  ``job`` shows every field of a job (times, attempts with their outcomes,
the result or the failure's traceback, callbacks, annotations), as text
or, with ``--json``, as one JSON object for scripts.  A job is found by
its key (its oid), whether pending, held, recently completed or kept by
zc.asyncui.history; a key that names nothing, or something that is not a
job, is one line of error and exit status 2.  Finding and describing a
job is zc.asyncui.queries' (shared with ``asyncdb`` and the web pages).
``cancel`` calls Job.cancel, which goes through zc.asyncui.lifecycle.
"""
import json

import transaction

from zc.asyncui import errors
from zc.asyncui import queries
from zc.asyncui import utils
from zc.asyncui.cli import listing
from zc.asyncui.cli import server
from zc.asyncui.job import JobStatus


def find_job(conn, key):
    """The job of ``key`` in ``conn`` (queries.find_job); UsageError if
    there is none."""
    try:
        return queries.find_job(conn, key)
    except errors.JobNotFoundError as e:
        raise server.UsageError(
            '%s: zc-asyncui jobs lists the keys' % e) from None
    except errors.ConfigurationError as e:
        raise server.UsageError(str(e)) from None


#: Every field of a job as plain data (see queries.job_detail).
describe = queries.job_detail


def format_text(info):
    """Lines of ``describe``'s dict, for people."""
    lines = ['%-20s %s' % (name + ':', info[name]) for name in (
        'key', 'status')]
    lines.append('queue:               %r' % (info['queue'],))
    lines += ['%-20s %s' % (name + ':', info[name]) for name in (
        'parent', 'callable', 'args', 'kwargs', 'priority',
        'put_time', 'begin_after', 'active_start', 'active_end',
        'callbacks_completed', 'cancel_requested')
        if info[name] not in (None, [], {})]
    lines.append('attempts:            %d' % len(info['attempts']))
    for n, a in enumerate(info['attempts'], 1):
        lines.append('  %d. %s .. %s  dispatcher %s  outcome %s' % (
            n, a['start'], a['end'], a['dispatcher'],
            a['outcome'] or 'unfinished'))
    if info['failure']:
        lines.append('failure:             %s: %s' % (
            info['failure']['type'], info['failure']['message']))
        lines.extend('  ' + line for line in
                     info['failure']['traceback'].rstrip().splitlines())
    elif info['status'] == JobStatus.COMPLETED.value:
        lines.append('result:              %r' % (info['result'],))
    lines.append('callbacks:           %d' % len(info['callbacks']))
    for cb in info['callbacks']:
        lines.append('  %s  %s  %s' % (cb['key'], cb['status'], cb['call']))
    if info['annotations']:
        lines.append('annotations:')
        for name, value in sorted(info['annotations'].items()):
            lines.append('  %s = %r' % (name, value))
    return lines


def _with_job(args, work, commit=False):
    db, _ = server.open_tool_database(args)
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        try:
            if commit:
                return utils.retry_transaction(
                    tm, lambda: work(find_job(conn, args.key)),
                    'zc-asyncui ' + args.command, attempts=5)
            try:
                return work(find_job(conn, args.key))
            finally:
                tm.abort()
        finally:
            conn.close()
    finally:
        server.close_database(db)


def job_command(args):
    """``zc-asyncui job KEY``."""
    info = _with_job(args, describe)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        for line in format_text(info):
            print(line)
    return 0


def retry_command(args):
    """``zc-asyncui retry KEY``: a failed COMPLETED job is put back in its
    queue for a new attempt (Queue.retry, lifecycle.retry_failed)."""
    def work(job):
        if job.queue is None:
            raise server.UsageError(
                'job %s was never put in a queue (a callback, or an inline'
                ' job): put a new job instead' % args.key)
        try:
            job.queue.retry(job)
        except errors.BadStatusError as e:
            raise server.UsageError(str(e)) from None
        return len(job.attempts)
    attempts = _with_job(args, work, commit=True)
    print('%s: PENDING again in its queue, for attempt %d'
          % (args.key, attempts + 1))
    return 0


def jobs_json_command(args):
    """``zc-asyncui jobs --json``: the jobs ``jobs`` lists, as a JSON list
    of ``describe`` objects."""
    db, _ = server.open_tool_database(args)
    try:
        rows = listing._list_rows(db, args.queue, args.status, args.limit,
                                  row=lambda job, now: describe(job))
    finally:
        server.close_database(db)
    print(json.dumps(rows, indent=2, sort_keys=True))
    return 0


def cancel_command(args):
    """``zc-asyncui cancel KEY``."""
    def work(job):
        try:
            job.cancel()
        except errors.BadStatusError as e:
            raise server.UsageError(str(e)) from None
        return job.status.value, job.cancel_requested
    status, requested = _with_job(args, work, commit=True)
    if status == JobStatus.ACTIVE.value and requested:
        print('%s: cancellation requested (it is running; its worker'
              ' stops it)' % args.key)
    else:
        print('%s: cancelled (%s)' % (args.key, status))
    return 0
