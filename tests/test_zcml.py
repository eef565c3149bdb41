"""The asyncui ZCML directives and the package's configure.zcml: good and
bad input, errors that name the file and line, and the dispatcher
started by IDatabaseOpenedWithRoot on a FileStorage."""
import time

import pytest
import transaction
import ZODB
import ZODB.FileStorage
import zope.component
import zope.component.testing
import zope.event
import zope.processlifetime
from zope.configuration import xmlconfig
from zope.configuration.config import ConfigurationConflictError
from zope.configuration.exceptions import ConfigurationError

import jobs
import zc.asyncui
from zc.asyncui import config
from zc.asyncui import dispatcher
from zc.asyncui import filters
from zc.asyncui import interfaces
from zc.asyncui import retry
from zc.asyncui import testing
from zc.asyncui import zcml
from zc.asyncui.job import Job
from zc.asyncui.monitor import server as monitor_server

TEMPLATE = '''<configure xmlns="http://namespaces.zope.org/zope"
           xmlns:asyncui="http://namespaces.zope.org/asyncui">
  <include package="zc.asyncui" />
%s
</configure>
'''


@pytest.fixture(autouse=True)
def clean_registry():
    zope.component.testing.setUp()
    yield
    config.reset()
    zope.component.testing.tearDown()


def load(body):
    return xmlconfig.string(TEMPLATE % body)


def opened(db):
    zope.event.notify(zope.processlifetime.DatabaseOpenedWithRoot(db))


def error_of(body):
    with pytest.raises(Exception) as info:
        load(body)
    return info.value, str(info.value)


def queue_state(db, name=''):
    conn = db.open()
    try:
        queue = zc.asyncui.getQueue(conn, name)
        records = {u: dict(r.items()) for u, r in queue.dispatchers.items()}
        return queue.filter, records
    finally:
        conn.close()


# -- configure.zcml ---------------------------------------------------------

def test_configure_starts_nothing_and_registers_adapters(db, conn):
    load('')
    opened(db)
    assert dispatcher.get() is None
    assert config.getMonitorAddress() is None
    assert interfaces.IQueue(conn) is zc.asyncui.getQueue(conn)
    assert interfaces.IQueue(conn.root()) is zc.asyncui.getQueue(conn)
    job = interfaces.IJob(jobs.noop)
    assert isinstance(job, Job) and job.callable is jobs.noop
    assert isinstance(interfaces.IJob(time.sleep), Job)


def test_configure_registers_builtin_filters_choosers_permissions():
    load('')
    assert config.getFilter('urgent') is filters.urgent
    assert config.getFilter('not_urgent') is filters.not_urgent
    assert config.getChooser('highest_priority') is filters.highest_priority
    assert config.getChooser('first_in_queue') is filters.first_in_queue
    from zope.security.interfaces import IPermission
    names = {n for n, _ in zope.component.getUtilitiesFor(IPermission)}
    assert {'zc.asyncui.View', 'zc.asyncui.Manage'} <= names


def test_queue_of_unstored_object_is_an_error():
    load('')
    with pytest.raises(TypeError, match='Could not adapt'):
        interfaces.IQueue(object())


# -- queue ----------------------------------------------------------------------

def test_queue_installed_with_filter_when_database_opens(tmp_path):
    load('<asyncui:queue name="" />'
         '<asyncui:queue name="urgent" filter="urgent" />')
    db = testing.file_storage_db(str(tmp_path))
    try:
        opened(db)
        assert queue_state(db, 'urgent')[0] is filters.urgent
        assert queue_state(db, '')[0] is None
    finally:
        db.close()


def test_queue_without_filter_attribute_keeps_the_queue_filter(db):
    config.installQueues(db, {'x': filters.urgent})
    load('<asyncui:queue name="x" />')
    opened(db)
    assert queue_state(db, 'x')[0] is filters.urgent


def test_queue_unknown_filter_lists_known_names():
    error, text = error_of('<asyncui:queue name="x" filter="urgnet" />')
    assert "No filter named 'urgnet'" in text
    assert "'not_urgent', 'urgent'" in text
    assert 'line 4' in text


def test_queue_duplicate_conflicts():
    error, text = error_of('<asyncui:queue name="x" />\n'
                           '<asyncui:queue name="x" />')
    assert isinstance(error, ConfigurationConflictError)


# -- agent --------------------------------------------------------------------

