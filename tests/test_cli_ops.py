"""Operator commands of zc-asyncui (issue 9): job, cancel, --json."""
import json
import os
import subprocess
import time
import re

import pytest
import ZODB.FileStorage

import zc.asyncui
from zc.asyncui.cli import main

from test_cli import CLI, DEADLINE, FAST, cli, env, spawn  # noqa: F401
from test_cli import assert_clean_stop, start_run, wait_until


@pytest.fixture
def installed(tmp_path):
    """var/Data.fs with the default queue, closed again."""
    (tmp_path / 'var').mkdir()
    db = ZODB.DB(ZODB.FileStorage.FileStorage(
        str(tmp_path / 'var' / 'Data.fs')))
    zc.asyncui.install(db)
    db.close()
    return tmp_path


def one_line_error(result, status=2):
    assert result.returncode == status, (result.stdout, result.stderr)
    assert result.stdout == ''
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


def test_job_and_jobs_json_on_a_running_dispatcher(spawn, cli):
    process, uuid = start_run(spawn)
    good = cli('put', 'jobs.add', '1', '2').stdout.strip()
    bad = cli('put', 'jobs.fail', 'kaboom').stdout.strip()

    def done():
        info = json.loads(cli('job', bad, '--json').stdout)
        return info['status'] == 'COMPLETED' and json.loads(
            cli('job', good, '--json').stdout)['status'] == 'COMPLETED'
    wait_until(done, 'both jobs completed')

    info = json.loads(cli('job', good, '--json').stdout)
    assert info['key'] == good and info['result'] == 3
    assert info['callable'] == 'jobs.add' and info['args'] == [1, 2]
    assert info['queue'] == '' and info['failure'] is None
    assert len(info['attempts']) == 1
    assert info['attempts'][0]['dispatcher'] == uuid
    assert info['attempts'][0]['outcome']
    assert info['annotations']['zc.asyncui.cli.name'] == 'jobs.add'

    failed = json.loads(cli('job', bad, '--json').stdout)
    assert failed['result'] is None
    assert 'kaboom' in failed['failure']['message']
    assert 'Traceback' in failed['failure']['traceback']

    text = cli('job', bad)
    assert text.returncode == 0, text.stderr
    assert re.search(r'^status: +COMPLETED$', text.stdout, re.M)
    assert 'failure:' in text.stdout and 'kaboom' in text.stdout
    assert 'attempts:            1' in text.stdout
    assert 'annotations:' in text.stdout

    listed = cli('jobs', '--json')
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {row['key'] for row in rows} >= {good, bad}
    assert json.loads(cli('jobs', '--json', '--status', 'pending')
                      .stdout) == []
    assert_clean_stop(process)


def test_cancel_a_pending_job_then_again(installed, cli):
    key = cli('put', 'jobs.noop', '--in', '3600').stdout.strip()
    assert re.fullmatch(r'0x[0-9a-f]+', key)
    cancelled = cli('cancel', key)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith(key + ': cancelled')
    info = json.loads(cli('job', key, '--json').stdout)
    assert info['status'] != 'PENDING'
    assert key not in cli('jobs', '--status', 'pending').stdout
    again = one_line_error(cli('cancel', key))
    assert 'cannot be cancelled' in again


@pytest.mark.parametrize('key, message', [
    ('nonsense', "'nonsense' is not a job key: use the hex oid"),
    ('0xfffff', 'no job 0xfffff in this database'),
    ('0x0', '0x0 is not a job but a PersistentMapping'),
])
@pytest.mark.parametrize('command', ['job', 'cancel'])
def test_bad_keys_are_one_line_and_status_2(installed, cli, command, key,
                                            message):
    err = one_line_error(cli(command, key))
    assert message in err
    assert err.startswith('zc-asyncui %s: error: ' % command)


def test_job_needs_a_key(installed, capsys):
    with pytest.raises(SystemExit) as e:
        main.main(['job'])
    assert e.value.code == 2
    assert 'KEY' in capsys.readouterr().err


# -- put --stdin ----------------------------------------------------------

def pending_keys(tmp_path):
    db = ZODB.DB(ZODB.FileStorage.FileStorage(
        str(tmp_path / 'var' / 'Data.fs'), read_only=True))
    try:
        conn = db.open()
        queue = zc.asyncui.getQueues(conn)['']
        return {job.key: job for job in queue}, conn, db
    except Exception:
        db.close()
        raise


def lines_of(*specs):
    return ''.join(
        (spec if isinstance(spec, str) else json.dumps(spec)) + '\n'
        for spec in specs)


