"""The embedded server, shared: direct local commits beside ZEO clients.

``zc-asyncui run`` (and ``serve``) serve their FileStorage on a Unix
socket for the local tools (``put``, ``jobs``) and extra workers.  The
serving process itself used to connect to that socket as a ZEO client:
every load and commit of its own dispatcher then crossed the socket and
the server thread, which made the default path several times slower
than ``--storage direct``.  Here the serving process opens its ZODB.DB on
the FileStorage directly, while the ZEO StorageServer keeps serving the
same FileStorage to other processes.

Invalidations must then flow both ways; neither the FileStorage nor ZEO
does it by itself (a FileStorage never calls the database registered
with it: ``BaseStorage.registerDB`` ignores it):

- a ZEO client's commit reaches the local connections: ``SharedServer``
  (a ZEO StorageServer) hands the invalidations of its clients' commits
  to the local ``ZODB.DB``'s MVCC adapter as well as to its other
  clients;
- a local commit reaches the ZEO clients: ``LocalStorage`` (the storage
  the local DB opens: a thin wrapper of the FileStorage) notes the oids
  each transaction stores and hands them to the StorageServer, which
  sends them to every client and records them for clients that
  reconnect later (``getInvalidations``).

Both hand-overs happen in the callback that ``FileStorage.tpc_finish``
calls under its lock, before the new transaction id becomes the
storage's last one, as ZODB's own MVCC adapter does for one process's
connections: no reader can see the new transaction id without its
invalidations.  The FileStorage's commit lock serializes the two sides
(a ZEO client's vote waits in the server thread while a local commit
holds it, and a local ``tpc_begin`` waits while a client's voted
transaction holds it).  So a single transaction must never join both a
local connection and a ZEO client of the same server: its local
``tpc_begin`` would hold the lock that its ZEO vote waits for.

A ZEO client's commit also wakes this process's dispatchers at once (as
a local put does), once it is the storage's last transaction: a job put
by ``zc-asyncui put`` or an application through the socket starts
without waiting for the dispatcher's next look at the last transaction
id (every 20 ms).  Commits that follow within those 20 ms wake them
once, 20 ms after the last wake-up, so a client committing fast costs
no more polls than that look did.
"""
import logging
import threading
import time

import ZEO.asyncio.server
import ZEO.StorageServer
import ZODB
import ZODB.utils
import zope.interface

from zc.asyncui import dispatcher
from zc.asyncui.cli import server

logger = logging.getLogger(__name__)

#: The shortest time between two wake-ups of the local dispatchers after
#: ZEO clients' commits: the period of the dispatcher's own look at the
#: last transaction id.
WAKE_SECONDS = dispatcher.CHANGE_CHECK_SECONDS


