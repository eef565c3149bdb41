"""zc.asyncui.config: the Python configuration API, on a FileStorage with
real dispatcher threads."""
import time

import pytest
import transaction
import zope.component.testing

import jobs
import zc.asyncui
from zc.asyncui import config
from zc.asyncui import errors
from zc.asyncui import filters
from zc.asyncui import interfaces
from zc.asyncui import retry
from zc.asyncui import testing
from zc.asyncui.job import Job

FAST = dict(poll_interval=0.1, ping_interval=0.5, ping_death_interval=3.0)


@pytest.fixture(autouse=True)
def clean_config():
    zope.component.testing.setUp()
    yield
    config.reset()
    zope.component.testing.tearDown()


@pytest.fixture
def start(db, tmp_path):
    def start(**kw):
        options = dict(FAST, uuid_file=str(tmp_path / 'uuid.txt'))
        options.update(kw)
        return config.startDispatcher(db, **options)
    return start


def agents_of(db, dispatcher, queue_name='', timeout=10.0, expect=()):
    """{name: agent} of ``dispatcher`` in a queue, waiting until the
    names ``expect`` are there."""
    deadline = time.monotonic() + timeout
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        while True:
            tm.begin()
            queue = zc.asyncui.getQueue(conn, queue_name)
            record = queue.getDispatcherAgents(dispatcher.UUID)
            found = dict(record.items()) if record is not None else {}
            if set(expect) <= set(found) or time.monotonic() > deadline:
                return {n: (a.size, a.filter, a.chooser,
                            a.retry_policy_factory)
                        for n, a in found.items()}
            time.sleep(0.02)
    finally:
        tm.abort()
        conn.close()


# -- installQueues ----------------------------------------------------------

def test_installQueues_creates_named_queues_idempotently(db):
    assert config.installQueues(db, ['', 'reports']) == ['', 'reports']
    assert config.installQueues(db, ['', 'reports']) == []
    conn = db.open()
    assert sorted(zc.asyncui.getQueues(conn).keys()) == ['', 'reports']
    conn.close()


def test_installQueues_with_filters_sets_queue_filters(db):
    config.registerFilter('urgent', filters.urgent)
    config.installQueues(db, {'': None, 'urgent': 'urgent'})
    conn = db.open()
    queues = zc.asyncui.getQueues(conn)
    assert queues['urgent'].filter is filters.urgent
    assert queues[''].filter is None
    # A job of priority 1 goes to the filtered queue.
    urgent = Job(jobs.noop)
    urgent.priority = 1
    queues.put(urgent)
    queues.put(Job(jobs.noop))
    assert (len(queues['urgent']), len(queues[''])) == (1, 1)
    transaction.abort()
    conn.close()


def test_installQueues_rejects_a_string_and_a_database_less_argument(db):
    with pytest.raises(TypeError, match=r"names=\['reports'\]"):
        config.installQueues(db, 'reports')
    with pytest.raises(TypeError, match='Expected a ZODB database'):
        config.installQueues(object(), [''])


def test_installQueues_unknown_filter_name_lists_known_names(db):
    config.registerFilter('urgent', filters.urgent)
    with pytest.raises(errors.ConfigurationError,
                       match="No filter named 'urgnet'.*'urgent'"):
        config.installQueues(db, {'x': 'urgnet'})


def test_installQueues_unstorable_filter(db):
    with pytest.raises(errors.UnpicklableCallableError):
        config.installQueues(db, {'x': lambda job: True})


# -- addAgent -----------------------------------------------------------------

def test_addAgent_before_start_is_created_at_activation(db, start):
    config.installQueues(db, ['', 'reports'])
    config.addAgent(db, 'mail', size=2, filter=filters.urgent)
    config.addAgent(db, 'reports', size=1, queue='reports',
                    retry_policy=retry.NeverRetry)
    d = start(main_agent_size=0)
    assert agents_of(db, d, expect=['mail']) == {
        'mail': (2, filters.urgent, None, None)}
    assert agents_of(db, d, 'reports', expect=['reports']) == {
        'reports': (1, None, None, retry.NeverRetry)}


