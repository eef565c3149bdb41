"""The zc-asyncui console script: its arguments and entry point.

``run`` serves var/Data.fs through an embedded ZEO server on the Unix
socket var/zeo.sock (``--storage direct``: no server; ``--zeo``: a worker
of an existing server; ``--db URI``: any database, such as RelStorage on
PostgreSQL, opened directly) and runs a dispatcher until Ctrl-C or SIGTERM
(zc.asyncui.cli.run); ``put`` and ``jobs`` (zc.asyncui.cli.put and
.listing) enqueue and list jobs through that socket, or in the file when
nothing runs; ``zeo`` serves a FileStorage for many workers.  Storages
and servers are opened by zc.asyncui.cli.server.

Job callables are imported from ``sys.path``; the current directory is
appended to it, because console scripts, unlike ``python -m``, leave it
out.  Exit status: 0 on success and after a clean stop by a signal, 2 for
bad input, 1 for other problems; errors are one line on stderr.
"""
import argparse
import importlib.metadata
import os
import sys

from zc.asyncui import dburi
from zc.asyncui import errors
from zc.asyncui import instanceuuid
from zc.asyncui.cli import jobinfo
from zc.asyncui.cli import listing
from zc.asyncui.cli import monitor
from zc.asyncui.cli import options
from zc.asyncui.cli import pack
from zc.asyncui.cli import put
from zc.asyncui.cli import putmany
from zc.asyncui.cli import run
from zc.asyncui.cli import serve
from zc.asyncui.cli import server
from zc.asyncui.cli import site
from zc.asyncui.cli import status

PROG = 'zc-asyncui'
DESCRIPTION = ('Run zc.asyncui jobs from the shell: a dispatcher on a'
               ' FileStorage or a ZEO server, and tools to put and list'
               ' jobs.')
LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR')
LOG_LEVEL_HELP = 'the least important log lines shown (default %s)'


# -- argument parsing ---------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and exit status 2)."""

    #: Said after an unknown option where it may be a call's argument.
    dash_hint = None

    def error(self, message):
        unknown = message.partition('unrecognized arguments: ')[2]
        if self.dash_hint and unknown[:1] == '-' and unknown[:2] != '--':
            message += ' (%s)' % self.dash_hint
        self.exit(2, '%s: error: %s (see %s --help)\n'
                  % (self.prog, message, self.prog))


def _address(text):
    try:
        return server.parse_address(text)
    except server.UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _database_uri(text):
    try:
        return dburi.parse(text)
    except errors.ConfigurationError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


DB_HELP = ('the database as a URI: file://PATH (as --path), zeo://HOST:PORT'
           ' or zeo:///SOCKET (as --zeo), postgres://USER@HOST:PORT/DBNAME'
           '?keep_history=false (RelStorage on PostgreSQL), zconfig:///FILE'
           ' (any storage); see docs/standalone.rst')


def _add_db_option(parser):
    parser.add_argument('--db', metavar='URI', type=_database_uri,
                        help=DB_HELP)
    parser.add_argument(
        '--async-database', metavar='NAME', help='with --db'
        ' zconfig:///FILE of several <zodb NAME> sections (a multi-database'
        ' whose first section is the application\'s database): the one'
        ' that holds the queues; by default the one the first database\'s'
        ' root refers to (see docs/tips.rst)')


def _add_path_options(parser, storage_help):
    _add_db_option(parser)
    parser.add_argument(
        '--path', metavar='FILE', help='the FileStorage (default %s)'
        % server.DEFAULT_PATH)
    parser.add_argument('--storage', choices=('embedded', 'direct'),
                        help=storage_help)
    parser.add_argument(
        '--zeo', metavar='HOST:PORT|SOCKET', type=_address,
        help='connect to this ZEO server instead of opening a FileStorage')


