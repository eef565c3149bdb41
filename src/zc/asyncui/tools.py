"""The short-lived command line tools: ``zc-asyncui put`` and ``jobs``.

``put`` turns a dotted name and literal arguments from the shell into a
job; ``jobs`` describes jobs one line each.  Both reach the database with
``zc.asyncui.server.open_for_tool`` (through a running ``run``'s socket,
else the FileStorage itself) and report problems as
``server.CommandError``/``UsageError``, which ``zc.asyncui.main`` prints
as one line.
"""
import ast
import datetime
import difflib
import importlib
import itertools
import reprlib
import sys

import transaction

import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import server
from zc.asyncui import utils
from zc.asyncui.job import JobStatus

#: Lines ``jobs`` prints by default.
DEFAULT_LIMIT = 50


# -- put --------------------------------------------------------------------

def put_command(args):
    """``zc-asyncui put``."""
    func = resolve_callable(args.callable)
    values = [parse_arg(text) for text in args.args]
    try:
        zc.asyncui.Job(func, *values)  # refuse bad callables before I/O
    except errors.UnpicklableCallableError as e:
        raise server.UsageError(str(e)) from None
    begin_after = None
    if args.in_seconds is not None:
        begin_after = utils.now() + datetime.timedelta(
            seconds=args.in_seconds)
    db, _ = server.open_for_tool(args.path, args.zeo, args.storage,
                                 args.connect_timeout)
    try:
        key = _put(db, func, values, args.queue, begin_after)
    finally:
        db.close()
    print(key)
    return 0


def _put(db, func, values, queue_name, begin_after):
    tm = transaction.TransactionManager()
    conn = db.open(tm)

    def work():
        queue = _get_queue(conn, queue_name)
        return queue.put(zc.asyncui.Job(func, *values),
                         begin_after=begin_after).key
    try:
        return utils.retry_transaction(tm, work, 'zc-asyncui put',
                                       attempts=5)
    finally:
        conn.close()


def _get_queues(conn):
    try:
        return zc.asyncui.getQueues(conn)
    except errors.NotInstalledError as e:
        raise server.CommandError(
            '%s `zc-asyncui run` installs them when it starts.' % e) from None


def _get_queue(conn, name):
    queues = _get_queues(conn)
    try:
        return queues[name]
    except errors.QueueNotFoundError as e:
        raise server.UsageError(
            '%s From the shell: `zc-asyncui run --queue %s`.' % (e, name)
        ) from None


