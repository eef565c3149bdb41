"""Where the command line's database comes from, and how it is served.

A FileStorage can be opened by one process only (it holds a lock file),
so ``zc-asyncui run`` serves its FileStorage through a real ZEO
``StorageServer`` running in a thread of the same process, on a Unix
socket next to the file (``var/zeo.sock``, mode 0600), and connects to it
as a ZEO client like any other tool.  ``zc-asyncui zeo`` serves a
FileStorage on TCP for many worker processes.  This module opens
FileStorages with errors that say what to do, parses and probes server
addresses, starts and stops servers, and finds the database for the
short-lived tools (``put``, ``jobs``).

An address is either ``HOST:PORT`` (a tuple here) or the path of a Unix
socket (a str).
"""
import ipaddress
import itertools
import logging
import os
import socket
import stat
import time

import transaction.interfaces
import ZEO
import ZEO.Exceptions
import ZEO.StorageServer
import ZODB
import ZODB.FileStorage
import ZODB.POSException
import zc.lockfile

from zc.asyncui import dburi
from zc.asyncui import errors
from zc.asyncui import queueroot
from zc.asyncui import utils

logger = logging.getLogger(__name__)

DEFAULT_PATH = os.path.join('var', 'Data.fs')
SOCKET_NAME = 'zeo.sock'
DEFAULT_ZEO_ADDRESS = ('127.0.0.1', 8100)
STORAGE_NAME = '1'  # the storage name ZEO clients ask for by default
#: sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
PROBE_SECONDS = 1.0
#: The first bytes of every FileStorage file.
FILE_STORAGE_MAGIC = ZODB.FileStorage.packed_version


class CommandError(errors.AsyncUIError):
    """Raised by the command line for a problem in its environment (a
    locked file, an unreachable server): the message says what to do.
    The command exits with ``status``."""

    status = 1


class UsageError(CommandError):
    """Raised by the command line for bad input (an option value, a
    dotted name): the message says what is accepted."""

    status = 2


# -- addresses ----------------------------------------------------------

def parse_address(text):
    """``HOST:PORT`` -> (host, port); anything with a '/' or without a
    ':' -> a Unix socket path.  Raises UsageError."""
    text = text.strip()
    if not text:
        raise UsageError('expected HOST:PORT or a socket path, not an empty'
                         ' string')
    if '/' in text or ':' not in text:
        return text
    host, _, port = text.rpartition(':')
    host = host[1:-1] if host.startswith('[') and host.endswith(']') else host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(
            '%r: the port must be a number from 0 to 65535; write'
            ' HOST:PORT (e.g. 127.0.0.1:8100) or a socket path such as'
            ' var/zeo.sock' % (text,))
    return host, int(port)


def format_address(address):
    if isinstance(address, str):
        return address
    host, port = address[:2]
    return '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)


def is_loopback(address):
    if isinstance(address, str):
        return True
    host = address[0]
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name (or '' for all interfaces)


def is_listening(address, timeout=PROBE_SECONDS):
    """True when something accepts connections at ``address``."""
    try:
        if isinstance(address, str):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.settimeout(timeout)
            with probe:
                probe.connect(address)
        else:
            socket.create_connection(address, timeout).close()
    except OSError:  # refused, no such file, unknown host, path too long
        return False
    return True


def socket_path_for(path):
    """The Unix socket that serves the FileStorage ``path``: zeo.sock in
    the same directory."""
    return os.path.join(os.path.dirname(path), SOCKET_NAME)


# -- FileStorage ----------------------------------------------------------

def check_file_path(path, option, create_dir=False, kind='file'):
    """Refuse a path that ``option`` cannot use before anything is
    created next to it: a directory, an existing file of another kind
    (``kind`` 'file': a regular file; 'socket': a Unix socket), or a
    directory that is missing (``create_dir`` makes it, for the default
    var/) or not writable (lock, index and socket files go there)."""
    if not path:
        raise UsageError('%s needs a file path, not an empty string'
                         % (option,))
    if os.path.isdir(path):
        raise UsageError('%s %s is a directory: pass a file path, such as'
                         ' %s' % (option, path, os.path.join(path, 'Data.fs')))
    if os.path.exists(path) and not _is_kind(path, kind):
        raise UsageError('%s %s exists and is not a %s (a device, pipe or'
                         ' other special file?): choose another path'
                         % (option, path, _KINDS[kind]))
    directory = os.path.dirname(path) or '.'
    if create_dir:
        _make_directory(directory, option)
    elif not os.path.isdir(directory):
        raise UsageError('%s %s: the directory %s does not exist; create it'
                         ' or choose another path' % (option, path, directory))
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError('%s %s: cannot create files in the directory %s'
                         ' (permission denied); choose another path'
                         % (option, path, directory))