def _add_run(subparsers):
    p = subparsers.add_parser(
        'run', help='run a dispatcher (and serve var/Data.fs)',
        description='Run a dispatcher until Ctrl-C or SIGTERM.')
    _add_path_options(p, 'embedded (default): open the FileStorage in'
                      ' this process and serve it on a Unix socket to local'
                      ' tools and extra workers; direct: open it in this'
                      ' process only')
    p.add_argument('--socket', metavar='PATH', help="the embedded server's"
                   ' socket (default zeo.sock next to the FileStorage)')
    p.add_argument('--uuid-file', metavar='FILE', help="this process's"
                   ' instance file (default %s)' % instanceuuid.DEFAULT_PATH)
    p.add_argument('--queue', metavar='NAME', action='append', default=[],
                   help='also install the queue NAME (repeatable); the'
                   ' default queue, named "", is installed too unless'
                   ' --no-default-queue; the dispatcher serves every'
                   ' installed queue')
    p.add_argument('--no-default-queue', action='store_true',
                   help='do not install the default queue "" (a database'
                   ' that has one keeps it)')
    _add_process_options(p)
    p.set_defaults(func=run.run_command, check=_check_run)


def _add_process_options(p):
    """The options of a long-running process (run, serve): the
    dispatcher's settings, how it stops, connects and logs."""
    options.add_dispatcher_options(p)
    p.add_argument('--monitor-port', metavar='M', default=None,
                   type=options.whole_number(0, 65535),
                   help='serve the monitor on 127.0.0.1:M (default %d,'
                   ' skipped with a warning when in use; 0 disables it);'
                   ' ask it with zc-asyncui monitor' % monitor.DEFAULT_PORT)
    p.add_argument('--stop-timeout', metavar='SECONDS', default=30.0,
                   type=options.seconds(inclusive=True),
                   help='how long running jobs may finish at stop'
                   ' (default 30)')
    p.add_argument('--connect-timeout', metavar='SECONDS', default=30.0,
                   type=options.seconds(), help='how long to wait for the'
                   ' ZEO server, or the database of --db (default 30)')
    p.add_argument('--log-level', choices=LOG_LEVELS, default='INFO',
                   help=LOG_LEVEL_HELP % 'INFO')


def _add_serve(subparsers):
    p = subparsers.add_parser(
        'serve', help='run the standalone Zope server with a dispatcher',
        description='Serve the Zope site (pages under /++async++/, login'
        ' admin) with waitress and run a dispatcher, until Ctrl-C or'
        ' SIGTERM.  The database is DIR/Data.fs, served to local tools'
        ' (zc-asyncui put, jobs, run --zeo) on the Unix socket'
        ' DIR/zeo.sock, unless --zeo.  The admin password is'
        ' $%s, else the first line of DIR/%s (generated at the'
        ' first start and shown once).'
        % (site.PASSWORD_VARIABLE, site.PASSWORD_FILE_NAME))
    p.add_argument('--host', default=serve.DEFAULT_HOST,
                   help='the HTTP interface (default %s)' % serve.DEFAULT_HOST)
    p.add_argument('--port', metavar='P', default=serve.DEFAULT_PORT,
                   type=options.whole_number(0, 65535),
                   help='the HTTP port (default %d; 0: any free port, shown'
                   ' at start)' % serve.DEFAULT_PORT)
    p.add_argument('--zeo', metavar='HOST:PORT|SOCKET', type=_address,
                   help='use this ZEO server instead of DIR/Data.fs')
    _add_db_option(p)
    p.add_argument('--var', metavar='DIR', default=serve.DEFAULT_VAR,
                   help='the directory of Data.fs, zeo.sock, the instance'
                   ' file and the admin password (default %s, created if'
                   ' missing)' % serve.DEFAULT_VAR)
    p.add_argument('--demo', action='store_true',
                   help='keep a bounded trickle of demo jobs flowing'
                   ' (zc.asyncui.demo)')
    p.add_argument('--zcml', metavar='FILE', default=site.PROJECT_ZCML,
                   help='the site configuration (default the configure.zcml'
                   ' beside setup.py: %s)' % site.PROJECT_ZCML)
    p.add_argument('--metrics-loopback', action='store_true',
                   help='serve /++async++/@@metrics without credentials'
                   ' to requests from this machine (a Prometheus on the'
                   ' same host); never behind a reverse proxy on this'
                   ' machine, whose requests all come from loopback')
    _add_process_options(p)
    p.set_defaults(func=serve.serve_command, check=_check_serve)


