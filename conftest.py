"""Fixtures shared by the tests and the doctests in docs/.

Every doctest file gets a fresh FileStorage database in a temporary
directory (``db``), with zc.asyncui installed, a ``conn`` opened with the
thread's transaction manager, and any dispatcher it starts stopped at the
end.
"""
import datetime
import os
import sys

import pytest
import transaction

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'tests'))


def _stop_dispatchers():
    from zc.asyncui import dispatcher
    dispatcher.stop_all(10.0)
    with dispatcher._registry_lock:
        dispatcher._registry.clear()


@pytest.fixture
def db(tmp_path):
    """A ZODB on a FileStorage in a temporary directory."""
    from zc.asyncui import testing
    database = testing.file_storage_db(str(tmp_path))
    yield database
    _stop_dispatchers()
    transaction.abort()
    database.close()


@pytest.fixture
def conn(db):
    """A connection to ``db`` (queues installed) with its own transaction
    manager."""
    import zc.asyncui
    zc.asyncui.install(db)
    tm = transaction.TransactionManager()
    connection = db.open(tm)
    yield connection
    tm.abort()
    connection.close()


#: The time a ``clock`` fixture starts at.
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def clock():
    """A FakeClock (zc.asyncui.testing) at T0, moved only by the test."""
    from zc.asyncui import testing
    with testing.FakeClock(T0) as fake:
        yield fake


@pytest.fixture
def queue(conn):
    """The default queue, seen through ``conn``."""
    import zc.asyncui
    return zc.asyncui.getQueue(conn)


@pytest.fixture
def concurrently(db):
    """``concurrently(first, second)``: call ``first(conn1)`` and
    ``second(conn2)`` in two transactions begun together, commit the first
    and then the second (which must resolve any conflict), and return
    both results."""
    def run(first, second):
        pairs = []
        try:
            for _ in range(2):
                tm = transaction.TransactionManager()
                pairs.append((db.open(tm), tm))
            for _, tm in pairs:
                tm.begin()
            results = (first(pairs[0][0]), second(pairs[1][0]))
            for _, tm in pairs:
                tm.commit()
            return results
        finally:
            for connection, tm in pairs:
                tm.abort()
                connection.close()
    return run


@pytest.fixture(autouse=True)
def _doctest_namespace(request, doctest_namespace, tmp_path):
    """Fill the namespace of doctest files in docs/."""
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    import zc.asyncui
    from zc.asyncui import testing
    database = testing.file_storage_db(str(tmp_path))
    zc.asyncui.install(database)
    conn = database.open()
    doctest_namespace.update(
        db=database, conn=conn, transaction=transaction,
        tmpdir=str(tmp_path), zc=zc)
    old = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        yield
    finally:
        os.chdir(old)
        _stop_dispatchers()
        transaction.abort()
        conn.close()
        database.close()


@pytest.fixture(autouse=True)
def _no_leaked_dispatchers():
    yield
    _stop_dispatchers()


# -- RelStorage on PostgreSQL (issue 11) -----------------------------------

@pytest.fixture(scope='session')
def postgres_cluster():
    """A throwaway PostgreSQL server for the session (tests/pgcluster.py);
    skips when PostgreSQL is not available, fails instead under
    ZC_ASYNCUI_REQUIRE_POSTGRES=1."""
    import pgcluster
    pgcluster.skip_unless_available()
    cluster = pgcluster.PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_uri(postgres_cluster):
    """The postgres:// URI (history-free) of a new, empty database."""
    return postgres_cluster.createDatabase()
