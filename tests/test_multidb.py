"""Queues in their own database of a ZODB multi-database (issue 11).

The application lives in the database 'main' and the queues in 'async',
each on its own FileStorage on disk (and, at the end, on a real ZEO
server with two storages and worker processes).  Jobs call methods of
application objects and return objects that refer to them: cross-database
references both ways.
"""
import datetime
import os
import signal
import socket
import subprocess
import sys

import pytest
import transaction
import ZODB
import ZODB.FileStorage

import multidbjobs
import zc.asyncui
from zc.asyncui import config
from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import queueroot
from zc.asyncui import testing
from zc.asyncui import utils
from zc.asyncui.agent import Agent
from zc.asyncui.execution import mark_active
from zc.asyncui.job import Job
from multidbjobs import MAIN, ASYNC

FAST = dict(poll_interval=0.1, ping_interval=0.2, ping_death_interval=1.0)
HERE = os.path.dirname(os.path.abspath(__file__))


def open_multidb(directory, names=(MAIN, ASYNC)):
    """{name: DB} of one multi-database, a FileStorage per database."""
    databases = {}
    for name in names:
        storage = ZODB.FileStorage.FileStorage(
            os.path.join(str(directory), name + '.fs'))
        ZODB.DB(storage, databases=databases, database_name=name)
    return databases


def close_all(databases):
    for db in list(databases.values()):
        db.close()


@pytest.fixture
def dbs(tmp_path):
    databases = open_multidb(tmp_path)
    yield databases
    config.reset()
    testing.dispatcher.stop_all(10.0)
    transaction.abort()
    close_all(databases)


@pytest.fixture
def main_conn(dbs):
    """A connection to 'main' (its own transaction manager) with a Tally
    at root['tally'] and the queues installed in 'async'."""
    zc.asyncui.install(dbs[MAIN], database=ASYNC)
    tm = transaction.TransactionManager()
    conn = dbs[MAIN].open(tm)
    conn.root()['tally'] = multidbjobs.Tally()
    tm.commit()
    yield conn
    tm.abort()
    conn.close()


def start(db, tmp_path, **kw):
    options = dict(FAST, uuid_file=str(tmp_path / 'uuid.txt'))
    options.update(kw)
    return config.startDispatcher(db, **options)


def db_name(obj):
    return obj._p_jar.db().database_name


# -- install, getQueues, getQueueDatabase ----------------------------------

def test_install_creates_queues_and_history_in_the_named_database(dbs):
    assert zc.asyncui.install(dbs[MAIN], ['', 'reports'],
                              database=ASYNC) == ['', 'reports']
    conn = dbs[MAIN].open()  # as the application opens its connections
    root = conn.get_connection(ASYNC).root()
    assert sorted(root[interfaces.KEY]) == ['', 'reports']
    assert 'zc.asyncui.history' in root
    assert root[interfaces.KEY].linked_databases == (MAIN,)
    main = conn.root()
    # The main root refers to the queues; no history of its own.
    assert main[interfaces.KEY] is root[interfaces.KEY]
    assert 'zc.asyncui.history' not in main
    conn.close()


def test_install_again_is_idempotent_and_adds_queues_where_they_are(dbs):
    zc.asyncui.install(dbs[MAIN], database=ASYNC)
    assert zc.asyncui.install(dbs[MAIN], database=ASYNC) == []
    # Without database=: the main root's queues are in 'async'; new
    # queues go there too.
    assert zc.asyncui.install(dbs[MAIN], ['more']) == ['more']
    conn = dbs[MAIN].open()
    queues = conn.root()[interfaces.KEY]
    assert sorted(queues) == ['', 'more']
    assert db_name(queues['more']) == ASYNC
    assert queues.linked_databases == (MAIN,)
    assert 'zc.asyncui.history' not in conn.root()
    conn.close()


