"""The monitor from the command line: ``run`` and ``serve`` start it
(``--monitor-port``, default 8081 on 127.0.0.1; 0 disables it), and
``zc-asyncui monitor [--address HOST:PORT] COMMAND ARGS...`` is its
client, for scripts and shells without telnet or nc."""
import logging
import socket

from zc.asyncui import monitor
from zc.asyncui.cli import server

logger = logging.getLogger(__name__)

DEFAULT_HOST = monitor.server.DEFAULT_HOST
DEFAULT_PORT = monitor.server.DEFAULT_PORT
#: How long the client waits for an answer.
ANSWER_SECONDS = 30.0


def start_monitor(args, db, stack):
    """Serve the monitor for ``db`` on 127.0.0.1:``args.monitor_port``
    (nothing for port 0); its close is pushed on ``stack``.  Returns
    the server or None.

    The default port in use (by another worker on this machine) is a
    warning, not an error: workers started alike must all start.  A
    port asked for explicitly that cannot be used is an error."""
    port = args.monitor_port
    if port == 0:
        return None
    monitor.registerDefaults()
    try:
        srv = monitor.start(db, DEFAULT_HOST,
                            DEFAULT_PORT if port is None else port)
    except OSError as e:
        if port is None:
            logger.warning(
                'monitor: cannot listen on %s:%d (%s; another zc-asyncui on'
                ' this machine?); running without a monitor: pass'
                ' --monitor-port with a free port to have one',
                DEFAULT_HOST, DEFAULT_PORT, e.strerror or e)
            return None
        raise server.CommandError(
            'cannot serve the monitor on %s:%d: %s; pass --monitor-port'
            ' with a free port, or 0 to go without it'
            % (DEFAULT_HOST, port, e.strerror or e)) from None
    stack.callback(srv.close)
    return srv


def monitor_command(args):
    """``zc-asyncui monitor``: send one command line, print the answer;
    exit status 1 when the answer is an Error: line."""
    answer = ask(args.address, ' '.join(args.words))
    print(answer, end='' if answer.endswith('\n') else '\n', flush=True)
    return 1 if answer.startswith('Error:') else 0


def ask(address, line, timeout=ANSWER_SECONDS):
    """The monitor's whole answer to ``line`` at ``address``."""
    where = server.format_address(address)
    try:
        sock = socket.create_connection(address, timeout)
    except OSError as e:
        raise server.CommandError(
            'no monitor answers at %s (%s): start zc-asyncui run or serve'
            ' (monitor port %d by default), or pass --address HOST:PORT'
            % (where, e.strerror or e, DEFAULT_PORT)) from None
    with sock:
        try:
            sock.sendall(line.encode('utf-8') + b'\n')
            return _read_all(sock).decode('utf-8', 'replace')
        except OSError as e:
            raise server.CommandError('the monitor at %s did not answer: %s'
                                      % (where, e.strerror or e)) from None


def _read_all(sock):
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)