def test_put_stdin_ten_thousand_jobs(installed, cli):
    text = lines_of(*({'callable': 'jobs.add', 'args': [n, 1],
                       'options': {'in': 3600, 'priority': n % 3}}
                      for n in range(10000)))
    # No speed assertion here (speed lives in benchmarks); the timeout
    # only guards against a hang.
    result = subprocess.run(CLI + ['put', '--stdin'], input=text,
                            cwd=str(installed), env=env_with_tests(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    keys = result.stdout.split()
    assert len(keys) == len(set(keys)) == 10000
    pending, conn, db = pending_keys(installed)
    try:
        assert set(keys) == set(pending)
        job = pending[keys[7]]
        assert list(job.args) == [7, 1] and job.priority == 1
        assert job.annotations['zc.asyncui.cli.name'] == 'jobs.add'
    finally:
        db.close()


def env_with_tests():
    here = os.path.dirname(os.path.abspath(__file__))
    environment = dict(os.environ)
    environment['PYTHONPATH'] = os.pathsep.join(
        [here] + [p for p in [environment.get('PYTHONPATH')] if p])
    return environment


def put_stdin(tmp_path, text, *options):
    return subprocess.run(CLI + ['put', '--stdin'] + list(options),
                          input=text, cwd=str(tmp_path),
                          env=env_with_tests(), capture_output=True,
                          text=True, timeout=DEADLINE)


def test_put_stdin_options_and_blank_lines(installed):
    result = put_stdin(installed, lines_of(
        {'callable': 'jobs.noop', 'kwargs': {'x': 'a'},
         'options': {'collapse_key': 'k', 'in': 60}},
        '   ',
        {'callable': 'jobs.noop', 'kwargs': {'x': 'b'},
         'options': {'collapse_key': 'k', 'in': 60}},
        {'callable': 'jobs:add', 'args': [1, 2], 'options': {'priority': 9}}))
    assert result.returncode == 0, result.stderr
    first, collapsed, third = result.stdout.split()
    assert first == collapsed  # the collapse key kept the first job
    pending, conn, db = pending_keys(installed)
    try:
        assert set(pending) == {first, third}
        assert pending[third].priority == 9
        assert pending[first].begin_after is not None
    finally:
        db.close()


@pytest.mark.parametrize('bad, message', [
    ('not json', 'line 3: not JSON'),
    ('[1, 2]', 'line 3: a JSON object is expected, not list'),
    ('{"callable": "jobs.add", "arg": [1]}', "line 3: unknown field 'arg'"),
    ('{"args": [1]}', 'line 3: "callable" must be a dotted name'),
    ('{"callable": "nosuch.f"}', "line 3: cannot import 'nosuch.f'"),
    ('{"callable": "jobs.add", "args": 1}', 'line 3: "args" must be a'),
    ('{"callable": "jobs.add", "options": {"prio": 1}}',
     "line 3: unknown option 'prio'"),
    ('{"callable": "jobs.add", "options": {"in": -1}}',
     'line 3: "in" must be a number of seconds'),
    ('{"callable": "jobs.add", "options": {"priority": "high"}}',
     'line 3: "priority" must be a whole number'),
    ('{"callable": "jobs.add", "options": {"queue": "nosuch"}}',
     "line 3: No queue named 'nosuch'"),
])
def test_put_stdin_bad_line_commits_no_part_of_its_batch(installed, bad,
                                                         message):
    good = {'callable': 'jobs.noop', 'options': {'in': 60}}
    result = put_stdin(installed, lines_of(good, good, bad, good),
                       '--batch', '2')
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert 'lines 1-2 were committed, line 3 and its batch were not' \
        in result.stderr
    assert len(result.stdout.split()) == 2
    pending, conn, db = pending_keys(installed)
    try:
        assert set(pending) == set(result.stdout.split())
    finally:
        db.close()


def test_put_stdin_bad_line_in_first_batch_commits_nothing(installed):
    result = put_stdin(installed, lines_of(
        {'callable': 'jobs.noop', 'options': {'in': 60}}, '{'))
    assert result.returncode == 2
    assert 'line 2: not JSON' in result.stderr
    assert 'nothing was committed' in result.stderr
    pending, conn, db = pending_keys(installed)
    db.close()
    assert pending == {}


@pytest.mark.parametrize('argv, message', [
    (['put', '--stdin', 'jobs.add'], 'does not go with a NAME'),
    (['put', '--stdin', '--queue', 'q'], 'does not go with --queue'),
    (['put', '--stdin', '--in', '0'], 'does not go with --in'),
    (['put'], 'put needs a NAME'),
])
def test_put_stdin_usage_errors(installed, cli, argv, message):
    assert message in one_line_error(cli(*argv))


# -- status ---------------------------------------------------------------

def test_status_alive_then_dead_dispatcher(spawn, cli):
    process, uuid = start_run(spawn)
    running = cli('put', 'jobs.sleep', '60').stdout.strip()
    later = cli('put', 'jobs.noop', '--in', '3600').stdout.strip()

    def active():
        info = json.loads(cli('status', '--json').stdout)
        return info['queues'][0]['active'] == 1 and info
    info = wait_until(active, 'the sleep job running')
    queue, = info['queues']
    assert queue == {'name': '', 'pending': 0, 'scheduled': 1,
                     'active': 1, 'held': 1, 'dispatchers': 1,
                     'latency_seconds': None, 'paused': False}
    dispatcher, = info['dispatchers']
    assert dispatcher['uuid'] == uuid and dispatcher['state'] == 'alive'
    assert dispatcher['last_ping'] is not None
    assert [(j['key'], j['status'], j['dead_dispatcher'])
            for j in dispatcher['jobs']] == [(running, 'ACTIVE', False)]
    text = cli('status')
    assert text.returncode == 0, text.stderr
    assert "queue '': 0 pending, 1 scheduled, 1 active, latency -" \
        in text.stdout
    assert 'dispatcher %s' % uuid in text.stdout and 'alive' in text.stdout
    assert later  # scheduled, counted above

    process.kill()  # no clean stop: its job stays ACTIVE, its pings stop
    time.sleep(5.5)  # the ping death interval of FAST
    after = json.loads(cli('status', '--json').stdout)
    dispatcher, = after['dispatchers']
    assert dispatcher['state'] == 'dead'
    assert dispatcher['jobs'][0]['dead_dispatcher'] is True
    text = cli('status').stdout
    assert 'its dispatcher is dead' in text


def test_status_latency_of_a_due_job(installed, cli):
    cli('put', 'jobs.noop')
    time.sleep(0.5)
    info = json.loads(cli('status', '--json').stdout)
    queue, = info['queues']
    assert queue['pending'] == 1 and queue['latency_seconds'] >= 0.5
    assert info['dispatchers'] == []
    assert info['history']['jobs'] == 0
    assert 'history: 0 finished jobs kept (at most 100000, 7 days)' in cli(
        'status').stdout


def test_status_shows_a_paused_queue(installed, cli):
    db = ZODB.DB(ZODB.FileStorage.FileStorage(
        str(installed / 'var' / 'Data.fs')))
    with db.transaction() as conn:
        zc.asyncui.getQueue(conn).pause()
    db.close()
    info = json.loads(cli('status', '--json').stdout)
    assert info['queues'][0]['paused'] is True
    assert "queue '': 0 pending" in cli('status').stdout
    assert 'PAUSED' in cli('status').stdout


def test_status_without_queues_says_what_to_do(tmp_path, cli):
    (tmp_path / 'var').mkdir()
    ZODB.DB(ZODB.FileStorage.FileStorage(
        str(tmp_path / 'var' / 'Data.fs'))).close()
    result = cli('status')
    assert result.returncode == 1
    assert 'zc-asyncui run installs them' in result.stderr


# -- retry ----------------------------------------------------------------

def test_retry_a_failed_job_runs_it_again(spawn, cli):
    process, uuid = start_run(spawn)
    bad = cli('put', 'jobs.fail', 'once').stdout.strip()
    good = cli('put', 'jobs.add', '1', '2').stdout.strip()

    def completed(key):
        return json.loads(cli('job', key, '--json').stdout)[
            'status'] == 'COMPLETED'
    wait_until(lambda: completed(bad) and completed(good), 'both done')

    refused = one_line_error(cli('retry', good))
    assert 'cannot be retried' in refused and 'successful' in refused

    retried = cli('retry', bad)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == \
        '%s: PENDING again in its queue, for attempt 2' % bad

    def failed_twice():
        info = json.loads(cli('job', bad, '--json').stdout)
        return info['status'] == 'COMPLETED' and \
            len(info['attempts']) == 2 and info
    info = wait_until(failed_twice, 'the retried job failed again')
    assert 'once' in info['failure']['message']
    assert all(a['outcome'] for a in info['attempts'])
    assert_clean_stop(process)


def test_retry_refuses_a_pending_job(installed, cli):
    key = cli('put', 'jobs.noop', '--in', '60').stdout.strip()
    err = one_line_error(cli('retry', key))
    assert 'cannot be retried' in err and 'PENDING' in err


def test_retry_bad_key(installed, cli):
    assert 'no job 0xfffff' in one_line_error(cli('retry', '0xfffff'))
