"""``zc-asyncui put --stdin``: one job per line of standard input.

Each non-blank line is a JSON object::

    {"callable": "mod.func", "args": [...], "kwargs": {...},
     "options": {"priority": 0, "in": 30, "queue": "", "collapse_key": "k"}}

Lines are put in batches of ``--batch`` (default BATCH_SIZE) per
transaction, so ten thousand jobs from a shell pipeline take seconds.  A
batch is checked whole before it is committed: a bad line stops the
command with its line number (exit status 2), no line of its batch is
committed, and the message says which lines were.  The keys of committed
jobs are printed one a line, in input order.
"""
import datetime
import json
import sys

import transaction

import zc.asyncui
from zc.asyncui import utils
from zc.asyncui.cli import options
from zc.asyncui.cli import put
from zc.asyncui.cli import server

#: Jobs put per transaction by default.
BATCH_SIZE = 100
_FIELDS = {'callable', 'args', 'kwargs', 'options'}
_OPTIONS = {'priority', 'in', 'queue', 'collapse_key'}


class LineError(server.UsageError):
    """A bad input line; ``lineno`` is its number (from 1)."""

    def __init__(self, lineno, message):
        super().__init__('line %d: %s' % (lineno, message))
        self.lineno = lineno


def parse_line(lineno, text, callables):
    """(dotted name, func, args, kwargs, options) of one input line;
    LineError saying what is wrong.  ``callables`` caches resolved
    names."""
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise LineError(lineno, 'not JSON (%s): write one object per line,'
                        ' such as {"callable": "mod.func", "args": [1]}'
                        % e) from None
    if not isinstance(spec, dict):
        raise LineError(lineno, 'a JSON object is expected, not %s'
                        % type(spec).__name__)
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise LineError(lineno, 'unknown field %s (known: %s)' % (
            ', '.join(map(repr, unknown)), ', '.join(sorted(_FIELDS))))
    name = spec.get('callable')
    if not isinstance(name, str):
        raise LineError(lineno, '"callable" must be a dotted name string,'
                        ' such as "mypackage.jobs.send_mail"')
    args = spec.get('args', [])
    kwargs = spec.get('kwargs', {})
    opts = spec.get('options', {})
    if not isinstance(args, list):
        raise LineError(lineno, '"args" must be a JSON list')
    if not isinstance(kwargs, dict):
        raise LineError(lineno, '"kwargs" must be a JSON object')
    if not isinstance(opts, dict):
        raise LineError(lineno, '"options" must be a JSON object')
    unknown = sorted(set(opts) - _OPTIONS)
    if unknown:
        raise LineError(lineno, 'unknown option %s (known: %s)' % (
            ', '.join(map(repr, unknown)), ', '.join(sorted(_OPTIONS))))
    if name not in callables:
        try:
            callables[name] = put.resolve_callable(name)
        except server.UsageError as e:
            raise LineError(lineno, str(e)) from None
    func = callables[name]
    try:
        zc.asyncui.Job(func, *args, **kwargs)
    except TypeError as e:
        raise LineError(lineno, str(e)) from None
    return name, func, args, kwargs, _check_options(lineno, opts)


def _check_options(lineno, opts):
    priority = opts.get('priority', 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or \
            abs(priority) > put.MAX_PRIORITY:
        raise LineError(lineno, '"priority" must be a whole number from %d'
                        ' to %d' % (-put.MAX_PRIORITY, put.MAX_PRIORITY))
    delay = opts.get('in')
    if delay is not None and (
            not isinstance(delay, (int, float)) or isinstance(delay, bool)
            or not 0 <= delay <= options.MAX_DELAY_SECONDS):
        raise LineError(lineno, '"in" must be a number of seconds from 0 to'
                        ' %d' % options.MAX_DELAY_SECONDS)
    queue = opts.get('queue', '')
    if not isinstance(queue, str):
        raise LineError(lineno, '"queue" must be a queue name string')
    collapse_key = opts.get('collapse_key')
    if collapse_key is not None and not isinstance(collapse_key, str):
        raise LineError(lineno, '"collapse_key" must be a string')
    return {'priority': priority, 'in': delay, 'queue': queue,
            'collapse_key': collapse_key}


def _batches(stream, size):
    """Lists of up to ``size`` parsed lines; blank lines are skipped."""
    callables, batch = {}, []
    for lineno, text in enumerate(stream, 1):
        if not text.strip():
            continue
        batch.append((lineno,) + parse_line(lineno, text, callables))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _put_batch(conn, batch):
    now = utils.now()
    keys = []
    for lineno, name, func, args, kwargs, opts in batch:
        job = zc.asyncui.Job(func, *args, **kwargs)
        job.annotations[put.NAME_ANNOTATION] = name.replace(':', '.')
        try:
            queue = put.get_queue(conn, opts['queue'])
        except server.UsageError as e:
            raise LineError(lineno, str(e)) from None
        begin_after = None if opts['in'] is None else \
            now + datetime.timedelta(seconds=opts['in'])
        try:
            job = queue.put(job, begin_after=begin_after,
                            priority=opts['priority'],
                            collapse_key=opts['collapse_key'])
        except (ValueError, TypeError) as e:
            raise LineError(lineno, str(e)) from None
        keys.append(job.key)
    return keys


def _committed(last):
    if not last:
        return 'nothing was committed'
    return 'line 1 was committed' if last == 1 else \
        'lines 1-%d were committed' % last


def put_stdin_command(args, stream=None):
    """``zc-asyncui put --stdin``."""
    stream = sys.stdin if stream is None else stream
    db, _ = server.open_tool_database(args)
    last = 0  # the number of the last line committed
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        try:
            try:
                for batch in _batches(stream, args.batch):
                    keys = utils.retry_transaction(
                        tm, lambda: _put_batch(conn, batch),
                        'zc-asyncui put --stdin', attempts=5)
                    last = batch[-1][0]
                    print('\n'.join(keys), flush=True)
            except LineError as e:
                raise server.UsageError(
                    '%s; %s, line %d and its batch were not'
                    % (e, _committed(last), e.lineno)) from None
        finally:
            conn.close()
    finally:
        server.close_database(db)
    return 0