def _add_put(subparsers):
    p = subparsers.add_parser(
        'put', help='enqueue a call and print its job key',
        description='Enqueue the call NAME(ARG, ...) and print its job key.'
        ' Each ARG is a Python literal (42, 1.5, "text", [1, 2], None),'
        ' else a plain string; KEY=VALUE passes VALUE as the keyword'
        ' argument KEY (to pass a string containing "=" by position,'
        """ quote it for Python: '"a=b"').  Options may come anywhere.""")
    p.add_argument('callable', metavar='NAME', nargs='?', help='the'
                   ' callable: module.function, module:function or a'
                   ' built-in such as print')
    p.add_argument('--stdin', action='store_true', help='put one job per'
                   ' line of standard input instead, each a JSON object'
                   ' {"callable": ..., "args": [...], "kwargs": {...},'
                   ' "options": {"priority", "in", "queue",'
                   ' "collapse_key"}}; prints the keys')
    p.add_argument('--batch', metavar='N', default=putmany.BATCH_SIZE,
                   type=options.whole_number(1), help='with --stdin: jobs'
                   ' per transaction (default %d)' % putmany.BATCH_SIZE)
    p.add_argument('args', metavar='ARG', nargs='*', default=[],
                   help='an argument of the call (KEY=VALUE: a keyword'
                   ' argument)')
    p.add_argument('--queue', metavar='NAME', default='',
                   help='the queue (default the queue named "")')
    p.add_argument('--in', dest='in_seconds', metavar='SECONDS',
                   type=options.seconds(inclusive=True,
                                        maximum=options.MAX_DELAY_SECONDS),
                   help='begin no earlier than SECONDS from now')
    p.add_argument('--priority', metavar='N', default=0,
                   type=options.whole_number(-put.MAX_PRIORITY,
                                             put.MAX_PRIORITY),
                   help='higher runs first among due jobs (default 0)')
    p.add_argument('--collapse-key', metavar='KEY', default=None,
                   help='if a job put with KEY in this queue has not'
                   ' started yet, print its key instead of adding a job')
    _add_tool_options(p)
    p.dash_hint = ('an ARG that starts with "-" goes after "--", as in'
                   ' zc-asyncui put NAME -- -x')
    p.set_defaults(func=_put_command, check=_check_put)


def _put_command(args):
    if args.stdin:
        return putmany.put_stdin_command(args)
    return put.put_command(args)


def _check_put(args):
    if args.stdin:
        given = [text for text, present in (
            ('a NAME', args.callable is not None), ('ARGs', args.args),
            ('--queue', args.queue != ''), ('--in', args.in_seconds is not None),
            ('--priority', args.priority), ('--collapse-key',
                                            args.collapse_key))
            if present]
        if given:
            raise server.UsageError(
                '--stdin reads every call and its options from its lines:'
                ' it does not go with %s (put them in "options")'
                % ', '.join(given))
    elif args.callable is None:
        raise server.UsageError('put needs a NAME (module.function), or'
                                ' --stdin to read JSON lines')
    _check_tool(args)


def _add_jobs(subparsers):
    p = subparsers.add_parser(
        'jobs', help='list pending, held and recently completed jobs',
        description='List jobs, one line each: key, status, queue, call,'
        ' times, result.')
    p.add_argument('--status', type=options.status,
                   help='only jobs in this status (%s)' % options.STATUSES)
    p.add_argument('--queue', metavar='NAME', help='only this queue')
    p.add_argument('--limit', metavar='N', type=options.whole_number(),
                   default=listing.DEFAULT_LIMIT,
                   help='at most N lines (default %d; 0: all)'
                   % listing.DEFAULT_LIMIT)
    p.add_argument('--json', action='store_true',
                   help='print a JSON list of objects (the fields of'
                   ' zc-asyncui job --json) instead of lines')
    _add_tool_options(p)
    p.set_defaults(func=_jobs_command, check=_check_tool)


def _jobs_command(args):
    if args.json:
        return jobinfo.jobs_json_command(args)
    return listing.jobs_command(args)


def _add_job(subparsers):
    p = subparsers.add_parser(
        'job', help='show every field of one job',
        description='Show one job: status, times, attempts with their'
        ' outcomes, the result or traceback, callbacks, annotations.')
    p.add_argument('key', metavar='KEY', help='the job key (0x3a1f)')
    p.add_argument('--json', action='store_true',
                   help='print one JSON object instead of lines')
    _add_tool_options(p)
    p.set_defaults(func=jobinfo.job_command, check=_check_tool)


