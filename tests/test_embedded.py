"""The embedded server shared with direct local commits
(zc.asyncui.cli.embedded), on a real FileStorage on disk and a real ZEO
server on a Unix socket, with ZEO clients in this process (their own I/O
threads) and in another process.

Each test checks both directions of invalidation: what one side commits,
the other side's next transaction reads, although it holds the object in
its cache (a lost invalidation would show the cached, stale state).  ZEO
clients open with ``server_sync=True``, which makes each new transaction
ask the server first, so that they have every invalidation of what was
committed before they began (without it a ZEO client may begin before an
invalidation has reached it: that is ZEO's ordinary lag, not a lost one).
"""
import logging
import os
import subprocess
import sys
import threading
import time

import persistent
import pytest
import transaction
import ZEO
import ZODB.FileStorage
import ZODB.POSException
import zope.interface.verify
from ZODB.interfaces import IStorage

import zc.asyncui
import zc.asyncui.dispatcher
import zc.asyncui.testing
from zc.asyncui.cli import embedded
from zc.asyncui.cli import server

import jobs

DEADLINE = 30.0


class Counter(persistent.Persistent):

    def __init__(self):
        self.value = 0


@pytest.fixture
def shared(tmp_path):
    """(srv, db, socket path): a SharedServer and a local DB on one
    FileStorage, with a Counter at root['counter']."""
    sock = str(tmp_path / 'zeo.sock')
    fs = ZODB.FileStorage.FileStorage(str(tmp_path / 'Data.fs'))
    srv, db = embedded.open_database(fs, sock)
    with db.transaction() as conn:
        conn.root()['counter'] = Counter()
    yield srv, db, sock
    db.close()
    server.stop_server(srv, sock)


def open_client(sock, **kw):
    return ZEO.DB(sock, server_sync=True, wait_timeout=DEADLINE, **kw)


class Side:
    """One connection, with its own transaction manager, that keeps the
    counter in its cache between transactions."""

    def __init__(self, db):
        self.tm = transaction.TransactionManager()
        self.conn = db.open(self.tm)
        self.tm.begin()
        self.counter = self.conn.root()['counter']

    def read(self):
        self.tm.begin()  # a new transaction: invalidations are applied
        value = self.counter.value
        self.tm.abort()
        return value

    def increment(self):
        self.tm.begin()
        self.counter.value += 1
        self.tm.commit()
        return self.counter.value

    def close(self):
        self.tm.abort()
        self.conn.close()


def wait_until(predicate, what):
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.01)


def test_local_storage_provides_the_storage_interface(shared):
    srv, db, sock = shared
    zope.interface.verify.verifyObject(IStorage, db.storage)


def test_interleaved_commits_are_seen_by_the_other_side(shared):
    srv, db, sock = shared
    zdb = open_client(sock)
    local, remote = Side(db), Side(zdb)
    try:
        expected = 0
        for i in range(50):
            writer, reader = (local, remote) if i % 2 else (remote, local)
            assert writer.increment() == expected + 1
            expected += 1
            assert reader.read() == expected, (i, 'stale read')
            assert writer.read() == expected
    finally:
        local.close()
        remote.close()
        zdb.close()


def test_a_second_local_connection_sees_zeo_commits(shared):
    # The local database's own connections learn a ZEO client's commit
    # from the server (not only the connection that reads next).
    srv, db, sock = shared
    zdb = open_client(sock)
    first, second, remote = Side(db), Side(db), Side(zdb)
    try:
        for expected in range(1, 11):
            remote.increment()
            assert first.read() == expected
            assert second.read() == expected
    finally:
        for side in (first, second, remote):
            side.close()
        zdb.close()