_KINDS = {'file': 'regular file', 'socket': 'Unix socket'}


def _is_kind(path, kind):
    mode = os.stat(path).st_mode
    return stat.S_ISSOCK(mode) if kind == 'socket' else stat.S_ISREG(mode)


def _make_directory(directory, option):
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise CommandError('cannot create the directory %s: %s; run from a'
                           ' directory you can write to, or pass %s'
                           % (directory, e.strerror or e, option)) from None


def check_file_storage(path, option):
    """Refuse an existing file that is not a FileStorage, before opening
    it creates lock and index files next to it."""
    try:
        with open(path, 'rb') as f:
            magic = f.read(len(FILE_STORAGE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as e:
        raise CommandError('cannot read %s: %s' % (path, e.strerror or e)
                           ) from None
    if magic and magic != FILE_STORAGE_MAGIC:
        raise UsageError('%s %s is not a FileStorage (it does not start with'
                         ' %s): pass a FileStorage, or a new file name'
                         % (option, path, FILE_STORAGE_MAGIC.decode()))


def check_client_address(address, option):
    """Refuse port 0 where a server is to be reached (it means "any free
    port" to a server only)."""
    if address is not None and not isinstance(address, str) and \
            address[1] == 0:
        raise UsageError('%s %s: port 0 is for a server to pick a free'
                         ' port; pass the port the server listens on'
                         % (option, format_address(address)))


def open_file_storage(path, advice):
    """Open (or create) the FileStorage ``path``.  ``advice`` finishes
    the message when another process holds its lock."""
    try:
        return ZODB.FileStorage.FileStorage(path)
    except zc.lockfile.LockError:
        raise CommandError('%s is locked by another process %s'
                           % (path, advice)) from None
    except OSError as e:
        raise CommandError('cannot open %s: %s' % (path, e)) from None
    except ZODB.POSException.StorageError as e:  # a damaged FileStorage
        raise CommandError('cannot open %s as a FileStorage: %s: %s' % (
            path, type(e).__name__, e)) from None


# -- serving ----------------------------------------------------------------

class _RoutineDisconnects(logging.Filter):
    """Logs a client's connection reset as INFO, not ERROR.

    ZEO logs ERROR when a client goes away while the server writes to it
    or with invalidations it has not read: routine for short-lived tools
    (``put``, ``jobs``) on a busy database, so not an operator's alarm.
    """

    ROUTINE = ('ConnectionResetError', 'BrokenPipeError')

    def filter(self, record):
        if (record.levelno == logging.ERROR and record.args
                and str(record.msg).startswith('Disconnected')
                and record.args[0] in self.ROUTINE):
            record.levelno, record.levelname = logging.INFO, 'INFO'
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


_routine_disconnects = _RoutineDisconnects()


def serve(storage, address, factory=ZEO.StorageServer.StorageServer):
    """Start a ZEO StorageServer (made by ``factory``, a class such as
    zc.asyncui.cli.embedded.SharedServer) for ``storage`` on ``address``,
    in a daemon thread of this process, and return it.

    The server owns the storage from here on (``stop_server`` closes
    it); if it cannot start, the storage is closed here.
    """
    try:
        if isinstance(address, str):
            _prepare_socket_path(address)
        server = _create_server(storage, address, factory)
    except BaseException:
        storage.close()
        raise
    # addFilter ignores a filter that is already there.
    logging.getLogger('ZEO.asyncio.server').addFilter(_routine_disconnects)
    server.start_thread(daemon=True)
    return server


def _prepare_socket_path(path):
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH_BYTES:
        raise UsageError(
            'the socket path %s is %d bytes long; Unix sockets allow %d.'
            ' Use a shorter relative path (run from the data directory)'
            ' or pass --socket' % (path, size, MAX_SOCKET_PATH_BYTES))
    if not os.path.exists(path):
        return
    if is_listening(path):
        raise CommandError(
            'another process already serves on %s; connect to it with'
            ' --zeo %s, or stop it' % (path, path))
    if not stat.S_ISSOCK(os.stat(path).st_mode):
        raise UsageError('%s exists and is not a Unix socket: choose another'
                         ' socket path' % (path,))
    # Left over from a process that died without cleaning up.
    logger.info('removing the stale socket %s', path)
    os.unlink(path)


def _create_server(storage, address, factory):
    # The umask makes the socket 0600 from the moment it exists: nobody
    # else may connect in the window before a chmod.  umask is
    # process-wide, which is fine at startup, before other threads run.
    old_umask = os.umask(0o177) if isinstance(address, str) else None
    try:
        server = factory(address, {STORAGE_NAME: storage})
    except socket.gaierror as e:
        raise CommandError('cannot listen on %s: unknown host (%s); check'
                           ' the address' % (format_address(address),
                                             e.strerror or e)) from None
    except OSError as e:
        raise CommandError(
            'cannot listen on %s: %s (is another server using it? choose'
            ' another address)' % (format_address(address), e.strerror or e)
        ) from None
    finally:
        if old_umask is not None:
            os.umask(old_umask)
    if isinstance(address, str):
        os.chmod(address, 0o600)
    return server


def listening_address(server):
    """Where ``server`` listens (the real port when asked for port 0)."""
    address = server.acceptor.addr
    return address if isinstance(address, str) else tuple(address[:2])


def stop_server(server, address, timeout=5.0):
    """Close the server, its client connections and its storage, and
    remove its socket file."""
    try:
        _disconnect_clients(server, timeout)
    except AttributeError:  # a ZEO whose internals moved: close() only
        logger.debug('cannot disconnect ZEO clients first', exc_info=True)
    server.close(join_timeout=timeout)
    if isinstance(address, str):
        try:
            os.unlink(address)
        except FileNotFoundError:
            pass


def _disconnect_clients(server, timeout):
    # StorageServer.close() only *asks* the server thread to stop, then
    # closes the client connections (by then its event loop may be gone:
    # an ERROR "Event loop is closed") and the storages, while that thread
    # may still be in a storage call for a client.  So first stop
    # listening (ZEO clients reconnect at once), then close the client
    # connections on the server's own thread (after any call in progress)
    # and wait until they are gone: close() then finds an idle server.
    acceptor = server.acceptor
    acceptor.event_loop.call_soon_threadsafe(acceptor.server.close)
    clients = [zs for zeo_storages in
               server.zeo_storages_by_storage_id.values()
               for zs in zeo_storages]
    for zs in clients:
        zs.call_soon_threadsafe(_abort_and_close, zs)
    deadline = time.monotonic() + timeout
    while _busy(server, clients) and time.monotonic() < deadline:
        time.sleep(0.01)


def _busy(server, clients):
    # A vote queued for the commit lock runs on its client's thread when
    # the lock is released, maybe after that client's connection closed
    # here; the storage must stay open until no transaction holds or
    # waits for the lock.
    if any(zs.connection.connected for zs in clients):
        return True
    return any(lm.locked is not None or lm.waiting
               for lm in server.lock_managers.values())


def _abort_and_close(zs):
    # Runs on the server's thread.  Closing a connection does not abort
    # its transaction; one left voted but unfinished would stay at the end
    # of the FileStorage and be truncated, with a warning, at its next
    # opening.  The client sees its commit fail and retries it.
    if zs.transaction is not None:
        zs.tpc_abort(zs.transaction.id)
    zs.connection.close()


# -- connecting ---------------------------------------------------------------

def connect(address, wait_seconds, attempts=5, db_kw=None):
    """A ``ZODB.DB`` on a ZEO ClientStorage connected to ``address``;
    waits up to ``wait_seconds`` for the server.  ``db_kw``: keywords of
    ZODB.DB (from a --db URI)."""
    for attempt in range(1, attempts + 1):
        try:
            return ZEO.DB(address, wait_timeout=wait_seconds, **(db_kw or {}))
        except ZEO.Exceptions.ClientDisconnected:
            raise CommandError(
                'no ZEO server answered at %s within %gs; start one with'
                ' zc-asyncui zeo or zc-asyncui run, or check the address'
                % (format_address(address), wait_seconds)) from None
        except transaction.interfaces.TransientError:
            # ZODB.DB() creates the root object of an empty database: two
            # processes connecting to a new server at once conflict there
            # (the loser then finds the root the winner made).
            if attempt == attempts:
                raise
            time.sleep(utils.backoff_seconds(attempt))


TOOL_LOCKED_ADVICE = (
    '(is zc-asyncui run running with --storage direct?); connect through'
    ' its ZEO socket with --zeo, or stop it')


def open_database_uri(uri, wait_seconds=0.0):
    """A ZODB.DB on the storage of ``uri`` (a zc.asyncui.dburi
    DatabaseURI), opened in this process, trying again for up to
    ``wait_seconds`` (a database server that is still starting);
    CommandError when it cannot be opened (a server that does not
    answer, a missing database...)."""
    deadline = time.monotonic() + wait_seconds
    for attempt in itertools.count(1):
        try:
            return uri.open()
        except Exception as e:
            if time.monotonic() >= deadline:
                raise CommandError(_cannot_open(uri, e, wait_seconds)
                                   ) from None
            if attempt == 1:
                logger.info('waiting up to %gs for the database %s (%s)',
                            wait_seconds, uri.safe, _first_line(e))
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic()),
                       0.1 * attempt))