def test_install_with_a_connection_adds_to_its_transaction(dbs):
    tm = transaction.TransactionManager()
    conn = dbs[MAIN].open(tm)
    zc.asyncui.install(conn, database=ASYNC)
    tm.abort()
    assert interfaces.KEY not in conn.root()
    zc.asyncui.install(conn, database=ASYNC)
    tm.commit()  # both databases, one transaction
    assert db_name(conn.root()[interfaces.KEY]) == ASYNC
    conn.close()


def test_install_refuses_an_unknown_database_name_and_lists_them(dbs):
    with pytest.raises(errors.ConfigurationError) as info:
        zc.asyncui.install(dbs[MAIN], database='asynch')
    message = str(info.value)
    assert "No database named 'asynch'" in message
    assert "'async', 'main'" in message
    with pytest.raises(errors.ConfigurationError, match='is a string'):
        zc.asyncui.install(dbs[MAIN], database=1)


def test_install_refuses_a_second_place_for_the_queues(dbs):
    zc.asyncui.install(dbs[MAIN])  # queues in 'main' itself
    with pytest.raises(errors.ConfigurationError) as info:
        zc.asyncui.install(dbs[MAIN], database=ASYNC)
    message = str(info.value)
    assert "Database 'main' already has queues" in message
    assert "in database 'main'" in message
    assert 'database=' in message
    # Nothing was written in 'async'.
    conn = dbs[ASYNC].open()
    assert interfaces.KEY not in conn.root()
    conn.close()


def test_getQueue_from_an_application_object(main_conn):
    tally = main_conn.root()['tally']
    queue = zc.asyncui.getQueue(tally)
    assert db_name(queue) == ASYNC
    assert zc.asyncui.getQueues(main_conn) is queue.__parent__
    # By name, from either side.
    assert zc.asyncui.getQueue(main_conn, database=ASYNC) is queue
    async_conn = main_conn.get_connection(ASYNC)
    assert zc.asyncui.getQueue(async_conn) is queue
    assert zc.asyncui.getQueue(async_conn, database=MAIN) is queue


def test_openConnection_goes_through_the_application_database(dbs):
    """ZODB pools primary connections with their secondaries.  The
    application's pooled connection to 'main' already has its own
    connection to 'async': a connection opened on 'async' directly that
    reaches 'main' would take it, and then two connections to 'async'
    would share one transaction (whose commit blocks on the storage's
    lock).  openConnection opens through 'main', as the application
    does."""
    zc.asyncui.install(dbs[MAIN], database=ASYNC)
    app = dbs[MAIN].open()
    zc.asyncui.getQueues(app)  # its secondary connection to 'async'
    app.close()  # back to the pool, with it
    tm = transaction.TransactionManager()
    primary, conn = queueroot.openConnection(dbs[ASYNC], tm)
    assert primary.db() is dbs[MAIN] and conn.db() is dbs[ASYNC]
    assert primary.get_connection(ASYNC) is conn
    assert conn.get_connection(MAIN) is primary
    assert primary.root()[interfaces.KEY] is conn.root()[interfaces.KEY]
    primary.close()
    # Where nothing links the queues: directly.
    other = ZODB.DB(None, database_name='solo')
    zc.asyncui.install(other)
    primary, conn = queueroot.openConnection(other)
    assert primary is conn and conn.db() is other
    conn.close()
    other.close()


def test_why_not_open_the_queue_database_directly():
    """What openConnection avoids, shown on ZODB itself."""
    databases = {}
    main = ZODB.DB(None, databases=databases, database_name=MAIN)
    other = ZODB.DB(None, databases=databases, database_name=ASYNC)
    app = main.open()
    app.get_connection(ASYNC)
    app.close()
    direct = other.open()
    # The pooled 'main' connection came with its own 'async' one.
    assert direct.get_connection(MAIN).get_connection(ASYNC) is not direct
    assert direct.get_connection(ASYNC) is not direct
    direct.close()
    main.close()
    other.close()


