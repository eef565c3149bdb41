"""The ``zc-asyncui`` command line (narrative: docs/standalone.rst).

``run`` serves var/Data.fs through an embedded ZEO server on the Unix
socket var/zeo.sock (``--storage direct``: no server; ``--zeo``: a worker
of an existing server) and runs a dispatcher until Ctrl-C or SIGTERM;
``put`` and ``jobs`` (zc.asyncui.tools) enqueue and list jobs through that
socket, or in the file when nothing runs; ``zeo`` serves a FileStorage for
many workers.  Storages and servers are opened by zc.asyncui.server.

Job callables are imported from ``sys.path``; the current directory is
appended to it, because console scripts, unlike ``python -m``, leave it
out.  Exit status: 0 on success and after a clean stop by a signal, 2 for
bad input, 1 for other problems; errors are one line on stderr.
"""
import argparse
import contextlib
import logging
import math
import os
import signal
import sys
import threading

import ZODB

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import errors
from zc.asyncui import instanceuuid
from zc.asyncui import server
from zc.asyncui import tools
from zc.asyncui.job import JobStatus

logger = logging.getLogger(__name__)

LOG_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s'
LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR')
#: How much longer than --stop-timeout ``run`` waits for its dispatcher.
STOP_GRACE_SECONDS = 10.0
STATUSES = ', '.join(s.value for s in JobStatus)


# -- argument parsing ---------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and exit status 2)."""

    def error(self, message):
        self.exit(2, '%s: error: %s (see %s --help)\n'
                  % (self.prog, message, self.prog))


