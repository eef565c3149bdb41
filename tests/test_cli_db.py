"""``--db URI`` on the command line (issue 11), and zc.asyncui.dburi.

The URI names any ZODB database through zodburi: ``file://`` and
``zeo://`` are the existing ``--path`` and ``--zeo``; ``postgres://``
(RelStorage) and the other schemes are opened directly by each process.
The PostgreSQL tests run on a throwaway cluster (the ``postgres_uri``
fixture in conftest.py) and skip when PostgreSQL is not installed.
"""
import os
import time

import pytest
import transaction
import ZODB.FileStorage

import zc.asyncui
from zc.asyncui import dburi
from zc.asyncui import errors
from zc.asyncui import testing
from zc.asyncui.cli import main

from test_cli import FAST, assert_clean_stop, call_main
# Fixtures of test_cli, used here by name.
from test_cli import cli, env, in_tmp, spawn  # noqa: F401


# -- parsing ------------------------------------------------------------------

@pytest.mark.parametrize('text, kind, path, address', [
    ('file://var/Data.fs', dburi.FILE, 'var/Data.fs', None),
    ('file:///srv/x/../Data.fs', dburi.FILE, '/srv/Data.fs', None),
    ('zeo://127.0.0.1:8100', dburi.ZEO, None, ('127.0.0.1', 8100)),
    ('zeo://[::1]:8100', dburi.ZEO, None, ('::1', 8100)),
    ('zeo:///tmp/zeo.sock', dburi.ZEO, None, '/tmp/zeo.sock'),
    ('memory://x', dburi.SHARED, None, None),
])
def test_parse_kinds(text, kind, path, address):
    uri = dburi.parse(text)
    assert (uri.kind, uri.path, uri.address) == (kind, path, address)
    assert uri.text == text and uri.db_kw == {}


def test_parse_keeps_only_the_database_keywords_given():
    uri = dburi.parse('file://Data.fs?database_name=async'
                      '&connection_cache_size=500')
    assert uri.db_kw == {'database_name': 'async', 'cache_size': 500}


def test_parse_postgres_hides_the_password():
    pytest.importorskip('relstorage')
    uri = dburi.parse('postgres://me:secret@127.0.0.1:5432/db'
                      '?keep_history=false')
    assert uri.kind == dburi.SHARED and uri.scheme == 'postgres'
    assert uri.safe == 'postgres://me:***@127.0.0.1:5432/db?keep_history=false'
    assert 'secret' not in repr(uri)


@pytest.mark.parametrize('text, message', [
    ('', 'expected a database URI such as file://var/Data.fs'),
    ('var/Data.fs', "not 'var/Data.fs'"),
    ('nosuch://x', 'nosuch:// is not a database URI scheme known here'
     ' (installed: '),
    ('file://', 'file:// names no file: write file://var/Data.fs'),
    ('file://x.fs?blobstorage_dir=b', 'takes no storage options'
     ' (blobstorage_dir) there; write the storage in a ZConfig file'),
    ('file://x.fs?nonsense=1', 'unknown option(s) nonsense'),
    ('zeo://', 'names no server: write zeo://HOST:PORT'),
    ('zeo://localhost', 'write zeo://HOST:PORT (e.g. zeo://127.0.0.1:8100)'),
    ('zeo://localhost:8100/x', 'for a Unix socket'),
    ('zeo://127.0.0.1:8100?wait_timeout=5', 'takes no storage options'),
    ('zconfig:///no/such/file.conf', 'cannot read this URI:'),
])
def test_parse_refuses_bad_uris(text, message):
    with pytest.raises(errors.ConfigurationError) as info:
        dburi.parse(text)
    assert message in str(info.value)


def test_unknown_relstorage_scheme_says_what_to_install():
    assert "pip install 'zc.asyncui[postgresql]'" in \
        dburi._unknown_scheme('postgres://u@h:1/d')


def test_open_makes_a_database_with_the_keywords():
    db = dburi.parse('memory://x?database_name=async').open()
    try:
        assert db.database_name == 'async'
        zc.asyncui.install(db)
    finally:
        db.close()


# -- the command line: conflicting and bad options -------------------------