def test_job_putting_a_follow_up_through_the_application_root(
        dbs, main_conn, tmp_path):
    """The job reaches the queues through 'main' (getQueue(tally)) while
    its worker holds it in 'async': one connection to 'async' for both,
    or the commit would block."""
    tally = main_conn.root()['tally']
    job = zc.asyncui.getQueue(tally).put(
        Job(multidbjobs.put_follow_up, tally))
    main_conn.transaction_manager.commit()
    app = dbs[MAIN].open()  # an application connection, pooled with
    zc.asyncui.getQueues(app)  # its own connection to 'async'
    app.close()
    start(dbs[MAIN], tmp_path, main_agent_size=1)
    key = testing.wait_for_result(job, timeout=20)
    follow_up = main_conn.get_connection(ASYNC).get(utils.key_to_oid(key))
    assert testing.wait_for_result(follow_up) == 'follow-up'
    main_conn.transaction_manager.begin()
    assert tally.counts == {'follow-up': 1}


def test_getQueues_not_installed_says_how(dbs):
    conn = dbs[MAIN].open()
    with pytest.raises(errors.NotInstalledError) as info:
        zc.asyncui.getQueues(conn, database=ASYNC)
    assert "Database 'async' has no zc.asyncui queues" in str(info.value)
    assert "database='async'" in str(info.value)
    with pytest.raises(errors.ConfigurationError, match="'nope'"):
        zc.asyncui.getQueues(conn, database='nope')
    conn.close()


def test_getQueueDatabase(dbs):
    main, other = dbs[MAIN], dbs[ASYNC]
    assert zc.asyncui.getQueueDatabase(main) is main  # nothing installed
    assert zc.asyncui.getQueueDatabase(main, ASYNC) is other
    zc.asyncui.install(main, database=ASYNC)
    assert zc.asyncui.getQueueDatabase(main) is other  # the root refers
    assert zc.asyncui.getQueueDatabase(other) is other
    with pytest.raises(errors.ConfigurationError, match="'nope'"):
        zc.asyncui.getQueueDatabase(main, 'nope')
    with pytest.raises(TypeError, match='Expected a ZODB database'):
        zc.asyncui.getQueueDatabase('main')


# -- jobs across databases, end to end ---------------------------------------

def test_method_of_a_main_object_runs_from_the_async_queue(
        dbs, main_conn, tmp_path):
    tally = main_conn.root()['tally']
    job = zc.asyncui.getQueue(tally).put(Job(tally.add, 'a'))
    main_conn.transaction_manager.commit()
    assert db_name(job) == ASYNC
    d = start(dbs[MAIN], tmp_path)
    assert d.db is dbs[ASYNC]  # the dispatcher runs where the queues are
    assert testing.wait_for_result(job) == 'a'
    main_conn.transaction_manager.begin()
    assert tally.counts['a'] == 1
    assert job.callable.__self__ is tally


def test_results_and_arguments_refer_to_main_objects(
        dbs, main_conn, tmp_path):
    root = main_conn.root()
    tally = root['tally']
    root['other'] = other = multidbjobs.Tally()
    main_conn.add(other)  # now, not at the commit: see docs/tips.rst
    queue = zc.asyncui.getQueue(tally)
    kept = queue.put(Job(tally.report, 'kept'))
    loose = queue.put(Job(tally.loose_report, 'loose'))
    # An argument that is an object of 'main' (committed, or added to
    # its connection before the put).
    counted = queue.put(Job(multidbjobs.count, other, 'arg'))
    main_conn.transaction_manager.commit()
    start(dbs[ASYNC], tmp_path)
    for job in (kept, loose, counted):
        testing.wait_for_result(job)
    main_conn.transaction_manager.begin()
    assert db_name(kept.result) == MAIN
    assert kept.result is tally.reports['kept']
    assert db_name(loose.result) == ASYNC  # see docs/tips.rst
    assert loose.result.tally is tally
    assert other.counts['arg'] == 1
    config.reset()
    main_conn.close()
    close_all(dbs)
    # Everything is on disk: open the two files again.
    again = open_multidb(tmp_path)
    try:
        conn = again[MAIN].open()
        tally = conn.root()['tally']
        job = conn.get_connection(ASYNC).get(kept._p_oid)
        assert job.result is tally.reports['kept']
        assert job.status == zc.asyncui.JobStatus.COMPLETED
        assert tally.counts == {}
        assert conn.root()['other'].counts['arg'] == 1
        conn.close()
    finally:
        close_all(again)
    dbs.clear()


