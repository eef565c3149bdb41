"""Hearing of other processes' commits the moment they arrive.

The dispatcher's poll thread checks the database's last transaction id
every ``CHANGE_CHECK_SECONDS`` (zc.asyncui.changes): a job put by another
process waits for that check, 10 ms on average through ZEO.  A ZEO client
is told of every commit of the other clients by its server, which hands
the news to the database (``invalidate(tid, oids)`` of ZODB's
``MVCCAdapter``, from the client's I/O thread); ``listen`` adds a call of
its own there, so the dispatcher wakes as the news arrives.

Only where the storage tells the database that way (ZEO: ZODB 5's
``DB._mvcc_storage``, registered with its storage); elsewhere ``listen``
does nothing and returns False, and the periodic check stays (as it
does everywhere: it is the net under this).  Callbacks run in the
storage's thread: they must only set a flag or an event.

Layer: process runtime.
"""
import logging

logger = logging.getLogger(__name__)


class _Listeners:
    """What replaces the adapter's ``invalidate``: the original, then
    each callback."""

    def __init__(self, original):
        self.original = original
        self.callbacks = []

    def __call__(self, transaction_id, oids):
        self.original(transaction_id, oids)
        for callback in list(self.callbacks):
            try:
                callback()
            except Exception:
                logger.exception('a listener of commits failed')


def _adapter(db):
    adapter = getattr(db, '_mvcc_storage', None)
    try:
        from ZODB.mvccadapter import MVCCAdapter
    except ImportError:  # pragma: no cover (ZODB 5 has it)
        return None
    if not isinstance(adapter, MVCCAdapter):
        return None
    # A storage that tells (ZEO's ClientStorage) keeps the adapter it
    # registered with; one that does not (FileStorage) keeps nothing.
    storage = getattr(adapter, '_storage', None)
    return adapter if getattr(storage, '_db', None) is adapter else None


def listen(db, callback):
    """Call ``callback()`` whenever ``db``'s storage hears of another
    process's commit; True if it can, False if ``db`` does not tell (then
    nothing changed)."""
    adapter = _adapter(db)
    if adapter is None:
        return False
    listeners = adapter.__dict__.get('invalidate')
    if not isinstance(listeners, _Listeners):
        listeners = _Listeners(adapter.invalidate)
        adapter.invalidate = listeners
    listeners.callbacks.append(callback)
    return True


def unlisten(db, callback):
    """Stop calling ``callback`` (the adapter keeps its own ``invalidate``
    once no callback is left)."""
    adapter = _adapter(db)
    listeners = None if adapter is None else adapter.__dict__.get(
        'invalidate')
    if not isinstance(listeners, _Listeners):
        return
    if callback in listeners.callbacks:
        listeners.callbacks.remove(callback)
    if not listeners.callbacks:
        del adapter.invalidate