def test_addAgent_after_start_is_created_at_next_poll(db, start):
    config.installQueues(db, [''])
    d = start(main_agent_size=1)
    agents_of(db, d, expect=['main'])
    config.registerChooser('highest_priority', filters.highest_priority)
    assert config.addAgent(db, 'late', size=3,
                           chooser='highest_priority') is None
    assert agents_of(db, d, expect=['late'])['late'] == (
        3, None, filters.highest_priority, None)


def test_addAgent_with_every_queue(db, start):
    config.installQueues(db, ['', 'b'])
    config.addAgent(db, 'everywhere', size=1, queue=None)
    d = start(main_agent_size=0)
    assert 'everywhere' in agents_of(db, d, 'b', expect=['everywhere'])
    assert 'everywhere' in agents_of(db, d, '', expect=['everywhere'])


def test_addAgent_to_an_active_queue_adds_in_callers_transaction(db, start):
    config.installQueues(db, [''])
    d = start(main_agent_size=1)
    agents_of(db, d, expect=['main'])
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    queue = zc.asyncui.getQueue(conn)
    agent = config.addAgent(queue, 'now', size=2)
    assert interfaces.IAgent.providedBy(agent)
    assert agent.queue is queue
    tm.commit()
    conn.close()
    assert agents_of(db, d)['now'][0] == 2


def test_addAgent_runs_jobs(db, start):
    config.installQueues(db, [''])
    config.addAgent(db, 'worker', size=1)
    start(main_agent_size=0)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    job = zc.asyncui.getQueue(conn).put(Job(jobs.add, 2, 3))
    tm.commit()
    assert testing.wait_for_result(job) == 5
    conn.close()


def test_addAgent_existing_agent_keeps_its_settings(db, start):
    config.installQueues(db, [''])
    d = start(main_agent_size=2)
    agents_of(db, d, expect=['main'])
    config.addAgent(db, 'main', size=7)
    time.sleep(0.5)
    assert agents_of(db, d)['main'][0] == 2


@pytest.mark.parametrize('kw, message', [
    (dict(size=-1), 'agent size must be an int >= 0'),
    (dict(size='3'), 'agent size must be an int >= 0'),
    (dict(filter=42), 'agent filter must be callable'),
    (dict(filter='nope'), "No filter named 'nope'"),
    (dict(chooser='nope'), "No chooser named 'nope'"),
    (dict(retry_policy='x'), 'retry_policy_factory must be callable'),
    (dict(prefetch=-2), 'agent prefetch'),
    (dict(colour='red'), "'colour' is not a agent setting"),
])
def test_addAgent_bad_arguments(db, kw, message):
    with pytest.raises(errors.ConfigurationError, match=message):
        config.addAgent(db, 'x', **kw)
    assert config.getAgentSpecs(db) == []


def test_addAgent_bad_name_and_target(db):
    with pytest.raises(errors.ConfigurationError, match='non-empty string'):
        config.addAgent(db, '')
    with pytest.raises(TypeError, match='Expected a ZODB database'):
        config.addAgent('db', 'x')


def test_addAgent_unstored_queue(db):
    with pytest.raises(errors.NotInDatabaseError):
        config.addAgent(zc.asyncui.Queue('q'), 'x')


# -- named filters and choosers -------------------------------------------------

def test_registerFilter_and_getFilter():
    config.registerFilter('urgent', filters.urgent)
    assert config.getFilter('urgent') is filters.urgent
    assert config.getFilter(filters.not_urgent) is filters.not_urgent
    assert config.getFilter(None) is None
    with pytest.raises(errors.ConfigurationError,
                       match="the known filters are: 'urgent'"):
        config.getFilter('other')


def test_registerFilter_bad_input():
    with pytest.raises(errors.ConfigurationError, match='callable'):
        config.registerFilter('x', 42)
    with pytest.raises(errors.UnpicklableCallableError):
        config.registerFilter('x', lambda job: True)
    with pytest.raises(errors.ConfigurationError, match='non-empty'):
        config.registerFilter('', filters.urgent)
    with pytest.raises(errors.ConfigurationError,
                       match="known choosers are: none"):
        config.getChooser('x')


