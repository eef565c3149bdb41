"""Tests of the ``zc-asyncui`` command line (the package zc.asyncui.cli).

The scenarios run the real console script in subprocesses, on real
FileStorages in temporary directories and real ZEO servers (embedded on a
Unix socket, or ``zc-asyncui zeo`` on TCP).  Nothing sleeps blindly: each
wait polls a condition against a deadline.  Every subprocess is killed in
the fixture's teardown if a test left it running.
"""
import argparse
import ast
import logging
import operator
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
import transaction
import ZEO
import ZODB.FileStorage

import jobs
import zc.asyncui
from zc.asyncui import settings
from zc.asyncui import testing
from zc.asyncui.cli import listing
from zc.asyncui.cli import main
from zc.asyncui.cli import options
from zc.asyncui.cli import put
from zc.asyncui.cli import server

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(sys.executable), 'zc-asyncui')
CLI = [SCRIPT] if os.path.exists(SCRIPT) else [
    sys.executable, '-m', 'zc.asyncui.cli']
FAST = ['--poll-interval', '0.1', '--ping-interval', '0.5',
        '--ping-death-interval', '5', '--stop-timeout', '5']
DEADLINE = 15.0


def wait_until(predicate, what, timeout=DEADLINE):
    return testing.wait_until(predicate, timeout, what, interval=0.02)


class Process:
    """A ``zc-asyncui`` subprocess whose output (stdout and stderr
    merged) is collected by a thread, so tests can wait for a line."""

    def __init__(self, args, cwd, env):
        self.popen = subprocess.Popen(
            CLI + args, cwd=cwd, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.popen.stdout:
            self.lines.append(line)

    @property
    def output(self):
        return ''.join(self.lines)

    def wait_for(self, pattern):
        """The first match of ``pattern`` in the output so far."""
        def found():
            if self.popen.poll() is not None:
                self._reader.join(5)
                match = re.search(pattern, self.output)
                if match:
                    return match
                raise AssertionError('process exited (%s) before printing'
                                     ' %r:\n%s' % (self.popen.returncode,
                                                   pattern, self.output))
            return re.search(pattern, self.output)
        return wait_until(found, repr(pattern) + ' in:\n' + self.output)

    def stop(self, signum=signal.SIGTERM):
        """Send ``signum`` and return the exit status."""
        self.popen.send_signal(signum)
        status = self.popen.wait(DEADLINE)
        self._reader.join(5)
        return status

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(DEADLINE)


@pytest.fixture
def env():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [HERE] + [p for p in [env.get('PYTHONPATH')] if p])
    return env


@pytest.fixture
def spawn(tmp_path, env):
    """spawn(*args, cwd=tmp_path) starts a zc-asyncui process; all are
    killed at teardown if still running."""
    started = []

    def start(*args, cwd=tmp_path):
        process = Process(list(args), str(cwd), env)
        started.append(process)
        return process
    yield start
    for process in started:
        process.kill()


@pytest.fixture
def cli(tmp_path, env):
    """cli(*args) runs a zc-asyncui command to its end."""
    def run(*args, cwd=tmp_path, script=True):
        return subprocess.run((CLI if script else []) + list(args),
                              cwd=str(cwd), env=env,
                              capture_output=True, text=True,
                              timeout=DEADLINE)
    return run


def start_run(spawn, *args):
    process = spawn('run', *(FAST + list(args)))
    match = process.wait_for(r'run ready: dispatcher (\S+)')
    return process, match.group(1)


def assert_clean_stop(process, signum=signal.SIGTERM):
    assert process.stop(signum) == 0, process.output
    assert 'stopped cleanly' in process.output


