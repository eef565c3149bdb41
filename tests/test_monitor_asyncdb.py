"""The asyncdb monitor command (zc.async's database view) and the shared
zc.asyncui.queries, with a fake connection and over the real socket, on
FileStorage."""
import datetime
import json
import socket

import pytest
import zope.component.testing

import jobs
from monitorfixtures import FakeConnection
import zc.asyncui
from zc.asyncui import config
from zc.asyncui import errors
from zc.asyncui import history
from zc.asyncui import lifecycle
from zc.asyncui import monitor
from zc.asyncui import queries
from zc.asyncui import testing
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.monitor.asyncdb import asyncdb
from zc.asyncui.monitor.server import CommandError
from zc.asyncui.monitor.server import run_command

MIN = datetime.timedelta(minutes=1)
UUID = '11111111-2222-3333-4444-555555555555'


@pytest.fixture(autouse=True)
def registry():
    zope.component.testing.setUp()
    monitor.registerDefaults()
    yield
    config.reset()
    zope.component.testing.tearDown()


def finish(conn, func, end, failed=False, queue_name=''):
    queue = zc.asyncui.getQueue(conn, queue_name)
    with testing.FakeClock(end - MIN):
        job = queue.put(func)
    queue.pull(job)
    lifecycle.put(job)
    lifecycle.start(job, UUID, 'main', now=end - MIN)
    result = Failure(ValueError('boom')) if failed else 42
    lifecycle.set_result(job, result, end)
    return job


@pytest.fixture
def seeded(db, conn):
    """Six finished jobs (ends 10..60 minutes ago, every third failed, one
    two hours ago), two pending, one assigned to agent 'main'."""
    tm = conn.transaction_manager
    now = utils.now()
    done = [finish(conn, jobs.noop if i % 2 else jobs.add,
                   now - (i + 1) * 10 * MIN, failed=(i % 3 == 0))
            for i in range(6)]
    done.append(finish(conn, jobs.add, now - 120 * MIN, failed=True))
    tm.commit()
    history.record(conn, done, 'd1')
    queue = zc.asyncui.getQueue(conn)
    record = queue.getDispatcherAgents(UUID, create=True)
    record['main'] = zc.asyncui.Agent()
    record.activate('host', 1, 'token')
    tm.commit()
    held = queue.put(jobs.noop)
    tm.commit()
    assert record['main'].claimJob() is held
    pending = [queue.put(jobs.add) for _ in range(2)]
    tm.commit()
    return {'done': done, 'held': held, 'pending': pending}


def ask(db, *words):
    connection = FakeConnection(db)
    run_command(connection, ['asyncdb'] + list(words))
    return connection.text


def ask_json(db, *words):
    return json.loads(ask(db, *words))


def test_count_by_state_and_time(db, seeded):
    assert ask_json(db, 'count', 'pending') == 2
    assert ask_json(db, 'count', 'assigned') == 1
    assert ask_json(db, 'count', 'pending', 'assigned') == 3
    assert ask_json(db, 'count', 'completed') == 7
    assert ask_json(db, 'count', 'failed') == 3
    assert ask_json(db, 'count', 'succeeded') == 4
    assert ask_json(db, 'count', 'failed', 'since:1H') == 2
    assert ask_json(db, 'count', 'failed', 'end:since1H') == 2
    assert ask_json(db, 'count', 'completed', 'end:since45M,before15M') == 3
    assert ask_json(db, 'count', 'completed', 'end:before1H') == 1


def test_filters(db, seeded):
    assert ask_json(db, 'count', 'completed', 'callable:add') == 4
    assert ask_json(db, 'count', 'completed', 'callable:jobs.no*') == 3
    assert ask_json(db, 'count', 'completed', 'callable:no*') == 3
    assert ask_json(db, 'count', 'completed', 'queue:') == 7
    assert ask_json(db, 'count', 'completed', 'queue:x*') == 0
    assert ask_json(db, 'count', 'assigned', 'agent:ma*') == 1
    assert ask_json(db, 'count', 'completed', 'uuid:' + UUID) == 7
    assert ask_json(db, 'count', 'completed', 'uuid:other') == 0
    assert ask_json(db, 'count', 'completed', 'start:since1H') == 5
    assert ask_json(db, 'count', 'pending', 'requested_start:since1H') == 2


