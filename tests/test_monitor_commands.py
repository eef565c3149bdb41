"""The monitor's commands (async, dbinfo, zeostatus, help), with a fake
connection and over the real socket."""
import datetime
import json
import socket

import pytest
import transaction
import ZEO
import zope.component.testing
import zope.event
import zope.processlifetime
from zope.configuration import xmlconfig
from zope.interface.verify import verifyObject

import zc.asyncui
from zc.asyncui import config
from zc.asyncui import monitor
from zc.asyncui import testing
from zc.asyncui.interfaces import IMonitorPlugin
from zc.asyncui.monitor import commands
from zc.asyncui.monitor import encoding
from zc.asyncui.monitor import server as monitor_server
from zc.asyncui.monitor.asynctool import async_
from zc.asyncui.monitor.server import CommandError

import jobs
from monitorfixtures import FakeConnection


@pytest.fixture(autouse=True)
def registry():
    zope.component.testing.setUp()
    monitor.registerDefaults()
    yield
    config.reset()
    zope.component.testing.tearDown()


def run(func, *args, db=None):
    conn = FakeConnection(db)
    func(conn, *args)
    return conn


@pytest.fixture
def busy(db):
    """A running dispatcher that finished one good and one failed job."""
    zc.asyncui.install(db)
    with testing.dispatcher_running(db) as d:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        queue = zc.asyncui.getQueue(conn)
        good = queue.put(zc.asyncui.Job(jobs.add, 1, 2))
        bad = queue.put(zc.asyncui.Job(jobs.fail, "nope"))
        tm.commit()
        testing.wait_for_result(good)
        testing.wait_for_result(bad)
        testing.wait_until(lambda: d.getJobInfo(bad.key) is not None, 10,
                           'the failed job recorded')
        d.keys = good.key, bad.key
        yield d
        tm.abort()
        conn.close()


# -- encoding ---------------------------------------------------------------

def test_duration_encoding_keeps_only_nonzero_and_microseconds():
    assert encoding.duration(datetime.timedelta(0)) == {'seconds': 0.0}
    assert encoding.duration(datetime.timedelta(
        days=1, minutes=2, seconds=3, microseconds=500)) == {
            'days': 1, 'minutes': 2, 'seconds': 3.0005}
    assert encoding.duration(3600) == {'hours': 1}


def test_iso_is_utc_with_z():
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert encoding.iso(datetime.datetime(2026, 1, 1, 14, 0, tzinfo=tz)) == (
        '2026-01-01T12:00:00Z')


def test_interval_parsing_and_errors():
    assert encoding.parse_interval('1h30M', 'since') == datetime.timedelta(
        minutes=90)
    assert encoding.parse_interval('2d', 'at') == datetime.timedelta(days=2)
    for bad in ('', 'soon', '5x', '1H-2'):
        with pytest.raises(CommandError, match='is not an interval'):
            encoding.parse_interval(bad, 'since')


def test_argument_grammar():
    assert encoding.parse_args(['a', 'k:v:w'], ('X',), ('k',)) == (
        ['a'], {'k': 'v:w'})
    with pytest.raises(CommandError, match='positional arguments come'):
        encoding.parse_args(['k:v', 'a'], ('X',), ('k',))
    with pytest.raises(CommandError, match="unknown argument 'z:'"):
        encoding.parse_args(['z:1'], (), ('k',))
    with pytest.raises(CommandError, match='too many arguments'):
        encoding.parse_args(['a', 'b'], ('X',), ())


# -- async --------------------------------------------------------------------

def test_async_help_lists_tools_and_shows_one():
    text = run(async_).text
    assert text.startswith('Tools:\n')
    for tool in ('UUID', 'utcnow', 'status', 'jobs', 'job', 'jobstats',
                 'poll', 'polls', 'help'):
        assert '  %s -- ' % tool in text
    assert 'async polls since:10M count:20' in run(
        async_, 'help', 'polls').text
    with pytest.raises(CommandError, match="unknown async tool 'nope'"):
        run(async_, 'help', 'nope')