def make_stale_socket(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()  # the file stays; nobody listens


# -- run with the embedded ZEO server ----------------------------------

def test_run_embedded_put_jobs_and_sigterm(tmp_path, spawn, cli):
    sock = str(tmp_path / 'var' / 'zeo.sock')
    make_stale_socket(sock)
    process, uuid = start_run(spawn, '--queue', '', '--queue', 'mail')
    assert 'removing the stale socket var/zeo.sock' in process.output
    assert "queues '', 'mail'" in process.output
    assert 'unix socket var/zeo.sock' in process.output
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    with open(tmp_path / 'var' / 'instance_uuid.txt') as f:
        assert f.readline().strip() == uuid

    added = cli('put', 'jobs.add', '1', '2', '--queue', 'mail')
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert re.fullmatch(r'0x[0-9a-f]+', key)
    later = cli('put', 'jobs.noop', 'text', '--in', '3600').stdout.strip()

    db = ZEO.DB(sock)
    try:
        conn = db.open()
        job = conn.get(zc.asyncui.utils.key_to_oid(key))
        assert testing.wait_for_result(job) == 3
        conn.close()
    finally:
        db.close()

    listing = cli('jobs')
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert any(line.startswith(key + "  COMPLETED  queue 'mail'") and
               'jobs.add(1, 2)' in line and line.endswith('-> 3')
               for line in lines), lines
    assert any(line.startswith(later + '  PENDING') and 'begins' in line
               and "jobs.noop('text')" in line for line in lines), lines
    pending = cli('jobs', '--status', 'pending').stdout.splitlines()
    assert [line.split()[0] for line in pending] == [later]

    assert_clean_stop(process)
    assert not os.path.exists(sock)
    own = [line for line in process.lines if ' zc.asyncui.cli.' in line]
    assert len(own) >= 3 and not [line for line in own if '`' in line], own


def test_run_refuses_a_second_run_on_the_same_file(spawn, cli):
    process, _ = start_run(spawn)
    second = cli('run', *FAST)
    assert second.returncode == 1
    assert 'var/Data.fs is locked by another process (another zc-asyncui' \
        ' run serves it on var/zeo.sock): add a worker with "zc-asyncui' \
        ' run --zeo var/zeo.sock' in second.stderr
    assert 'Traceback' not in second.stderr
    assert_clean_stop(process, signal.SIGINT)


def test_failed_job_is_listed_with_its_brief_traceback(tmp_path, spawn, cli):
    process, _ = start_run(spawn)
    key = cli('put', 'jobs.fail', '"bad input"').stdout.strip()
    lines = wait_until(
        lambda: cli('jobs', '--status', 'COMPLETED').stdout.splitlines(),
        'the failed job to complete')
    assert lines == [lines[0]]
    assert lines[0].startswith(key + '  COMPLETED')
    assert "  jobs.fail('bad input')  put " in lines[0]
    assert lines[0].endswith('  -> ValueError: bad input')
    assert_clean_stop(process)


def _wait_until_active(sock, key):
    db = ZEO.DB(sock)
    try:
        conn = db.open()
        testing.wait_for_start(conn.get(zc.asyncui.utils.key_to_oid(key)))
        conn.close()
    finally:
        db.close()


def _status_in_file(tmp_path, key):
    db = testing.file_storage_db(str(tmp_path / 'var'))
    try:
        conn = db.open()
        return conn.get(zc.asyncui.utils.key_to_oid(key)).status
    finally:
        db.close()


def test_sigterm_lets_running_jobs_finish(tmp_path, spawn, cli):
    process, _ = start_run(spawn)
    key = cli('put', 'jobs.sleep', '0.5').stdout.strip()
    _wait_until_active(str(tmp_path / 'var' / 'zeo.sock'), key)
    assert_clean_stop(process)
    assert _status_in_file(tmp_path, key) == 'COMPLETED'


def test_second_signal_stops_without_waiting(tmp_path, spawn, cli):
    process, _ = start_run(spawn)
    key = cli('put', 'jobs.sleep', '60').stdout.strip()
    _wait_until_active(str(tmp_path / 'var' / 'zeo.sock'), key)
    process.popen.send_signal(signal.SIGTERM)
    process.wait_for('SIGTERM received; stopping')
    assert process.stop(signal.SIGINT) == 1
    assert 'second SIGINT: stopped without waiting for running jobs' in \
        process.output
    assert not os.path.exists(tmp_path / 'var' / 'zeo.sock')
    assert _status_in_file(tmp_path, key) == 'ACTIVE'  # recovered later


def _lines(cli, *args):
    result = cli('jobs', *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_jobs_order_columns_running_and_interrupted(tmp_path, spawn, cli):
    process, _ = start_run(spawn, '--queue', 'mail', '--stop-timeout', '0.2')
    done = cli('put', 'jobs.add', '1', '2').stdout.strip()
    wait_until(lambda: any(line.startswith(done) and 'COMPLETED' in line
                           for line in _lines(cli)), 'jobs.add to complete')
    later = cli('put', 'jobs.noop', '--queue', 'mail', '--in', '3600')
    slow = cli('put', 'jobs.sleep', '30').stdout.strip()
    active = wait_until(lambda: _lines(cli, '--status', 'active'),
                        'jobs.sleep to start')
    assert re.search(r'  started [-\d: ]+  running \d+\.\ds  attempt 1$',
                     active[0]), active
    lines = _lines(cli)
    assert [line.split()[:2] for line in lines] == [
        [later.stdout.strip(), 'PENDING'], [slow, 'ACTIVE'],
        [done, 'COMPLETED']], lines
    calls = {line.index(call) for line, call in zip(
        lines, ['jobs.noop(', 'jobs.sleep(', 'jobs.add('])}
    assert len(calls) == 1, lines  # the call column is aligned
    assert_clean_stop(process)
    interrupted = _lines(cli, '--status', 'pending')[0]
    assert interrupted.startswith(slow), interrupted
    assert 'started' not in interrupted
    assert 'after 1 attempt (the last interrupted' in interrupted


# -- run --storage direct, and the locked-file error ---------------------

def test_run_direct_and_put_against_a_locked_file(tmp_path, spawn, cli):
    process, _ = start_run(spawn, '--storage', 'direct')
    assert 'direct FileStorage, no socket' in process.output
    assert not os.path.exists(tmp_path / 'var' / 'zeo.sock')
    for command in (['put', 'jobs.noop'], ['jobs']):
        refused = cli(*command)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            'zc-asyncui %s: error: var/Data.fs is locked by another process'
            ' (is zc-asyncui run running with --storage direct?); connect'
            ' through its ZEO socket with --zeo, or stop it' % command[0]]
    assert_clean_stop(process)

    # With no process running, put and jobs open the file themselves.
    add = cli('put', '--storage', 'direct', 'jobs.add', '2', '3')
    assert add.returncode == 0, add.stderr
    done_dir = tmp_path / 'done'
    mkdir = cli('put', 'os.mkdir', str(done_dir)).stdout.strip()
    assert cli('jobs', '--status', 'PENDING').stdout.count('PENDING') == 2

    process, _ = start_run(spawn, '--storage', 'direct')
    wait_until(done_dir.exists, 'the os.mkdir job to run')
    assert_clean_stop(process)
    db = testing.file_storage_db(str(tmp_path / 'var'))
    try:
        conn = db.open()
        added = conn.get(zc.asyncui.utils.key_to_oid(add.stdout.strip()))
        assert testing.wait_for_result(added) == 5
        assert conn.get(zc.asyncui.utils.key_to_oid(mkdir)).status == \
            'COMPLETED'
        conn.close()
    finally:
        db.close()


# -- zeo and many workers ----------------------------------------------

def _activated(db, count):
    conn = db.open()
    try:
        queues = conn.root().get('zc.asyncui') or {}
        queue = queues.get('')
        return queue is not None and sum(
            1 for r in queue.dispatchers.values()
            if r.activated is not None) >= count
    finally:
        conn.close()


def test_zeo_server_with_two_workers(tmp_path, spawn, cli):
    zeo = spawn('zeo', '--address', '127.0.0.1:0', '--path',
                str(tmp_path / 'Data.fs'))
    address = zeo.wait_for(r'zeo ready: serving \S+ on (127\.0\.0\.1:\d+)'
                           ).group(1)
    workers = [spawn('run', '--zeo', address, '--agent-size', '1',
                     '--uuid-file', str(tmp_path / ('w%d.txt' % n)), *FAST)
               for n in (1, 2)]
    uuids = {w.wait_for(r'run ready: dispatcher (\S+)').group(1)
             for w in workers}
    assert 'on the ZEO server at %s' % address in workers[0].output
    db = ZEO.DB(server.parse_address(address))
    try:
        wait_until(lambda: _activated(db, 2), 'both workers to activate')
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        queue = zc.asyncui.getQueue(conn)
        slow = [queue.put(zc.asyncui.Job(jobs.sleep, 0.2)) for _ in range(8)]
        quick = [queue.put(zc.asyncui.Job(jobs.add, n, n)) for n in range(20)]
        tm.commit()
        key = cli('put', '--zeo', address, 'jobs.add', '40', '2').stdout
        assert [testing.wait_for_result(job, DEADLINE) for job in slow] == \
            [0.2] * 8
        assert [testing.wait_for_result(job, DEADLINE) for job in quick] == \
            [2 * n for n in range(20)]
        # Sleeping jobs are not prefetched: each worker ran some.
        assert {job.attempts[-1]['dispatcher'] for job in slow} == uuids
        assert all(len(job.attempts) == 1 for job in slow + quick)
        added = conn.get(zc.asyncui.utils.key_to_oid(key.strip()))
        assert testing.wait_for_result(added) == 42
        tm.abort()
        conn.close()
    finally:
        db.close()
    for worker in workers:
        assert_clean_stop(worker)
    assert_clean_stop(zeo)


# -- bad input: one line on stderr, exit status 2 -------------------------

def call_main(argv):
    try:
        return main.main(argv)
    except SystemExit as e:
        return e.code


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'path', list(sys.path))
    return tmp_path


