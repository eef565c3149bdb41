"""Installing and finding the queues of a database: ``install``,
``getQueues`` and ``getQueue`` (published as ``zc.asyncui.install``,
``zc.asyncui.getQueues`` and ``zc.asyncui.getQueue``).

The queues live in a ``Queues`` mapping at ``root['zc.asyncui']``
(zc.asyncui.queue).
"""
import transaction
import ZODB.interfaces

from zc.asyncui import errors
from zc.asyncui import history
from zc.asyncui import interfaces
from zc.asyncui import utils
from zc.asyncui.queue import Queue
from zc.asyncui.queues import Queues
from zc.asyncui.queues import _as_name


def _open(db_or_connection):
    """(connection, transaction manager, close?) for a DB or connection."""
    if ZODB.interfaces.IDatabase.providedBy(db_or_connection):
        tm = transaction.TransactionManager()
        return db_or_connection.open(tm), tm, True
    if hasattr(db_or_connection, 'root') and hasattr(db_or_connection, 'db'):
        return db_or_connection, db_or_connection.transaction_manager, False
    raise TypeError('Expected a ZODB database or connection, not %r'
                    % (db_or_connection,))


def install(db_or_connection, names=('',)):
    """Create ``root['zc.asyncui']``, the named queues and the history of
    finished jobs (``root['zc.asyncui.history']``) if missing.

    With a database it commits its own transaction; with a connection it
    only adds to the connection's current transaction (the caller
    commits).  Idempotent.  Returns the list of queue names created.
    """
    names = _queue_names(names)
    conn, tm, own = _open(db_or_connection)
    try:
        def work():
            root = conn.root()
            queues = root.get(interfaces.KEY)
            if queues is None:
                queues = root[interfaces.KEY] = Queues()
                conn.add(queues)
            if root.get(history.KEY) is None:
                # Here, once, rather than at the first completion: two
                # dispatchers finishing their first jobs would both write
                # the root.
                root[history.KEY] = history.History()
            created = []
            for name in names:
                if name not in queues:
                    queues[name] = Queue(name)
                    created.append(name)
            for queue in queues.values():
                upgrade = getattr(queue, '_upgrade', None)  # other IQueues
                if upgrade is not None:
                    upgrade()  # a queue stored by an older release
            return created
        if own:
            return utils.retry_transaction(tm, work, 'install queues',
                                           attempts=10)
        return work()
    finally:
        if own:
            conn.close()


def _queue_names(names):
    """``names`` as a list of strings; otherwise TypeError saying what was
    wrong and what to pass (checked before anything is created)."""
    if isinstance(names, str):
        raise TypeError('names must be a sequence of queue names, not the'
                        ' string %r (write names=[%r])' % (names, names))
    try:
        names = list(names)
    except TypeError:
        raise TypeError(
            'names must be a sequence of queue names (strings), not %r:'
            ' write names=[\'\'] for the default queue, or names=[\'\','
            ' \'reports\']' % (names,)) from None
    bad = [name for name in names if not isinstance(name, str)]
    if bad:
        raise TypeError(
            'queue names are strings, but names=%r contains %s: pass'
            ' strings, for example names=%r'
            % (names, ', '.join('%r (%s)' % (name, type(name).__name__)
                                for name in bad),
               [_as_name(name) for name in names]))
    return names


def getQueues(obj_or_connection):
    """The Queues mapping of the database of a persistent object or
    connection; raises NotInstalledError if missing."""
    conn = _connection_of(obj_or_connection)
    queues = conn.root().get(interfaces.KEY)
    if queues is None:
        raise errors.NotInstalledError(
            'This database has no zc.asyncui queues: call'
            ' zc.asyncui.install(db) once (it is idempotent).')
    return queues


def getQueue(obj_or_connection, name=''):
    """The queue ``name`` of the database of a persistent object or
    connection."""
    return getQueues(obj_or_connection)[name]


def _connection_of(obj):
    if hasattr(obj, 'root') and hasattr(obj, 'db'):
        return obj
    jar = getattr(obj, '_p_jar', None)
    if jar is None:
        raise errors.NotInDatabaseError(
            '%r is not stored in a database: pass a connection, or an object'
            ' that has been added to one.' % (obj,))
    return jar