@pytest.mark.parametrize('argv, message', [
    (['run', '--db', 'nowhere'], 'argument --db: expected a database URI'),
    (['run', '--db', 'file://x.fs', '--path', 'y.fs'], '--db names the'
     ' database: it does not go with --path (file://PATH is --path PATH)'),
    (['run', '--db', 'file://x.fs', '--zeo', '127.0.0.1:8100'],
     'it does not go with --zeo'),
    (['run', '--db', 'zeo://127.0.0.1:8100', '--storage', 'direct'],
     'it does not go with --storage (zeo://ADDRESS is --zeo ADDRESS)'),
    (['run', '--db', 'memory://x', '--socket', 's.sock'],
     'it does not go with --socket (memory:// is opened directly by each'
     ' process)'),
    (['run', '--db', 'zeo://127.0.0.1:0'], '--zeo 127.0.0.1:0: port 0'),
    (['run', '--db', 'file://missing/Data.fs'], '--db missing/Data.fs:'
     ' the directory missing does not exist'),
    (['serve', '--db', 'zeo://127.0.0.1:8100', '--zeo', '127.0.0.1:8100'],
     'it does not go with --zeo'),
    (['put', 'jobs.noop', '--db', 'file://x.fs', '--path', 'x.fs'],
     'it does not go with --path'),
    (['jobs', '--db', 'memory://x', '--storage', 'direct'],
     'it does not go with --storage'),
    (['status', '--db', 'file://x.fs?blobstorage_dir=b'], 'argument --db:'
     ' file://x.fs?blobstorage_dir=b: the command line opens file://'),
    (['zeo', '--db', 'zeo://127.0.0.1:8100'], 'zc-asyncui zeo serves a'
     ' storage; --db zeo://127.0.0.1:8100 names a ZEO server'),
    (['zeo', '--db', 'file://x.fs', '--path', 'x.fs'],
     'it does not go with --path'),
])
def test_db_bad_input_is_one_line_and_status_2(in_tmp, capsys, argv,
                                                message):
    assert call_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(in_tmp / 'var')


@pytest.mark.parametrize('command', [
    'run', 'serve', 'zeo', 'put', 'jobs', 'job', 'cancel', 'retry',
    'status', 'pack'])
def test_every_database_command_takes_db(command):
    parser = main.build_parser().commands[command]
    assert any('--db' in action.option_strings for action in parser._actions)


# -- the command line on file:// and zeo:// -----------------------------------

def test_file_uri_is_path(in_tmp, capsys):
    os.makedirs('data')
    db = testing.file_storage_db('data')
    zc.asyncui.install(db)
    db.close()
    assert call_main(['put', '--db', 'file://data/Data.fs', 'jobs.add',
                      '1', '2']) == 0
    key = capsys.readouterr().out.strip()
    assert call_main(['jobs', '--path', 'data/Data.fs']) == 0
    assert capsys.readouterr().out.startswith(key + '  PENDING')
    assert call_main(['job', key, '--db', 'file://%s/data/Data.fs'
                      % in_tmp]) == 0
    assert 'status:              PENDING' in capsys.readouterr().out
    assert not os.path.exists('var')


def test_database_name_reaches_the_database(in_tmp, capsys):
    from zc.asyncui.cli import server
    ZODB.FileStorage.FileStorage('Data.fs').close()
    args = main.parse_args(['jobs', '--db', 'file://Data.fs?database_name=q',
                            '--storage', 'direct'])
    args.check(args)
    db, where = server.open_tool_database(args)
    try:
        assert db.database_name == 'q' and where == 'Data.fs'
    finally:
        db.close()


def test_zeo_and_run_on_uris(tmp_path, spawn, cli):
    port = _free_port()
    os.makedirs(tmp_path / 'z')
    zeo = spawn('zeo', '--db', 'file://%s' % (tmp_path / 'z' / 'Data.fs'),
                '--address', '127.0.0.1:%d' % port)
    zeo.wait_for('zc-asyncui zeo ready: serving %s' % (
        tmp_path / 'z' / 'Data.fs'))
    uri = 'zeo://127.0.0.1:%d' % port
    run = spawn('run', '--db', uri, '--uuid-file', str(tmp_path / 'u.txt'),
                *FAST)
    run.wait_for('run ready: .* on the ZEO server at 127.0.0.1:%d' % port)
    added = cli('put', '--db', uri, 'jobs.add', '2', '3')
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    testing.wait_until(
        lambda: '-> 5' in cli('jobs', '--db', uri).stdout, 30,
        'the job to complete')
    assert_clean_stop(run)
    assert_clean_stop(zeo)
    assert key


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# -- RelStorage on PostgreSQL -------------------------------------------------

def test_run_put_jobs_status_on_postgres(tmp_path, spawn, cli,
                                         postgres_uri):
    run = spawn('run', '--db', postgres_uri, '--uuid-file',
                str(tmp_path / 'u.txt'), '--queue', 'mail', *FAST)
    run.wait_for('run ready: .* on %s \\(opened directly\\)'
                 % postgres_uri.replace('?', '\\?'))
    added = cli('put', '--db', postgres_uri, '--queue', 'mail', 'jobs.add',
                '1', '2')
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    testing.wait_until(
        lambda: '-> 3' in cli('jobs', '--db', postgres_uri).stdout, 30,
        'the job to complete')
    shown = cli('job', key, '--db', postgres_uri)
    assert 'COMPLETED' in shown.stdout, shown.stderr
    status = cli('status', '--db', postgres_uri, '--json')
    assert status.returncode == 0 and '"mail"' in status.stdout, status
    assert cli('pack', '--db', postgres_uri).returncode == 0
    assert not os.path.exists(tmp_path / 'var')
    assert_clean_stop(run)


