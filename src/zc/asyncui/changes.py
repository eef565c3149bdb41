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
keeps an instance of its own and polls it: RelStorage's poll is one
indexed query for the objects changed after the last transaction seen
(nothing at all when idle; about 0.2 ms on PostgreSQL here), the same
query every ZODB connection runs; no queue object is loaded.  LISTEN/NOTIFY
was the other way: RelStorage sends no notification of its own, and adding
a trigger to its schema, or a NOTIFY to our commits only, would miss the
commits of other programs; the poll sees every commit.

A watcher belongs to one thread (the dispatcher's poll thread).
"""
import logging

import ZODB.interfaces

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
    """Polls an instance of an MVCC storage (RelStorage) of its own.

    When a poll fails (the database server is down or restarting), the
    last id seen is returned, so nothing changes and ``poll_interval``
    still applies; the instance is released and a new one made at the
    next call.  The dispatcher's poll reports the outage itself.
    """

    def __init__(self, db):
        self._db = db
        self._instance = None
        self._last = None
        self._failing = False

    def lastChange(self):
        """See LastTransactionWatcher.lastChange."""
        try:
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
        """Release the storage instance (its database connections)."""
        instance, self._instance = self._instance, None
        if instance is not None:
            try:
                instance.release()
            except Exception:
                logger.debug('releasing the change-watching storage instance'
                             ' failed', exc_info=True)


def watch(db):
    """The watcher for ``db``: PollingWatcher for an MVCC storage
    (RelStorage), else LastTransactionWatcher."""
    if ZODB.interfaces.IMVCCStorage.providedBy(db.storage):
        return PollingWatcher(db)
    return LastTransactionWatcher(db)