def test_agent_bad_int_names_file_and_line(tmp_path):
    path = tmp_path / 'site.zcml'
    path.write_text(TEMPLATE % '\n<asyncui:agent name="a" size="three"/>')
    with pytest.raises(ConfigurationError) as info:
        xmlconfig.file(str(path))
    text = str(info.value)
    assert str(path) in text and 'line 5' in text
    assert "agent size must be a whole number, not 'three'" in text


def test_agent_negative_size():
    error, text = error_of('<asyncui:agent name="a" size="-1"/>')
    assert 'agent size must be an int >= 0, not -1' in text


def test_agent_unknown_filter_and_chooser_list_known_names():
    text = error_of('<asyncui:agent name="a" filter="nope"/>')[1]
    assert "No filter named 'nope'; the known filters are:" in text
    assert 'line 4' in text
    text = error_of('<asyncui:agent name="a" chooser="nope"/>')[1]
    assert "the known choosers are: 'first_in_queue', 'highest_priority'" \
        in text


def test_agent_duplicate_conflicts():
    error, text = error_of('<asyncui:agent name="a"/>\n'
                           '<asyncui:agent name="a" size="2"/>')
    assert isinstance(error, ConfigurationConflictError)
    assert "('zc.asyncui:agent', '', '', 'a')" in text
    # Same name in another queue is fine.
    load('<asyncui:agent name="a"/><asyncui:agent name="a" queue="b"/>')


def test_agent_bad_retry_policy():
    text = error_of('<asyncui:agent name="a" '
                    'retry_policy="zc.asyncui.retry.nothing"/>')[1]
    assert 'nothing' in text and 'line 4' in text
    text = error_of('<asyncui:agent name="a" '
                    'retry_policy="zc.asyncui.interfaces.KEY"/>')[1]
    assert 'retry_policy_factory must be callable' in text


def test_agent_unknown_attribute():
    text = error_of('<asyncui:agent name="a" colour="red"/>')[1]
    assert 'Unrecognized parameters' in text and 'colour' in text


# -- filter and chooser ---------------------------------------------------------

def test_filter_and_chooser_register_named_components():
    load('<asyncui:filter name="mine" component="jobs.noop" />'
         '<asyncui:chooser name="pick" component="zc.asyncui.filters.'
         'highest_priority" />'
         '<asyncui:agent name="a" filter="mine" chooser="pick" />')
    assert config.getFilter('mine') is jobs.noop
    assert zope.component.getUtility(interfaces.IChooser, 'pick') is \
        filters.highest_priority


def test_filter_bad_component():
    text = error_of('<asyncui:filter name="x" component="zc.asyncui.nope"/>'
                    )[1]
    assert 'nope' in text and 'line 4' in text
    text = error_of('<asyncui:filter name="x" '
                    'component="zc.asyncui.interfaces.KEY"/>')[1]
    assert 'agent filter must be callable' in text
    error = error_of('<asyncui:filter name="x" component="jobs.noop"/>'
                     '<asyncui:filter name="x" component="jobs.add"/>')[0]
    assert isinstance(error, ConfigurationConflictError)


# -- policy -------------------------------------------------------------------

def test_policy_sets_process_defaults():
    load('<asyncui:policy job="zc.asyncui.retry.NeverRetry"'
         ' callback="zc.asyncui.retry.RetryCommonForever" />')
    assert config.getDefaultPolicies() == {
        'job': retry.NeverRetry, 'callback': retry.RetryCommonForever}


def test_policy_bad_values():
    text = error_of('<asyncui:policy job="zc.asyncui.interfaces.KEY"/>')[1]
    assert 'job_retry_policy_factory must be callable' in text
    assert 'line 4' in text
    error = error_of('<asyncui:policy job="zc.asyncui.retry.NeverRetry"/>'
                     '<asyncui:policy/>')[0]
    assert isinstance(error, ConfigurationConflictError)


# -- dispatcher -----------------------------------------------------------------

@pytest.mark.parametrize('attributes, message', [
    ('poll_interval="soon"', "poll_interval must be a number of seconds"),
    ('poll_interval="-1"', 'poll_interval must be > 0 seconds'),
    ('main_agent_size="2.5"', 'main_agent_size must be a whole number'),
    ('verbose_failures="maybe"', "verbose_failures must be 'true'"),
    ('uuid="not-a-uuid"', 'uuid must be a UUID'),
    ('ping_interval="10" ping_death_interval="5"',
     'must be longer than ping_interval'),
    ('pol_interval="1"', 'Unrecognized parameters'),
])
def test_dispatcher_bad_values_fail_at_parse_time(attributes, message):
    text = error_of('<asyncui:dispatcher %s/>' % attributes)[1]
    assert message in text and 'line 4' in text


