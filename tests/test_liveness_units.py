"""Direct tests of zc.asyncui.liveness (the activation half of the
dispatcher), on a Dispatcher that is constructed but never started: no
threads, no sleeps; time is a FakeClock and ``healthy_since``."""
import datetime
import logging
import time
import uuid

import pytest

import zc.asyncui
from zc.asyncui import testing
from zc.asyncui.agent import Agent
from zc.asyncui.dispatcher import Dispatcher
from zc.asyncui.dispatcher import _PollResult
from zc.asyncui.execution import mark_active
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus

import jobs

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
ME = uuid.UUID(int=1)
NEIGHBOUR = str(uuid.UUID(int=2 ** 127))  # sorts after ME: my neighbour


@pytest.fixture
def clock():
    with testing.FakeClock(T0) as fake:
        yield fake


@pytest.fixture
def me(db):
    return Dispatcher(db, ME, poll_interval=0.1, ping_interval=1.0,
                      ping_death_interval=5.0, main_agent_size=0)


def _activate(me, queue):
    result = _PollResult()
    assert me._activate(queue, None, zc.asyncui.utils.now(), result)
    me._activated_queues.add(queue.name)
    return result


def _silent_neighbour(queue, seconds):
    """A neighbour record, silent for ``seconds``, holding a started
    job."""
    record = queue.getDispatcherAgents(NEIGHBOUR, create=True)
    then = zc.asyncui.utils.now() - datetime.timedelta(seconds=seconds)
    record.activate('elsewhere', 4242, 'its-token', then)
    record['main'] = agent = Agent(size=1)
    job = queue.put(Job(jobs.noop, 'recovered'))
    agent.claimJob()

    class Other:  # what mark_active asks of a dispatcher
        uuid_str = NEIGHBOUR
    mark_active(job, Other(), agent)
    return record, job


def test_check_neighbour_deactivates_a_silent_one(me, queue, clock):
    _activate(me, queue)
    record, job = _silent_neighbour(queue, seconds=600)
    result = _PollResult()
    me._check_neighbour(queue, zc.asyncui.utils.now(), result)
    assert record.activated is None
    assert job.status == JobStatus.PENDING and job in queue
    assert job.attempts[0]['outcome'] == (
        'interrupted: dispatcher %s found it dead' % ME)
    (level, message, args), = result.messages
    assert level == logging.WARNING and 'deactivated it' in message


def test_check_neighbour_wo_silence_long_enough(me, queue, clock):
    _activate(me, queue)
    record, job = _silent_neighbour(queue, seconds=4)  # death: 5 s
    me._check_neighbour(queue, zc.asyncui.utils.now(), _PollResult())
    assert record.activated is not None and job not in queue


def test_check_neighbour_not_right_after_own_gap(me, queue, clock):
    # Replaces a test that slept and skipped its assertion when slow:
    # after this dispatcher could not poll (database away, machine
    # paused) everyone's pings look late; it waits a death interval.
    _activate(me, queue)
    record, job = _silent_neighbour(queue, seconds=600)
    me.healthy_since = time.monotonic()  # a gap just ended
    me._check_neighbour(queue, zc.asyncui.utils.now(), _PollResult())
    assert record.activated is not None
    me.healthy_since = time.monotonic() - me.ping_death_interval - 0.1
    me._check_neighbour(queue, zc.asyncui.utils.now(), _PollResult())
    assert record.activated is None and job in queue


def test_note_gap_after_failed_poll(me):
    before = time.monotonic()
    me._note_gap(failures=1)
    assert me.healthy_since >= before


def test_note_gap_wo_gap(me):
    me.last_poll = time.monotonic()
    me._note_gap(failures=0)
    assert me.healthy_since == float('-inf')


def test_check_neighbour_when_alone(me, queue, clock):
    _activate(me, queue)
    result = _PollResult()
    me._check_neighbour(queue, zc.asyncui.utils.now(), result)
    assert result.messages == []


def test_activate_wo_free_uuid_waits_for_death(me, queue, clock, caplog):
    # Our UUID is active for another process token (this instance's own
    # unclean shutdown, say) and still within its death interval.
    record = queue.getDispatcherAgents(ME, create=True)
    record.activate(me.host, 999999999, 'old-token', zc.asyncui.utils.now())
    with caplog.at_level(logging.INFO, 'zc.asyncui.dispatcher'):
        assert not me._activate(queue, record, zc.asyncui.utils.now(),
                                _PollResult())
    assert record.process_token == 'old-token'
    assert any('unclean shutdown' in r.getMessage() for r in caplog.records)


def test_activate_after_unclean_shutdown_recovers_jobs(me, queue, clock):
    record = queue.getDispatcherAgents(ME, create=True)
    record.activate(me.host, 999999999, 'old-token', zc.asyncui.utils.now())
    record['main'] = agent = Agent(size=1)
    job = queue.put(Job(jobs.noop))
    agent.claimJob()
    clock.advance(seconds=600)
    result = _PollResult()
    assert me._activate(queue, record, zc.asyncui.utils.now(), result)
    assert record.process_token == me.token
    assert job in queue and len(agent) == 0
    assert any('recovered from an unclean shutdown' in m
               for _, m, _ in result.messages)
