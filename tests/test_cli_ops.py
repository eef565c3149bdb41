"""Operator commands of zc-asyncui (issue 9): job, cancel, --json."""
import json
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