def test_two_processes_share_postgres(postgres_uri):
    first = dburi.parse(postgres_uri).open()
    second = dburi.parse(postgres_uri).open()
    try:
        zc.asyncui.install(first)
        tm = transaction.TransactionManager()
        conn = first.open(tm)
        job = zc.asyncui.getQueue(conn).put(zc.asyncui.Job(pow, 2, 3))
        tm.commit()
        other = second.open()
        seen = other.get(job._p_oid)
        assert list(seen.args) == [2, 3]
        other.close()
        conn.close()
    finally:
        first.close()
        second.close()


def test_unreachable_postgres_is_one_line(in_tmp, capsys, postgres_cluster):
    pytest.importorskip('relstorage')
    uri = 'postgres://postgres:pw@127.0.0.1:%d/nosuchdb?keep_history=false' \
        % postgres_cluster.port
    assert call_main(['jobs', '--db', uri]) == 1
    err = capsys.readouterr().err
    assert 'zc-asyncui jobs: error: cannot open the database' \
        ' postgres://postgres:***@127.0.0.1:%d/nosuchdb?keep_history=false:' \
        ' OperationalError: ' % postgres_cluster.port in err
    assert 'nosuchdb' in err and 'pw@' not in err
    assert len(err.strip().splitlines()) == 1, err


def test_serve_on_postgres(tmp_path, postgres_uri):
    from test_serve import basic, env as _env, get, password_of, start_serve
    environment = _env.__wrapped__()
    var = tmp_path / 'var'
    process, url = start_serve(var, environment, '--db', postgres_uri,
                               '--monitor-port', '0')
    try:
        assert '(opened directly)' in process.output
        assert not os.path.exists(var / 'Data.fs')
        status, headers, body = get(url + '/++async++/',
                                    basic('admin', password_of(var)))
        assert status == 200 and b'alive' in body
        assert process.stop() == 0
    finally:
        process.kill()


@pytest.mark.parametrize('argv, expected', [
    (['run', '--db', 'file://x.fs', '--storage', 'direct'],
     dict(path='x.fs', storage='direct', zeo=None, database=None)),
    (['run', '--db', 'file://x.fs', '--socket', 's.sock'],
     dict(path='x.fs', storage='embedded', socket='s.sock')),
    (['run', '--db', 'zeo:///tmp/z.sock'],
     dict(zeo='/tmp/z.sock', database=None)),
    (['run', '--db', 'memory://m'], dict(storage=None, socket=None)),
    (['serve', '--db', 'file://d/Data.fs'],
     dict(path='d/Data.fs', socket='d/zeo.sock', storage='embedded')),
    (['serve', '--db', 'memory://m'],
     dict(path=None, socket=None, storage=None)),
    (['zeo', '--db', 'file://d/Data.fs'], dict(path='d/Data.fs')),
])
def test_db_stands_for_the_options(in_tmp, argv, expected):
    os.makedirs('d')
    args = main.parse_args(argv)
    args.check(args)
    for name, value in expected.items():
        assert getattr(args, name) == value, name
    if args.db.kind == dburi.SHARED:
        assert args.database is args.db


def test_zeo_serves_a_storage_named_by_uri(tmp_path, spawn):
    zeo = spawn('zeo', '--db', 'memory://m', '--address',
                '127.0.0.1:%d' % _free_port())
    zeo.wait_for('zc-asyncui zeo ready: serving memory://m on 127.0.0.1:')
    assert_clean_stop(zeo)


def test_run_waits_for_the_database_up_to_connect_timeout(in_tmp, capsys):
    pytest.importorskip('relstorage')
    uri = 'postgres://u@127.0.0.1:%d/db?keep_history=false' % _free_port()
    started = time.monotonic()
    assert call_main(['run', '--db', uri, '--connect-timeout', '1.5',
                      '--monitor-port', '0']) == 1
    assert 1.5 <= time.monotonic() - started < 15
    err = capsys.readouterr().err
    assert 'zc-asyncui run: error: cannot open the database %s within' \
        ' 1.5s: OperationalError: ' % uri in err, err


def test_unreachable_postgres_from_the_console_script_is_one_line(cli):
    pytest.importorskip('relstorage')
    uri = 'postgres://u@127.0.0.1:%d/db?keep_history=false' % _free_port()
    result = cli('status', '--db', uri)
    assert result.returncode == 1
    assert result.stderr.startswith('zc-asyncui status: error: cannot open'
                                    ' the database ' + uri), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
