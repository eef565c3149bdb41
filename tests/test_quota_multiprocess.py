"""Quotas across worker processes on a real ZEO server (issue 8): a
size-1 quota is never over-subscribed by two dispatchers, a kill -9 of
the process running a quota job releases the quota through recovery, and
the same jobs without a quota do overlap (so the check can fail).

Uses the fixtures of tests/test_multiprocess.py (a ZEO server and
``zc-asyncui run --zeo`` workers with agents of size 3).
"""
import pytest

import quotajobs
import zc.asyncui
from test_multiprocess import cluster  # noqa: F401 (the fixture)
from test_multiprocess import tags_for
from test_multiprocess import wait_until
from zc.asyncui.job import ACTIVE, COMPLETED, Job

pytestmark = pytest.mark.multiprocess


def put_timed(cluster, tags, seconds, quota_names=()):
    def put(conn):
        quotajobs.prepare(conn, tags)
        queue = zc.asyncui.getQueue(conn)
        return [queue.put(Job(quotajobs.timed, tag, seconds),
                          quota_names=quota_names) for tag in tags]
    oids = [job._p_oid for job in cluster.write(put)]
    cluster.jobs.extend(oids)
    return oids


def wait_completed(cluster, oids, timeout=90):
    wait_until(lambda: cluster.read(lambda conn: all(
        conn.get(oid)._status == COMPLETED for oid in oids)), timeout,
        '%d jobs to complete' % len(oids), interval=0.2)


def committed_runs(cluster, tags):
    def read(conn):
        book = quotajobs.runs(conn)
        return {tag: book[tag] for tag in tags}
    found = cluster.read(read)
    missing = [tag for tag, run in found.items() if run is None]
    assert not missing, 'jobs without a committed run: %s' % missing
    return sorted(found.values())


def overlaps(intervals):
    return [(a, b) for a, b in zip(intervals, intervals[1:]) if b[0] < a[1]]


def test_size_1_quota_serialises_jobs_across_processes_and_kill_9(cluster):
    cluster.write(lambda conn: zc.asyncui.getQueue(conn).quotas.create(
        'catalog', size=1))
    a = cluster.start(cluster.worker('a'))
    b = cluster.start(cluster.worker('b'))
    # Control: without a quota, agents of size 3 in two processes run
    # these at once.
    free = tags_for('free', 6)
    wait_completed(cluster, put_timed(cluster, free, 1.0))
    assert overlaps(committed_runs(cluster, free))

    # Both processes compete for the quota's one place.
    first = tags_for('catalog', 40)
    wait_completed(cluster, put_timed(cluster, first, 0.05,
                                      quota_names=('catalog',)))
    runs = committed_runs(cluster, first)
    assert not overlaps(runs), overlaps(runs)
    both = len({pid for _, _, pid in runs})
    gaps = [b[0] - a[1] for a, b in zip(runs, runs[1:])]
    # Kill -9 the process running a quota job: recovery must release the
    # quota (else nothing else of the quota ever runs).
    tags = tags_for('after-kill', 6)
    oids = put_timed(cluster, tags, 0.3, quota_names=('catalog',))
    victim = None
    while victim is None:
        wait_until(lambda: cluster.held(a.uuid, ACTIVE) or
                   cluster.held(b.uuid, ACTIVE), 30, 'a quota job to run',
                   interval=0.01)
        victim = a if cluster.held(a.uuid, ACTIVE) else (
            b if cluster.held(b.uuid, ACTIVE) else None)
    victim.kill()
    wait_completed(cluster, oids)
    runs = committed_runs(cluster, first + tags)
    assert not overlaps(runs), overlaps(runs)

    def final(conn):
        queue = zc.asyncui.getQueue(conn)
        return len(queue.quotas['catalog']), len(queue)
    assert cluster.read(final) == (0, 0)
    print('size-1 quota: %d jobs, the first %d shared by %d processes'
          ' (median hand-over %.3fs), never overlapping; the kill -9 of'
          ' worker %s released its place' % (
              len(runs), len(first), both, sorted(gaps)[len(gaps) // 2],
              victim.name))
    cluster.check_logs()
