"""tests/pgcluster.py's measurements, which bench/multiprocess.py prints:
the CPU of the cluster's processes and the statements RelStorage ran."""
import os

import pytest
import transaction

from zc.asyncui import dburi

import pgcluster


def _commit_some(uri, count):
    db = dburi.parse(uri).open()
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        for n in range(count):
            conn.root()['n'] = n
            tm.commit()
        conn.close()
    finally:
        db.close()


def test_cpu_seconds_counts_the_server_and_its_backends(postgres_cluster):
    if not os.path.isdir('/proc/self'):
        pytest.skip('no /proc here')
    pid = postgres_cluster.server_pid()
    assert pid is not None and os.path.exists('/proc/%d' % pid)
    before = postgres_cluster.cpu_seconds()
    # The backends serving these commits end with the database's close:
    # their CPU is still counted (the postmaster reaped them).
    _commit_some(postgres_cluster.createDatabase(), 200)
    assert postgres_cluster.cpu_seconds() > before


def test_statement_counts_need_pg_stat_statements(postgres_cluster):
    uri = postgres_cluster.createDatabase()
    name = uri.rsplit('/', 1)[1].partition('?')[0]
    assert postgres_cluster.statement_counts(name) is None


def test_statement_counts_count_relstorage_commits():
    pgcluster.skip_unless_available()
    cluster = pgcluster.PostgresCluster()
    if not cluster.library_available('pg_stat_statements'):
        pytest.skip('this PostgreSQL has no pg_stat_statements')
    cluster.settings += ('shared_preload_libraries=pg_stat_statements',)
    cluster.start()
    try:
        uri = cluster.createDatabase()
        name = uri.rsplit('/', 1)[1].partition('?')[0]

        def commits():
            return sum(calls for query, (calls, ms) in
                       cluster.statement_counts(name).items()
                       if 'lock_and_choose_tid_and_move' in query)
        _commit_some(uri, 1)  # creates the schema and the root
        before = commits()
        _commit_some(uri, 7)
        assert commits() - before == 7
    finally:
        cluster.stop()