def _add_retry(subparsers):
    p = subparsers.add_parser(
        'retry', help='put a failed job back in its queue',
        description='Put the failed COMPLETED job KEY back in its queue as'
        ' a new attempt (its earlier attempts are kept).')
    p.add_argument('key', metavar='KEY', help='the job key (0x3a1f)')
    _add_tool_options(p)
    p.set_defaults(func=jobinfo.retry_command, check=_check_tool)


def _add_status(subparsers):
    p = subparsers.add_parser(
        'status', help='queues (pending, scheduled, active, latency) and'
        ' dispatchers (liveness, last ping, jobs held)',
        description='Show each queue with its pending, scheduled and'
        ' active counts and its latency (the age of the oldest due job),'
        ' and each dispatcher with its liveness, last ping and the jobs'
        ' it holds.')
    p.add_argument('--json', action='store_true',
                   help='print one JSON object instead of lines')
    _add_tool_options(p)
    p.set_defaults(func=status.status_command, check=_check_tool)


def _add_cancel(subparsers):
    p = subparsers.add_parser(
        'cancel', help='cancel a pending or running job',
        description='Cancel the job KEY: a pending or assigned job leaves'
        ' its queue; a running one is asked to stop (Job.cancel).')
    p.add_argument('key', metavar='KEY', help='the job key (0x3a1f)')
    _add_tool_options(p)
    p.set_defaults(func=jobinfo.cancel_command, check=_check_tool)


def _add_pack(subparsers):
    p = subparsers.add_parser(
        'pack', help='pack the storage (drop old revisions and the jobs'
        ' the history let go)',
        description='Pack the storage: keep every current object and the'
        ' revisions of the last N days; the finished jobs the history'
        ' dropped (docs/operations.rst) leave Data.fs.  Through a running'
        ' zc-asyncui run, or --zeo, the server packs.')
    p.add_argument('--days', metavar='N', type=pack.days, default=0.0,
                   help='keep revisions newer than N days (default 0)')
    _add_tool_options(p)
    p.set_defaults(func=pack.pack_command, check=_check_tool)


def _add_tool_options(parser):
    _add_path_options(parser, 'embedded (default): through the socket of a'
                      ' running zc-asyncui run, else the file; direct: the'
                      ' file only')
    parser.add_argument('--connect-timeout', metavar='SECONDS', default=10.0,
                        type=options.seconds(), help='how long to wait for'
                        ' the ZEO server (default 10)')
    parser.set_defaults(log_level='WARNING')


def _add_zeo(subparsers):
    p = subparsers.add_parser(
        'zeo', help='serve var/Data.fs with ZEO for many workers',
        description='Serve a FileStorage over ZEO until Ctrl-C or SIGTERM.')
    p.add_argument('--address', metavar='HOST:PORT|SOCKET', type=_address,
                   default=server.DEFAULT_ZEO_ADDRESS,
                   help='where to listen (default %s; port 0: any free port)'
                   % server.format_address(server.DEFAULT_ZEO_ADDRESS))
    p.add_argument('--path', metavar='FILE', help='the FileStorage'
                   ' (default %s)' % server.DEFAULT_PATH)
    p.add_argument('--db', metavar='URI', type=_database_uri,
                   help='serve this storage instead: file://PATH (as'
                   ' --path), or any other database URI but zeo://, such'
                   ' as zconfig:///FILE')
    p.add_argument('--log-level', choices=LOG_LEVELS, default='INFO',
                   help=LOG_LEVEL_HELP % 'INFO')
    p.set_defaults(func=run.zeo_command, check=_check_zeo,
                   zeo_log_level='INFO')


def _add_monitor(subparsers):
    p = subparsers.add_parser(
        'monitor', help='ask the monitor of a running run or serve',
        description='Send one monitor command (help, async status,'
        ' dbinfo, ...) to a running zc-asyncui run or serve and print the'
        ' answer; exit status 1 for an Error: answer.')
    p.add_argument('words', metavar='WORD', nargs='+',
                   help='the command and its arguments, e.g. async status')
    p.add_argument('--address', metavar='HOST:PORT', type=_address,
                   default=(monitor.DEFAULT_HOST, monitor.DEFAULT_PORT),
                   help='the monitor (default %s:%d)'
                   % (monitor.DEFAULT_HOST, monitor.DEFAULT_PORT))
    p.set_defaults(func=monitor.monitor_command, check=_check_monitor,
                   log_level='WARNING')