@pytest.mark.parametrize('argv, message', [
    (['put', 'no_such_module_xyz.run'],
     "cannot import 'no_such_module_xyz.run': no module named"
     " 'no_such_module_xyz' on sys.path"),
    (['put', 'jobs.nop'], "jobs has no attribute 'nop'; did you mean"
     " 'noop'?"),
    (['put', 'jobs.calls'], "'jobs.calls' is a list, not a callable"),
    (['put', 'jobs'], "'jobs' is a module: pass one of its functions, for"
     ' example jobs.FUNCTION'),
    (['put', 'no_such_builtin'], "'no_such_builtin' is not a built-in: pass"
     ' module.function'),
    (['put', 'jobs.noop()'], "'jobs.noop()' is not a name: pass"
     ' module.function'),
    (['put', 'jobs.add', 'a=1', 'a=2'], 'the keyword argument a is given'
     ' twice'),
    (['put', 'jobs.noop', '--in', '1e12'], "argument --in: expected a number"
     " of seconds >= 0 and at most 3153600000, not '1e12'"),
    (['put', 'jobs.noop', '--in', 'nan'], 'argument --in'),
    (['put', 'jobs.noop', '--priority', str(2 ** 31)], 'argument'
     ' --priority: expected a whole number from -2147483647 to 2147483647'),
    (['put', 'jobs.noop', '1', '--queue'], 'argument --queue: expected one'
     ' argument'),
    (['put', 'jobs.noop', '-x'], 'unrecognized arguments: -x (an ARG that'
     ' starts with "-" goes after "--"'),
    (['put', 'jobs.noop', '--in', '-1'], 'argument --in: expected a number'
     " of seconds >= 0 and at most 3153600000, not '-1'"),
    (['jobs', '--status', 'DONE'], "'DONE' is not a job status; choose one"
     ' of NEW, PENDING, ASSIGNED, ACTIVE, CALLBACKS, COMPLETED'),
    (['jobs', '--limit', '-5'], "expected a whole number >= 0, not '-5'"),
    (['run', '--poll-interval', '-1'], 'argument --poll-interval:'
     ' poll_interval must be > 0 seconds, not -1.0'),
    (['run', '--ping-interval', 'inf'], 'argument --ping-interval'),
    (['run', '--ping-interval', 'nan'], 'argument --ping-interval'),
    (['run', '--poll-interval', '1e300'], 'argument --poll-interval'),
    (['run', '--stop-timeout', '-0.5'], 'argument --stop-timeout'),
    (['run', '--agent-size', '100000'], 'argument --agent-size:'
     ' main_agent_size must be at most 1000 worker threads, not 100000'),
    (['run', '--no-default-queue'], '--no-default-queue leaves no queue'),
    (['run', '--path', '/dev/null'], '--path /dev/null exists and is not a'
     ' regular file'),
    (['run', '--uuid-file', '/dev/null'], '--uuid-file /dev/null exists and'
     ' is not a regular file'),
    (['run', '--socket', '/dev/null'], '--socket /dev/null exists and is'
     ' not a Unix socket'),
    (['zeo', '--path', '/dev/null'], '--path /dev/null exists and is not a'
     ' regular file'),
    (['zeo', '--address', '/dev/null'], '--address /dev/null exists and is'
     ' not a Unix socket'),
    (['put', '--path', '/dev/null', 'jobs.noop'], '--path /dev/null exists'),
    (['jobs', '--path', '/dev/null'], '--path /dev/null exists'),
    (['run', '--path', ''], '--path needs a file path, not an empty'
     ' string'),
    (['run', '--uuid-file', ''], '--uuid-file needs a file path'),
    (['put'], 'put needs a NAME (module.function), or --stdin'),
    (['run', '--zeo', '127.0.0.1:0'], '--zeo 127.0.0.1:0: port 0 is for a'
     ' server'),
    (['jobs', '--zeo', '127.0.0.1:0'], '--zeo 127.0.0.1:0: port 0'),
    (['run', '--ping-interval', '10', '--ping-death-interval', '5'],
     'ping_death_interval (5s) must be longer than ping_interval (10s)'),
    (['run', '--agent-size', '2.5'], 'argument --agent-size'),
    (['run', '--zeo', 'localhost:http'], "argument --zeo: 'localhost:http':"
     ' the port must be a number'),
    (['run', '--zeo', '127.0.0.1:8100', '--storage', 'direct'],
     '--zeo connects to a server: it does not go with --path'),
    (['run', '--storage', 'direct', '--socket', 'x.sock'],
     '--socket is for the embedded server'),
    (['run', '--path', 'missing/Data.fs'], '--path missing/Data.fs: the'
     ' directory missing does not exist'),
    (['run', '--uuid-file', 'missing/uuid.txt'], 'the directory missing'
     ' does not exist'),
    (['run', '--path', '.'], '--path . is a directory'),
    (['zeo', '--address', '127.0.0.1:70000'], 'the port must be a number'),
    (['frobnicate'], "invalid choice: 'frobnicate'"),
])
def test_bad_input_is_one_line_and_status_2(in_tmp, capsys, argv, message):
    assert call_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert 'Traceback' not in err
    assert not os.path.exists(in_tmp / 'var')


