"""How the dispatcher's poll thread notices, cheaply, that the database
changed, so that it polls the queues only then (or after
``poll_interval``, the safety net).

Most storages know their last transaction id in memory, and it follows
the commits of other processes: a FileStorage has only this process; a
ZEO client hears of every commit from its server.  ``db.lastTransaction()``
is then all it takes (``LastTransactionWatcher``).

An MVCC storage (ZODB's IMVCCStorage: RelStorage) learns of other
processes' commits only when one of its instances polls the database,
which ZODB does when a connection begins a transaction; while this
process is idle its last transaction id stands still and work put by
another process would wait for ``poll_interval``.  ``PollingWatcher``
asks the database for its newest transaction id: on PostgreSQL (psycopg2)
with RelStorage's own query for it (``SELECT max(tid)``, on an index) on
a connection of its own in autocommit mode, one round trip; else it
keeps a storage instance of its own and polls it, as every ZODB
connection does (a transaction begun, one indexed query for the objects
changed since the last transaction seen, a rollback: three round trips).
Measured with RelStorage 4.3 on PostgreSQL 15 here: about 70 us of CPU
per check (client and server together) against 220 us for the instance's
poll; the poll thread checks every 20 ms while its workers want work, so
four idle processes spent about 0.1 CPU on it (now about 0.03).  No
queue object is loaded either way.  LISTEN/NOTIFY
was the other way: RelStorage sends no notification of its own, and adding
a trigger to its schema, or a NOTIFY to our commits only, would miss the
commits of other programs; the poll sees every commit.

A watcher belongs to one thread (the dispatcher's poll thread).
"""
import logging

import ZODB.interfaces
import ZODB.utils

logger = logging.getLogger(__name__)


class LastTransactionWatcher:
    """The storage's own last transaction id (FileStorage, ZEO, ...)."""

    def __init__(self, db):
        self._db = db

    def lastChange(self):
        """An id that changes when the database changes."""
        return self._db.lastTransaction()

    def close(self):
        """Nothing to release."""


class PollingWatcher:
    """Asks an MVCC storage (RelStorage) for its newest transaction: a
    ``NewestTidQuery`` when the storage allows one, else an instance of
    its own, polled.

    When a check fails (the database server is down or restarting), the
    last id seen is returned, so nothing changes and ``poll_interval``
    still applies; the connection (or instance) is released and a new
    one made at the next call.  The dispatcher's poll reports the outage
    itself.
    """

    def __init__(self, db):
        self._db = db
        self._instance = None
        self._query = None
        self._direct = True  # until the storage turns out not to allow it
        self._last = None
        self._failing = False

    def lastChange(self):
        """See LastTransactionWatcher.lastChange."""
        try:
            if self._direct and self._query is None:
                self._query = NewestTidQuery.open(self._db.storage)
                self._direct = self._query is not None
            if self._query is not None:
                self._last = self._query.newest()
            else:
                if self._instance is None:
                    self._instance = self._db.storage.new_instance()
                self._instance.poll_invalidations()
                self._last = self._instance.lastTransaction()
            self._failing = False
        except Exception as e:
            if not self._failing:
                logger.debug('watching the database for changes failed'
                             ' (%s: %s); the dispatcher polls every'
                             ' poll_interval until it works again',
                             type(e).__name__, e)
            self._failing = True
            self.close()
        return self._last

    def close(self):
        """Release the storage instance or connection."""
        query, self._query = self._query, None
        if query is not None:
            query.close()
        instance, self._instance = self._instance, None
        if instance is not None:
            try:
                instance.release()
            except Exception:
                logger.debug('releasing the change-watching storage instance'
                             ' failed', exc_info=True)


class NewestTidQuery:
    """RelStorage's query for the newest transaction id, on a PostgreSQL
    connection of its own in autocommit mode (each check sees the latest
    commits, in one round trip, and no snapshot is held between checks).

    Uses RelStorage's adapter (``storage._adapter``: its connection
    manager and poller), which has no public name: ``open`` returns None
    when the storage does not look like that (another RelStorage
    version, another database, another MVCC storage), and the watcher
    polls an instance instead."""

    def __init__(self, adapter, conn, cursor):
        self._adapter = adapter
        self.conn = conn
        self._cursor = cursor

    @classmethod
    def open(cls, storage):
        adapter = getattr(storage, '_adapter', None)
        connmanager = getattr(adapter, 'connmanager', None)
        poller = getattr(adapter, 'poller', None)
        if connmanager is None or not callable(
                getattr(poller, 'get_current_tid', None)):
            return None
        conn, cursor = connmanager.open()
        # psycopg2 (and psycopg 3) have a boolean autocommit attribute;
        # other drivers spell it otherwise, or not at all.
        if not isinstance(getattr(conn, 'autocommit', None), bool) or \
                'postgres' not in type(adapter).__module__:
            connmanager.close(conn, cursor)
            return None
        try:
            conn.rollback()
            conn.autocommit = True
        except BaseException:
            connmanager.close(conn, cursor)
            raise
        return cls(adapter, conn, cursor)

    def newest(self):
        """The id of the newest transaction (8 bytes, as
        ``lastTransaction`` gives it)."""
        return ZODB.utils.p64(self._adapter.poller.get_current_tid(
            self._cursor))

    def close(self):
        try:
            self._adapter.connmanager.close(self.conn, self._cursor)
        except Exception:
            logger.debug('closing the change-watching connection failed',
                         exc_info=True)


def watch(db):
    """The watcher for ``db``: PollingWatcher for an MVCC storage
    (RelStorage), else LastTransactionWatcher."""
    if ZODB.interfaces.IMVCCStorage.providedBy(db.storage):
        return PollingWatcher(db)
    return LastTransactionWatcher(db)
