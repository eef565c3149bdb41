"""Dispatcher liveness (zc.asyncui.liveness): activation, death verdicts
and the judge's own outages.  Over a real ZEO server that goes away and
comes back (defect 4): nobody is judged dead from silence that overlaps
the judge's own inability to reach the storage.  Then the steps alone, on
a Liveness or a Dispatcher that is never started: no threads, no sleeps;
time is a FakeClock and ``healthy_since``."""
import datetime
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import transaction
import ZEO

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import liveness as liveness_module
from zc.asyncui import testing
from zc.asyncui import utils
from zc.asyncui.agent import Agent
from zc.asyncui.dispatcher import Dispatcher
from zc.asyncui.polling import PollResult
from zc.asyncui.execution import mark_active
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.liveness import Liveness

import jobs

CLI = os.path.join(os.path.dirname(sys.executable), 'zc-asyncui')
PING, DEATH = 0.3, 1.5
OUTAGE = 3 * DEATH


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Server:
    """A ZEO server process (``zc-asyncui zeo``) that can stop and come
    back on the same address."""

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.address = ('127.0.0.1', self.port)
        self.process = None

    def start(self):
        log = open(os.path.join(self.directory, 'zeo.log'), 'ab')
        self.process = subprocess.Popen(
            [CLI, 'zeo', '--address', '127.0.0.1:%d' % self.port, '--path',
             os.path.join(self.directory, 'Data.fs')], stdout=log,
            stderr=subprocess.STDOUT)
        log.close()
        wait_until(self._open, 60, 'the ZEO server')
        return self.address

    def _open(self):
        assert self.process.poll() is None, 'the ZEO server exited'
        with socket.socket() as s:
            return s.connect_ex(self.address) == 0

    def stop(self):
        self.process.terminate()
        self.process.wait(20)


@pytest.fixture
def zeo(tmp_path):
    server = Server(str(tmp_path))
    address = server.start()
    clients = []

    def client():
        db = ZEO.DB(address, wait_timeout=60)
        clients.append(db)
        return db
    yield server, client
    dispatcher.stop_all(5.0)
    with dispatcher._registry_lock:
        dispatcher._registry.clear()
    for db in clients:
        db.close()
    server.stop()


def read(db, func):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        return func(conn)
    finally:
        tm.abort()
        conn.close()


def records(conn):
    queue = zc.asyncui.getQueue(conn)
    return {u: (r.activated is not None, r.process_token)
            for u, r in queue.dispatchers.items()}


wait_until = testing.wait_until


def start(db, tmp_path, name):
    return dispatcher.start(
        db, poll_interval=0.1, ping_interval=PING, ping_death_interval=DEATH,
        main_agent_size=1, uuid_file=str(tmp_path / ('%s.uuid' % name)))


def test_zeo_outage_longer_than_death_interval_nobody_declared_dead(
        zeo, tmp_path, caplog):
    server, client = zeo
    db_a, db_b = client(), client()
    zc.asyncui.install(db_a)
    a, b = start(db_a, tmp_path, 'a'), start(db_b, tmp_path, 'b')
    tokens = {str(a.UUID): (True, a.token), str(b.UUID): (True, b.token)}
    wait_until(lambda: read(db_a, records) == tokens, 20, 'activation')
    server.stop()
    time.sleep(OUTAGE)
    server.start()
    # Long enough for a judge to act: several death intervals.
    time.sleep(3 * DEATH)
    assert read(db_a, records) == tokens
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if 'was silent since' in m]
    assert not [m for m in messages if 'thought it dead' in m]