def test_jobs_display_and_count(db, seeded):
    keys = ask_json(db, 'jobs', 'pending', 'assigned', 'completed',
                    'count:0')
    expected = [j.key for j in seeded['pending']] + [seeded['held'].key] + [
        j.key for j in seeded['done']]
    assert keys == expected
    assert ask_json(db, 'jobs', 'completed', 'count:2') == expected[3:5]
    reprs = ask_json(db, 'jobs', 'pending', 'display:repr')
    assert len(reprs) == 2 and all(isinstance(r, str) for r in reprs)
    details = ask_json(db, 'jobs', 'failed', 'display:details', 'count:1')
    assert details[0]['status'] == 'failed'
    assert details[0]['failed'] is True
    assert 'ValueError' in details[0]['result']


def test_job_and_traceback(db, seeded):
    failed = seeded['done'][0]
    info = ask_json(db, 'job', failed.key)
    assert info['key'] == failed.key
    assert info['status'] == 'failed'
    assert info['dispatcher'] == UUID
    assert info['active']['minutes'] == 1
    assert info['active end'].endswith('Z')
    assert 'ValueError' in ask(db, 'traceback', failed.key)
    brief = ask(db, 'traceback', failed.key, 'detail:brief')
    assert 'ValueError' in brief
    assert ask(db, 'traceback', seeded['done'][1].key) == 'null\n'
    assert ask_json(db, 'job', seeded['held'].key)['status'] == 'assigned'


def test_status_uuids_next_last(db, seeded):
    assert ask_json(db, 'UUIDs') == [UUID]
    status = ask_json(db, 'status')
    assert status['']['len'] == 2
    main = status['']['dispatchers'][UUID]['agents']['main']
    assert main['len'] == 1 and main['filter'] is None
    assert ask_json(db, 'status', 'queue:nope') == {}
    assert ask_json(db, 'nextpending')['key'] == seeded['pending'][0].key
    assert ask_json(db, 'lastcompleted')['key'] == seeded['done'][0].key
    assert ask_json(db, 'lastcompleted', 'callable:noop')[
        'key'] == seeded['done'][1].key


def test_help(db):
    text = ask(db)
    assert 'count -- ' in text and 'States: pending' in text
    assert ask(db, 'help', 'count').startswith('How many jobs')
    assert ask(None, 'help', 'nope') == (
        """Error: unknown asyncdb tool 'nope'; try "asyncdb help"\n""")


@pytest.mark.parametrize('words, error', [
    (['nope'], """unknown asyncdb tool 'nope'; try "asyncdb help\""""),
    (['count'], 'give at least one state: pending, assigned, active,'
     ' callbacks, completed, succeeded, failed'),
    (['count', 'zombie'], "unknown state 'zombie'; expected one of pending,"
     ' assigned, active, callbacks, completed, succeeded, failed'),
    (['count', 'failed', 'succeeded'],
     'give at most one of completed, succeeded, failed'),
    (['count', 'failed', 'colour:red'], "unknown argument 'colour:'"),
    (['count', 'failed', 'end:1H'], 'end:1H: write end:sinceINTERVAL'),
    (['count', 'failed', 'since:soon'], 'since:soon is not an interval'),
    (['count', 'failed', 'uuid:THIS'], 'uuid:THIS: no dispatcher runs'),
    (['jobs', 'failed', 'count:x'], 'count:x is not a whole number'),
    (['jobs', 'failed', 'display:fancy'], 'display:fancy: expected one of'),
    (['job'], 'asyncdb job KEY: which job?'),
    (['job', 'xyz'], "'xyz' is not a job key"),
    (['job', '0x7fffff'], 'no job 0x7fffff in this database'),
    (['traceback', '0x1', 'detail:huge'], 'detail:huge: expected one of'),
    (['nextpending', 'end:since1H'], 'nextpending: end: does not apply'),
])
def test_bad_input_is_one_error_line(db, seeded, words, error):
    text = ask(db, *words)
    assert text.startswith('Error: ' + error), text
    assert text.count('\n') == 1


def test_not_a_job(db, conn):
    root_key = utils.oid_key(conn.root()._p_oid)
    assert ask(db, 'job', root_key).startswith('Error: %s is not a job'
                                               % root_key)


