"""The monitor's line-protocol TCP server (the zc.monitor protocol, on the
standard library).

A client sends one line, ``COMMAND ARG ARG...``; the command is the
IMonitorPlugin utility of that name, called as ``plugin(connection,
*args)``; its output goes back and the connection closes, unless the
command was ``interactive``: then lines are read until ``quit`` (an
empty line repeats the last command).

Hostile or broken clients cost a bounded amount: lines over
MAX_LINE_BYTES, bytes that are not UTF-8, an unknown command, wrong
arguments and a command that raises each get one ``Error:`` line on
their own connection; a client that sends nothing is dropped after
``idle_seconds``; connections beyond ``max_connections`` are refused with
an ``Error:`` line.  The server keeps serving everyone else.

The port asks for no password: it listens on loopback unless told
otherwise, and logs a WARNING when bound elsewhere.
"""
import atexit
import inspect
import ipaddress
import logging
import socket
import socketserver
import threading
import time

import zope.component

from zc.asyncui.interfaces import IMonitorPlugin

logger = logging.getLogger(__name__)

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 8081
#: Longest command line accepted, newline excluded.
MAX_LINE_BYTES = 4096
#: Connections served at once; more are refused with an Error: line.
MAX_CONNECTIONS = 32
#: A client that sends no line for this long is dropped.
IDLE_SECONDS = 30.0

_servers = []
_servers_lock = threading.Lock()

#: Returned by a plugin to keep the connection open / to close it.
INTERACTIVE_MARKER = object()
QUIT_MARKER = object()


class CommandError(Exception):
    """Raised by a command for bad input: the server writes
    ``Error: <message>`` and no traceback."""


def is_loopback(host):
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name, or '' for every interface


class Connection:
    """What a plugin writes to: ``write(text)`` sends at once.  ``db`` is
    the database the server was started for (or None)."""

    def __init__(self, sock, db=None):
        self._sock = sock
        self.db = db

    def write(self, text):
        self._sock.sendall(str(text).encode('utf-8', 'replace'))


class _Handler(socketserver.StreamRequestHandler):

    def handle(self):
        server = self.server
        self.request.settimeout(server.idle_seconds)
        connection = Connection(self.request, server.db)
        self._buffer = b''
        interactive = False
        last = None
        while True:
            words = self._read_words(connection)
            if words is None:
                return
            if not words and interactive:
                words = last
            if not words:
                if not interactive:
                    connection.write('Error: empty command; try "help"\n')
                    return
                continue
            last = words
            mode = run_command(connection, words)
            if mode is INTERACTIVE_MARKER:
                interactive = True
            elif mode is QUIT_MARKER or not interactive:
                return

    def _read_words(self, connection):
        """The words of the next line, or None to close (after writing
        the reason)."""
        try:
            line = self._read_line()
        except socket.timeout:
            connection.write('Error: no command within %gs; closing\n'
                             % self.server.idle_seconds)
            return None
        except OSError:
            return None
        if not line:
            return None
        if len(line.rstrip(b'\r\n')) > MAX_LINE_BYTES:
            connection.write('Error: line longer than %d bytes; send one'
                             ' short command per line\n' % MAX_LINE_BYTES)
            return None
        try:
            return line.decode('utf-8').split()
        except UnicodeDecodeError:
            connection.write('Error: the line is not UTF-8 text\n')
            return None

    def _read_line(self):
        """The next line (bytes, at most MAX_LINE_BYTES + 2 of it; b''
        at the end of input).  The whole line must come within
        ``idle_seconds``, so a client trickling bytes cannot hold its
        slot longer than a silent one (socket.timeout)."""
        deadline = time.monotonic() + self.server.idle_seconds
        while b'\n' not in self._buffer and \
                len(self._buffer) <= MAX_LINE_BYTES + 1:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout('line not finished in time')
            self.request.settimeout(remaining)
            chunk = self.request.recv(MAX_LINE_BYTES)
            if not chunk:
                break
            self._buffer += chunk
        line, newline, rest = self._buffer.partition(b'\n')
        self._buffer = rest
        return line[:MAX_LINE_BYTES + 2] + newline

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass  # the client went away


def run_command(connection, words):
    """Run ``words`` (command and args) on ``connection``; returns the
    command's mode marker or None.  Every failure is one Error: line."""
    name, args = words[0], words[1:]
    plugin = zope.component.queryUtility(IMonitorPlugin, name)
    if plugin is None:
        connection.write('Error: unknown command %r; try "help"\n' % name)
        return None
    try:
        inspect.signature(plugin).bind(connection, *args)
    except TypeError as e:
        connection.write('Error: wrong arguments for %r (%s); try "help %s"\n'
                         % (name, e, name))
        return None
    except ValueError:
        pass  # no signature to check (a builtin): just call it
    try:
        return plugin(connection, *args)
    except CommandError as e:
        connection.write('Error: %s\n' % (e,))
    except Exception as e:
        logger.exception('monitor: command %r %r failed', name, args)
        connection.write('Error: command %r failed: %s: %s\n'
                         % (name, type(e).__name__, e))
    return None


class MonitorServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """The monitor server; ``address`` is where it listens (the real port
    when asked for 0).  ``start()`` serves in a daemon thread, ``close()``
    stops it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, db=None, host=DEFAULT_HOST, port=DEFAULT_PORT,
                 max_connections=MAX_CONNECTIONS, idle_seconds=IDLE_SECONDS):
        if ':' in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)
        self.db = db
        self.idle_seconds = idle_seconds
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self.address = self.server_address[:2]
        self._thread = None

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def _refuse(self, request):
        try:
            request.sendall(b'Error: too many monitor connections (%d);'
                            b' try again later\n' % self.max_connections)
            # Read what the client already sent, without waiting: closing
            # with unread data would reset the connection, and the client
            # could lose the error line.
            request.setblocking(False)
            request.recv(MAX_LINE_BYTES + 2)
        except OSError:
            pass
        self.shutdown_request(request)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def start(self):
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs=dict(poll_interval=0.2),
            daemon=True, name='zc.asyncui monitor %s:%d' % self.address)
        self._thread.start()
        return self

    def close(self):
        """Stop accepting and close the listening socket; connections
        being served finish on their own (daemon threads)."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5.0)
            self._thread = None
        self.server_close()
        with _servers_lock:
            if self in _servers:
                _servers.remove(self)


def start(db=None, host=DEFAULT_HOST, port=DEFAULT_PORT, **options):
    """Serve the monitor on host:port in a daemon thread and return the
    MonitorServer (``close()`` it to stop).  The starter that
    zc.asyncui.config.startMonitor calls.  Raises OSError when the
    address cannot be used."""
    server = MonitorServer(db, host, port, **options)
    _stop_at_exit()
    if not is_loopback(host):
        logger.warning(
            'monitor: listening on %s:%d, which is not loopback: the'
            ' monitor has no authentication, anyone who reaches this port'
            ' can read the queues; firewall it or bind to 127.0.0.1',
            *server.address)
    logger.info('monitor: listening on %s:%d', *server.address)
    with _servers_lock:
        _servers.append(server)
    return server.start()


_atexit_registered = []


def _stop_at_exit():
    # At the first start, not at import: importing has no side effects.
    if not _atexit_registered:
        atexit.register(stop_all)
        _atexit_registered.append(True)


def running():
    """The servers started by ``start`` and not closed yet."""
    with _servers_lock:
        return list(_servers)


def stop_all():
    """Close every server started by ``start`` (registered with atexit
    at the first start, so a ZCML-started monitor stops with the
    process)."""
    for server in running():
        server.close()