def test_dispatcher_duplicate_conflicts_per_database():
    error = error_of('<asyncui:dispatcher/><asyncui:dispatcher/>')[0]
    assert isinstance(error, ConfigurationConflictError)
    load('<asyncui:dispatcher/><asyncui:dispatcher database="other"/>')


def test_dispatcher_fields_come_from_the_settings_table():
    field = zcml.IDispatcherDirective['poll_interval']
    assert field.title == 'Poll interval (seconds)'
    assert zcml.IAgentDirective['size'].title == 'Agent size (worker threads)'
    assert 'polls its queues' in field.description
    for name, field in zcml.IDispatcherDirective.namesAndDescriptions():
        assert field.title and field.description, name
    for schema in (zcml.IQueueDirective, zcml.IAgentDirective,
                   zcml.INamedComponentDirective, zcml.IPolicyDirective,
                   zcml.IMonitorDirective):
        for name, field in schema.namesAndDescriptions():
            assert field.title and field.description, (schema, name)


def test_dispatcher_starts_on_database_opened_and_runs_a_job(tmp_path):
    load('''
  <asyncui:queue name="" />
  <asyncui:queue name="urgent" filter="urgent" />
  <asyncui:agent queue="urgent" name="fast" size="2"
                 chooser="highest_priority" />
  <asyncui:policy job="zc.asyncui.retry.NeverRetry" />
  <asyncui:dispatcher poll_interval="0.1" ping_interval="0.5"
                      ping_death_interval="3" main_agent_size="1"
                      uuid_file="%s" />''' % (tmp_path / 'uuid.txt'))
    assert dispatcher.get() is None  # nothing runs before the database
    db = testing.file_storage_db(str(tmp_path))
    try:
        opened(db)
        d = dispatcher.get()
        assert d is not None and d.db is db and d.poll_interval == 0.1
        assert d.job_retry_policy_factory is retry.NeverRetry
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        urgent = Job(jobs.add, 20, 22)
        urgent.priority = 5
        urgent = zc.asyncui.getQueues(conn).put(urgent)
        plain = zc.asyncui.getQueues(conn).put(Job(jobs.add, 1, 2))
        tm.commit()
        assert testing.wait_for_result(urgent) == 42
        assert testing.wait_for_result(plain) == 3
        assert urgent.agent.name in ('fast', 'main')
        agents = zc.asyncui.getQueue(conn, 'urgent').getDispatcherAgents(
            d.UUID)
        assert sorted(agents.keys()) == ['fast', 'main']
        assert agents['fast'].chooser is filters.highest_priority
        assert agents['fast'].size == 2
        conn.close()
        config.stopDispatcher(timeout=5)
        assert d.stopped
    finally:
        config.reset()
        db.close()


def test_dispatcher_with_a_database_name(tmp_path):
    load('''
  <asyncui:queue name="" database="jobs" />
  <asyncui:dispatcher database="jobs" poll_interval="0.1"
                      ping_interval="0.5" ping_death_interval="3"
                      uuid_file="%s" />''' % (tmp_path / 'uuid.txt'))
    databases = {}
    main = ZODB.DB(ZODB.FileStorage.FileStorage(str(tmp_path / 'main.fs')),
                   databases=databases, database_name='main')
    jobs_db = ZODB.DB(ZODB.FileStorage.FileStorage(str(tmp_path / 'j.fs')),
                      databases=databases, database_name='jobs')
    try:
        opened(main)
        assert dispatcher.get().db is jobs_db
        conn = jobs_db.open()
        assert '' in zc.asyncui.getQueues(conn)
        conn.close()
        # The main root refers to them: IQueue(app object) finds them.
        conn = main.open()
        queues = conn.root()[interfaces.KEY]
        assert queues._p_jar.db() is jobs_db
        assert queues.linked_databases == ('main',)
        conn.close()
    finally:
        config.reset()
        main.close()
        jobs_db.close()


def test_unknown_database_name_is_a_clear_error(db):
    load('<asyncui:queue name="" database="nope" />')
    with pytest.raises(zc.asyncui.errors.ConfigurationError,
                       match="No database named 'nope'"):
        opened(db)


# -- monitor --------------------------------------------------------------------

