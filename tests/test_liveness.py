"""Dispatcher liveness over a real ZEO server that goes away and comes
back (defect 4): nobody is judged dead from silence that overlaps the
judge's own inability to reach the storage."""
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
from zc.asyncui import utils

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


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out waiting for ' + what
        time.sleep(0.05)


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
    from zc.asyncui.liveness import Liveness
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
