"""Queues in their own database of a ZODB multi-database (issue 11).

The application lives in the database 'main' and the queues in 'async',
each on its own FileStorage on disk (and, at the end, on a real ZEO
server with two storages and worker processes).  Jobs call methods of
application objects and return objects that refer to them: cross-database
references both ways.
"""
import datetime
import os
import subprocess
import sys
import time

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
    zc.asyncui.dispatcher.stop_all(10.0)
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


# -- ZCML ---------------------------------------------------------------------

ZCML = '''<configure xmlns="http://namespaces.zope.org/zope"
           xmlns:asyncui="http://namespaces.zope.org/asyncui">
  <include package="zc.asyncui" />
  <asyncui:queue name="" database="async" />
  <asyncui:queue name="reports" database="async" />
  <asyncui:agent name="reporter" queue="reports" database="async" />
  <asyncui:dispatcher database="async" poll_interval="0.1"
                      ping_interval="0.5" ping_death_interval="3"
                      uuid_file="%s" />
  <asyncui:monitor database="async" host="127.0.0.1" port="0" />
</configure>
'''


@pytest.fixture
def zcml_registry():
    import zope.component.testing
    zope.component.testing.setUp()
    yield
    config.reset()
    zope.component.testing.tearDown()


def test_zcml_database_names_where_the_queues_are(
        dbs, tmp_path, zcml_registry):
    import zope.event
    import zope.processlifetime
    from zope.configuration import xmlconfig
    from zc.asyncui.monitor import server as monitor_server
    xmlconfig.string(ZCML % (tmp_path / 'uuid.txt'))
    started = []
    config.addMonitorStarter(lambda *args: started.append(args))
    try:
        zope.event.notify(
            zope.processlifetime.DatabaseOpenedWithRoot(dbs[MAIN]))
        assert [args[0] for args in started] == [dbs[ASYNC]]
    finally:
        monitor_server.stop_all()
    d = zc.asyncui.dispatcher.get()
    assert d.db is dbs[ASYNC]
    tm = transaction.TransactionManager()
    conn = dbs[MAIN].open(tm)
    conn.root()['tally'] = tally = multidbjobs.Tally()
    tm.commit()
    # The IQueue adapter of application objects finds the queues.
    queue = interfaces.IQueue(tally)
    assert db_name(queue) == ASYNC and queue.name == ''
    job = zc.asyncui.getQueue(tally, 'reports').put(Job(tally.report, 'z'))
    tm.commit()
    assert testing.wait_for_result(job) is tally.reports['z']
    agents = zc.asyncui.getQueue(tally, 'reports').getDispatcherAgents(
        d.UUID)
    assert sorted(agents) == ['main', 'reporter']
    conn.close()


def test_zcml_unknown_database_is_a_clear_error(dbs, zcml_registry):
    import zope.event
    import zope.processlifetime
    from zope.configuration import xmlconfig
    xmlconfig.string(ZCML.replace('"async"', '"asynch"') % 'uuid.txt')
    with pytest.raises(errors.ConfigurationError) as info:
        zope.event.notify(
            zope.processlifetime.DatabaseOpenedWithRoot(dbs[MAIN]))
    assert "No database named 'asynch'" in str(info.value)
    assert "'async', 'main'" in str(info.value)


# -- ZEO: one server with two storages, worker processes ----------------------

ZEO_CONF = '''<zeo>
  address 127.0.0.1:%(port)d
</zeo>
<filestorage main>
  path %(dir)s/main.fs
</filestorage>
<filestorage async>
  path %(dir)s/async.fs
</filestorage>
'''


CLIENT_CONF = '''<zodb main>
  <zeoclient>
    server 127.0.0.1:%(port)d
    storage main
  </zeoclient>
</zodb>
<zodb async>
  <zeoclient>
    server 127.0.0.1:%(port)d
    storage async
  </zeoclient>
</zodb>
'''
CLI = os.path.join(os.path.dirname(sys.executable), 'zc-asyncui')


