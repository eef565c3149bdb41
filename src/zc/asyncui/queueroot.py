"""Installing and finding the queues of a database: ``install``,
``getQueues``, ``getQueue`` and ``getQueueDatabase`` (published as
``zc.asyncui.install``, ``zc.asyncui.getQueues``, ...).

The queues live in a ``Queues`` mapping at ``root['zc.asyncui']``
(zc.asyncui.queues).  In a ZODB multi-database they may live in a
database of their own (``install(db, database='async')``): that
database's root holds them, and the root of the application's database
refers to them under the same key (a cross-database reference), so
``getQueue(obj)`` finds them from any application object.
"""
import threading
import weakref

import transaction
import ZODB.interfaces

from zc.asyncui import errors
from zc.asyncui import history
from zc.asyncui import interfaces
from zc.asyncui import utils
from zc.asyncui.queue import Queue
from zc.asyncui.queues import Queues
from zc.asyncui.queues import _as_name

# queue database -> name of the database its connections are opened
# through (see openConnection)
_through = weakref.WeakKeyDictionary()
_through_lock = threading.Lock()


def _open(db_or_connection):
    """(connection, transaction manager, close?) for a DB or connection."""
    if ZODB.interfaces.IDatabase.providedBy(db_or_connection):
        tm = transaction.TransactionManager()
        return db_or_connection.open(tm), tm, True
    if hasattr(db_or_connection, 'root') and hasattr(db_or_connection, 'db'):
        return db_or_connection, db_or_connection.transaction_manager, False
    raise TypeError('Expected a ZODB database or connection, not %r'
                    % (db_or_connection,))


def install(db_or_connection, names=('',), database=None):
    """Create ``root['zc.asyncui']``, the named queues and the history of
    finished jobs (``root['zc.asyncui.history']``) if missing.

    ``database``: the name of the database, in the multi-database of
    ``db_or_connection``, that holds the queues (for example
    ``'async'``); None: the database given.  With another database's
    name, the queues and the history are created in that database, and
    the given database's root refers to the queues (``root['zc.asyncui']``,
    a cross-database reference), so that ``getQueue(obj)`` finds them
    from its objects; the Queues record that database's name in
    ``linked_databases``.  ConfigurationError if the name is not in the
    multi-database, or if the given database already has queues of its
    own.

    With a database it commits its own transaction; with a connection it
    only adds to the connection's current transaction (the caller
    commits).  Idempotent.  Returns the list of queue names created.
    """
    names = _queue_names(names)
    conn, tm, own = _open(db_or_connection)
    try:
        target = connectionOf(conn, database)
        if not database:
            # Already installed in another database, which this one's
            # root refers to: install more queues there.
            linked = getattr(conn.root().get(interfaces.KEY), '_p_jar', None)
            target = linked or target

        def work():
            created = _install(target, names)
            if target is not conn:
                _link(conn, target)
            return created
        if own:
            return utils.retry_transaction(tm, work, 'install queues',
                                           attempts=10)
        return work()
    finally:
        if own:
            conn.close()


def _install(conn, names):
    """Create the queues and the history in ``conn``'s root; returns the
    names of the queues created."""
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


def _link(conn, target):
    """Refer to ``target``'s queues from ``conn``'s root."""
    queues = target.root()[interfaces.KEY]
    root = conn.root()
    name = conn.db().database_name
    existing = root.get(interfaces.KEY)
    if existing is None:
        root[interfaces.KEY] = queues
    elif existing is not queues:
        raise errors.ConfigurationError(
            'Database %r already has queues (root[%r]) in database %r, so it'
            ' cannot also use the queues of database %r. Keep one place for'
            ' the queues: install them where they already are (database=%r),'
            ' or delete root[%r] of database %r once its queues are empty.'
            % (name, interfaces.KEY, _name_of(existing),
               target.db().database_name, _name_of(existing),
               interfaces.KEY, name))
    if name not in queues.linked_databases:
        queues.linked_databases = tuple(sorted(
            queues.linked_databases + (name,)))
        with _through_lock:
            _through.pop(target.db(), None)


def _name_of(obj):
    jar = getattr(obj, '_p_jar', None)
    return None if jar is None else jar.db().database_name


def connectionOf(conn, database=None):
    """The connection to the database named ``database`` of ``conn``'s
    multi-database (``conn`` itself for None or its own name), in
    ``conn``'s transaction; ConfigurationError listing the databases
    there are for an unknown name."""
    if not database:
        return conn
    _check_database_name(conn.db(), database)
    return conn.get_connection(database)