def _seconds(minimum=0.0, inclusive=False):
    """An argparse type: a finite number of seconds above ``minimum``."""
    def seconds(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum or (
                value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(
                'expected a number of seconds %s %g, not %r'
                % ('>=' if inclusive else '>', minimum, text))
        return value
    return seconds


def _count(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            'expected a whole number >= 0, not %r' % (text,))
    return value


def _address(text):
    try:
        return server.parse_address(text)
    except server.UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _status(text):
    try:
        return JobStatus(text.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            '%r is not a job status; choose one of %s'
            % (text, STATUSES)) from None


def _add_path_options(parser, storage_help):
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
    _add_path_options(p, 'embedded (default): serve the FileStorage on a'
                      ' Unix socket for local tools and connect through it;'
                      ' direct: open it in this process only')
    p.add_argument('--socket', metavar='PATH', help='the embedded server\'s'
                   ' socket (default zeo.sock next to the FileStorage)')
    p.add_argument('--uuid-file', metavar='FILE', help='this process\'s'
                   ' instance file (default %s)' % instanceuuid.DEFAULT_PATH)
    p.add_argument('--poll-interval', metavar='S', type=_seconds(),
                   default=5.0, help='default 5')
    p.add_argument('--ping-interval', metavar='S', type=_seconds(),
                   default=30.0, help='default 30')
    p.add_argument('--ping-death-interval', metavar='S', type=_seconds(),
                   default=60.0, help='default 60; must exceed the ping'
                   ' interval')
    p.add_argument('--agent-size', metavar='N', type=_count, default=3,
                   help='worker threads of the "main" agent in each queue'
                   ' (default 3; 0 adds no agent)')
    p.add_argument('--queue', metavar='NAME', action='append',
                   help='install this queue (repeatable; default the'
                   ' queue named "")')
    p.add_argument('--stop-timeout', metavar='S', default=30.0,
                   type=_seconds(inclusive=True),
                   help='how long running jobs may finish at stop'
                   ' (default 30)')
    p.add_argument('--connect-timeout', metavar='S', default=30.0,
                   type=_seconds(), help='wait this long for the ZEO'
                   ' server (default 30)')
    p.add_argument('--log-level', choices=LOG_LEVELS, default='INFO')
    p.set_defaults(func=run_command, check=_check_run)


def _add_put(subparsers):
    p = subparsers.add_parser(
        'put', help='enqueue a call and print its job key',
        description='Enqueue DOTTED.NAME(ARG, ...); each ARG is a Python'
        ' literal (42, 1.5, "text", [1, 2], None), else a plain string.')
    p.add_argument('callable', metavar='DOTTED.NAME',
                   help='module.function (or module:function)')
    p.add_argument('args', metavar='ARG', nargs='*')
    p.add_argument('--queue', metavar='NAME', default='',
                   help='default: the queue named ""')
    p.add_argument('--in', dest='in_seconds', metavar='SECONDS',
                   type=_seconds(inclusive=True),
                   help='begin no earlier than SECONDS from now')
    _add_tool_options(p)
    p.set_defaults(func=tools.put_command, check=_check_tool)


def _add_jobs(subparsers):
    p = subparsers.add_parser(
        'jobs', help='list pending, held and recently completed jobs',
        description='List jobs, one line each: key, status, queue, call,'
        ' times, result.')
    p.add_argument('--status', type=_status,
                   help='only jobs in this status (%s)' % STATUSES)
    p.add_argument('--queue', metavar='NAME', help='only this queue')
    p.add_argument('--limit', metavar='N', type=_count,
                   default=tools.DEFAULT_LIMIT,
                   help='at most N lines (default %d; 0: all)'
                   % tools.DEFAULT_LIMIT)
    _add_tool_options(p)
    p.set_defaults(func=tools.jobs_command, check=_check_tool)


def _add_tool_options(parser):
    _add_path_options(parser, 'embedded (default): through the socket of a'
                      ' running `zc-asyncui run`, else the file; direct: the'
                      ' file only')
    parser.add_argument('--connect-timeout', metavar='S', default=10.0,
                        type=_seconds(), help='default 10')
    parser.set_defaults(log_level='WARNING')


def _add_zeo(subparsers):
    p = subparsers.add_parser(
        'zeo', help='serve var/Data.fs with ZEO for many workers',
        description='Serve a FileStorage over ZEO until Ctrl-C or SIGTERM.')
    p.add_argument('--address', metavar='HOST:PORT|SOCKET', type=_address,
                   default=server.DEFAULT_ZEO_ADDRESS,
                   help='default %s (port 0: any free port)'
                   % server.format_address(server.DEFAULT_ZEO_ADDRESS))
    p.add_argument('--path', metavar='FILE', help='the FileStorage'
                   ' (default %s)' % server.DEFAULT_PATH)
    p.add_argument('--log-level', choices=LOG_LEVELS, default='INFO')
    p.set_defaults(func=zeo_command, check=_check_zeo,
                   zeo_log_level='INFO')


def build_parser():
    parser = _Parser(prog='zc-asyncui', description=__doc__.split('\n')[0])
    subparsers = parser.add_subparsers(
        dest='command', metavar='COMMAND', required=True)
    for add in (_add_run, _add_put, _add_jobs, _add_zeo):
        add(subparsers)
    return parser


# -- checks across options -------------------------------------------------

def _resolve_path(args, create_default_dir):
    if args.path is None:
        args.path = server.DEFAULT_PATH
        if create_default_dir:
            server.check_file_path(args.path, '--path', create_dir=True)
    else:
        server.check_file_path(args.path, '--path')


def _check_tool(args):
    if args.zeo is not None and (args.path or args.storage):
        raise server.UsageError('--zeo connects to a server: it does not go'
                                ' with --path or --storage')
    _resolve_path(args, create_default_dir=False)


def _check_run(args):
    if args.zeo is not None and (args.path or args.storage or args.socket):
        raise server.UsageError('--zeo connects to a server: it does not go'
                                ' with --path, --storage or --socket')
    if args.socket is not None and args.storage == 'direct':
        raise server.UsageError('--socket is for the embedded server: it'
                                ' does not go with --storage direct')
    if args.ping_death_interval <= args.ping_interval:
        raise server.UsageError(
            '--ping-death-interval (%gs) must be longer than --ping-interval'
            ' (%gs), by a few poll intervals'
            % (args.ping_death_interval, args.ping_interval))
    if args.uuid_file is not None:
        server.check_file_path(args.uuid_file, '--uuid-file')
    if args.socket is not None:
        server.check_file_path(args.socket, '--socket')
    if args.zeo is None:
        _resolve_path(args, create_default_dir=True)
        args.storage = args.storage or 'embedded'
        args.socket = args.socket or server.socket_path_for(args.path)
    args.queue = args.queue or ['']


def _check_zeo(args):
    _resolve_path(args, create_default_dir=True)


# -- process helpers ---------------------------------------------------------

def _configure_logging(level, zeo_level='WARNING'):
    level, zeo_level = (logging.getLevelName(n) for n in (level, zeo_level))
    logging.basicConfig(level=level, format=LOG_FORMAT,
                        datefmt='%Y-%m-%d %H:%M:%S')
    # ZEO logs every connection and handshake at INFO: noise for an
    # operator of ``run``, who sees zc.asyncui's own lines about outages.
    if level > logging.DEBUG:
        logging.getLogger('ZEO').setLevel(max(level, zeo_level))


def _make_cwd_importable():
    # Console scripts put their bin directory on sys.path, not the current
    # directory.  Appended rather than prepended, so that a stray file here
    # cannot shadow the standard library or an installed package.
    cwd = os.getcwd()
    if cwd not in sys.path and '' not in sys.path:
        sys.path.append(cwd)


class _Stopper:
    """Turns SIGINT and SIGTERM into a clean stop.

    During startup the first signal raises KeyboardInterrupt, so that
    startup is abandoned and what was opened is closed; once running, the
    first signal only sets the event that the main thread waits for, and
    a second one raises KeyboardInterrupt to cut short the wait for
    running jobs (the rest of the cleanup still runs).  Must be used from
    the main thread.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.event = threading.Event()
        self.received = None
        self.forced = None
        self._running = False
        self._saved = {}

    def install(self):
        for signum in self.SIGNALS:
            self._saved[signum] = signal.signal(signum, self._handle)

    def restore(self):
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        first = self.received is None
        if first:
            self.received = signal.Signals(signum).name
        self.event.set()
        if not first and self._running and not self.forced:
            self.forced = signal.Signals(signum).name
            raise KeyboardInterrupt
        if first and not self._running:
            raise KeyboardInterrupt

    def wait(self):
        """Block until a signal; returns its name."""
        self._running = True
        # A timeout, so that the main thread wakes to run the handler even
        # where a plain wait() would not be interrupted.
        while not self.event.wait(1.0):
            pass
        return self.received


def _run_until_signal(name, startup):
    """Call ``startup(stack)``, wait for SIGINT/SIGTERM, then close what
    startup pushed on the ExitStack (in reverse order)."""
    stopper = _Stopper()
    stopper.install()
    try:
        with contextlib.ExitStack() as stack:
            startup(stack)
            received = stopper.wait()
            logger.info('zc-asyncui %s: %s received; stopping', name,
                        received)
    except KeyboardInterrupt:
        if stopper.forced:
            return _forced_stop(name, stopper.forced)
        logger.info('zc-asyncui %s: interrupted by %s during startup', name,
                    stopper.received or 'Ctrl-C')
    finally:
        stopper.restore()
    logger.info('zc-asyncui %s: stopped cleanly', name)
    return 0


def _forced_stop(name, signal_name):
    logger.warning(
        'zc-asyncui %s: second %s: stopped without waiting for running'
        ' jobs; they are recovered when this instance restarts, or by'
        ' another worker after the ping death interval', name, signal_name)
    # Exit now: the atexit hook would wait for the running jobs again.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(1)


# -- run ------------------------------------------------------------------

def run_command(args):
    """``zc-asyncui run``."""
    return _run_until_signal('run', lambda stack: _start_run(args, stack))


def _start_run(args, stack):
    db, where = _open_run_database(args, stack)
    zc.asyncui.install(db, names=args.queue)
    try:
        d = dispatcher.start(
            db, poll_interval=args.poll_interval, uuid_file=args.uuid_file,
            main_agent_size=args.agent_size,
            ping_interval=args.ping_interval,
            ping_death_interval=args.ping_death_interval)
    except (errors.ConfigurationError, ValueError) as e:
        # ValueError: an instance file whose first line is not a UUID.
        raise server.UsageError(str(e)) from None
    except OSError as e:
        raise server.CommandError('cannot use the instance file %s: %s' % (
            args.uuid_file or instanceuuid.DEFAULT_PATH, e)) from None
    stack.callback(_stop_dispatcher, d, args.stop_timeout)
    logger.info(
        'zc-asyncui run ready: dispatcher %s (instance file %s) on %s;'
        ' queues %s, %s; pid %d: stop with Ctrl-C or `kill -TERM %d`',
        d.UUID, args.uuid_file or instanceuuid.DEFAULT_PATH, where,
        ', '.join(repr(q) for q in args.queue),
        'agent "main" of size %d' % args.agent_size if args.agent_size
        else 'no "main" agent', os.getpid(), os.getpid())


def _stop_dispatcher(d, timeout):
    # Dispatcher.stop() retries its final deactivation while the database
    # is unreachable, far beyond ``timeout``; bound it here, since what an
    # unfinished deactivation leaves is recovered anyway (by this instance
    # at its next start, or by another dispatcher).
    stopping = threading.Thread(target=d.stop, args=(timeout,), daemon=True,
                                name='zc-asyncui stop %s' % d.UUID)
    stopping.start()
    stopping.join(timeout + STOP_GRACE_SECONDS)
    if stopping.is_alive():
        raise server.CommandError(
            'dispatcher %s did not finish stopping within %gs (is the'
            ' database reachable?); exiting anyway: its jobs are recovered'
            ' when this instance restarts, or by another dispatcher after'
            ' the ping death interval' % (d.UUID, timeout +
                                           STOP_GRACE_SECONDS))


def _open_run_database(args, stack):
    """(db, description) for ``run``; closing is pushed on ``stack``."""
    if args.zeo is not None:
        return _connect_worker(args, stack)
    fs = server.open_file_storage(args.path, _run_locked_advice(args))
    if args.storage == 'direct':
        db = _db_or_close(fs)
        stack.callback(db.close)
        return db, '%s (direct FileStorage, no socket)' % args.path
    srv = server.serve(fs, args.socket)
    stack.callback(server.stop_server, srv, args.socket)
    db = server.connect(args.socket, args.connect_timeout)
    stack.callback(db.close)
    return db, ('%s through the embedded ZEO server on unix socket %s'
                ' (mode 0600)' % (args.path, args.socket))


def _connect_worker(args, stack):
    where = server.format_address(args.zeo)
    if not server.is_listening(args.zeo):
        logger.info('zc-asyncui run: waiting up to %gs for the ZEO server'
                    ' at %s', args.connect_timeout, where)
    db = server.connect(args.zeo, args.connect_timeout)
    stack.callback(db.close)
    return db, 'the ZEO server at %s' % where


def _run_locked_advice(args):
    if server.is_listening(args.socket):
        return ('(another `zc-asyncui run` serves it on %s): add a worker'
                ' with `zc-asyncui run --zeo %s --uuid-file OTHER_FILE`, or'
                ' stop it' % (args.socket, args.socket))
    return ('(a `zc-asyncui run --storage direct` or `zc-asyncui zeo`?): a'
            ' FileStorage can be opened by one process only; connect to its'
            ' server with --zeo, or stop it')


def _db_or_close(storage):
    try:
        return ZODB.DB(storage)
    except BaseException:
        storage.close()
        raise


# -- zeo --------------------------------------------------------------------

def zeo_command(args):
    """``zc-asyncui zeo``."""
    return _run_until_signal('zeo', lambda stack: _start_zeo(args, stack))


def _start_zeo(args, stack):
    address = args.address
    if not server.is_loopback(address):
        logger.warning(
            'zc-asyncui zeo: ZEO has no authentication: anyone who can'
            ' reach %s can read and change the whole database; keep it on'
            ' a private network', server.format_address(address))
    fs = server.open_file_storage(
        args.path, '(another `zc-asyncui zeo` or `zc-asyncui run`?): a'
        ' FileStorage can be opened by one process only; stop it, or'
        ' connect to its server')
    srv = server.serve(fs, address)
    stack.callback(server.stop_server, srv, address)
    where = server.format_address(server.listening_address(srv))
    logger.info(
        'zc-asyncui zeo ready: serving %s on %s (pid %d); start workers'
        ' with `zc-asyncui run --zeo %s --uuid-file FILE`; stop with Ctrl-C'
        ' or `kill -TERM %d`', args.path, where, os.getpid(), where,
        os.getpid())


# -- entry point ---------------------------------------------------------

def main(argv=None):
    """The console script ``zc-asyncui``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.check(args)
        _configure_logging(args.log_level,
                           getattr(args, 'zeo_log_level', 'WARNING'))
        # Job callables are imported here (put) and when jobs are loaded.
        _make_cwd_importable()
        return args.func(args)
    except server.CommandError as e:
        print('zc-asyncui %s: error: %s' % (args.command, e),
              file=sys.stderr)
        return e.status


if __name__ == '__main__':
    sys.exit(main())