class ZeoMultidb:
    """A ZEO server serving 'main' and 'async', ``zc-asyncui run``
    worker processes on a zconfig multi-database of both, and this
    test's own client multi-database."""

    def __init__(self, directory):
        from test_multiprocess import Process, free_port, port_open
        self.Process, self.directory = Process, directory
        self.port = free_port()
        conf = directory / 'zeo.conf'
        conf.write_text(ZEO_CONF % dict(port=self.port, dir=directory))
        self.client_conf = directory / 'client.conf'
        self.client_conf.write_text(CLIENT_CONF % dict(port=self.port))
        (directory / 'async-only.conf').write_text(
            (CLIENT_CONF % dict(port=self.port)).split('</zodb>')[1]
            + '</zodb>\n')
        self.processes = []
        self.server = self.spawn([sys.executable, '-m', 'ZEO.runzeo', '-C',
                                  str(conf)], 'zeo.log')
        testing.wait_until(lambda: port_open(self.port), 60,
                           'the ZEO server on port %d' % self.port)
        self.db = multidbjobs.open_zeo(('127.0.0.1', self.port))
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(self.tm)

    def spawn(self, argv, log_name):
        process = self.Process(argv, str(self.directory / log_name),
                               str(self.directory))
        self.processes.append(process)
        return process

    def worker(self, name, conf='client.conf', *options):
        process = self.spawn(
            [CLI, 'run', '--db', 'zconfig://%s' % (self.directory / conf),
             '--uuid-file', str(self.directory / (name + '.uuid')),
             '--poll-interval', '0.2', '--ping-interval', '0.5',
             '--ping-death-interval', '2', '--monitor-port', '0',
             '--log-level', 'INFO'] + list(options), name + '.log')
        testing.wait_until(
            lambda: 'run ready' in process.output() or not process.alive,
            60, 'worker %s to start' % name)
        return process

    def close(self):
        self.tm.abort()
        self.conn.close()
        for db in set(self.db.databases.values()):
            db.close()
        for process in reversed(self.processes):
            process.terminate()


@pytest.fixture
def zeo(tmp_path):
    cluster = ZeoMultidb(tmp_path)
    yield cluster
    cluster.close()


def _calls(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f]


def test_zeo_workers_run_jobs_of_main_objects_exactly_once_and_recover(
        zeo, tmp_path):
    import BTrees.OOBTree
    zc.asyncui.install(zeo.db, database=ASYNC)
    zeo.tm.begin()
    root = zeo.conn.root()
    tallies = root['tallies'] = BTrees.OOBTree.OOBTree()
    tags = ['t%02d' % i for i in range(20)] + ['slow']
    for tag in tags:
        tallies[tag] = multidbjobs.Tally()
        zeo.conn.add(tallies[tag])
    zeo.tm.commit()
    workers = [zeo.worker('w1', 'client.conf', '--async-database', ASYNC),
               zeo.worker('w2')]  # finds the queues through 'main' 
    calls = str(tmp_path / 'calls.txt')
    release = str(tmp_path / 'release')
    queue = zc.asyncui.getQueue(tallies['slow'])
    slow = queue.put(Job(tallies['slow'].add, 'slow', wait_for=release,
                         calls_file=calls))
    quick = [queue.put(Job(tallies[tag].report, tag)) for tag in tags[:-1]]
    zeo.tm.commit()
    for job in quick:
        report = testing.wait_for_result(job, timeout=60)
        tally, tag = job.callable.__self__, job.args[0]
        # The two storages' invalidations arrive separately: 'async' may
        # show the job done before 'main' shows its report.
        testing.wait_until(lambda: (zeo.tm.begin(), tag in tally.reports)[1],
                           10, "the report in 'main'")
        assert report is tally.reports[tag]
        assert db_name(report) == MAIN
    # The slow job runs in one worker: kill -9 that one.
    testing.wait_until(lambda: _calls(calls), 60, 'the slow job to start')
    (tag, pid), = _calls(calls)
    victim, = [w for w in workers if str(w.pid) == pid]
    victim.kill()
    open(release, 'w').close()
    assert testing.wait_for_result(slow, timeout=60) == 'slow'
    survivor, = [w for w in workers if w is not victim]
    assert [pid for tag, pid in _calls(calls)] == [
        str(victim.pid), str(survivor.pid)]
    assert slow.attempts[0]['outcome'].startswith('interrupted')
    # Committed exactly once, the killed run's write never.
    testing.wait_until(
        lambda: (zeo.tm.begin(), 'slow' in tallies['slow'].counts)[1], 10,
        "the slow job's count in 'main'")
    assert dict(tallies['slow'].counts) == {'slow': 1}
    assert all(dict(tallies[tag].reports).keys() == {tag}
               for tag in tags[:-1])
    assert 'Traceback' not in survivor.output(), survivor.output()


