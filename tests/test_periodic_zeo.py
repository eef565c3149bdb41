"""Periodic schedules on ZEO with real worker processes, one of them
killed with kill -9 while it runs a run of the schedule: every period
still runs at most once, and the schedule keeps exactly one pending run.
"""
import datetime

import pytest

import periodicjobs
import zc.asyncui
# The ``cluster`` fixture (a ZEO server and worker subprocesses).
from test_multiprocess import cluster  # noqa: F401
from zc.asyncui import errors
from zc.asyncui import periodic
from zc.asyncui import testing
from zc.asyncui.job import ACTIVE

pytestmark = pytest.mark.multiprocess

EVERY = datetime.timedelta(seconds=2)
RUN_SECONDS = 1.0


def _ledger(conn):
    return dict(conn.root()[periodicjobs.LEDGER])


def _pending_runs(conn):
    return [job for job in zc.asyncui.getQueue(conn)
            if periodic.ANNOTATION in job.annotations]


def _active_run_of(cluster, uuid):
    """The period of the run dispatcher ``uuid`` runs now, or None."""
    def find(conn):
        for oid in cluster.held(uuid, ACTIVE):
            info = conn.get(oid).annotations.get(periodic.ANNOTATION)
            if info is not None:
                return info['period']
    return cluster.read(find)


def test_exactly_once_with_a_worker_killed(cluster):
    a = cluster.start(cluster.worker('a'))
    b = cluster.start(cluster.worker('b'))

    def setup(conn):
        periodicjobs.install_ledger(conn)
        periodic.schedule(periodicjobs.tick, 'zeo', RUN_SECONDS, every=EVERY,
                          queue=zc.asyncui.getQueue(conn), name='zeo')
    cluster.write(setup)
    # wait until worker a runs a run, then kill it in the middle of it
    killed = testing.wait_until(lambda: _active_run_of(cluster, a.uuid),
                                40, 'worker a to run a run of the schedule')
    a.kill()
    before = len(cluster.read(_ledger))
    testing.wait_until(lambda: len(cluster.read(_ledger)) >= before + 4, 40,
                       'four more runs after the kill')
    b.process.terminate()

    def check(conn):
        ledger = _ledger(conn)
        twice = {p: runs for p, runs in ledger.items() if len(runs) != 1}
        assert not twice, 'periods that ran more than once: %s' % twice
        schedule = periodic.getSchedule(conn, 'zeo')
        pending = _pending_runs(conn)
        assert [job.key for job in pending] == [schedule.job.key]
        # every run that started counted once (the killed one included,
        # retried by b: it committed nothing before the kill)
        assert schedule.runs >= len(ledger)
        periods = sorted(datetime.datetime.fromisoformat(p) for p in ledger)
        steps = {(later - earlier) % EVERY for earlier, later
                 in zip(periods, periods[1:])}
        assert steps == {datetime.timedelta(0)}, periods  # on the grid
        return ledger
    ledger = cluster.read(check)
    # the run killed in a ran again in b, once
    assert [uuid for _, uuid in ledger[killed]] == [b.uuid]
    cluster.check_logs(allowed=('zc.asyncui.recovery',
                                'zc.asyncui.liveness'))


def test_cancel_running_job_from_another_process(cluster):
    """The test's own ZEO client cancels a job that a worker process
    runs: the job sees local.cancelled() and stops."""
    cluster.start(cluster.worker('a'))

    def put(conn):
        return zc.asyncui.getQueue(conn).put(zc.asyncui.Job(
            periodicjobs.loop_until_cancelled, 60.0))._p_oid
    oid = cluster.write(put)
    testing.wait_until(lambda: cluster.read(
        lambda conn: 'started' in conn.get(oid).annotations), 40,
        'the job to start')
    cluster.write(lambda conn: conn.get(oid).cancel())
    testing.wait_until(lambda: cluster.read(
        lambda conn: conn.get(oid)._status == 'COMPLETED'), 20,
        'the cancelled job to stop')
    result = cluster.read(lambda conn: conn.get(oid).result)
    assert result.check(errors.JobCancelledError), result
    assert 'stopped after' in result.message
