"""zc.asyncui.changes: how the poll thread notices database changes, and
that a dispatcher on RelStorage finds work put by another process long
before its poll_interval (issue 11)."""
import time

import transaction
import ZODB.interfaces
import zope.interface

import zc.asyncui
from zc.asyncui import changes
from zc.asyncui import dburi
from zc.asyncui import dispatcher
from zc.asyncui import testing

import jobs


def _commit(db, key, value):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    conn.root()[key] = value
    tm.commit()
    conn.close()


def test_file_storage_uses_the_last_transaction(db):
    watcher = changes.watch(db)
    assert isinstance(watcher, changes.LastTransactionWatcher)
    before = watcher.lastChange()
    assert watcher.lastChange() == before
    _commit(db, 'x', 1)
    assert watcher.lastChange() != before == before
    watcher.close()


def test_relstorage_polls_its_own_instance(postgres_uri):
    uri = dburi.parse(postgres_uri)
    here, elsewhere = uri.open(), uri.open()
    watcher = changes.watch(here)
    try:
        assert isinstance(watcher, changes.PollingWatcher)
        before = watcher.lastChange()
        # On PostgreSQL, one autocommitted query on a connection of its own.
        assert isinstance(watcher._query, changes.NewestTidQuery)
        assert watcher.lastChange() == before  # idle: no change
        _commit(elsewhere, 'x', 1)
        # The storage's own id does not follow another process's commit
        # until a connection of this process polls; the watcher's does.
        seen = watcher.lastChange()
        assert seen != before and seen == elsewhere.lastTransaction()
    finally:
        watcher.close()
        here.close()
        elsewhere.close()


def test_relstorage_watcher_survives_a_lost_connection(postgres_uri):
    uri = dburi.parse(postgres_uri)
    here, elsewhere = uri.open(), uri.open()
    watcher = changes.watch(here)
    tm = transaction.TransactionManager()
    conn = elsewhere.open(tm)
    try:
        conn.root()['x'] = 1
        tm.commit()
        seen = watcher.lastChange()
        assert seen == conn.root()._p_serial
        watcher._query.conn.close()  # as when PostgreSQL restarts
        assert watcher.lastChange() == seen  # nothing new, no error
        conn.root()['x'] = 2
        tm.commit()
        # A new connection, which sees the commit made meanwhile.
        assert watcher.lastChange() == conn.root()._p_serial != seen
        assert isinstance(watcher._query, changes.NewestTidQuery)
    finally:
        watcher.close()
        tm.abort()
        conn.close()
        here.close()
        elsewhere.close()


@zope.interface.implementer(ZODB.interfaces.IMVCCStorage)
class _FlakyStorage:
    """An MVCC storage whose instances fail while ``down``."""

    def __init__(self):
        self.down = False
        self.tid = b'\0' * 7 + b'\1'
        self.released = 0

    def getName(self):
        return 'flaky'

    def new_instance(self):
        return self

    def poll_invalidations(self):
        if self.down:
            raise OSError('server closed the connection')
        return {}

    def lastTransaction(self):
        return self.tid

    def release(self):
        self.released += 1


class _FakeDB:
    def __init__(self, storage):
        self.storage = storage


def test_polling_watcher_outage_keeps_the_last_id_and_recovers():
    storage = _FlakyStorage()
    watcher = changes.watch(_FakeDB(storage))
    assert watcher.lastChange() == storage.tid
    storage.down = True
    storage.tid = b'\0' * 7 + b'\2'
    assert watcher.lastChange() == b'\0' * 7 + b'\1'  # nothing new
    assert storage.released == 1
    storage.down = False
    assert watcher.lastChange() == storage.tid
    watcher.close()
    assert storage.released == 2


def test_relstorage_dispatcher_finds_work_of_another_process(
        postgres_uri, tmp_path):
    uri = dburi.parse(postgres_uri)
    worker_db, producer_db = uri.open(), uri.open()
    try:
        zc.asyncui.install(producer_db)
        # A poll interval far longer than the test: only the change
        # watcher can wake the dispatcher for the other DB's put.
        d = dispatcher.start(worker_db, poll_interval=300,
                             uuid_file=str(tmp_path / 'uuid.txt'))
        try:
            tm = transaction.TransactionManager()
            conn = producer_db.open(tm)
            testing.wait_until(lambda: _activated(conn, tm, d), 30,
                               'the dispatcher to activate')
            put_at = time.monotonic()
            job = zc.asyncui.getQueue(conn).put(
                zc.asyncui.Job(jobs.add, 1, 2))
            tm.commit()
            assert testing.wait_for_result(job, timeout=30) == 3
            assert time.monotonic() - put_at < 10
            conn.close()
        finally:
            d.stop(10)
    finally:
        worker_db.close()
        producer_db.close()


def _activated(conn, tm, d):
    tm.begin()
    record = zc.asyncui.getQueue(conn).getDispatcherAgents(d.UUID)
    return record is not None and record.activated is not None