def test_async_unknown_tool_and_no_dispatcher():
    with pytest.raises(CommandError, match="unknown async tool 'x'"):
        run(async_, 'x')
    with pytest.raises(CommandError, match='no dispatcher runs'):
        run(async_, 'status')


def test_async_uuid_utcnow_status(busy):
    assert run(async_, 'UUID').text == '%s\n' % busy.UUID
    assert run(async_, 'utcnow').text.endswith('Z\n')
    status = run(async_, 'status').json()
    assert status['uuid'] == str(busy.UUID)
    assert status['status'] in ('RUNNING', 'STARTING')
    assert status['poll interval'] == {'seconds': 0.1}
    assert 'seconds' in status['uptime']


def test_async_uuid_argument(busy):
    assert run(async_, 'UUID', 'uuid:%s' % busy.UUID).text.strip() == str(
        busy.UUID)
    with pytest.raises(CommandError, match='no dispatcher with UUID'):
        run(async_, 'status', 'uuid:%s' % ('0' * 32))
    with pytest.raises(CommandError, match='is not a UUID'):
        run(async_, 'status', 'uuid:xyz')


def test_async_jobs_filters(busy):
    assert run(async_, 'jobs').json() == []
    assert run(async_, 'jobs', 'queue:', 'agent:main').json() == []
    with pytest.raises(CommandError, match="unknown argument 'x:'"):
        run(async_, 'jobs', 'x:1')


def test_async_job(busy):
    good, bad = busy.keys
    info = run(async_, 'job', good).json()
    assert info['key'] == good and info['failed'] is False
    assert info['queue'] == '' and info['agent'] == 'main'
    assert info['started'].endswith('Z') and info['ended'].endswith('Z')
    assert run(async_, 'job', bad).json()['failed'] is True
    with pytest.raises(CommandError, match='not a job key'):
        run(async_, 'job', 'zz')
    with pytest.raises(CommandError, match='which job'):
        run(async_, 'job')
    with pytest.raises(CommandError, match='is not among the jobs'):
        run(async_, 'job', '0x999999')


def test_async_poll_and_polls(busy):
    poll = run(async_, 'poll').json()
    assert set(poll) == {'key', 'time', 'results'}
    assert poll['time'].endswith('Z')
    polls = run(async_, 'polls', 'count:10').json()
    assert polls and polls[0] == poll
    assert run(async_, 'poll', 'at:%d' % poll['key']).json() == poll
    assert run(async_, 'poll', 'before:%d' % polls[-1]['key']).json() is None
    assert run(async_, 'polls', 'since:1H').json() == run(
        async_, 'polls', 'count:1000').json()
    assert run(async_, 'polls', 'at:1D').json() == []
    with pytest.raises(CommandError, match='at:soon is not an interval'):
        run(async_, 'poll', 'at:soon')
    with pytest.raises(CommandError, match='not both'):
        run(async_, 'polls', 'at:1', 'before:1')
    with pytest.raises(CommandError, match='count:x is not a whole number'):
        run(async_, 'polls', 'count:x')


def test_async_jobstats(busy):
    good, bad = busy.keys
    stats = run(async_, 'jobstats').json()
    assert stats['successful'] >= 1 and stats['failed'] == 1
    assert stats['shortest failed'] == stats['longest failed'] == bad
    assert stats['statistics start'] is None
    assert stats['statistics end'].endswith('Z')
    assert run(async_, 'jobstats', 'since:1H', 'queue:').json()[
        'failed'] == 1
    assert run(async_, 'jobstats', 'queue:other').json()['started'] == 0
    assert run(async_, 'jobstats', 'before:1H').json()['started'] == 0
    with pytest.raises(CommandError, match='since:1x is not an interval'):
        run(async_, 'jobstats', 'since:1x')