@pytest.mark.parametrize('command', [['run'], ['zeo'], ['jobs'],
                                     ['put', 'jobs.noop']])
def test_a_file_that_is_not_a_file_storage_is_refused(in_tmp, capsys,
                                                       command):
    (in_tmp / 'notes.txt').write_text('hello')
    assert call_main(command + ['--path', 'notes.txt']) == 2
    assert capsys.readouterr().err.splitlines() == [
        'zc-asyncui %s: error: --path notes.txt is not a FileStorage (it'
        ' does not start with FS30): pass a FileStorage, or a new file name'
        % command[0]]
    assert sorted(os.listdir(in_tmp)) == ['notes.txt']


@pytest.mark.parametrize('command', [['run'], ['zeo']])
def test_a_data_directory_that_cannot_be_made_is_one_line(in_tmp, capsys,
                                                          command):
    (in_tmp / 'var').write_text('a file where var/ should go')
    assert call_main(command) == 1
    assert capsys.readouterr().err == (
        'zc-asyncui %s: error: cannot create the directory var: File exists;'
        ' run from a directory you can write to, or pass --path\n'
        % command[0])


def test_a_path_in_a_read_only_file_system_is_one_line(in_tmp, capsys):
    # As root the directory looks writable (status 1 when opening fails);
    # otherwise it is refused up front (status 2).  One line either way.
    status = call_main(['run', '--path', '/proc/Data.fs'])
    err = capsys.readouterr().err
    assert (status, err.startswith('zc-asyncui run: error: ')) in (
        (1, True), (2, True)), err
    assert '/proc' in err and len(err.splitlines()) == 1