class OtherProcess:
    """Stands for another live process using our UUID (on another host):
    it pings its record every ping interval through its own ZEO client,
    riding out the outage as a real dispatcher does."""

    def __init__(self, db, uuid_str):
        self.db = db
        self.uuid_str = uuid_str
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        #: Until when (monotonic) it does not ping: a ZEO client may
        #: reconnect seconds after the others.
        self.paused_until = 0.0

    def activate(self):
        def activate(conn):
            record = zc.asyncui.getQueue(conn).getDispatcherAgents(
                self.uuid_str, create=True)
            record.ping_interval, record.ping_death_interval = PING, DEATH
            record.activate('elsewhere', 4242, 'other')
        self._write(activate)
        self.thread.start()

    def _write(self, func):
        tm = transaction.TransactionManager()
        conn = self.db.open(tm)
        try:
            for attempt in tm.attempts(5):
                with attempt:
                    func(conn)
        finally:
            conn.close()

    def _ping(self, conn):
        zc.asyncui.getQueue(conn).getDispatcherAgents(self.uuid_str).ping(
            utils.now())

    def _run(self):
        while not self.stopping.wait(PING / 2):
            if time.monotonic() < self.paused_until:
                continue
            try:
                self._write(self._ping)
            except Exception:
                pass  # the server is away: ping again when it is back


def test_zeo_outage_live_duplicate_uuid_never_taken_over(
        zeo, tmp_path, caplog):
    server, client = zeo
    db = client()
    zc.asyncui.install(db)
    mine = uuid.uuid4()
    other = OtherProcess(client(), str(mine))
    other.activate()
    d = dispatcher.start(
        db, uuid=mine, poll_interval=0.1, ping_interval=PING,
        ping_death_interval=DEATH, uuid_file=str(tmp_path / 'uuid.txt'))
    wait_until(lambda: any('another live process' in r.getMessage()
                           for r in caplog.records), 20, 'the warning')
    other.paused_until = float('inf')
    server.stop()
    time.sleep(OUTAGE)
    server.start()
    # The other process is back, but its first ping after the outage
    # comes later than ours (its client reconnects later).
    other.paused_until = time.monotonic() + DEATH * 1.5
    time.sleep(3 * DEATH)
    try:
        assert read(db, records) == {str(mine): (True, 'other')}
        assert not [r for r in caplog.records
                    if 'recovered from an unclean' in r.getMessage()]
        assert str(mine) not in d.getStatusInfo()['active_queues']
    finally:
        other.stopping.set()
        other.thread.join(10)


# -- Liveness alone, with explicit inputs -------------------------------

def liveness(connected=True):
    state = {'connected': connected}
    part = Liveness(uuid.UUID(int=1), 'token', host='here', pid=1,
                    poll_interval=0.1, ping_interval=1.0,
                    ping_death_interval=3.0, main_agent_size=0,
                    uuid_file='x', is_connected=lambda: state['connected'])
    return part, state


def test_fair_to_judge_at_start():
    part, _ = liveness()
    assert part._fair_to_judge()


def test_fair_to_judge_not_after_failed_polls():
    part, _ = liveness()
    part.note_gap(failures=1, last_poll=None)
    assert not part._fair_to_judge()


def test_fair_to_judge_not_while_disconnected():
    part, state = liveness(connected=False)
    assert not part._fair_to_judge()
    state['connected'] = True
    assert not part._fair_to_judge()  # a death interval and grace first


def test_note_stall_blocked_poll_is_an_outage():
    part, _ = liveness()
    part.poll_started()
    part._poll_started -= 5  # blocked 5 s, longer than (3 - 1) / 2
    part.note_stall()
    assert not part._fair_to_judge()


def test_note_gap_normal_pause_is_no_outage():
    part, _ = liveness()
    part.note_gap(failures=0, last_poll=time.monotonic() - 0.5)
    assert part._fair_to_judge()


# -- A never-started Dispatcher's liveness, on a FakeClock ---------------

ME = uuid.UUID(int=1)
NEIGHBOUR = str(uuid.UUID(int=2 ** 127))  # sorts after ME: my neighbour


@pytest.fixture
def me(db):
    return Dispatcher(db, ME, poll_interval=0.1, ping_interval=1.0,
                      ping_death_interval=5.0, main_agent_size=0)


