"""A WorkPile fed by a client while two ``zc-asyncui run --zeo`` workers
drain it, one of them killed with SIGKILL while its drain job runs: every
item is processed exactly once (fixtures of test_multiprocess)."""
import pytest

import mpjobs
import routingjobs
import zc.asyncui
from test_multiprocess import cluster  # noqa: F401 (fixture)
from test_multiprocess import tags_for
from test_multiprocess import wait_until
from zc.asyncui.job import ACTIVE
from zc.asyncui.job import COMPLETED
from zc.asyncui.workpile import WorkPile

pytestmark = pytest.mark.multiprocess

PILE = 'routing.pile'


def _feed(cluster, tags):
    def feed(conn):
        pile = conn.root()[PILE]
        for tag in tags:
            pile.append(tag)
        return pile.ensureJob(zc.asyncui.getQueue(conn),
                              routingjobs.count_items)._p_oid
    return cluster.write(feed)


def test_workpile_survives_kill_9_and_processes_each_item_once(cluster):
    a = cluster.start(cluster.worker('a'))
    b = cluster.start(cluster.worker('b'))
    tags = tags_for('item', 120)

    def setup(conn):
        mpjobs.ledger(conn).prepare(tags)
        conn.root()[PILE] = WorkPile()
    cluster.write(setup)
    jobs = set()
    for n in range(0, len(tags), 5):
        jobs.add(_feed(cluster, tags[n:n + 5]))
        if n == 60:
            # Kill whichever worker runs a drain now.
            wait_until(lambda: cluster.held(a.uuid, ACTIVE) or
                       cluster.held(b.uuid, ACTIVE), 30, 'a drain to run',
                       interval=0.01)
            victim = a if cluster.held(a.uuid, ACTIVE) else b
            victim.kill()
            cluster.start(victim)
    assert len(jobs) > 1  # jobs started meanwhile, new ones were put

    def counted(conn):
        return mpjobs.ledger(conn).run_count()
    wait_until(lambda: cluster.read(counted) >= len(tags) and
               cluster.read(lambda conn: len(conn.root()[PILE]) == 0),
               120, 'every item to be processed', interval=0.2)

    # The killed drain is recovered and completes too (taking nothing,
    # or what was appended since).
    wait_until(lambda: cluster.read(lambda conn: all(
        conn.get(oid)._status == COMPLETED for oid in jobs)), 60,
        'every drain job to complete', interval=0.2)

    def check(conn):
        runs = dict(mpjobs.ledger(conn).runs.items())
        assert {t: n for t, n in runs.items() if n != 1} == {}
        assert mpjobs.ledger(conn).run_count() == len(tags)
        interrupted = [a for oid in jobs for a in conn.get(oid)._attempts
                       if str(a[4]).startswith('interrupted')]
        assert interrupted, 'the kill interrupted no drain'
    cluster.read(check)
    cluster.check_logs()