def build_parser():
    parser = _Parser(prog=PROG, description=DESCRIPTION)
    parser.add_argument('--version', action='version',
                        version='%s %s' % (PROG, _version()),
                        help='print the version and exit')
    subparsers = parser.add_subparsers(
        dest='command', metavar='COMMAND', required=True,
        help='run, serve, put, jobs, job, cancel, retry, status, pack, zeo'
        ' or monitor;'
        ' COMMAND --help describes each')
    for add in (_add_run, _add_serve, _add_put, _add_jobs, _add_job,
                _add_cancel, _add_retry, _add_status, _add_pack,
                _add_zeo, _add_monitor):
        add(subparsers)
    parser.commands = subparsers.choices  # name -> its parser
    return parser


def _version():
    try:
        return importlib.metadata.version('zc.asyncui')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown (not installed)'


def parse_args(argv):
    """The namespace for ``argv``.  A command's options and arguments
    may come in any order (``put f 1 --queue q 2``)."""
    parser = build_parser()
    if not argv or argv[0] not in parser.commands:
        return parser.parse_args(argv)  # --help, --version or an error
    args = parser.commands[argv[0]].parse_intermixed_args(argv[1:])
    args.command = argv[0]
    return args


# -- checks across options -------------------------------------------------

def _resolve_path(args, create_default_dir):
    option = '--path' if args.db is None else '--db'
    if args.path is None:
        args.path = server.DEFAULT_PATH
        if create_default_dir:
            server.check_file_path(args.path, option, create_dir=True)
    else:
        server.check_file_path(args.path, option)
    server.check_file_storage(args.path, option)


def _apply_db(args, **others):
    """Turn --db URI into what it stands for: --path for file://,
    --zeo for zeo://, else ``args.database`` (a storage every process
    opens itself); ``others``: option -> its value, refused with --db
    (--path and --zeo always; for a URI that is not file://, also the
    options of serving a file: --storage, --socket)."""
    uri = args.db = getattr(args, 'db', None)
    args.database = None
    args.db_kw = {} if uri is None else uri.db_kw
    if uri is None:
        _check_async_database(args, None)
        return
    if uri.kind == dburi.FILE:
        others = {k: v for k, v in others.items()
                  if k not in ('--storage', '--socket')}
    given = [option for option, value in others.items()
             if value not in (None, False)]
    if given:
        raise server.UsageError(
            '--db names the database: it does not go with %s (%s)'
            % (', '.join(given), _db_alternative(uri)))
    if uri.kind == dburi.FILE:
        args.path = uri.path
    elif uri.kind == dburi.ZEO:
        args.zeo = uri.address
    else:
        args.database = uri
    _check_async_database(args, uri)


def _check_async_database(args, uri):
    name = getattr(args, 'async_database', None)
    names = getattr(uri, 'names', None)
    if name is None or (names and name in names):
        return
    if not names:
        raise server.UsageError(
            '--async-database %s names a database of a multi-database:'
            ' pass --db zconfig:///FILE whose file has a <zodb NAME>'
            ' section for each database (the application\'s first)' % name)
    raise server.UsageError(
        '--async-database %s is not a database of %s: it has %s'
        % (name, uri.safe, ', '.join(names)))


def _db_alternative(uri):
    if uri.kind == dburi.FILE:
        return 'file://PATH is --path PATH'
    if uri.kind == dburi.ZEO:
        return 'zeo://ADDRESS is --zeo ADDRESS'
    return '%s:// is opened directly by each process' % uri.scheme


def _check_tool(args):
    _apply_db(args, **{'--path': args.path, '--zeo': args.zeo,
                       '--storage': args.storage})
    if args.database is not None:
        return
    if args.zeo is not None and (args.path or args.storage):
        raise server.UsageError('--zeo connects to a server: it does not go'
                                ' with --path or --storage')
    server.check_client_address(args.zeo, '--zeo')
    _resolve_path(args, create_default_dir=False)


