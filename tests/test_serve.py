"""``zc-asyncui serve`` as a user runs it: a real subprocess, serving a
FileStorage in a temporary --var through its embedded ZEO socket, with
real HTTP requests (urllib) against waitress on a free port.

One server runs for the module (startup costs seconds); the last tests
stop it with SIGTERM and restart it on the same --var.
"""
import base64
import os
import re
import signal
import socket
import stat
import subprocess
import urllib.error
import urllib.request

import pytest

from test_cli import CLI, DEADLINE, FAST, Process, wait_until
from zc.asyncui.cli import site

READY = r'serve ready: http://127\.0\.0\.1:(\d+)/\+\+async\+\+/'


def start_serve(var, env, *args):
    process = Process(['serve', '--port', '0', '--var', str(var)] + FAST
                      + list(args), str(var.parent), env)
    port = int(process.wait_for(READY).group(1))
    return process, 'http://127.0.0.1:%d' % port


def basic(login, password):
    pair = ('%s:%s' % (login, password)).encode('utf-8')
    return 'Basic ' + base64.b64encode(pair).decode('ascii')


def get(url, authorization=None, headers=()):
    """(status, headers, body) of a GET; HTTP errors are answers too."""
    request = urllib.request.Request(url, headers=dict(headers))
    if authorization is not None:
        request.add_header('Authorization', authorization)
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture(scope='module')
def env():
    env = dict(os.environ)
    env.pop(site.PASSWORD_VARIABLE, None)
    env['PYTHONPATH'] = os.pathsep.join(
        [os.path.dirname(os.path.abspath(__file__))]
        + [p for p in [env.get('PYTHONPATH')] if p])
    return env


@pytest.fixture(scope='module')
def served(tmp_path_factory, env):
    """(process, base URL, var directory) of the module's server."""
    var = tmp_path_factory.mktemp('serve') / 'var'
    process, url = start_serve(var, env)
    yield process, url, var
    process.kill()


def password_of(var):
    with open(var / site.PASSWORD_FILE_NAME) as f:
        return f.readline().strip()


def test_generated_password_is_0600_and_printed_once_with_its_file(served):
    process, url, var = served
    path = var / site.PASSWORD_FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    password = password_of(var)
    assert len(password) >= 12
    assert process.output.count(password) == 1
    assert 'shown only this once' in process.output
    assert str(path) in process.output


def test_anonymous_gets_401_with_a_basic_challenge(served):
    process, url, var = served
    status, headers, body = get(url + '/++async++/')
    assert status == 401
    assert headers['WWW-Authenticate'].lower().startswith('basic realm=')


def test_admin_gets_the_overview(served):
    process, url, var = served
    status, headers, body = get(url + '/++async++/',
                                basic('admin', password_of(var)))
    assert status == 200
    page = body.decode('utf-8')
    assert '/++async++/queues/~">\'\' (default)</a>' in page
    assert '<td class="state alive">alive</td>' in page
    assert 'main (0/3)' in page


def test_wrong_password_is_401(served):
    process, url, var = served
    status, headers, body = get(url + '/++async++/',
                                basic('admin', 'not-the-password'))
    assert status == 401


@pytest.mark.parametrize('authorization', [
    'Basic admin:secret',                       # not encoded (pitfall P12)
    'Basic !!!not base64!!!',
    'Basic ' + base64.b64encode(b'no colon here').decode(),
    'Basic ' + base64.b64encode(b'\xff\xfe:\xff').decode(),  # not UTF-8
])
def test_malformed_credentials_are_401_not_500(served, authorization):
    process, url, var = served
    status, headers, body = get(url + '/++async++/', authorization)
    assert status == 401
    assert headers['WWW-Authenticate'] == 'basic realm="Zope"'
    assert b'base64' in body or b'":"' in body
    assert 'Traceback' not in process.output


def test_oversized_request_header_is_refused(served):
    process, url, var = served
    status, headers, body = get(url + '/++async++/',
                                headers={'X-Big': 'a' * 70000})
    assert status == 431


def test_oversized_request_body_is_refused_before_it_is_read(served):
    process, url, var = served
    port = int(url.rpartition(':')[2])
    with socket.create_connection(('127.0.0.1', port), DEADLINE) as sock:
        sock.sendall(b'POST /++async++/ HTTP/1.1\r\nHost: localhost\r\n'
                     b'Content-Length: %d\r\n\r\n' % (17 * 1024 * 1024))
        answer = sock.recv(200)
    assert answer.startswith(b'HTTP/1.0 413 ') or \
        answer.startswith(b'HTTP/1.1 413 ')


def test_front_page_redirects_to_the_overview(served):
    process, url, var = served
    status, headers, body = get(url + '/')  # urllib follows the redirect
    assert status == 401  # ... to the protected overview


