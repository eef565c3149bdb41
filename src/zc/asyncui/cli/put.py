"""``zc-asyncui put``: a call typed in the shell becomes a job.

The callable is a dotted name (``module.function``, ``module:function``)
or the plain name of a built-in (``print``); each argument is a Python
literal, else a plain string, and ``KEY=VALUE`` is a keyword argument.
The name as typed is kept in the job's annotations (NAME_ANNOTATION), so
that ``zc-asyncui jobs`` shows it rather than where the function happens
to live (``os.getpid``, not ``posix.getpid``).  Problems are raised as
``server.CommandError``/``UsageError``, which zc.asyncui.cli.main prints
as one line.
"""
import ast
import builtins
import datetime
import difflib
import importlib
import re
import shlex

import transaction

import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import queries
from zc.asyncui import utils
from zc.asyncui.cli import server

#: Where a job put from the shell keeps the name its callable was given.
NAME_ANNOTATION = queries.NAME_ANNOTATION
#: The highest (and, negated, lowest) priority Queue.put accepts.
MAX_PRIORITY = 2 ** 31 - 1
_KEYWORD = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z', re.DOTALL)


def put_command(args):
    """``zc-asyncui put``."""
    func = resolve_callable(args.callable)
    values, keywords = parse_call_args(args.args)
    try:
        zc.asyncui.Job(func, *values, **keywords)  # refuse before any I/O
    except TypeError as e:  # UnpicklableCallableError, a bad keyword
        raise server.UsageError(str(e)) from None
    begin_after = None
    if args.in_seconds is not None:
        begin_after = utils.now() + datetime.timedelta(
            seconds=args.in_seconds)
    db, _ = server.open_tool_database(args)
    try:
        key = _put(db, args, func, values, keywords, begin_after)
    finally:
        server.close_database(db)
    print(key)
    return 0


def _put(db, args, func, values, keywords, begin_after):
    tm = transaction.TransactionManager()
    conn = db.open(tm)

    def work():
        job = zc.asyncui.Job(func, *values, **keywords)
        job.annotations[NAME_ANNOTATION] = _display_name(args.callable)
        queue = get_queue(conn, args.queue)
        try:
            job = queue.put(job, begin_after=begin_after,
                            priority=args.priority,
                            collapse_key=args.collapse_key)
        except (ValueError, TypeError) as e:  # unstorable arguments, a
            # bad collapse key, a queue filter refusing the job
            raise server.UsageError(str(e)) from None
        return job.key
    try:
        return utils.retry_transaction(tm, work, 'zc-asyncui put',
                                       attempts=5)
    finally:
        conn.close()


def _display_name(dotted):
    return dotted.replace(':', '.')


def get_queues(conn):
    """The Queues of ``conn``'s database; CommandError if none."""
    try:
        return zc.asyncui.getQueues(conn)
    except errors.NotInstalledError as e:
        raise server.CommandError(
            '%s zc-asyncui run installs them when it starts.' % e) from None


def get_queue(conn, name):
    """The queue ``name``; UsageError naming the installed ones if none."""
    queues = get_queues(conn)
    try:
        return queues[name]
    except errors.QueueNotFoundError as e:
        raise server.UsageError(
            '%s From the shell: zc-asyncui run --queue %s' % (
                e, shlex.quote(name))) from None


def parse_arg(text):
    """A Python literal if ``text`` is one, else ``text`` itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_call_args(texts):
    """(args, kwargs) for the ARGs of ``put``: ``KEY=VALUE`` is a keyword
    argument, anything else a positional one (parse_arg reads both
    values).  A positional string containing '=' is quoted for Python:
    ``'"a=b"'``."""
    args, kwargs = [], {}
    for text in texts:
        match = _KEYWORD.match(text)
        if match is None:
            args.append(parse_arg(text))
            continue
        key, value = match.groups()
        if key in kwargs:
            raise server.UsageError(
                'the keyword argument %s is given twice (%s=%s and %s)'
                % (key, key, shlex.quote(repr(kwargs[key])), text))
        kwargs[key] = parse_arg(value)
    return args, kwargs


def resolve_callable(dotted):
    """The callable named ``dotted``: ``module.attr``, ``module:attr`` or
    a built-in's plain name; raises UsageError saying what was wrong and
    what to pass."""
    if dotted.isidentifier() and callable(getattr(builtins, dotted, None)):
        return getattr(builtins, dotted)
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
            '%r is not a name: pass module.function (for example'
            ' mypackage.jobs.send_mail) or a built-in (for example print)'
            % (dotted,))
    if not cut:
        raise server.UsageError(_no_function(dotted))
    for n in cut:
        name = '.'.join(parts[:n])
        module = _try_import(name, dotted)
        if module is not None:
            return module, name, parts[n:]
    raise server.UsageError(
        'cannot import %r: no module named %r on sys.path. PYTHONPATH and'
        ' the current directory are searched; zc-asyncui run must be able'
        ' to import it too' % (dotted, parts[0]))


def _no_function(name):
    if _try_import(name, name) is not None:
        return ('%r is a module: pass one of its functions, for example'
                ' %s.FUNCTION' % (name, name))
    return ('%r is not a built-in: pass module.function (for example'
            ' mypackage.jobs.send_mail) or a built-in (for example print)'
            % (name,))


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