def test_monitor_records_the_address_and_calls_starters(db):
    load('<asyncui:monitor />')
    assert config.getMonitorAddress() == ('127.0.0.1', 8081)
    # The real server (registered by zc.asyncui.monitor's configure.zcml)
    # starts too: on a free port, not on the default one.
    config.setMonitorAddress('127.0.0.1', 0)
    calls = []
    config.addMonitorStarter(lambda *args: calls.append(args))
    try:
        opened(db)
        assert calls == [(db, '127.0.0.1', 0)]
        assert len(monitor_server.running()) == 1
    finally:
        monitor_server.stop_all()


def test_monitor_host_and_port():
    load('<asyncui:monitor host="::1" port="0" />')
    assert config.getMonitorAddress() == ('::1', 0)


@pytest.mark.parametrize('attributes, message', [
    ('port="http"', 'monitor port must be a TCP port number'),
    ('port="65536"', 'monitor port must be a TCP port from 0 to 65535'),
    ('host=""', 'monitor host must be a host name'),
])
def test_monitor_bad_values(attributes, message):
    text = error_of('<asyncui:monitor %s/>' % attributes)[1]
    assert message in text and 'line 4' in text


# -- malformed files --------------------------------------------------------------

def test_malformed_xml_names_file_and_line(tmp_path):
    path = tmp_path / 'broken.zcml'
    path.write_text(TEMPLATE % '<asyncui:agent name="a"\n\n')
    with pytest.raises(Exception) as info:
        xmlconfig.file(str(path))
    text = str(info.value)
    assert 'broken.zcml' in text and ':7:' in text, text


def test_zope_app_appsetup_start_up_starts_the_dispatcher(tmp_path):
    # The real start-up path: DatabaseOpened -> zope.app.appsetup makes
    # the root folder and fires IDatabaseOpenedWithRoot -> our handlers.
    xmlconfig.string('''
<configure xmlns="http://namespaces.zope.org/zope"
           xmlns:asyncui="http://namespaces.zope.org/asyncui">
  <include package="zope.component" file="meta.zcml" />
  <include package="zope.security" file="meta.zcml" />
  <include package="zope.component" />
  <include package="zope.security" />
  <include package="zope.annotation" />
  <include package="zope.traversing" />
  <include package="zope.container" />
  <include package="zope.site" />
  <include package="zope.app.appsetup" />
  <include package="zc.asyncui" />
  <asyncui:queue name="" />
  <asyncui:agent name="solo" size="1" />
  <asyncui:dispatcher poll_interval="0.1" ping_interval="0.5"
                      ping_death_interval="3" main_agent_size="0"
                      uuid_file="%s" />
</configure>''' % (tmp_path / 'uuid.txt'))
    db = testing.file_storage_db(str(tmp_path))
    try:
        zope.event.notify(zope.processlifetime.DatabaseOpened(db))
        d = dispatcher.get()
        assert d is not None and d.db is db
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        assert 'Application' in conn.root()
        job = interfaces.IQueue(conn.root()['Application']).put(
            Job(jobs.add, 1, 1))
        tm.commit()
        assert testing.wait_for_result(job) == 2
        assert job.agent.name == 'solo'
        conn.close()
    finally:
        config.reset()
        db.close()


STOP_AT_EXIT_SCRIPT = '''
import sys
import zope.event, zope.processlifetime
from zope.configuration import xmlconfig
from zc.asyncui import dispatcher, testing
xmlconfig.string(%r)
db = testing.file_storage_db(sys.argv[1])
zope.event.notify(zope.processlifetime.DatabaseOpenedWithRoot(db))
d = dispatcher.get()
while not d.liveness.activated_queues:
    d.wake()
print(d.UUID)
'''


def test_dispatcher_stops_at_process_exit(tmp_path):
    import subprocess
    import sys
    zcml_text = TEMPLATE % (
        '<asyncui:queue name="" /><asyncui:dispatcher poll_interval="0.1"'
        ' uuid_file="%s" />' % (tmp_path / 'uuid.txt'))
    out = subprocess.run(
        [sys.executable, '-c', STOP_AT_EXIT_SCRIPT % zcml_text,
         str(tmp_path)], capture_output=True, text=True, timeout=120,
        cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    uuid = out.stdout.split()[-1]
    db = testing.file_storage_db(str(tmp_path))
    try:
        conn = db.open()
        record = zc.asyncui.getQueue(conn).dispatchers[uuid]
        assert record.activated is None  # deactivated by a clean stop
        conn.close()
    finally:
        db.close()