class SharedServer(ZEO.StorageServer.StorageServer):
    """A ZEO StorageServer whose storage is also committed to directly by
    a local ZODB.DB (through a ``LocalStorage``).

    See ZEO.StorageServer.StorageServer.  Its clients' commits are handed
    to the local database too (``invalidate``); the local commits are
    announced to its clients on the server's own thread
    (``announceLocalCommit``), and what its clients are told is the last
    transaction is the last one announced, never one whose invalidations
    are still on their way: a ZEO client drops the connection (ValueError
    "new last tid ... must be greater than previous one") when an
    invalidation older than a transaction id it was told arrives later.
    """

    local_db = None  # the MVCC adapter of the local ZODB.DB, once opened
    #: Called without arguments after a client's commit (open_database
    #: makes it wake the local database's dispatchers); None: nothing.
    on_client_commit = None
    # Of the server's thread: when on_client_commit was last called, and
    # whether a later call is planned.
    _last_wake = float('-inf')
    _wake_planned = False

    def create_client_handler(self):
        return SharedZEOStorage(self, self.read_only)

    def invalidate(self, zeo_storage, storage_id, tid, invalidated):
        """See ZEO.StorageServer.StorageServer.invalidate.  A commit of a
        ZEO client (``zeo_storage`` is not None) is handed to the local
        database too.  Called on the server's thread, inside the
        storage's ``tpc_finish`` (under the storage's lock)."""
        local_db = self.local_db
        if zeo_storage is not None and local_db is not None:
            _invalidate_local(local_db, tid, invalidated)
        super().invalidate(zeo_storage, storage_id, tid, invalidated)

    def clientCommitted(self):
        """A client's commit is now the storage's last transaction: call
        ``on_client_commit`` now, or, if it was called less than
        ``WAKE_SECONDS`` ago, once that much time has passed (a call
        already planned covers this commit too).  So every client commit
        is followed by a call, and a client committing often causes one
        call per ``WAKE_SECONDS`` at most.  Called on the server's
        thread."""
        if self.on_client_commit is None or self._wake_planned:
            return
        since = time.monotonic() - self._last_wake
        if since >= WAKE_SECONDS:
            self._wake()
            return
        self._wake_planned = True
        self.acceptor.event_loop.call_later(WAKE_SECONDS - since,
                                            self._planned_wake)

    def _planned_wake(self):
        self._wake_planned = False
        self._wake()

    def _wake(self):
        # On the server's thread.
        self._last_wake = time.monotonic()
        wake = self.on_client_commit
        try:
            if wake is not None:
                wake()
        except Exception:
            # A wake-up only makes a poll come sooner: the commit is done
            # and the dispatcher finds it anyway.
            logger.exception('waking the dispatchers after a ZEO client'
                             ' commit failed')

    def announceLocalCommit(self, storage_id, tid, oids):
        """Announce a local commit to the clients.  Called by a local
        thread inside the storage's ``tpc_finish`` (under its lock, so in
        the order of the transactions); the announcement itself runs on
        the server's thread, like a client's commit, and in that order
        with respect to them (both go through the thread's FIFO queue of
        callbacks)."""
        try:
            self.acceptor.event_loop.call_soon_threadsafe(
                self._announce, storage_id, tid, oids)
        except RuntimeError:  # the server has stopped: nobody to tell
            logger.debug('no ZEO clients to tell of transaction %s',
                         ZODB.utils.tid_repr(tid))

    def _announce(self, storage_id, tid, oids):
        # On the server's thread: record it for clients that reconnect
        # later (getInvalidations), then send it to every client, before
        # any later request of theirs is answered.
        invq = self.invq[storage_id]
        if len(invq) >= self.invq_bound:
            invq.pop()
        invq.insert(0, (tid, oids))
        for zs in list(self.zeo_storages_by_storage_id[storage_id]):
            if zs.connected:
                zs.async_('invalidateTransaction', tid, oids)

    def announcedTid(self, storage_id):
        """The last transaction announced to the clients of
        ``storage_id`` (the newest in its invalidation queue, empty only
        while the storage has no transaction)."""
        invq = self.invq[storage_id]
        return invq[0][0] if invq else ZODB.utils.z64


def _invalidate_local(local_db, tid, oids):
    try:
        local_db.invalidate(tid, oids)
    except AttributeError:
        # ZODB's adapter drops its connections when it closes, which may
        # happen while a client commits (at shutdown): nothing to tell.
        if not local_db.closed:
            raise


class SharedZEOStorage(ZEO.StorageServer.ZEOStorage):
    """A client's connection to a SharedServer.

    See ZEO.StorageServer.ZEOStorage.  ``lastTransaction`` (also the
    answer to ``register``) is the last transaction announced to the
    clients, and ``tpc_finish`` answers the id of the client's own
    transaction (ZEOStorage reads the storage's last one, which a local
    commit may have changed by then).
    """

    def setup_delegation(self):
        super().setup_delegation()
        self.lastTransaction = self._lastAnnounced

    def _lastAnnounced(self):
        return self.server.announcedTid(self.storage_id)

    def tpc_finish(self, id):
        """See ZEOStorage.tpc_finish."""
        if not self._check_tid(id):
            return
        assert self.locked, "finished called wo lock"
        self.stats.commits += 1
        tid = self.storage.tpc_finish(self.transaction, self._invalidate)
        self.async_('info', self.get_size_info())
        self.server.clientCommitted()
        return ZEO.asyncio.server.Result(tid, self._clear_transaction)