def test_conflicting_commits_from_both_sides_lose_no_update(shared):
    srv, db, sock = shared
    zdb = open_client(sock)
    per_thread = 60

    def increment_many(database):
        side = Side(database)
        try:
            for _ in range(per_thread):
                for attempt in side.tm.attempts(100):
                    with attempt:
                        side.counter.value += 1
        finally:
            side.close()

    threads = [threading.Thread(target=increment_many, args=(database,))
               for database in (db, db, zdb, zdb)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    local, remote = Side(db), Side(zdb)
    try:
        assert local.read() == remote.read() == 4 * per_thread
    finally:
        local.close()
        remote.close()
        zdb.close()


def _commit_while_clients_are_away(srv, side, times):
    # On the server's thread: close every client connection, then commit
    # locally; no client can register again before this returns.
    done = threading.Event()
    values = []

    def disconnect_and_commit():
        try:
            for zs in list(
                    srv.zeo_storages_by_storage_id[server.STORAGE_NAME]):
                zs.connection.close()
            values.extend(side.increment() for _ in range(times))
        finally:
            done.set()

    srv.acceptor.event_loop.call_soon_threadsafe(disconnect_and_commit)
    assert done.wait(DEADLINE)
    return values[-1]


def test_a_client_that_reconnects_gets_the_local_commits_it_missed(shared):
    srv, db, sock = shared
    zdb = open_client(sock)
    local, remote = Side(db), Side(zdb)
    try:
        assert remote.read() == 0  # in the client's cache now
        for round in range(3):
            before = set(srv.zeo_storages_by_storage_id[
                server.STORAGE_NAME])
            value = _commit_while_clients_are_away(srv, local, 2)
            wait_until(lambda: zdb.storage.is_connected() and set(
                srv.zeo_storages_by_storage_id[server.STORAGE_NAME])
                - before, 'the client to reconnect')
            assert remote.read() == value, round
            # and the other way, after the reconnection
            remote.increment()
            assert local.read() == value + 1
    finally:
        local.close()
        remote.close()
        zdb.close()


def test_a_client_cache_file_reopened_later_is_brought_up_to_date(
        shared, tmp_path):
    # A persistent ZEO client cache (client=..., var=...) keeps the
    # counter and its last transaction id across the client's restart;
    # the local commits made in between must not be read from it (the
    # server's invalidation queue has them; were it missing them, ZEO
    # would fall back to dropping the cache: this guards the outcome).
    srv, db, sock = shared
    cache = dict(client='c', var=str(tmp_path))
    zdb = open_client(sock, **cache)
    remote = Side(zdb)
    assert remote.read() == 0
    remote.close()
    zdb.close()
    local = Side(db)
    local.increment()
    local.increment()
    zdb = open_client(sock, **cache)
    remote = Side(zdb)
    try:
        assert remote.read() == 2
    finally:
        local.close()
        remote.close()
        zdb.close()


CHILD = r'''
import sys, transaction, ZEO
sock, rounds = sys.argv[1], int(sys.argv[2])
db = ZEO.DB(sock, server_sync=True, wait_timeout=30)
tm = transaction.TransactionManager()
conn = db.open(tm)
for i in range(rounds):
    # wait for the parent's commit (an odd value), then answer with ours
    while True:
        tm.begin()
        value = conn.root()['counter'].value
        if value == 2 * i + 1:
            break
        assert value == 2 * i, ('stale or lost', i, value)
        tm.abort()
    conn.root()['counter'].value += 1
    tm.commit()
db.close()
'''


def test_ping_pong_with_a_client_in_another_process(shared):
    srv, db, sock = shared
    rounds = 30
    child = subprocess.Popen(
        [sys.executable, '-c', CHILD, sock, str(rounds)],
        stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=os.path.dirname(__file__)))
    local = Side(db)
    try:
        for i in range(rounds):
            assert local.increment() == 2 * i + 1
            # the child's answer reaches this process's cached counter
            deadline = time.monotonic() + DEADLINE
            while local.read() != 2 * i + 2:
                assert local.read() == 2 * i + 1
                assert time.monotonic() < deadline, 'no answer from child'
                time.sleep(0.001)
        assert child.wait(DEADLINE) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        local.close()


def test_the_local_database_closes_before_the_server(tmp_path):
    # The server owns the FileStorage: closing the local database leaves
    # it open for the server's clients, and stops the hand-over.
    sock = str(tmp_path / 'zeo.sock')
    fs = ZODB.FileStorage.FileStorage(str(tmp_path / 'Data.fs'))
    srv, db = embedded.open_database(fs, sock)
    assert srv.local_db is not None
    db.close()
    assert srv.local_db is None
    zdb = open_client(sock)
    try:
        with zdb.transaction() as conn:
            conn.root()['after'] = 1
    finally:
        zdb.close()
        server.stop_server(srv, sock)
    assert os.path.exists(str(tmp_path / 'Data.fs'))


