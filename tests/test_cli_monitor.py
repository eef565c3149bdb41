"""The monitor from the command line: ``run`` and ``serve`` start it,
``zc-asyncui monitor`` asks it (real processes, real sockets)."""
import argparse
import contextlib
import json
import socket

import pytest

from zc.asyncui.cli import main  # noqa: imported for its fixtures' use
from zc.asyncui.cli import monitor as cli_monitor
from test_cli import FAST, call_main, cli, env, in_tmp, spawn  # noqa: fixtures
from test_cli import assert_clean_stop


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_run_serves_the_monitor_and_the_client_asks_it(spawn, cli):
    port = free_port()
    process = spawn('run', '--monitor-port', str(port), *FAST)
    match = process.wait_for(r'run ready: dispatcher (\S+)')
    assert 'monitor on 127.0.0.1:%d' % port in process.output
    address = '127.0.0.1:%d' % port
    done = cli('monitor', '--address', address, 'async', 'UUID')
    assert (done.returncode, done.stdout) == (0, match.group(1) + '\n')
    done = cli('monitor', '--address', address, 'async', 'status')
    assert json.loads(done.stdout)['uuid'] == match.group(1)
    done = cli('monitor', '--address', address, 'dbinfo')
    assert done.returncode == 0 and '"database"' in done.stdout
    done = cli('monitor', '--address', address, 'zeostatus')
    status = json.loads(done.stdout)
    assert status['connected'] is True
    # run serves its own FileStorage to ZEO clients (the embedded server)
    assert status['role'] == 'embedded server', status
    assert status['server'].endswith('zeo.sock') and status['clients'] == 0
    done = cli('monitor', '--address', address, 'nope')
    assert done.returncode == 1
    assert done.stdout == """Error: unknown command 'nope'; try "help"\n"""
    assert_clean_stop(process)
    done = cli('monitor', '--address', address, 'help')
    assert done.returncode == 1
    assert done.stderr.startswith(
        'zc-asyncui monitor: error: no monitor answers at 127.0.0.1:%d'
        % port)


def test_explicit_monitor_port_in_use_is_an_error(spawn, tmp_path):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = spawn('run', '--monitor-port', str(port), *FAST)
        assert process.popen.wait(30) == 1
    process._reader.join(5)
    assert 'cannot serve the monitor on 127.0.0.1:%d' % port in (
        process.output)


def test_monitor_port_0_disables_it(spawn):
    process = spawn('run', '--monitor-port', '0', *FAST)
    process.wait_for(r'run ready')
    assert 'no monitor' in process.output
    assert_clean_stop(process)


@pytest.mark.parametrize('argv, message', [
    (['monitor'], 'the following arguments are required: WORD'),
    (['monitor', '--address', 'var/x.sock', 'help'],
     'the monitor listens on TCP'),
    (['monitor', '--address', '127.0.0.1:0', 'help'], 'port 0 is for a'),
    (['monitor', '--address', 'h:99999', 'help'], 'the port must be'),
])
def test_client_bad_input(in_tmp, capsys, argv, message):
    assert call_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1


def test_client_when_nothing_listens(in_tmp, capsys):
    port = free_port()
    assert call_main(['monitor', '--address', '127.0.0.1:%d' % port,
                      'help']) == 1
    err = capsys.readouterr().err
    assert err.startswith('zc-asyncui monitor: error: no monitor answers'
                          ' at 127.0.0.1:%d' % port)
    assert err.count('\n') == 1


def test_default_port_in_use_is_a_warning(monkeypatch, caplog):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        monkeypatch.setattr(cli_monitor, 'DEFAULT_PORT',
                            taken.getsockname()[1])
        with contextlib.ExitStack() as stack:
            args = argparse.Namespace(monitor_port=None)
            assert cli_monitor.start_monitor(args, None, stack) is None
    assert 'running without a monitor' in caplog.text