def _check_run(args):
    args.queue = _queue_names(args)
    _apply_db(args, **{'--path': args.path, '--zeo': args.zeo,
                       '--storage': args.storage, '--socket': args.socket})
    if args.zeo is not None and (args.path or args.storage or args.socket):
        raise server.UsageError('--zeo connects to a server: it does not go'
                                ' with --path, --storage or --socket')
    if args.socket is not None and args.storage == 'direct':
        raise server.UsageError('--socket is for the embedded server: it'
                                ' does not go with --storage direct')
    _check_dispatcher_options(args)
    server.check_client_address(args.zeo, '--zeo')
    if args.uuid_file is not None:
        server.check_file_path(args.uuid_file, '--uuid-file')
    if args.socket is not None:
        server.check_file_path(args.socket, '--socket', kind='socket')
    if args.zeo is None and args.database is None:
        _resolve_path(args, create_default_dir=True)
        args.storage = args.storage or 'embedded'
        args.socket = args.socket or server.socket_path_for(args.path)


def _check_dispatcher_options(args):
    try:
        options.check_dispatcher_options(args)
    except errors.ConfigurationError as e:
        raise server.UsageError(str(e)) from None


def _check_serve(args):
    """``serve`` keeps everything of its own in --var: the FileStorage,
    its socket, the instance file and the admin password."""
    _apply_db(args, **{'--zeo': args.zeo})
    _check_dispatcher_options(args)
    server.check_client_address(args.zeo, '--zeo')
    site.check_zcml(args.zcml)
    if os.path.exists(args.var) and not os.path.isdir(args.var):
        raise server.UsageError('--var %s is not a directory: pass the'
                                ' directory for Data.fs and its companions'
                                % args.var)
    server.check_file_path(os.path.join(args.var, 'Data.fs'), '--var',
                           create_dir=True)
    args.queue = ['']
    args.uuid_file = os.path.join(args.var, os.path.basename(
        instanceuuid.DEFAULT_PATH))
    if args.database is not None:
        args.storage = args.path = args.socket = None
        return
    args.storage = None if args.zeo is not None else 'embedded'
    option = '--var'
    if args.db is None or args.zeo is not None:
        args.path = os.path.join(args.var, 'Data.fs')
    else:  # --db file://PATH: the FileStorage is PATH, not in --var
        option = '--db'
        server.check_file_path(args.path, option)
    args.socket = server.socket_path_for(args.path)
    if args.zeo is None:
        server.check_file_storage(args.path, option)
        server.check_file_path(args.socket, option, kind='socket')


def _queue_names(args):
    names = [] if args.no_default_queue else ['']
    names += [name for name in args.queue if name not in names]
    if not names:
        raise server.UsageError('--no-default-queue leaves no queue to'
                                ' serve: name one with --queue NAME')
    return names


def _check_monitor(args):
    if isinstance(args.address, str):
        raise server.UsageError('--address %s: the monitor listens on TCP;'
                                ' write HOST:PORT, e.g. 127.0.0.1:8081'
                                % args.address)
    server.check_client_address(args.address, '--address')


def _check_zeo(args):
    _apply_db(args, **{'--path': args.path})
    if getattr(args, 'zeo', None) is not None:
        raise server.UsageError(
            'zc-asyncui zeo serves a storage; --db %s names a ZEO server:'
            ' pass file://PATH or another storage URI' % args.db.safe)
    if isinstance(args.address, str):
        server.check_file_path(args.address, '--address', kind='socket')
    if args.database is None:
        _resolve_path(args, create_default_dir=True)


# -- entry point ---------------------------------------------------------

def _make_cwd_importable():
    # Console scripts put their bin directory on sys.path, not the current
    # directory.  Appended rather than prepended, so that a stray file here
    # cannot shadow the standard library or an installed package.
    cwd = os.getcwd()
    if cwd not in sys.path and '' not in sys.path:
        sys.path.append(cwd)


def main(argv=None):
    """The console script ``zc-asyncui``; returns the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        args.check(args)
        run.configure_logging(args.log_level,
                              getattr(args, 'zeo_log_level', 'WARNING'))
        # Job callables are imported here (put) and when jobs are loaded.
        _make_cwd_importable()
        return args.func(args)
    except server.CommandError as e:
        print('%s %s: error: %s' % (PROG, args.command, e), file=sys.stderr)
        return e.status


if __name__ == '__main__':
    sys.exit(main())