def _first_line(error):
    # psycopg2 and RelStorage put details on further lines.
    return '%s: %s' % (type(error).__name__,
                       (str(error).strip().splitlines() or [''])[0])


def _cannot_open(uri, error, wait_seconds):
    return ('cannot open the database %s%s: %s; check the URI, and that its'
            ' server runs and accepts this user' % (
                uri.safe, ' within %gs' % wait_seconds if wait_seconds else '',
                _first_line(error)))


def queue_database(db, name=None):
    """The database holding the queues of ``db``
    (zc.asyncui.getQueueDatabase): in a multi-database (--db
    zconfig:///FILE of several <zodb> sections), the one named ``name``
    (--async-database) or the one ``db``'s root refers to; else ``db``.
    UsageError for a name not in the multi-database."""
    if name is None and len(getattr(db, 'databases', {})) < 2:
        return db
    try:
        return queueroot.getQueueDatabase(db, name)
    except errors.ConfigurationError as e:
        raise UsageError('--async-database: %s' % e) from None


def close_database(db):
    """Close ``db`` and the other databases of its multi-database."""
    dburi.close_all(db)


def open_tool_database(args):
    """(db, description) for the short-lived tools (put, jobs, ...) from
    their options: --db URI of a shared storage, else open_for_tool.  In
    a multi-database, ``db`` is the database holding the queues (the
    others stay open with it, for the jobs' references)."""
    uri = getattr(args, 'database', None)
    if uri is not None:
        db = open_database_uri(uri)
        return queue_database(db, getattr(args, 'async_database', None)), \
            uri.safe
    return open_for_tool(args.path, args.zeo, args.storage,
                         args.connect_timeout,
                         db_kw=getattr(args, 'db_kw', None))