def _check_database_name(db, database):
    if not isinstance(database, str):
        raise errors.ConfigurationError(
            'A database name is a string, such as \'async\', not %r'
            % (database,))
    databases = getattr(db, 'databases', {})
    if database not in databases:
        raise errors.ConfigurationError(
            'No database named %r in the multi-database of database %r; its'
            ' databases are: %s. Open the database that holds the queues'
            ' with databases=<the same dict> and database_name=%r (or name'
            ' a <zodb> section %r in zope.conf), or correct the name.'
            % (database, db.database_name,
               ', '.join(map(repr, sorted(databases))) or 'none',
               database, database))


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


def getQueues(obj_or_connection, database=None):
    """The Queues mapping of the database of a persistent object or
    connection (the one its root refers to, which may live in another
    database of a multi-database), or of the database named ``database``
    of its multi-database; raises NotInstalledError if missing."""
    conn = _connection_of(obj_or_connection)
    conn = connectionOf(conn, database)
    queues = conn.root().get(interfaces.KEY)
    if queues is None:
        name = conn.db().database_name
        raise errors.NotInstalledError(
            'Database %r has no zc.asyncui queues: call zc.asyncui.install(db)'
            ' once (it is idempotent). If the queues live in another'
            ' database of a multi-database, install them with'
            ' zc.asyncui.install(db, database=\'async\') (this database\'s'
            ' root then refers to them), or pass database= here.' % name)
    return queues


def getQueue(obj_or_connection, name='', database=None):
    """The queue ``name`` of the database of a persistent object or
    connection (see getQueues)."""
    return getQueues(obj_or_connection, database)[name]


def getQueueDatabase(db, database=None):
    """The database that holds the queues of ``db``: the database named
    ``database`` of its multi-database if given (ConfigurationError for
    an unknown name), else the database that ``db``'s root refers to
    for its queues (install(db, database=...)), else ``db`` itself.
    Dispatchers, monitors and tools work on that database."""
    if not ZODB.interfaces.IDatabase.providedBy(db):
        raise TypeError('Expected a ZODB database, not %r' % (db,))
    if database:
        _check_database_name(db, database)
        return db.databases[database]
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        queues = conn.root().get(interfaces.KEY)
        jar = getattr(queues, '_p_jar', None)
        return db if jar is None else jar.db()
    finally:
        tm.abort()
        conn.close()


def _connection_of(obj):
    if hasattr(obj, 'root') and hasattr(obj, 'db'):
        return obj
    jar = getattr(obj, '_p_jar', None)
    if jar is None:
        raise errors.NotInDatabaseError(
            '%r is not stored in a database: pass a connection, or an object'
            ' that has been added to one.' % (obj,))
    return jar


def openConnection(db, transaction_manager=None):
    """``(primary, conn)``: ``conn`` a connection to ``db`` (a database
    holding queues) in ``transaction_manager``; close ``primary``, never
    ``conn``, when done.

    Where the application's database refers to these queues (their
    ``linked_databases``) and is in this process's multi-database, the
    connection is opened through it, as the application opens its own:
    ``primary`` is a connection to the application's database and
    ``conn`` its secondary connection to ``db``.  Why: ZODB pools only
    primary connections, each keeping its secondaries.  A primary
    opened on ``db`` whose jobs load application objects would take a
    pooled application connection together with *its* connection to
    ``db``: two connections to ``db`` in one transaction, whose commit
    then blocks on the storage's commit lock.  Elsewhere ``primary`` is
    ``conn``.
    """
    name = _through_name(db)
    if name == db.database_name:
        conn = db.open(transaction_manager)
        return conn, conn
    primary = db.databases[name].open(transaction_manager)
    try:
        return primary, primary.get_connection(db.database_name)
    except BaseException:
        primary.close()
        raise


def _through_name(db):
    with _through_lock:
        name = _through.get(db)
    if name is not None:
        return name
    name = db.database_name
    opened = getattr(db, 'databases', {})
    if len(opened) > 1:
        # Read directly: linked_databases is a tuple of names, so no
        # other database is reached.
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        try:
            queues = conn.root().get(interfaces.KEY)
            linked = [n for n in getattr(queues, 'linked_databases', ())
                      if n in opened]
        finally:
            tm.abort()
            conn.close()
        name = linked[0] if linked else name
    with _through_lock:
        _through[db] = name
    return name