def test_no_database():
    with pytest.raises(CommandError, match='serves no database'):
        asyncdb(FakeConnection(None), 'count', 'pending')


def test_queries_module(conn, seeded):
    found = list(queries.select(conn, ['failed'], {'callable': 'add'}))
    assert [j.key for j in found] == [
        j.key for j in seeded['done'] if j.failed and j.callable is jobs.add]
    with pytest.raises(errors.ConfigurationError, match='unknown filter'):
        queries.count(conn, ['failed'], {'colour': 'red'})
    with pytest.raises(errors.ConfigurationError, match='at least one'):
        queries.count(conn, [])


def test_over_the_socket(db, seeded):
    srv = monitor.start(db, '127.0.0.1', 0)
    try:
        def ask_sock(line):
            with socket.create_connection(srv.address, 5) as sock:
                sock.sendall(line.encode() + b'\n')
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return b''.join(chunks).decode()
                    chunks.append(chunk)
        assert ask_sock('asyncdb count failed since:1H') == '2\n'
        assert json.loads(ask_sock('asyncdb jobs pending')) == [
            j.key for j in seeded['pending']]
        assert ask_sock('asyncdb count zombie').startswith(
            "Error: unknown state 'zombie'")
        assert ask_sock('help asyncdb').startswith('Help for asyncdb:')
    finally:
        srv.close()


def test_jobstats(db, seeded):
    stats = ask_json(db, 'jobstats', 'pending', 'assigned', 'completed')
    assert {k: stats[k] for k in ('pending', 'assigned', 'active',
                                  'callbacks', 'succeeded', 'failed')} == {
        'pending': 2, 'assigned': 1, 'active': 0, 'callbacks': 0,
        'succeeded': 4, 'failed': 3}
    assert stats['longest active'][0] == {'minutes': 1}
    assert stats['shortest active'][0] == {'minutes': 1}
    # shortest is the shortest (zc.async computed it as the longest)
    assert stats['shortest wait'][0] != stats['longest wait'][0]
    # the unstarted jobs wait until now; the finished ones started at once
    assert stats['longest wait'][1] == seeded['held'].key
    assert stats['shortest wait'][0] == {'seconds': 0.0}
    details = ask_json(db, 'jobstats', 'failed', 'display:repr')
    assert details['failed'] == 3
    assert isinstance(details['longest active'][1], str)
    assert ask_json(db, 'jobstats', 'failed', 'queue:none')[
        'longest wait'] is None


def test_dispatchers(db, seeded):
    info = ask_json(db, 'dispatchers')
    assert list(info) == [UUID]
    assert info[UUID]['queues'] == {'': {'state': 'alive', 'agents': {
        'main': {'size': 3, 'filter': None,
                 'jobs': [[seeded['held'].key, 'ASSIGNED']]}}}}
    assert info[UUID]['host'] == 'host' and info[UUID]['dead'] is False
    assert info[UUID]['state'] == 'alive' and info[UUID]['held'] == 1
    assert info[UUID]['last ping'].endswith('Z')
    assert ask_json(db, 'dispatchers', 'uuid:other') == {}
    assert ask(db, 'dispatchers', 'x').startswith('Error: too many')


def test_pending_by_agent_is_what_the_agents_would_accept(db, conn, seeded):
    assert ask_json(db, 'count', 'pending', 'agent:main') == 2
    assert ask_json(db, 'count', 'pending', 'agent:other') == 0
    assert ask_json(db, 'count', 'pending', 'uuid:' + UUID) == 2
    queue = zc.asyncui.getQueue(conn)
    record = queue.getDispatcherAgents(UUID)
    record['picky'] = zc.asyncui.Agent(
        filter=zc.asyncui.filters.CallablesFilter('*.noop'))
    conn.transaction_manager.commit()
    assert ask_json(db, 'count', 'pending', 'agent:picky') == 0
    assert ask_json(db, 'count', 'pending', 'agent:*') == 2