def open_for_tool(path, zeo=None, storage='embedded', wait_seconds=10.0,
                  db_kw=None):
    """(db, description) for ``put`` and ``jobs``.

    With ``zeo``, connect there.  Otherwise connect through the socket
    of a running ``zc-asyncui run`` next to ``path``, and when no server
    answers there (or with ``storage='direct'``), open the file itself.
    ``db_kw``: keywords of ZODB.DB (from a --db URI).
    """
    db_kw = db_kw or {}
    if zeo is not None:
        if not is_listening(zeo):
            raise CommandError(
                'no ZEO server answers at %s; start one with zc-asyncui'
                ' zeo or zc-asyncui run, or check --zeo'
                % format_address(zeo))
        return (connect(zeo, wait_seconds, db_kw=db_kw),
                'ZEO ' + format_address(zeo))
    sock = socket_path_for(path)
    if storage != 'direct' and is_listening(sock):
        return connect(sock, wait_seconds, db_kw=db_kw), 'ZEO ' + sock
    if not os.path.exists(path):
        raise CommandError(
            '%s does not exist and no server answers on %s: start'
            ' zc-asyncui run first, or pass --path or --zeo' % (path, sock))
    fs = open_file_storage(path, TOOL_LOCKED_ADVICE)
    try:
        return ZODB.DB(fs, **db_kw), path
    except BaseException:
        fs.close()
        raise