class LocalStorage:
    """The FileStorage as the serving process's own ZODB.DB opens it.

    Everything is the FileStorage's, except:

    - ``registerDB`` registers the local database (ZODB's MVCC adapter)
      with ``server``, which hands it its clients' commits;
    - the transaction methods note the oids a transaction writes, and
      ``tpc_finish`` hands them, with its transaction id, to ``server``
      for its ZEO clients.

    Only one transaction at a time is between ``tpc_begin`` and
    ``tpc_finish``/``tpc_abort``: the FileStorage's commit lock, taken by
    ``tpc_begin``, sees to it.  The oids are kept per transaction all the
    same (a dict guarded by ``self._lock``), so that a store for a
    transaction that does not hold the commit lock still fails in the
    FileStorage, not here.
    """

    def __init__(self, storage, server, storage_id):
        self._storage = storage
        self._server = server
        self._storage_id = storage_id
        self._lock = threading.Lock()
        self._written = {}  # {transaction: set of oids}
        zope.interface.alsoProvides(
            self, zope.interface.providedBy(storage))

    def __getattr__(self, name):
        # Called for what this class does not define; methods are kept on
        # the instance, so that each load does not come back here.
        value = getattr(self._storage, name)
        if callable(value):
            setattr(self, name, value)
        return value

    def __len__(self):
        return len(self._storage)

    def zeoServerStatus(self):
        """What the monitor's ``zeostatus`` says in the embedded mode:
        this process is the ZEO server (of its own FileStorage) and how
        many clients it serves now."""
        return {'connected': True, 'role': 'embedded server',
                'server': self._server.addr,
                'storage': self._storage.getName(),
                'clients': len(self._server.zeo_storages_by_storage_id.get(
                    self._storage_id, ()))}

    def close(self):
        """The local database is closing: the server no longer hands it
        invalidations.  The FileStorage stays open: the server owns it
        and closes it when it stops (zc.asyncui.cli.server.stop_server),
        after its clients are gone."""
        self._server.local_db = None

    def registerDB(self, db):
        """See IStorage.registerDB: ``db`` gets the server's clients'
        invalidations."""
        self._server.local_db = db

    def tpc_begin(self, transaction, tid=None, status=' '):
        """See IStorage.tpc_begin."""
        self._storage.tpc_begin(transaction, tid, status)
        with self._lock:
            self._written[transaction] = set()

    def store(self, oid, serial, data, version, transaction):
        """See IStorage.store."""
        result = self._storage.store(oid, serial, data, version, transaction)
        self._note(transaction, (oid,))
        return result

    def storeBlob(self, oid, serial, data, blobfilename, version,
                  transaction):
        """See IBlobStorage.storeBlob."""
        result = self._storage.storeBlob(oid, serial, data, blobfilename,
                                         version, transaction)
        self._note(transaction, (oid,))
        return result

    def restore(self, oid, serial, data, version, prev_txn, transaction):
        """See IStorageRestoreable.restore."""
        self._storage.restore(oid, serial, data, version, prev_txn,
                              transaction)
        self._note(transaction, (oid,))

    def deleteObject(self, oid, serial, transaction):
        """See IExternalGC.deleteObject."""
        self._storage.deleteObject(oid, serial, transaction)
        self._note(transaction, (oid,))

    def undo(self, transaction_id, transaction):
        """See IStorageUndoable.undo."""
        result = self._storage.undo(transaction_id, transaction)
        if result:
            self._note(transaction, result[1])
        return result

    def _note(self, transaction, oids):
        with self._lock:
            self._written[transaction].update(oids)

    def tpc_finish(self, transaction, func=lambda tid: None):
        """See IStorage.tpc_finish: the server learns the commit in the
        callback, under the storage's lock, as the local database does."""
        with self._lock:
            oids = self._written.pop(transaction, set())

        def finish(tid):
            func(tid)  # the local connections first (ZODB's adapter)
            self._server.announceLocalCommit(self._storage_id, tid,
                                             list(oids))

        return self._storage.tpc_finish(transaction, finish)

    def tpc_abort(self, transaction):
        """See IStorage.tpc_abort."""
        with self._lock:
            self._written.pop(transaction, None)
        return self._storage.tpc_abort(transaction)


def open_database(storage, address, db_kw=None, wake=None):
    """(server, db): start a ``SharedServer`` for the FileStorage
    ``storage`` on ``address`` (as zc.asyncui.cli.server.serve does) and
    open a ZODB.DB on it for this process's direct use.  ``db_kw``:
    keywords of ZODB.DB.  A ZEO client's commit calls ``wake(db)`` (see
    SharedServer.clientCommitted); by default (None)
    zc.asyncui.dispatcher.wake, which wakes the dispatchers of ``db`` in
    this process.  Close ``db`` before stopping the server
    (zc.asyncui.cli.server.stop_server), which closes the storage."""
    srv = server.serve(storage, address, factory=SharedServer)
    try:
        db = ZODB.DB(LocalStorage(storage, srv, server.STORAGE_NAME),
                     **(db_kw or {}))
    except BaseException:
        server.stop_server(srv, address)
        raise
    srv.on_client_commit = lambda: (wake or dispatcher.wake)(db)
    return srv, db