class Errors(logging.Handler):
    """Collects the ERROR records of ZEO's loggers (a client that gets an
    invalidation older than a transaction id it was told logs one, and
    drops its connection)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append('%s: %s' % (record.name, record.getMessage()))


@pytest.fixture
def zeo_errors():
    handler = Errors()
    logging.getLogger('ZEO').addHandler(handler)
    yield handler.records
    logging.getLogger('ZEO').removeHandler(handler)


def test_clients_connect_and_commit_during_a_stream_of_local_commits(
        shared, zeo_errors):
    # The order of what a client is told: no invalidation older than a
    # transaction id it already got (from register, lastTransaction or its
    # own tpc_finish) may reach it.
    srv, db, sock = shared
    stop = threading.Event()

    def commit_locally():
        side = Side(db)
        try:
            while not stop.is_set():
                side.increment()
        finally:
            side.close()

    local = threading.Thread(target=commit_locally)
    local.start()
    try:
        for _ in range(15):
            zdb = open_client(sock)
            try:
                with zdb.transaction() as conn:
                    conn.root()['from client'] = conn.root().get(
                        'from client', 0) + 1
                remote = Side(zdb)
                before = remote.read()
                for _ in range(5):
                    assert remote.read() >= before
                remote.close()
                assert zdb.storage.is_connected()
            finally:
                zdb.close()
    finally:
        stop.set()
        local.join(DEADLINE)
    assert zeo_errors == []
    with db.transaction() as conn:
        assert conn.root()['from client'] == 15


def test_a_local_undo_reaches_the_clients(shared):
    # Undo writes through the storage's undo(), not store(): its oids
    # must be announced too.
    srv, db, sock = shared
    zdb = open_client(sock)
    local, remote = Side(db), Side(zdb)
    try:
        local.increment()
        assert remote.read() == 1
        db.undo(db.undoLog(0, 1)[0]['id'])
        transaction.commit()
        assert local.read() == 0
        assert remote.read() == 0
    finally:
        local.close()
        remote.close()
        zdb.close()


def test_a_client_commit_wakes_the_local_dispatchers_once_it_is_last(
        tmp_path):
    # The wake-up comes after the client's transaction is the storage's
    # last one: a poll it starts sees what the client committed.
    sock = str(tmp_path / 'zeo.sock')
    fs = ZODB.FileStorage.FileStorage(str(tmp_path / 'Data.fs'))
    woken = []
    srv, db = embedded.open_database(
        fs, sock, wake=lambda d: woken.append((d, d.lastTransaction())))
    zdb = open_client(sock)
    try:
        with zdb.transaction() as conn:
            conn.root()['put'] = 1
        tid = zdb.lastTransaction()
        wait_until(lambda: woken, 'the wake-up')
        assert woken[0] == (db, tid)
        with db.transaction() as conn:  # a local commit wakes nobody here
            conn.root()['local'] = 1
        assert len(woken) == 1
    finally:
        zdb.close()
        db.close()
        server.stop_server(srv, sock)


def test_each_commit_of_a_burst_is_followed_by_a_wake_up(tmp_path):
    # Commits closer together than WAKE_SECONDS share a later wake-up:
    # the last commit of a burst still wakes the dispatchers after it.
    sock = str(tmp_path / 'zeo.sock')
    fs = ZODB.FileStorage.FileStorage(str(tmp_path / 'Data.fs'))
    woken = []
    srv, db = embedded.open_database(
        fs, sock, wake=lambda d: woken.append(d.lastTransaction()))
    zdb = open_client(sock)
    try:
        tids = []
        for i in range(5):
            with zdb.transaction() as conn:
                conn.root()['n'] = i
            tids.append(zdb.lastTransaction())
        wait_until(lambda: woken and woken[-1] >= tids[-1],
                   'a wake-up after the last commit')
        assert len(woken) <= len(tids)
    finally:
        zdb.close()
        db.close()
        server.stop_server(srv, sock)


def test_a_job_put_through_the_socket_wakes_the_dispatcher(tmp_path):
    # By default the wake-up is the dispatcher's own (as after a local
    # put); the job runs exactly once either way.
    sock = str(tmp_path / 'zeo.sock')
    fs = ZODB.FileStorage.FileStorage(str(tmp_path / 'Data.fs'))
    srv, db = embedded.open_database(fs, sock)
    zc.asyncui.install(db)
    d = zc.asyncui.dispatcher.start(db, poll_interval=60,
                                    uuid_file=str(tmp_path / 'uuid.txt'))
    calls = []
    own_wake = d.wake
    d.wake = lambda: (calls.append(1), own_wake())
    zdb = open_client(sock)
    tm = transaction.TransactionManager()
    conn = zdb.open(tm)
    try:
        tm.begin()
        job = zc.asyncui.getQueue(conn).put(zc.asyncui.Job(jobs.add, 1, 2))
        tm.commit()
        assert zc.asyncui.testing.wait_for_result(job, DEADLINE) == 3
        assert calls
    finally:
        tm.abort()
        conn.close()
        zdb.close()
        d.stop(10)
        db.close()
        server.stop_server(srv, sock)