def test_zeo_worker_without_main_refuses_to_start(zeo):
    zc.asyncui.install(zeo.db, database=ASYNC)
    process = zeo.worker('alone', 'async-only.conf')
    assert process.popen.wait(60) != 0
    output = process.output()
    assert 'zc-asyncui run: error: dispatcher' in output
    assert "used from database(s) 'main'" in output
    assert 'this process opened only' in output
    assert 'Traceback' not in output


# -- the command line's multi-database URI ------------------------------------

def _write_conf(tmp_path, *names):
    text = ''.join('<zodb %s>\n  <filestorage>\n    path %s\n  </filestorage>'
                   '\n</zodb>\n' % (name, tmp_path / (name + '.fs'))
                   for name in names)
    path = tmp_path / 'multi.conf'
    path.write_text(text)
    return 'zconfig://%s' % path


def test_zconfig_file_of_several_databases_is_a_multidatabase(tmp_path):
    from zc.asyncui import dburi
    uri = dburi.parse(_write_conf(tmp_path, MAIN, ASYNC))
    assert isinstance(uri, dburi.MultiDatabaseURI)
    assert uri.names == [MAIN, ASYNC] and uri.kind == dburi.SHARED
    db = uri.open()
    try:
        assert db.database_name == MAIN
        assert sorted(db.databases) == [ASYNC, MAIN]
        zc.asyncui.install(db, database=ASYNC)
        assert zc.asyncui.getQueueDatabase(db) is db.databases[ASYNC]
    finally:
        dburi.close_all(db)
    with pytest.raises(errors.ConfigurationError, match='each storage'):
        uri.openStorage()  # zc-asyncui zeo --db serves one storage
    with pytest.raises(errors.ConfigurationError, match='<zodb> sections'):
        uri.open(cache_size=5)
    # One section: an ordinary URI, read by zodburi.
    single = dburi.parse(_write_conf(tmp_path, MAIN))
    assert not isinstance(single, dburi.MultiDatabaseURI)


def test_zconfig_multidatabase_needs_distinct_names(tmp_path):
    from zc.asyncui import dburi
    path = tmp_path / 'twice.conf'
    path.write_text('<zodb>\n <mappingstorage/>\n</zodb>\n' * 2)
    with pytest.raises(errors.ConfigurationError,
                       match='need distinct names'):
        dburi.parse('zconfig://%s' % path)


