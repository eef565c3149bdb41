"""The monitor's line-protocol server, over real sockets: the protocol,
help, interactive mode, and every kind of bad or hostile input."""
import logging
import socket
import threading
import time

import pytest
import zope.component.testing

from zc.asyncui import config
from zc.asyncui import monitor
from zc.asyncui.monitor import server as monitor_server


@pytest.fixture(autouse=True)
def registry():
    zope.component.testing.setUp()
    monitor.registerDefaults()
    yield
    config.reset()
    zope.component.testing.tearDown()


@pytest.fixture
def srv():
    s = monitor.start(None, '127.0.0.1', 0, max_connections=4,
                      idle_seconds=0.5)
    yield s
    s.close()


def send(srv, data, shutdown=True):
    """Everything the server answers to ``data`` (bytes), until it
    closes."""
    with socket.create_connection(srv.address, 5) as sock:
        try:
            sock.sendall(data)
            if shutdown:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server refused and closed first: read its answer
        return _read_all(sock).decode('utf-8')


def _read_all(sock):
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def echo(connection, *words):
    """Echo the words

    echo a b c
    """
    connection.write(' '.join(words) + '\n')


def one(connection, word):
    """Take exactly one word"""
    connection.write(word + '\n')


def broken(connection):
    """Always fails"""
    raise RuntimeError('boom')


def test_one_command_per_connection(srv):
    monitor.register(echo)
    assert send(srv, b'echo hello world\necho ignored\n') == 'hello world\n'


def test_telnet_line_end_and_extra_spaces(srv):
    monitor.register(echo)
    assert send(srv, b'  echo   a  b \r\n') == 'a b\n'


def test_help_lists_commands_with_summaries(srv):
    monitor.register(echo)
    out = send(srv, b'help\n')
    assert out.startswith('Supported commands:\n')
    assert '  echo -- Echo the words\n' in out
    assert '  async -- ' in out and '  quit -- ' in out


def test_help_of_a_command_is_its_docstring(srv):
    monitor.register(echo)
    assert send(srv, b'help echo\n') == (
        'Help for echo:\n\nEcho the words\n\necho a b c\n')


def test_help_of_unknown_command(srv):
    assert send(srv, b'help nope\n') == (
        """Error: unknown command 'nope'; try "help"\n""")


def test_unknown_command(srv):
    assert send(srv, b'x\n') == """Error: unknown command 'x'; try "help"\n"""


def test_empty_line(srv):
    assert send(srv, b'\n').startswith('Error: empty command')


def test_wrong_arguments(srv):
    monitor.register(one)
    out = send(srv, b'one a b\n')
    assert out.startswith("Error: wrong arguments for 'one' (")
    assert out.endswith('try "help one"\n') and out.count('\n') == 1
    assert send(srv, b'one\n').startswith("Error: wrong arguments for 'one'")


def test_command_that_raises_is_one_error_line(srv, caplog):
    monitor.register(broken)
    with caplog.at_level(logging.ERROR):
        out = send(srv, b'broken\n')
    assert out == "Error: command 'broken' failed: RuntimeError: boom\n"
    assert 'boom' in caplog.text
    monitor.register(echo)
    assert send(srv, b'echo still serving\n') == 'still serving\n'


def test_line_over_4_kib(srv):
    out = send(srv, b'echo ' + b'x' * 5000 + b'\n')
    assert out.startswith('Error: line longer than 4096 bytes')
    monitor.register(echo)
    exact = b'echo ' + b'y' * (4096 - 5)
    assert send(srv, exact + b'\n') == 'y' * 4091 + '\n'


def test_non_utf8_bytes(srv):
    assert send(srv, b'echo \xff\xfe\n') == (
        'Error: the line is not UTF-8 text\n')


def test_utf8_arguments(srv):
    monitor.register(echo)
    assert send(srv, 'echo héllo\n'.encode()) == 'héllo\n'


def test_silent_client_is_dropped_after_idle_timeout(srv):
    start = time.monotonic()
    out = send(srv, b'', shutdown=False)
    assert out == 'Error: no command within 0.5s; closing\n'
    assert time.monotonic() - start < 3


def test_connections_are_bounded(srv):
    silent = [socket.create_connection(srv.address, 5) for _ in range(4)]
    try:
        time.sleep(0.1)
        assert send(srv, b'help\n').startswith(
            'Error: too many monitor connections (4)')
    finally:
        for sock in silent:
            sock.close()
    time.sleep(0.2)
    assert send(srv, b'help\n').startswith('Supported commands:')


def test_many_clients_at_once(srv):
    monitor.register(echo)
    results = []

    def client(n):
        try:
            results.append(send(srv, b'echo %d\n' % n))
        except OSError as e:
            results.append(str(e))
    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # Under load a refused client may see its connection reset (TCP)
    # rather than the error line; no client gets anything else.
    served = [r for r in results if not r.startswith('Error: too many')
              and 'reset' not in r]
    assert len(results) == 20 and served
    assert all(r.strip().isdigit() for r in served), results


def test_interactive_until_quit_empty_line_repeats(srv):
    monitor.register(echo)
    out = send(srv, b'interactive\necho a\n\nnope\nquit\necho after\n')
    assert out == ('Interactive mode on.  Use "quit" To exit.\n'
                   'a\na\n'
                   """Error: unknown command 'nope'; try "help"\n"""
                   'Goodbye.\n')


def test_interactive_survives_a_failing_command(srv):
    monitor.register(broken)
    out = send(srv, b'interactive\nbroken\nquit\n')
    assert out.endswith("RuntimeError: boom\nGoodbye.\n")


def test_loopback_by_default_and_warning_elsewhere(caplog):
    s = monitor.start(None, port=0)
    try:
        assert s.address[0] == '127.0.0.1'
    finally:
        s.close()
    with caplog.at_level(logging.WARNING):
        s = monitor.start(None, '0.0.0.0', 0)
        s.close()
    assert 'no authentication' in caplog.text


def test_address_in_use_raises(srv):
    with pytest.raises(OSError):
        monitor.start(None, '127.0.0.1', srv.address[1])


def test_close_stops_listening(srv):
    address = srv.address
    srv.close()
    with pytest.raises(OSError):
        socket.create_connection(address, 1)


def test_run_command_with_fake_connection():
    out = []

    class Fake:
        def write(self, text):
            out.append(text)
    monitor_server.run_command(Fake(), ['quit'])
    assert out == ['Goodbye.\n']


def test_client_trickling_bytes_is_dropped_like_a_silent_one(srv):
    start = time.monotonic()
    with socket.create_connection(srv.address, 5) as sock:
        sock.settimeout(0.1)
        answer = b''
        for _ in range(30):  # a byte every 0.1s until the server answers
            sock.sendall(b'h')
            try:
                answer = sock.recv(1000)
                break
            except socket.timeout:
                pass
        sock.settimeout(5)
        answer = (answer + _read_all(sock)).decode()
    assert answer == 'Error: no command within 0.5s; closing\n'
    assert time.monotonic() - start < 3.5


def test_several_lines_in_one_packet_interactive(srv):
    monitor.register(echo)
    out = send(srv, b'interactive\necho 1\necho 2\nquit\n')
    assert out.endswith('1\n2\nGoodbye.\n')