def test_bad_input_from_the_console_script(cli):
    result = cli('put', 'jobs.nope')
    assert result.returncode == 2
    assert result.stderr == ("zc-asyncui put: error: 'jobs.nope': jobs has"
                             " no attribute 'nope'; did you mean 'noop'?\n")
    assert result.stdout == ''


def test_unknown_queue_lists_the_installed_queues(in_tmp, capsys):
    os.makedirs('var')
    db = testing.file_storage_db('var')
    zc.asyncui.install(db, names=('', 'mail'))
    db.close()
    assert call_main(['put', 'jobs.noop', '--queue', 'nosuch']) == 2
    err = capsys.readouterr().err
    assert "No queue named 'nosuch'; installed queues: '', 'mail'" in err
    assert call_main(['jobs', '--queue', 'nosuch']) == 2


def test_put_of_a_missing_default_queue_quotes_its_name(in_tmp, capsys):
    os.makedirs('var')
    db = testing.file_storage_db('var')
    zc.asyncui.install(db, names=('mail',))
    db.close()
    assert call_main(['put', 'jobs.noop']) == 2
    assert capsys.readouterr().err.endswith(
        "From the shell: zc-asyncui run --queue ''\n")


def _installed_file_db():
    os.makedirs('var')
    db = testing.file_storage_db('var')
    zc.asyncui.install(db, names=('', 'mail'))
    db.close()