def parse_arg(text):
    """A Python literal if ``text`` is one, else ``text`` itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def resolve_callable(dotted):
    """Import ``module.attr`` (or ``module:attr``) and return it; raises
    UsageError saying what was wrong and what to pass."""
    module, module_name, attrs = _import_prefix(dotted)
    obj = module
    for n, attr in enumerate(attrs):
        if not hasattr(obj, attr):
            owner = '.'.join([module_name] + attrs[:n])
            close = difflib.get_close_matches(attr, dir(obj), n=1)
            raise server.UsageError('%r: %s has no attribute %r%s' % (
                dotted, owner, attr,
                '; did you mean %r?' % close[0] if close else ''))
        obj = getattr(obj, attr)
    if not callable(obj):
        raise server.UsageError(
            '%r is a %s, not a callable: pass the dotted name of a function'
            ' (module.function)' % (dotted, type(obj).__name__))
    return obj


def _import_prefix(dotted):
    """(module, its name, [attribute names]) for the longest importable
    prefix of ``dotted``."""
    if ':' in dotted:
        module_name, _, rest = dotted.partition(':')
        parts = module_name.split('.') + rest.split('.')
        cut = [len(module_name.split('.'))]
    else:
        parts = dotted.split('.')
        cut = range(len(parts) - 1, 0, -1)
    if not dotted or not all(p.isidentifier() for p in parts):
        raise server.UsageError(
            '%r is not a dotted name: pass module.function, for example'
            ' mypackage.jobs.send_mail' % (dotted,))
    if not cut:
        raise server.UsageError(
            '%r names no function: pass module.function, for example %s.%s'
            % (dotted, dotted, 'send_mail'))
    for n in cut:
        name = '.'.join(parts[:n])
        module = _try_import(name, dotted)
        if module is not None:
            return module, name, parts[n:]
    raise server.UsageError(
        'cannot import %r: no module named %r on sys.path. PYTHONPATH and'
        ' the current directory are searched; `zc-asyncui run` must be able'
        ' to import it too' % (dotted, parts[0]))


def _try_import(name, dotted):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + '.')):
            return None  # this prefix is not a module: try a shorter one
        raise server.UsageError('importing %s for %r failed: %s'
                                % (name, dotted, e)) from None
    except Exception as e:
        raise server.UsageError('importing %s for %r failed: %s: %s'
                                % (name, dotted, type(e).__name__, e)
                                ) from None


# -- jobs --------------------------------------------------------------------

def jobs_command(args):
    """``zc-asyncui jobs``."""
    db, where = server.open_for_tool(args.path, args.zeo, args.storage,
                                     args.connect_timeout)
    try:
        count = _list_jobs(db, args.queue, args.status, args.limit)
    finally:
        db.close()
    if not count:
        print('no %sjobs in %s' % (
            args.status.value + ' ' if args.status else '', where),
            file=sys.stderr)
    return 0


def _list_jobs(db, queue_name, status, limit):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        queues = (_get_queues(conn).values() if queue_name is None
                  else [_get_queue(conn, queue_name)])
        jobs = (job for job in _unique(_jobs_of(queues, status, limit))
                if status is None or job.status == status)
        count = 0
        for job in itertools.islice(jobs, limit or None):
            print(format_job(job))
            count += 1
        return count
    finally:
        tm.abort()
        conn.close()


def _jobs_of(queues, status, limit):
    """Pending jobs in claim order, then held ones, then recent
    completions newest first; sections that cannot hold ``status`` are
    skipped."""
    for queue in queues:
        agents = [agent for record in queue.dispatchers.values()
                  for agent in record.values()]
        if status in (None, JobStatus.PENDING, JobStatus.CALLBACKS):
            yield from queue
        if status not in (JobStatus.NEW, JobStatus.PENDING):
            for agent in agents:
                yield from agent
        if status in (None, JobStatus.COMPLETED):
            done = [job for agent in agents
                    for job in agent.recentCompletions(limit or None)]
            done.sort(key=_end_time, reverse=True)
            yield from done


def _end_time(job):
    when = job.callbacks_completed or job.active_end or job.put_time
    return when.timestamp() if when is not None else 0.0


def _unique(jobs):
    # In one snapshot a job is pending, held or recorded as completed,
    # never two of these; this only guarantees that a listing never shows
    # a job twice whatever agents record.
    seen = set()
    for job in jobs:
        if job.key not in seen:
            seen.add(job.key)
            yield job


_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


def format_job(job):
    """One line: key, status, queue, call, times, result."""
    status = job.status
    parts = [job.key, status.value.ljust(9), 'queue %r' % (
        getattr(job.queue, 'name', None),), _describe_call(job)]
    parts.extend(_describe_times(job, status))
    if status == JobStatus.COMPLETED:
        parts.append('-> ' + _describe_result(job.result))
    return '  '.join(parts)


def _describe_call(job):
    try:
        func = job.callable
        module = getattr(func, '__module__', None)
        name = getattr(func, '__qualname__', None)
        if name is None or isinstance(func, zc.asyncui.Job):
            name = repr(func)
        elif module:
            name = '%s.%s' % (module, name)
        args = [_short.repr(a) for a in job.args] + [
            '%s=%s' % (k, _short.repr(v)) for k, v in job.kwargs.items()]
    except Exception:  # a callable that cannot be loaded here
        return repr(job)
    return '%s(%s)' % (name, ', '.join(args))


def _describe_times(job, status):
    times = []
    if job.put_time is not None:
        times.append('put ' + _local(job.put_time))
    if status == JobStatus.PENDING and job.begin_after is not None and \
            job.begin_after > utils.now():
        times.append('begins ' + _local(job.begin_after))
    if job.active_start is not None:
        times.append('started ' + _local(job.active_start))
        if job.active_end is not None and status != JobStatus.ACTIVE:
            times.append('ran %.3fs' % (
                job.active_end - job.active_start).total_seconds())
    return times


def _local(when):
    return when.astimezone().strftime('%Y-%m-%d %H:%M:%S')


def _describe_result(result):
    if isinstance(result, zc.asyncui.Failure):
        return ' '.join(result.getTraceback('brief').split())
    return _short.repr(result)
