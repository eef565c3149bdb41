"""The long-running commands ``zc-asyncui run`` and ``zc-asyncui zeo``.

Both start what they serve, wait for SIGINT or SIGTERM and then close
everything they opened, in reverse order (a contextlib.ExitStack); a
second signal stops at once without waiting for running jobs.
"""
import contextlib
import logging
import os
import shlex
import signal
import sys
import threading

import ZODB

import zc.asyncui
from zc.asyncui import dburi
from zc.asyncui import dispatcher
from zc.asyncui import errors
from zc.asyncui import instanceuuid
from zc.asyncui.cli import embedded
from zc.asyncui.cli import monitor
from zc.asyncui.cli import options
from zc.asyncui.cli import server

logger = logging.getLogger(__name__)

LOG_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s'
#: The logger of RelStorage's failed connection attempts to PostgreSQL.
RELSTORAGE_CONNECT_LOGGER = 'relstorage.adapters.postgresql.connmanager'
#: How much longer than --stop-timeout ``run`` waits for its dispatcher.
STOP_GRACE_SECONDS = 10.0


def configure_logging(level, zeo_level='WARNING'):
    level, zeo_level = (logging.getLevelName(n) for n in (level, zeo_level))
    logging.basicConfig(level=level, format=LOG_FORMAT,
                        datefmt='%Y-%m-%d %H:%M:%S')
    # ZEO logs every connection and handshake at INFO: noise for an
    # operator of ``run``, who sees zc.asyncui's own lines about outages.
    if level > logging.DEBUG:
        logging.getLogger('ZEO').setLevel(max(level, zeo_level))
        # RelStorage's "Unable to connect" WARNING (several lines) says
        # what the command's own error, or its "waiting up to ...s for
        # the database" line, says in one.
        logging.getLogger(RELSTORAGE_CONNECT_LOGGER).setLevel(
            max(level, logging.ERROR))


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


def run_until_signal(name, startup):
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
    return run_until_signal('run', lambda stack: _start_run(args, stack))


def _start_run(args, stack):
    db, where = open_database(args, stack)
    # Before the dispatcher, so that it closes after it: a second signal
    # during the wait for running jobs finds the dispatcher's stop.
    srv = monitor.start_monitor(args, server.queue_database(
        db, getattr(args, 'async_database', None)), stack)
    d = start_dispatcher(args, db, stack)
    uuid_file = args.uuid_file or instanceuuid.DEFAULT_PATH
    size = args.main_agent_size
    logger.info(
        'zc-asyncui run ready: dispatcher %s (instance file %s) on %s;'
        ' queues %s, %s; %s; pid %d: stop with Ctrl-C or kill -TERM %d',
        d.UUID, uuid_file, where, ', '.join(repr(q) for q in args.queue),
        'agent "main" of size %d' % size if size else 'no "main" agent',
        monitor_text(srv), os.getpid(), os.getpid())


def monitor_text(srv):
    """For the ready line: where the monitor listens."""
    if srv is None:
        return 'no monitor'
    return 'monitor on %s:%d' % srv.address


def start_dispatcher(args, db, stack, start=dispatcher.start):
    """Install the queues ``args.queue`` and start this process's
    dispatcher on ``db`` with ``start`` (``serve`` passes
    zc.asyncui.config.startDispatcher, which adds the agents its ZCML
    declares); its stop is pushed on ``stack``."""
    db = install_queues(args, db)
    uuid_file = args.uuid_file or instanceuuid.DEFAULT_PATH
    try:
        d = start(db, uuid_file=args.uuid_file,
                  **options.dispatcher_keywords(args))
    except (errors.ConfigurationError, ValueError) as e:
        # ValueError: an instance file whose first line is not a UUID.
        raise server.UsageError(str(e)) from None
    except OSError as e:
        raise server.CommandError('cannot use the instance file %s: %s' % (
            uuid_file, e)) from None
    except errors.DispatcherError as e:
        raise server.CommandError(str(e)) from None
    stack.callback(_stop_dispatcher, d, args.stop_timeout)
    return d