def test_registered_plain_function_provides_the_interface():
    config.registerChooser('mine', jobs.noop)
    assert interfaces.IChooser.providedBy(jobs.noop)


# -- policies ---------------------------------------------------------------

def test_setDefaultPolicies_applies_to_started_and_running(db, start):
    config.setDefaultPolicies(job=retry.NeverRetry)
    d = start()
    assert d.job_retry_policy_factory is retry.NeverRetry
    assert d.callback_retry_policy_factory is None
    config.setDefaultPolicies(callback=retry.RetryCommonForever)
    assert d.job_retry_policy_factory is None
    assert d.callback_retry_policy_factory is retry.RetryCommonForever
    assert config.getDefaultPolicies() == {
        'job': None, 'callback': retry.RetryCommonForever}


def test_setDefaultPolicies_rejects_non_callables():
    with pytest.raises(errors.ConfigurationError,
                       match='job_retry_policy_factory must be callable'):
        config.setDefaultPolicies(job='NeverRetry')
    assert config.getDefaultPolicies() == {'job': None, 'callback': None}


def test_explicit_policy_wins_over_default(db, start):
    config.setDefaultPolicies(job=retry.NeverRetry)
    d = start(job_retry_policy_factory=retry.RetryCommonFourTimes)
    assert d.job_retry_policy_factory is retry.RetryCommonFourTimes


# -- the dispatcher ---------------------------------------------------------

def test_startDispatcher_bad_settings_start_nothing(db, tmp_path):
    with pytest.raises(errors.ConfigurationError, match='poll_interval'):
        config.startDispatcher(db, poll_interval=0)
    with pytest.raises(errors.ConfigurationError,
                       match='must be longer than ping_interval'):
        config.startDispatcher(db, ping_interval=10, ping_death_interval=5)
    with pytest.raises(errors.ConfigurationError, match='did you mean'):
        config.startDispatcher(db, pol_interval=1)
    assert zc.asyncui.dispatcher.get() is None


def test_stopDispatcher(db, start):
    d = start()
    assert zc.asyncui.dispatcher.get() is d
    assert config.stopDispatcher(timeout=5) == 1
    assert d.stopped
    assert config.stopDispatcher() == 0


def test_stopDispatcher_of_one_database(db, start, tmp_path):
    d = start()
    other = testing.file_storage_db(str(tmp_path), 'Other.fs')
    try:
        assert config.stopDispatcher(other) == 0
        assert not d.stopped
        assert config.stopDispatcher(db, timeout=5) == 1
    finally:
        other.close()


# -- the monitor address ------------------------------------------------------

def test_monitor_address_defaults_and_starters(db):
    assert config.getMonitorAddress() is None
    assert config.startMonitor(db) == []
    config.setMonitorAddress()
    assert config.getMonitorAddress() == ('127.0.0.1', 8081)
    calls = []
    config.addMonitorStarter(lambda *a: calls.append(a) or 'server')
    config.setMonitorAddress('0.0.0.0', 0)
    assert config.startMonitor(db) == ['server']
    assert calls == [(db, '0.0.0.0', 0)]


@pytest.mark.parametrize('kw, message', [
    (dict(port=70000), 'monitor port must be a TCP port'),
    (dict(port='8081'), 'monitor port must be a TCP port'),
    (dict(host=''), 'monitor host must be a host name'),
    (dict(host='a b'), 'monitor host must be a host name'),
])
def test_monitor_address_bad_input(kw, message):
    with pytest.raises(errors.ConfigurationError, match=message):
        config.setMonitorAddress(**kw)
    assert config.getMonitorAddress() is None


def test_dispatcher_start_checks_agent_specs_before_starting(db, tmp_path):
    with pytest.raises(errors.ConfigurationError, match='agent size'):
        zc.asyncui.dispatcher.start(
            db, uuid_file=str(tmp_path / 'u'), agents=[('', 'a',
                                                        {'size': -1})])
    with pytest.raises(errors.ConfigurationError, match='non-empty'):
        zc.asyncui.dispatcher.start(
            db, uuid_file=str(tmp_path / 'u'), agents=[('', '', {})])
    assert zc.asyncui.dispatcher.get() is None