def test_put_attaches_through_the_socket_and_the_job_completes(
        served, env):
    process, url, var = served
    assert stat.S_ISSOCK(os.stat(var / 'zeo.sock').st_mode)
    run = _cli(env, var, 'put', '--path', str(var / 'Data.fs'),
               'zc.asyncui.demo.add', '2', '3')
    assert run.returncode == 0, run.stderr
    key = run.stdout.strip()

    def completed():
        listing = _cli(env, var, 'jobs', '--path', str(var / 'Data.fs'))
        return re.search(r'^%s\s+COMPLETED.*-> 5$' % key, listing.stdout,
                         re.M)
    wait_until(completed, 'job %s completed' % key)


def _cli(env, var, *args):
    return subprocess.run(CLI + list(args), cwd=str(var.parent), env=env,
                          capture_output=True, text=True, timeout=DEADLINE)


def test_sigterm_stops_cleanly_and_a_restart_reads_the_password(
        served, env):
    process, url, var = served
    password = password_of(var)
    assert process.stop(signal.SIGTERM) == 0
    assert 'serve: stopped cleanly' in process.output
    assert not os.path.exists(var / 'zeo.sock')

    again, url = start_serve(var, env)
    try:
        assert password not in again.output
        assert 'admin password: in %s' % (var / site.PASSWORD_FILE_NAME) \
            in again.output
        assert 'Ignoring index' not in again.output  # closed cleanly: P15
        status, headers, body = get(url + '/++async++/',
                                    basic('admin', password))
        assert status == 200
        assert again.stop(signal.SIGINT) == 0
    finally:
        again.kill()


def test_password_from_the_environment_and_demo_jobs(tmp_path, env):
    env = dict(env, **{site.PASSWORD_VARIABLE: 'from-env'})
    var = tmp_path / 'var'
    process, url = start_serve(var, env, '--demo', '--monitor-port', '0')
    try:
        assert 'taken from %s' % site.PASSWORD_VARIABLE in process.output
        assert 'no monitor' in process.output
        assert not os.path.exists(var / site.PASSWORD_FILE_NAME)
        status, headers, body = get(url + '/++async++/',
                                    basic('admin', 'from-env'))
        assert status == 200

        def demo_jobs_ran():
            listing = _cli(env, var, 'jobs', '--path', str(var / 'Data.fs'))
            return re.search(r'COMPLETED.*zc\.asyncui\.demo\.fail\(\).*'
                             r'DemoError', listing.stdout)
        wait_until(demo_jobs_ran, 'a failed demo job', timeout=30)
        assert process.stop() == 0
    finally:
        process.kill()


def test_serve_with_an_external_zeo_server(tmp_path, env):
    (tmp_path / 'db').mkdir()
    address = str(tmp_path / 'db' / 'zeo.sock')
    zeo = Process(['zeo', '--address', address, '--path',
                   str(tmp_path / 'db' / 'Data.fs')], str(tmp_path), env)
    try:
        zeo.wait_for('zeo ready')
        var = tmp_path / 'var'
        process, url = start_serve(var, env, '--zeo', address)
        try:
            assert 'the ZEO server at %s' % address in process.output
            assert not os.path.exists(var / 'Data.fs')
            status, headers, body = get(url + '/++async++/',
                                        basic('admin', password_of(var)))
            assert status == 200 and b'alive' in body
            assert process.stop() == 0
        finally:
            process.kill()
        assert zeo.stop() == 0
    finally:
        zeo.kill()


@pytest.mark.parametrize('args, message', [
    (['--port', '70000'], 'argument --port'),
    (['--zcml', 'missing.zcml'], 'missing.zcml does not exist'),
    (['--zeo', ''], 'expected HOST:PORT'),
])
def test_bad_options_are_usage_errors(tmp_path, env, args, message):
    run = _cli(env, tmp_path, 'serve', '--var', str(tmp_path / 'var'),
               *args)
    assert run.returncode == 2
    assert message in run.stderr


def test_var_that_is_a_file_is_a_usage_error(tmp_path, env):
    (tmp_path / 'var').write_text('')
    run = _cli(env, tmp_path, 'serve', '--var', str(tmp_path / 'var'))
    assert run.returncode == 2
    assert '--var' in run.stderr


def test_port_in_use_is_an_error_that_says_what_to_do(tmp_path, env):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = _cli(env, tmp_path, 'serve', '--var', str(tmp_path / 'var'),
                   '--port', str(port), *FAST)
    assert run.returncode == 1
    assert 'cannot serve HTTP on 127.0.0.1:%d' % port in run.stderr
    assert 'choose another --host or --port' in run.stderr
    assert 'dispatcher' not in run.stderr  # it failed before starting it
    assert not os.path.exists(tmp_path / 'var' / 'zeo.sock')  # closed
