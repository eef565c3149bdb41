"""Unit tests of zc.asyncui.dispatcheragents."""
import datetime

import persistent
import pytest
import zope.event

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui.agent import Agent
from zc.asyncui.dispatcheragents import DispatcherAgents
from zc.asyncui.job import Job

import jobs

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
UUID = 'd1d1d1d1-0000-4000-8000-000000000001'
SECOND = datetime.timedelta(seconds=1)


@pytest.fixture
def record(queue):
    return queue.getDispatcherAgents(UUID, create=True)


@pytest.fixture
def events():
    seen = []
    zope.event.subscribers.append(seen.append)
    yield seen
    zope.event.subscribers.remove(seen.append)


# -- liveness ----------------------------------------------------------------

def test_init():
    record = DispatcherAgents(UUID)
    assert record.UUID == UUID
    assert record.__name__ == UUID
    assert record.activated is None and record.last_ping is None
    assert record.lastSeen() is None
    assert not record.isDead()
    assert not record.dead
    assert record.queue is None


def test_activate(record, events):
    record.activate('host-1', 123, 'token-1', now=T0)
    assert record.activated == T0
    assert record.last_ping == T0
    assert (record.host, record.pid, record.process_token) == (
        'host-1', 123, 'token-1')
    assert [type(e).__name__ for e in events] == ['DispatcherActivated']
    assert interfaces.IDispatcherActivated.providedBy(events[0])
    assert events[0].object is record


def test_isDead(record):
    record.ping_death_interval = 60 * SECOND
    record.activate('h', 1, 't', now=T0)
    assert not record.isDead(T0 + 60 * SECOND)
    assert record.isDead(T0 + 61 * SECOND)
    record.last_ping = T0 + 30 * SECOND
    assert record.lastSeen() == T0 + 30 * SECOND
    assert not record.isDead(T0 + 61 * SECOND)


def test_isDead_wo_activation_is_false(record):
    record.last_ping = T0
    assert not record.isDead(T0 + datetime.timedelta(days=1))


def test_ping_throttled_by_interval(record):
    record.ping_interval = 30 * SECOND
    assert record.ping(now=T0) is True
    assert record.last_ping == T0
    assert record.ping(now=T0 + 29 * SECOND) is False
    assert record.last_ping == T0
    assert record.ping(now=T0 + 30 * SECOND) is True
    assert record.last_ping == T0 + 30 * SECOND


def test_ping_writes_only_after_interval(db, conn, record):
    record.ping(now=T0)
    conn.transaction_manager.commit()
    assert record.ping(now=T0 + SECOND) is False
    assert not record._p_changed
    assert record.ping(now=T0 + record.ping_interval * SECOND) is True
    assert record._p_changed


def test_deactivate_releases_held_jobs(queue, record, events):
    record.activate('h', 1, 't', now=T0)
    record['main'] = agent = Agent(size=3)
    a = queue.put(Job(jobs.record, 'a'))
    b = queue.put(Job(jobs.record, 'b'))
    agent.claimJobs(2)
    del events[:]
    counts = record.deactivate('test stop', now=T0)
    assert counts == {'requeued': 2}
    assert len(agent) == 0
    assert list(queue) == [a, b]
    assert record.activated is None
    assert record.process_token is None
    assert [type(e).__name__ for e in events] == ['DispatcherDeactivated']


def test_deactivate_wo_jobs(record):
    record.activate('h', 1, 't', now=T0)
    assert record.deactivate('stop') == {}
    assert record.activated is None


# -- agents ------------------------------------------------------------------

def test_setitem_agent(queue, record):
    agent = Agent(size=1)
    record['a'] = agent
    assert agent.name == 'a'
    assert agent.__parent__ is record
    assert agent.queue is queue
    assert record['a'] is agent
    assert record.get('a') is agent
    assert record.get('b') is None
    assert 'a' in record
    assert list(record) == ['a']
    assert len(record) == 1
    assert record.keys() == ['a']
    assert record.values() == [agent]
    assert record.items() == [('a', agent)]


def test_setitem_wo_agent(record):
    with pytest.raises(TypeError, match='is not an agent'):
        record['a'] = persistent.Persistent()


def test_setitem_wo_unique_name(record):
    record['a'] = Agent()
    with pytest.raises(errors.ConfigurationError) as info:
        record['a'] = Agent()
    message = str(info.value)
    assert "already has an agent named 'a' in queue ''" in message
    assert 'remove it first' in message


def test_setitem_wo_unique_name_outside_queue():
    record = DispatcherAgents(UUID)
    record['a'] = Agent()
    with pytest.raises(errors.ConfigurationError, match='already has'):
        record['a'] = Agent()


def test_delitem(record):
    record['a'] = Agent()
    del record['a']
    assert 'a' not in record
    with pytest.raises(KeyError):
        del record['a']


def test_delitem_wo_idle_agent(queue, record):
    record['a'] = agent = Agent()
    queue.put(jobs.noop)
    agent.claimJob()
    with pytest.raises(errors.ConfigurationError) as info:
        del record['a']
    assert 'holds 1 jobs' in str(info.value)
    assert 'set its size to 0' in str(info.value)
    assert 'a' in record


def test_repr(record):
    assert repr(record) == "<DispatcherAgents %s in queue ''>" % UUID
    assert repr(DispatcherAgents('x')) == (
        "<DispatcherAgents x in queue None>")


def test_ping_intervals_are_seconds_like_the_dispatchers(record):
    assert record.ping_interval == 30.0
    assert record.ping_death_interval == 60.0
    record.ping_death_interval = 90 * SECOND  # a timedelta is converted
    assert record.ping_death_interval == 90.0


@pytest.mark.parametrize('value', [float('nan'), float('inf'), 0, -1, 'x'])
def test_ping_interval_bad_value_refused(record, value):
    with pytest.raises(errors.ConfigurationError, match='ping_interval'):
        record.ping_interval = value


def test_livenessState_words():
    record = DispatcherAgents('u')
    assert record.livenessState() == 'inactive'
    now = datetime.datetime.now(datetime.timezone.utc)
    record.activate('host', 1, 'token', now)
    assert record.livenessState(now) == 'alive'
    later = now + datetime.timedelta(seconds=record.ping_death_interval + 1)
    assert record.livenessState(later) == 'dead'