def _cli(*argv, cwd=None):
    result = subprocess.run([CLI] + list(argv), capture_output=True,
                            text=True, cwd=cwd, timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_cli_async_database_option_checked(tmp_path):
    uri = _write_conf(tmp_path, MAIN, ASYNC)
    code, out = _cli('jobs', '--db', uri, '--async-database', 'asynch')
    assert code == 2
    assert '--async-database asynch is not a database of' in out
    assert 'it has main, async' in out
    code, out = _cli('jobs', '--async-database', ASYNC, cwd=str(tmp_path))
    assert code == 2
    assert 'names a database of a multi-database' in out
    # zc-asyncui zeo serves one storage.
    code, out = _cli('zeo', '--db', uri, '--address', '127.0.0.1:0')
    assert code == 1
    assert "describes a multi-database ('main', 'async')" in out


def test_cli_tools_work_where_the_queues_are(tmp_path, caplog):
    import json
    uri = _write_conf(tmp_path, MAIN, ASYNC)
    code, out = _cli('put', '--db', uri, '--async-database', ASYNC,
                     'json.dumps', '7')
    assert code == 1
    assert "Database 'async' has no zc.asyncui queues" in out
    databases = open_multidb(tmp_path)
    zc.asyncui.install(databases[MAIN], database=ASYNC)
    close_all(databases)
    code, out = _cli('put', '--db', uri, 'json.dumps', '7')
    assert code == 0, out
    key, = [word for word in out.split() if word.startswith('0x')]
    code, out = _cli('job', key, '--db', uri, '--json')
    assert code == 0, out
    assert json.loads(out)['status'] == 'PENDING'
    databases = open_multidb(tmp_path)
    # The tools closed both files cleanly (their indexes are current).
    assert not [r for r in caplog.records
                if 'Ignoring index' in r.getMessage()]
    try:
        conn = databases[MAIN].open()
        job = conn.get_connection(ASYNC).get(utils.key_to_oid(key))
        assert list(job.args) == [7]
        conn.close()
    finally:
        close_all(databases)


def test_poll_names_a_database_a_job_refers_to_but_not_opened(
        tmp_path, caplog):
    """A job refers to a third database that the worker did not open
    (and that the queues do not record): the failure to start it says
    which (a claim does not load the job: its worker meets the
    reference), once."""
    databases = open_multidb(tmp_path, (MAIN, ASYNC, 'other'))
    zc.asyncui.install(databases[MAIN], database=ASYNC)
    conn = databases[MAIN].open()
    other = conn.get_connection('other')
    other.root()['tally'] = tally = multidbjobs.Tally()
    transaction.commit()
    zc.asyncui.getQueue(conn).put(Job(tally.add, 'elsewhere'))
    transaction.commit()
    conn.close()
    close_all(databases)
    databases = open_multidb(tmp_path)
    try:
        start(databases[MAIN], tmp_path)
        testing.wait_until(
            lambda: [r for r in caplog.records
                     if "database 'other', which this process did not open"
                     in r.getMessage()], 10, 'the start failure')
        time.sleep(1.5)   # tried again at the next polls: said once
        assert len([r for r in caplog.records
                    if "database 'other', which this process did not open"
                    in r.getMessage() and r.levelname == 'ERROR']) == 1
    finally:
        config.reset()
        close_all(databases)


def test_serve_on_a_multidatabase(tmp_path):
    """``zc-asyncui serve`` with the Zope application in 'main' and the
    queues in 'async': the overview page (through the main root's
    reference) and the demo jobs (put and run) work."""
    from test_serve import basic, get, password_of, start_serve
    from zc.asyncui.cli import site
    env = dict(os.environ)
    env.pop(site.PASSWORD_VARIABLE, None)
    env['PYTHONPATH'] = os.pathsep.join(
        [HERE] + [p for p in [env.get('PYTHONPATH')] if p])
    uri = _write_conf(tmp_path, MAIN, ASYNC)
    var = tmp_path / 'var'
    process, url = start_serve(var, env, '--db', uri, '--async-database',
                               ASYNC, '--demo')
    try:
        # The overview, reached through the application's root.
        status, headers, body = get(url + '/++async++/',
                                    basic('admin', password_of(var)))
        assert status == 200 and b'alive' in body, body
        testing.wait_until(lambda: '(zc.asyncui.demo.' in process.output,
                           30, 'a demo job to finish')
        assert process.stop() == 0
    finally:
        process.kill()
    databases = open_multidb(tmp_path)
    try:
        conn = databases[MAIN].open()
        queues = zc.asyncui.getQueues(conn)
        assert db_name(queues) == ASYNC
        assert queues.linked_databases == (MAIN,)
        assert 'zc.asyncui.history' in conn.get_connection(ASYNC).root()
        assert 'zc.asyncui.history' not in conn.root()
        conn.close()
    finally:
        close_all(databases)


def test_cli_pack_packs_only_the_queue_database(tmp_path):
    uri = _write_conf(tmp_path, MAIN, ASYNC)
    databases = open_multidb(tmp_path)
    zc.asyncui.install(databases[MAIN], database=ASYNC)
    conn = databases[MAIN].open()
    conn.root()['tally'] = tally = multidbjobs.Tally()
    transaction.commit()
    queue = zc.asyncui.getQueue(tally)
    for i in range(20):  # revisions of the queue's objects to pack away
        queue.put(Job(tally.add, i))
        transaction.commit()
    conn.close()
    close_all(databases)
    main_fs, async_fs = (tmp_path / (name + '.fs') for name in (MAIN, ASYNC))
    main_before, async_before = main_fs.read_bytes(), async_fs.stat().st_size
    code, out = _cli('pack', '--db', uri)
    assert code == 0, out
    assert "database 'async'" in out
    assert main_fs.read_bytes() == main_before
    assert async_fs.stat().st_size < async_before
    databases = open_multidb(tmp_path)
    try:
        conn = databases[MAIN].open()
        assert len(zc.asyncui.getQueue(conn)) == 20  # the jobs are kept
        conn.close()
    finally:
        close_all(databases)