def test_a_zeo_client_with_no_dispatcher(tmp_path):
    """A process that only monitors: a ZEO client, a job put by another
    client, asyncdb sees it."""
    import ZEO
    import transaction
    address, stop = ZEO.server(path=str(tmp_path / 'z.fs'))
    writer = ZEO.DB(address)
    reader = ZEO.DB(address)
    try:
        zc.asyncui.install(writer)
        tm = transaction.TransactionManager()
        conn = writer.open(tm)
        job = zc.asyncui.getQueue(conn).put(jobs.noop)
        tm.commit()
        conn.close()
        # ZEO delivers the writer's invalidation to the reader
        # asynchronously: wait for it.
        testing.wait_until(
            lambda: ask_json(reader, 'jobs', 'pending') == [job.key], 10,
            'the reader sees the pending job')
        assert ask_json(reader, 'count', 'completed') == 0
    finally:
        reader.close()
        writer.close()
        stop()


def test_callbacks_completed_and_start_before(db, seeded):
    assert ask_json(db, 'count', 'completed',
                    'callbacks_completed:since25M') == 2
    assert ask_json(db, 'count', 'completed', 'start:before1H') == 2
    assert ask_json(db, 'count', 'pending', 'start:since1H') == 0
    assert ask(db, 'count', 'failed', 'since:1H', 'end:since1H') == (
        'Error: give since: or end:, not both\n')


def test_jobsummary_by_callable_by_default(db, seeded):
    info = ask_json(db, 'jobsummary')
    assert info['by'] == 'callable'
    assert info['total'] == {'pending': 2, 'assigned': 1, 'active': 0,
                             'callbacks': 0, 'succeeded': 4, 'failed': 3}
    assert info['groups'] == {
        'jobs.add': {'pending': 2, 'succeeded': 2, 'failed': 2},
        'jobs.noop': {'assigned': 1, 'succeeded': 2, 'failed': 1}}


def test_jobsummary_states_filters_and_groups(db, seeded):
    info = ask_json(db, 'jobsummary', 'failed', 'since:1H', 'by:failure')
    assert info['total'] == {'failed': 2}
    assert info['groups'] == {'ValueError': {'failed': 2}}
    info = ask_json(db, 'jobsummary', 'pending', 'completed', 'by:queue')
    assert info['groups'] == {'': {'pending': 2, 'succeeded': 4,
                                   'failed': 3}}
    # agent and dispatcher need the jobs; pending jobs have neither
    info = ask_json(db, 'jobsummary', 'pending', 'assigned', 'completed',
                    'by:agent')
    assert info['groups'] == {'(none)': {'pending': 2},
                              'main': {'assigned': 1, 'succeeded': 4,
                                       'failed': 3}}
    info = ask_json(db, 'jobsummary', 'completed', 'callable:noop',
                    'by:dispatcher')
    assert info['groups'] == {UUID: {'succeeded': 2, 'failed': 1}}
    assert ask_json(db, 'jobsummary', 'succeeded', 'queue:none')[
        'groups'] == {}


@pytest.mark.parametrize('words, error', [
    (['by:colour'], "cannot group by 'colour'; expected one of callable,"),
    (['zombie'], "unknown state 'zombie'"),
    (['succeeded', 'failed'], 'give at most one of completed'),
    (['pending', 'nope:1'], "unknown argument 'nope:'"),
])
def test_jobsummary_bad_input(db, seeded, words, error):
    text = ask(db, 'jobsummary', *words)
    assert text.startswith('Error: ' + error), text


def test_counters_sum_the_per_minute_counters(db, seeded):
    # seeded: ends 10..60 minutes ago (i = 0..5, failed when i % 3 == 0)
    # and one two hours ago; each started a minute before its end.
    # since:1H is whole minutes: from the minute an hour ago
    assert ask_json(db, 'counters') == {
        'put': 5, 'started': 5, 'succeeded': 4, 'failed': 2, 'retried': 0}
    assert ask_json(db, 'counters', 'since:3H')['failed'] == 3
    assert ask_json(db, 'counters', 'since:3H', 'before:90M') == {
        'put': 1, 'started': 1, 'succeeded': 0, 'failed': 1, 'retried': 0}
    assert ask_json(db, 'counters', 'since:3H', 'callable:jobs.noop')[
        'succeeded'] == 2
    assert ask_json(db, 'counters', 'since:3H', 'queue:mail')['put'] == 0
    assert ask(db, 'counters', 'since:soon').startswith(
        'Error: since:soon is not an interval')
    assert ask(db, 'counters', 'failed').startswith('Error: too many')