def test_callbacks_and_failures_across_databases(dbs, main_conn, tmp_path):
    tally = main_conn.root()['tally']
    queue = zc.asyncui.getQueue(tally)
    job = queue.put(Job(tally.add, 'parent'))
    callback = job.addCallback(tally.report)
    failing = queue.put(Job(tally.fail, 'x'))
    main_conn.transaction_manager.commit()
    start(dbs[MAIN], tmp_path)
    assert testing.wait_for_result(job) == 'parent'
    failure = testing.wait_for_result(failing)
    assert failure.check(ValueError)
    main_conn.transaction_manager.begin()
    assert callback.result is tally.reports['parent']
    # The failed job's writes to 'main' were aborted with its
    # transaction; its failure is stored in 'async'.
    assert tally.counts == {'parent': 1}


def test_dead_dispatcher_recovered_in_the_async_database(
        dbs, main_conn, tmp_path):
    """A dispatcher that stopped pinging while it ran a job (as a killed
    process leaves it): another one reruns the job, whose callable is in
    'main'."""
    tally = main_conn.root()['tally']
    queue = zc.asyncui.getQueue(tally)
    dead = '%s' % __import__('uuid').UUID(int=2 ** 127)
    record = queue.getDispatcherAgents(dead, create=True)
    then = utils.now() - datetime.timedelta(minutes=10)
    record.activated = record.last_ping = then
    record.ping_death_interval = datetime.timedelta(seconds=1)
    record.host, record.pid, record.process_token = None, None, 'gone'
    record['main'] = agent = Agent(size=1)
    job = queue.put(Job(tally.add, 'recovered'))
    agent.claimJob()

    class Gone:
        uuid_str = dead
    mark_active(job, Gone(), agent)
    main_conn.transaction_manager.commit()
    d = start(dbs[MAIN], tmp_path)
    assert testing.wait_for_result(job) == 'recovered'
    outcomes = [a['outcome'] for a in job.attempts]
    assert outcomes == ['interrupted: dispatcher %s found it dead' % d.UUID,
                        'succeeded']
    main_conn.transaction_manager.begin()
    assert tally.counts['recovered'] == 1


def test_dispatcher_refuses_to_start_without_the_main_database(
        dbs, main_conn, tmp_path):
    tally = main_conn.root()['tally']
    job = zc.asyncui.getQueue(tally).put(Job(tally.add, 'later'))
    main_conn.transaction_manager.commit()
    main_conn.close()
    close_all(dbs)
    alone = open_multidb(tmp_path, [ASYNC])
    try:
        with pytest.raises(errors.DispatcherError) as info:
            start(alone[ASYNC], tmp_path)
        message = str(info.value)
        assert "the queues of database 'async' are used from database(s)" \
            " 'main'" in message
        assert "this process opened only 'async'" in message
        assert 'databases=dbs' in message
        assert zc.asyncui.dispatcher.get() is None
    finally:
        close_all(alone)
    dbs.clear()
    del job


def test_worker_pools_grow_in_every_database(dbs, main_conn, tmp_path):
    tally = main_conn.root()['tally']
    queue = zc.asyncui.getQueue(tally)
    tags = ['t%d' % i for i in range(12)]
    put = [queue.put(Job(tally.add, tag)) for tag in tags]
    main_conn.transaction_manager.commit()
    start(dbs[MAIN], tmp_path, main_agent_size=10)
    for job in put:
        testing.wait_for_result(job)
    assert dbs[MAIN].getPoolSize() == dbs[ASYNC].getPoolSize() > 7