# -- dbinfo, zeostatus, help ------------------------------------------------

def test_dbinfo(db):
    with pytest.raises(CommandError, match='serves no database'):
        run(commands.dbinfo)
    first = run(commands.dbinfo, db=db).json()
    assert first['activity'].startswith('activity monitoring just started')
    conn = db.open()
    conn.root()['x'] = 1
    transaction.commit()
    conn.close()
    info = run(commands.dbinfo, '60', db=db).json()
    assert info['stores'] >= 1 and info['seconds'] == 60
    assert info['connections'] >= 0 and info['size bytes'] > 0
    for bad in ('0', 'x', '4000'):
        with pytest.raises(CommandError, match='a number from 1 to 3600'):
            run(commands.dbinfo, bad, db=db)


def test_zeostatus_without_zeo(db):
    with pytest.raises(CommandError, match='not a ZEO client'):
        run(commands.zeostatus, db=db)


def test_zeostatus_with_zeo(tmp_path):
    address, stop = ZEO.server(path=str(tmp_path / 'z.fs'))
    db = ZEO.DB(address)
    try:
        info = run(commands.zeostatus, db=db).json()
        assert info['connected'] is True
        assert str(address[1]) in info['server']
    finally:
        db.close()
        stop()


def test_default_commands_provide_imonitorplugin():
    for func in monitor.DEFAULT_COMMANDS.values():
        verifyObject(IMonitorPlugin, func, tentative=True)


def test_commands_are_registered_by_configure_zcml():
    zope.component.testing.tearDown()
    zope.component.testing.setUp()
    xmlconfig.file('configure.zcml', package=zc.asyncui)
    names = {n for n, _ in zope.component.getUtilitiesFor(IMonitorPlugin)}
    assert names == set(monitor.DEFAULT_COMMANDS)
    assert config._monitor['starters'] == [monitor.start]


# -- over the socket -----------------------------------------------------

def ask(srv, line):
    with socket.create_connection(srv.address, 5) as sock:
        sock.sendall(line.encode() + b'\n')
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b''.join(chunks).decode()
            chunks.append(chunk)


def test_commands_over_the_socket(busy, db):
    srv = monitor.start(db, '127.0.0.1', 0)
    try:
        assert ask(srv, 'async UUID') == '%s\n' % busy.UUID
        assert json.loads(ask(srv, 'async status'))['uuid'] == str(busy.UUID)
        assert json.loads(ask(srv, 'async job %s' % busy.keys[0]))[
            'key'] == busy.keys[0]
        assert ask(srv, 'async poll at:never') == (
            'Error: at:never is not an interval; write [nD][nH][nM][nS],'
            ' such as at:1H30M or at:45S\n')
        assert ask(srv, 'async nope') == (
            """Error: unknown async tool 'nope'; try "async help"\n""")
        ask(srv, 'dbinfo')  # starts the activity monitor
        assert 'stores' in json.loads(ask(srv, 'dbinfo'))
        assert ask(srv, 'zeostatus').startswith(
            'Error: the database is not a ZEO client')
        assert ask(srv, 'help async').startswith('Help for async:\n\n')
    finally:
        srv.close()


def test_zcml_monitor_directive_starts_the_server(db):
    zope.component.testing.tearDown()
    zope.component.testing.setUp()
    xmlconfig.string('''
<configure xmlns="http://namespaces.zope.org/zope"
           xmlns:asyncui="http://namespaces.zope.org/asyncui">
  <include package="zc.asyncui" />
  <asyncui:monitor host="127.0.0.1" port="0" />
</configure>''')
    assert monitor_server.running() == []
    zope.event.notify(zope.processlifetime.DatabaseOpenedWithRoot(db))
    try:
        [srv] = monitor_server.running()
        assert srv.address[0] == '127.0.0.1' and srv.db is db
        assert ask(srv, 'help').startswith('Supported commands:')
    finally:
        monitor_server.stop_all()
    assert monitor_server.running() == []