def _load(key):
    db = testing.file_storage_db('var')
    conn = db.open()
    job = conn.get(zc.asyncui.utils.key_to_oid(key))
    return db, job


def _put(capsys, *argv):
    assert call_main(['put'] + list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out.strip()


def test_put_builtin_keywords_priority_and_options_anywhere(in_tmp, capsys):
    _installed_file_db()
    builtin = _put(capsys, 'int', 'x')
    mixed = _put(capsys, 'jobs.add', '1', '--priority', '5', 'b=2',
                 '--queue', 'mail')
    literal = _put(capsys, 'jobs.noop', '"a=b"')
    db, job = _load(builtin)
    try:
        assert job.callable is int and job.args == ['x']
        job = job._p_jar.get(zc.asyncui.utils.key_to_oid(mixed))
        assert (job.callable, job.args, dict(job.kwargs)) == (
            jobs.add, [1], {'b': 2})
        assert job.priority == 5 and job.queue.name == 'mail'
        job = job._p_jar.get(zc.asyncui.utils.key_to_oid(literal))
        assert job.args == ['a=b'] and dict(job.kwargs) == {}
    finally:
        db.close()


def test_put_with_collapse_key_prints_the_pending_job(in_tmp, capsys):
    _installed_file_db()
    first = _put(capsys, 'jobs.noop', '--collapse-key', 'nightly')
    again = _put(capsys, 'jobs.noop', '1', '--collapse-key', 'nightly')
    other = _put(capsys, 'jobs.noop', '--collapse-key', 'hourly')
    assert again == first and other != first
    assert call_main(['put', 'jobs.noop', '--collapse-key', '']) == 2
    assert 'non-empty' in capsys.readouterr().err


def test_put_arguments_that_look_like_options(in_tmp, capsys):
    _installed_file_db()
    key = _put(capsys, 'jobs.add', '-1', '--', '-x')
    db, job = _load(key)
    try:
        assert job.args == [-1, '-x']
    finally:
        db.close()


def test_put_errors_name_the_command(in_tmp, capsys):
    assert call_main(['put', 'jobs.add', '1', '--queue', 'mail', '2',
                      '--bogus']) == 2
    assert capsys.readouterr().err == (
        'zc-asyncui put: error: unrecognized arguments: --bogus (see'
        ' zc-asyncui put --help)\n')


@pytest.mark.parametrize('argv, queues', [
    ([], ['']), (['--queue', 'reports'], ['', 'reports']),
    (['--queue', 'reports', '--queue', ''], ['', 'reports']),
    (['--no-default-queue', '--queue', 'reports'], ['reports']),
])
def test_run_keeps_the_default_queue_unless_asked(in_tmp, argv, queues):
    args = main.parse_args(['run'] + argv)
    args.check(args)
    assert args.queue == queues


@pytest.mark.parametrize('argv', [['--version'], ['--version', 'run']])
def test_version(in_tmp, capsys, argv):
    assert call_main(argv) == 0
    assert re.fullmatch(r'zc-asyncui \d+\.\d+\S*\n', capsys.readouterr().out)
    assert not os.path.exists('var')


def test_help_before_a_command_is_help(in_tmp, capsys):
    assert call_main(['-h', 'run']) == 0
    assert capsys.readouterr().out.startswith('usage: zc-asyncui')
    assert not os.path.exists('var')


def test_python_m_runs_the_command_line(cli):
    result = cli(sys.executable, '-m', 'zc.asyncui.cli', '--version',
                 script=False)
    assert result.returncode == 0 and result.stdout.startswith('zc-asyncui')


def _all_actions():
    parser = main.build_parser()
    yield parser.prog, parser.description, parser._actions
    for name, sub in parser.commands.items():
        yield sub.prog, sub.description, sub._actions


def test_help_every_option_has_help_without_markup():
    for prog, description, actions in _all_actions():
        assert '`' not in description, prog
        for action in actions:
            text = action.help
            assert text and '`' not in text, (prog, action.option_strings)


def test_put_and_jobs_without_a_database(in_tmp, capsys):
    assert call_main(['put', 'jobs.noop']) == 1
    assert ('var/Data.fs does not exist and no server answers on'
            ' var/zeo.sock: start zc-asyncui run first'
            in capsys.readouterr().err)
    assert call_main(['jobs', '--zeo', str(in_tmp / 'none.sock')]) == 1
    assert 'no ZEO server answers at' in capsys.readouterr().err


def test_put_and_jobs_on_a_file_in_process(in_tmp, capsys):
    os.makedirs('var')
    db = testing.file_storage_db('var')
    zc.asyncui.install(db)
    db.close()
    assert call_main(['put', 'jobs.add', '1', '2']) == 0
    key = capsys.readouterr().out.strip()
    assert call_main(['put', 'jobs:noop', "{'a': [1, None]}"]) == 0
    assert call_main(['jobs', '--limit', '1']) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith('0x') and len(
        out[1].split()) > 3 and out[1].startswith(key + '  PENDING'), out
    assert call_main(['jobs', '--status', 'active']) == 0
    captured = capsys.readouterr()
    assert captured.out == '' and 'no ACTIVE jobs in var/Data.fs' in \
        captured.err


# -- small pieces ----------------------------------------------------------

@pytest.mark.parametrize('text, value', [
    ('42', 42), ('-1.5', -1.5), ("'42'", '42'), ('hello', 'hello'),
    ('[1, "a"]', [1, 'a']), ('None', None), ('a b', 'a b'), ('', ''),
    ('{"k": (1,)}', {'k': (1,)}), ('__import__("os")', '__import__("os")'),
])
def test_parse_arg(text, value):
    assert put.parse_arg(text) == value


@pytest.mark.parametrize('func, name', [
    (os.getpid, 'os.getpid'), (operator.add, 'operator.add'),
    (os.path.join, 'os.path.join'), (int, 'int'), (jobs.add, 'jobs.add'),
    (jobs.Counter.increment, 'jobs.Counter.increment'),
])
def test_call_name_is_the_public_name(func, name):
    assert listing.call_name(zc.asyncui.Job(func)) == name


def test_call_name_is_the_name_typed_at_put():
    job = zc.asyncui.Job(os.path.join, 'a')
    job.annotations[put.NAME_ANNOTATION] = 'posixpath.join'
    assert listing.describe_call(job) == "posixpath.join('a')"


def test_align_pads_all_but_the_last_column():
    assert listing.align([['0x1', 'ACTIVE', 'x' * 60, 'a'],
                          ['0x100', 'PENDING', 'y', 'b']]) == [
        '0x1    ACTIVE   %s  a' % ('x' * 60), '0x100  PENDING  y  b']


@pytest.mark.parametrize('text, address', [
    ('127.0.0.1:8100', ('127.0.0.1', 8100)), ('[::1]:0', ('::1', 0)),
    ('var/zeo.sock', 'var/zeo.sock'), ('zeo.sock', 'zeo.sock'),
    ('/tmp/a:b', '/tmp/a:b'),
])
def test_parse_address(text, address):
    assert server.parse_address(text) == address
    assert server.format_address(address) == text


def test_is_loopback():
    assert server.is_loopback(('127.0.0.1', 1))
    assert server.is_loopback(('localhost', 1))
    assert server.is_loopback('var/zeo.sock')
    assert not server.is_loopback(('', 1))
    assert not server.is_loopback(('10.0.0.1', 1))
    assert not server.is_loopback(('example.com', 1))


def test_resolve_callable_accepts_both_spellings():
    assert put.resolve_callable('jobs.add') is jobs.add
    assert put.resolve_callable('jobs:Counter.increment') is \
        jobs.Counter.increment
    assert put.resolve_callable('os.path.join') is os.path.join


# -- environment problems: one line, status 1 (or 2 for a bad path) ---------

def test_run_without_a_zeo_server(in_tmp, capsys):
    with socket.socket() as unused:
        unused.bind(('127.0.0.1', 0))
        port = unused.getsockname()[1]
    assert call_main(['run', '--zeo', '127.0.0.1:%d' % port,
                      '--connect-timeout', '0.3']) == 1
    err = capsys.readouterr().err
    assert err == ('zc-asyncui run: error: no ZEO server answered at'
                   ' 127.0.0.1:%d within 0.3s; start one with zc-asyncui'
                   ' zeo or zc-asyncui run, or check the address\n' % port)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_zeo_on_an_address_in_use(in_tmp, capsys):
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        address = '127.0.0.1:%d' % busy.getsockname()[1]
        assert call_main(['zeo', '--address', address]) == 1
    err = capsys.readouterr().err
    assert err.startswith('zc-asyncui zeo: error: cannot listen on %s:'
                          % address)
    assert 'choose another address' in err
    # The FileStorage was closed again: it can be opened.
    testing.file_storage_db('var').close()


def test_run_with_a_socket_path_too_long(in_tmp, capsys):
    deep = in_tmp / ('d' * 60) / ('e' * 60)
    os.makedirs(deep)
    assert call_main(['run', '--socket', str(deep / 'zeo.sock')]) == 2
    err = capsys.readouterr().err
    assert 'Unix sockets allow 107' in err and len(err.splitlines()) == 1
    testing.file_storage_db('var').close()


# -- serving ---------------------------------------------------------------

def test_stop_server_with_a_connected_client(tmp_path, caplog):
    path, sock = str(tmp_path / 'Data.fs'), str(tmp_path / 'zeo.sock')
    srv = server.serve(ZODB.FileStorage.FileStorage(path), sock)
    assert server.listening_address(srv) == sock
    db = server.connect(sock, 5.0)
    try:
        with caplog.at_level(logging.INFO):
            server.stop_server(srv, sock)
    finally:
        db.close()
    assert not os.path.exists(sock)
    assert [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING] == []
    ZODB.FileStorage.FileStorage(path).close()  # closed, and not damaged


def test_connection_resets_are_not_errors():
    record = logging.LogRecord(
        'ZEO.asyncio.server', logging.ERROR, __file__, 1,
        'Disconnected %s:%s', ('ConnectionResetError', 'reset'), None)
    server._RoutineDisconnects().filter(record)
    assert record.levelno == logging.INFO
    other = logging.LogRecord(
        'ZEO.asyncio.server', logging.ERROR, __file__, 1,
        'Disconnected %s:%s', ('ValueError', 'bad'), None)
    assert server._RoutineDisconnects().filter(other)
    assert other.levelno == logging.ERROR


# -- the README's examples --------------------------------------------------

README = os.path.join(os.path.dirname(HERE), 'README.txt')


def _readme_block(first_line):
    """The literal block of README.txt that starts with ``first_line``."""
    with open(README, encoding='utf-8') as f:
        lines = f.read().split('\n')
    start = lines.index('    ' + first_line)
    block = []
    for line in lines[start:]:
        if line and not line.startswith('    '):
            break
        block.append(line[4:])
    return '\n'.join(block).strip() + '\n'


def test_readme_python_example_runs_in_an_empty_directory(tmp_path):
    (tmp_path / 'mytasks.py').write_text(_readme_block('def greet(name):'))
    example = _readme_block('import os')
    assert 'db.close()' in example
    (tmp_path / 'example.py').write_text(example)
    result = subprocess.run([sys.executable, 'example.py'], cwd=tmp_path,
                            capture_output=True, text=True, timeout=DEADLINE)
    assert (result.returncode, result.stdout) == (0, 'hello world\n'), \
        result.stderr
    assert 'Traceback' not in result.stderr
    assert (tmp_path / 'var' / 'Data.fs').exists()


# -- the front-end layer ---------------------------------------------------

def _imported_modules(path):
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from ('%s.%s' % (node.module, alias.name)
                        for alias in node.names)


def test_nothing_outside_the_cli_package_imports_it():
    package = os.path.dirname(zc.asyncui.__file__)
    offenders = []
    for directory, dirs, files in os.walk(package):
        if os.path.basename(directory) == 'cli':
            continue
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(directory, name)
                offenders += [(path, module)
                              for module in _imported_modules(path)
                              if module.startswith('zc.asyncui.cli')]
    assert offenders == []


def test_dispatcher_options_derived_from_the_settings_table():
    parser = argparse.ArgumentParser()
    options.add_dispatcher_options(parser)
    args = parser.parse_args([])
    for setting in options.DISPATCHER_SETTINGS:
        assert getattr(args, setting.name) == setting.default
        action, = [a for a in parser._actions if a.dest == setting.name]
        assert action.help.startswith(setting.help.rstrip('.'))
    assert options.option_of(settings.get(
        'dispatcher', 'main_agent_size')) == '--agent-size'
    assert parser.parse_args(['--poll-interval', '0.5']).poll_interval == 0.5