def _activate(me, queue):
    result = PollResult()
    assert me.liveness.activate(queue, None, zc.asyncui.utils.now(),
                                result)
    me.liveness.activated_queues.add(queue.name)
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
    result = PollResult()
    me.liveness.check_neighbour(queue, zc.asyncui.utils.now(), result)
    assert record.activated is None
    assert job.status == JobStatus.PENDING and job in queue
    assert job.attempts[0]['outcome'] == (
        'interrupted: dispatcher %s found it dead' % ME)
    (level, message, args), = result.messages
    assert level == logging.WARNING and 'deactivated it' in message


def test_check_neighbour_wo_silence_long_enough(me, queue, clock):
    _activate(me, queue)
    record, job = _silent_neighbour(queue, seconds=4)  # death: 5 s
    me.liveness.check_neighbour(queue, zc.asyncui.utils.now(), PollResult())
    assert record.activated is not None and job not in queue


def test_check_neighbour_not_right_after_own_gap(me, queue, clock):
    # Replaces a test that slept and skipped its assertion when slow:
    # after this dispatcher could not poll (database away, machine
    # paused) everyone's pings look late; it waits a death interval.
    _activate(me, queue)
    record, job = _silent_neighbour(queue, seconds=600)
    me.liveness.healthy_since = time.monotonic()  # a gap just ended
    me.liveness.check_neighbour(queue, zc.asyncui.utils.now(), PollResult())
    assert record.activated is not None
    me.liveness.healthy_since = (time.monotonic() - me.ping_death_interval
                                 - liveness_module.RECONNECT_GRACE_SECONDS
                                 - 0.1)
    me.liveness.check_neighbour(queue, zc.asyncui.utils.now(), PollResult())
    assert record.activated is None and job in queue


def test_note_gap_after_failed_poll(me):
    before = time.monotonic()
    me.liveness.note_gap(failures=1, last_poll=None)
    assert me.liveness.healthy_since >= before


def test_note_gap_wo_gap(me):
    me.liveness.note_gap(failures=0, last_poll=time.monotonic())
    assert me.liveness.healthy_since == float('-inf')


def test_check_neighbour_when_alone(me, queue, clock):
    _activate(me, queue)
    result = PollResult()
    me.liveness.check_neighbour(queue, zc.asyncui.utils.now(), result)
    assert result.messages == []


def test_activate_wo_free_uuid_waits_for_death(me, queue, clock, caplog):
    # Our UUID is active for another process token (this instance's own
    # unclean shutdown, say) and still within its death interval.  The
    # record names no pid, so this process cannot tell that its writer is
    # gone (a record whose pid is gone is recovered at once: see
    # test_activate_after_unclean_shutdown_recovers_jobs).
    record = queue.getDispatcherAgents(ME, create=True)
    record.activate(me.host, None, 'old-token', zc.asyncui.utils.now())
    with caplog.at_level(logging.INFO, 'zc.asyncui.dispatcher'):
        assert not me.liveness.activate(
            queue, record, zc.asyncui.utils.now(), PollResult())
    assert record.process_token == 'old-token'
    assert any('unclean shutdown' in r.getMessage() for r in caplog.records)


def test_activate_after_unclean_shutdown_recovers_jobs(me, queue, clock):
    record = queue.getDispatcherAgents(ME, create=True)
    record.activate(me.host, 999999999, 'old-token', zc.asyncui.utils.now())
    record['main'] = agent = Agent(size=1)
    job = queue.put(Job(jobs.noop))
    agent.claimJob()
    clock.advance(seconds=600)
    result = PollResult()
    assert me.liveness.activate(queue, record, zc.asyncui.utils.now(), result)
    assert record.process_token == me.token
    assert job in queue and len(agent) == 0
    assert any('recovered from an unclean shutdown' in m
               for _, m, _ in result.messages)
