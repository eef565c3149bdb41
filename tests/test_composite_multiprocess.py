"""parallel and broadcast over ZEO with two ``zc-asyncui run`` worker
processes (the fixtures of test_multiprocess): a kill -9 during the
components and during the postprocess, and a broadcast that reaches
both processes."""
import pytest

import compositejobs
import mpjobs
import zc.asyncui
from zc.asyncui import composite
from zc.asyncui.job import ACTIVE, Job

from test_multiprocess import cluster  # noqa: F401 (a fixture)
from test_multiprocess import tags_for
from test_multiprocess import wait_until

pytestmark = pytest.mark.multiprocess


def _put_parallel(cluster, tags, seconds):
    def put(conn):
        mpjobs.ledger(conn).prepare(tags + ['postprocess'])
        outer = zc.asyncui.parallel(
            *[Job(mpjobs.work, tag, seconds, cluster.calls_file)
              for tag in tags], postprocess=compositejobs.slow_results)
        return zc.asyncui.getQueue(conn).put(outer)
    return cluster.write(put)._p_oid


def _holder_of(cluster, workers, oid):
    """The worker whose dispatcher holds job ``oid`` ACTIVE, or None."""
    for worker in workers:
        if oid in cluster.held(worker.uuid, ACTIVE):
            return worker
    return None


def _postprocess_oid(cluster, outer_oid):
    return cluster.read(lambda conn: composite._composite_of(
        conn.get(outer_oid)).postprocess._p_oid)


def test_parallel_survives_kill_9_of_component_and_postprocess(cluster):
    workers = [cluster.start(cluster.worker(n)) for n in 'ab']
    tags = tags_for('part', 12)
    outer = _put_parallel(cluster, tags, seconds=0.4)
    # kill -9 a worker while it runs a component
    victim = wait_until(lambda: next((w for w in workers if cluster.held(
        w.uuid, ACTIVE)), None), 30, 'a component to run', interval=0.01)
    victim.kill()
    cluster.start(victim)
    # ... and whichever worker then runs the postprocess
    post = _postprocess_oid(cluster, outer)
    victim = wait_until(lambda: _holder_of(cluster, workers, post), 60,
                        'the postprocess to run', interval=0.01)
    victim.kill()

    def result(conn):
        job = conn.get(outer)
        return job.result if job._status == 'COMPLETED' else None
    assert wait_until(lambda: cluster.read(result), 60,
                      'the parallel job') == tags

    def check(conn):
        book = mpjobs.ledger(conn)
        assert {t: n for t, n in book.runs.items() if n != 1} == {}
        comp = composite._composite_of(conn.get(outer))
        assert all(j._status == 'COMPLETED' for j in comp.components)
        every = comp.components + (comp.postprocess, comp.outer)
        outcomes = [a['outcome'] for j in every for a in j.attempts]
        assert any(str(o).startswith('interrupted') for o in outcomes)
        assert str(comp.postprocess.attempts[0]['outcome']).startswith(
            'interrupted')
    cluster.read(check)
    cluster.check_logs()


def test_broadcast_reaches_both_processes(cluster):
    a, b = (cluster.start(cluster.worker(n)) for n in 'ab')
    oid = cluster.write(lambda conn: zc.asyncui.broadcast(
        compositejobs.pid, queue=zc.asyncui.getQueue(conn)))._p_oid

    def result(conn):
        job = conn.get(oid)
        return job.result if job._status == 'COMPLETED' else None
    found = wait_until(lambda: cluster.read(result), 60, 'the broadcast')
    assert found == {a.uuid: a.process.pid, b.uuid: b.process.pid}
    cluster.check_logs()


def test_broadcast_copy_of_killed_worker_is_a_failure(cluster):
    a, b = (cluster.start(cluster.worker(n)) for n in 'ab')
    oid = cluster.write(lambda conn: zc.asyncui.broadcast(
        compositejobs.pid_slowly, 2.0,
        queue=zc.asyncui.getQueue(conn)))._p_oid
    wait_until(lambda: cluster.held(b.uuid, ACTIVE), 30,
               'worker b to run its copy', interval=0.01)
    b.kill()

    def result(conn):
        job = conn.get(oid)
        return job.result if job._status == 'COMPLETED' else None
    found = wait_until(lambda: cluster.read(result), 60, 'the broadcast')
    assert found[a.uuid] == a.process.pid
    assert 'AbortedError' in found[b.uuid].type_name
    assert 'not given to another dispatcher' in found[b.uuid].message
    cluster.check_logs()