def install_queues(args, db):
    """Install the queues ``args.queue``: in a multi-database, where
    --async-database says (the application's root then refers to them),
    or where they already are.  Returns the database holding them."""
    name = getattr(args, 'async_database', None)
    try:
        zc.asyncui.install(db, names=args.queue, database=name)
    except errors.ConfigurationError as e:
        raise server.UsageError(str(e)) from None
    return server.queue_database(db, name)


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


def open_database(args, stack):
    """(db, description) for ``run`` and ``serve``; closing is pushed on
    ``stack``."""
    if getattr(args, 'database', None) is not None:
        db = server.open_database_uri(args.database, args.connect_timeout)
        stack.callback(dburi.close_all, db)  # a multi-database: each
        return db, '%s (opened directly)' % args.database.safe
    if args.zeo is not None:
        return _connect_worker(args, stack)
    db_kw = getattr(args, 'db_kw', {})
    fs = server.open_file_storage(args.path, _run_locked_advice(args))
    if args.storage == 'direct':
        db = _db_or_close(fs, db_kw)
        stack.callback(db.close)
        return db, '%s (direct FileStorage, no socket)' % args.path
    # This process commits to the file directly; the server on the socket
    # serves the other processes (zc.asyncui.cli.embedded).
    srv, db = embedded.open_database(fs, args.socket, db_kw)
    stack.callback(server.stop_server, srv, args.socket)
    stack.callback(db.close)
    return db, ('%s, served to other processes by the embedded ZEO server'
                ' on unix socket %s (mode 0600)' % (args.path, args.socket))


def _connect_worker(args, stack):
    where = server.format_address(args.zeo)
    if not server.is_listening(args.zeo):
        logger.info('zc-asyncui run: waiting up to %gs for the ZEO server'
                    ' at %s', args.connect_timeout, where)
    db = server.connect(args.zeo, args.connect_timeout,
                        db_kw=getattr(args, 'db_kw', {}))
    stack.callback(db.close)
    return db, 'the ZEO server at %s' % where


def _run_locked_advice(args):
    if server.is_listening(args.socket):
        return ('(another zc-asyncui run serves it on %s): add a worker'
                ' with "zc-asyncui run --zeo %s --uuid-file OTHER_FILE", or'
                ' stop it' % (args.socket, shlex.quote(args.socket)))
    return ('(a zc-asyncui run --storage direct, or a zc-asyncui zeo?): a'
            ' FileStorage can be opened by one process only; connect to its'
            ' server with --zeo, or stop it')


def _db_or_close(storage, db_kw):
    try:
        return ZODB.DB(storage, **db_kw)
    except BaseException:
        storage.close()
        raise


# -- zeo --------------------------------------------------------------------

def zeo_command(args):
    """``zc-asyncui zeo``."""
    return run_until_signal('zeo', lambda stack: _start_zeo(args, stack))


def _start_zeo(args, stack):
    address = args.address
    if not server.is_loopback(address):
        logger.warning(
            'zc-asyncui zeo: ZEO has no authentication: anyone who can'
            ' reach %s can read and change the whole database; keep it on'
            ' a private network', server.format_address(address))
    if getattr(args, 'database', None) is not None:
        fs = _open_storage(args.database)
        served = args.database.safe
    else:
        fs = server.open_file_storage(
            args.path, '(another zc-asyncui zeo or zc-asyncui run?): a'
            ' FileStorage can be opened by one process only; stop it, or'
            ' connect to its server')
        served = args.path
    srv = server.serve(fs, address)
    stack.callback(server.stop_server, srv, address)
    where = server.format_address(server.listening_address(srv))
    logger.info(
        'zc-asyncui zeo ready: serving %s on %s (pid %d); start workers'
        ' with "zc-asyncui run --zeo %s --uuid-file FILE"; stop with Ctrl-C'
        ' or kill -TERM %d', served, where, os.getpid(), where,
        os.getpid())


def _open_storage(uri):
    try:
        return uri.openStorage()
    except Exception as e:
        detail = (str(e).strip().splitlines() or [''])[0]
        raise server.CommandError('cannot open the storage %s: %s: %s' % (
            uri.safe, type(e).__name__, detail)) from None
