"""parallel, serial and broadcast (zc.asyncui.composite, zc.asyncui.pins):
results, postprocess, growth, parking, annotations, bad input, and
pinned copies on real dispatchers."""
import datetime
import types
import uuid

import pytest
import transaction
import ZODB.POSException
import zope.interface
from zope.interface.verify import verifyClass
from zope.interface.verify import verifyObject

import compositejobs
import jobs
import zc.asyncui
from zc.asyncui import composite
from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import patterns
from zc.asyncui import pins
from zc.asyncui import testing
from zc.asyncui.agent import Agent
from zc.asyncui.execution import mark_active
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job

A = composite.ANNOTATION


def _run(conn, outer):
    queue = zc.asyncui.getQueue(conn)
    queue.put(outer)
    conn.transaction_manager.commit()
    testing.run_jobs(conn)
    return outer


def test_public_names():
    assert patterns.parallel is zc.asyncui.parallel is composite.parallel
    assert patterns.serial is zc.asyncui.serial is composite.serial
    assert patterns.broadcast is zc.asyncui.broadcast


def test_composite_provides_icomposite(conn):
    verifyClass(interfaces.IComposite, composite.Composite)
    for make in (zc.asyncui.parallel, zc.asyncui.serial):
        state = composite._composite_of(make(jobs.noop, jobs.noop))
        verifyObject(interfaces.IComposite, state)
        interfaces.IComposite.validateInvariants(state)
        _run(conn, state.outer)
        assert (state.finished_count, state.put_count) == (2, 2)
        interfaces.IComposite.validateInvariants(state)


def test_icomposite_invariants_refuse_bad_counts():
    state = composite._composite_of(zc.asyncui.serial(jobs.noop, jobs.noop))
    state.put_count = 2  # two put while none finished: not serial
    with pytest.raises(zope.interface.Invalid):
        interfaces.IComposite.validateInvariants(state)
    state.kind, state.finished_count = composite.PARALLEL, 3
    with pytest.raises(zope.interface.Invalid):
        interfaces.IComposite.validateInvariants(state)


def test_parallel_wo_postprocess_results_in_order(conn):
    outer = _run(conn, zc.asyncui.parallel(
        Job(jobs.add, 1, 2), jobs.noop, Job(jobs.fail, 'no')))
    assert outer.status == 'COMPLETED'
    three, none, failure = outer.result
    assert (three, none) == (3, None)
    assert isinstance(failure, Failure) and failure.type_name.endswith(
        'ValueError')


def test_parallel_with_postprocess_gets_finished_jobs(conn):
    outer = _run(conn, zc.asyncui.parallel(
        Job(jobs.add, 1, 2), Job(jobs.add, 3, 4),
        postprocess=compositejobs.keys))
    assert outer.result == ['COMPLETED', 'COMPLETED']
    outer = _run(conn, zc.asyncui.parallel(
        Job(jobs.add, 1, 2), Job(jobs.add, 3, 4),
        postprocess=compositejobs.total))
    assert outer.result == 10


def test_parallel_annotations_list_components(conn):
    outer = _run(conn, zc.asyncui.parallel(jobs.noop, jobs.noop))
    info = outer.annotations[A]
    post = composite._composite_of(outer).postprocess
    assert info['kind'] == 'parallel'
    assert info['postprocess'] == post.key
    components = composite._composite_of(outer).components
    assert info['components'] == tuple(j.key for j in components)
    assert components[1].annotations[A] == {
        'kind': 'parallel', 'outer': outer.key, 'position': 1}
    assert post.annotations[A]['role'] == 'postprocess'


def test_serial_runs_in_order_and_records_position(conn):
    del jobs.calls[:]
    outer = _run(conn, zc.asyncui.serial(
        Job(jobs.record, 'a'), Job(jobs.fail), Job(jobs.record, 'c')))
    assert jobs.calls == ['a', 'c']
    assert outer.result[0] == 'a' and outer.result[2] == 'c'
    assert isinstance(outer.result[1], Failure)
    assert outer.annotations[A]['position'] == 3
    first, second, third = composite._composite_of(outer).components
    # each one started after the one before it finished
    assert second.active_start >= first.active_end
    assert third.active_start >= second.active_end


def test_serial_waits_for_each_component(conn, clock):
    later = Job(jobs.record, 'later')
    later.begin_after = clock() + datetime.timedelta(hours=1)
    outer = _run(conn, zc.asyncui.serial(
        Job(jobs.record, 'now'), later, Job(jobs.record, 'last')))
    comp = composite._composite_of(outer)
    assert outer.status == 'ACTIVE' and outer.waiting_on is comp.postprocess
    assert outer.annotations[A]['position'] == 1
    assert comp.components[2].status == 'NEW'   # not put yet
    assert comp.postprocess.begin_after == composite.PARKED
    clock.advance(hours=2)
    testing.run_jobs(conn, clock=clock)
    assert outer.result == ['now', 'later', 'last']


def test_postprocess_parked_until_last_component(conn, clock):
    later = Job(jobs.noop, 2)
    later.begin_after = clock() + datetime.timedelta(hours=1)
    outer = _run(conn, zc.asyncui.parallel(Job(jobs.noop, 1), later))
    comp = composite._composite_of(outer)
    assert comp.components[0].status == 'COMPLETED'
    assert comp.postprocess.status == 'PENDING'
    assert comp.postprocess.begin_after == composite.PARKED
    assert outer.status == 'ACTIVE'
    clock.advance(hours=2)
    testing.run_jobs(conn, clock=clock)
    assert outer.result == [1, 2]
    assert len(comp.postprocess.attempts) == 1


def test_empty_composites_finish_with_empty_list(conn):
    assert _run(conn, zc.asyncui.parallel()).result == []
    assert _run(conn, zc.asyncui.serial()).result == []


def test_component_extends_its_parallel_job(conn):
    outer = _run(conn, zc.asyncui.parallel(
        Job(compositejobs.grow, 1, 2, 3), Job(jobs.noop, 4)))
    assert outer.result == [1, 4, 2, 3]
    assert len(outer.annotations[A]['components']) == 4


def test_component_extends_its_serial_job(conn):
    outer = _run(conn, zc.asyncui.serial(
        Job(compositejobs.grow, 1, 2), Job(jobs.noop, 3)))
    assert outer.result == [1, 3, 2]


def test_extend_before_run(conn):
    outer = zc.asyncui.serial(Job(jobs.noop, 1))
    added = composite.extend(outer, jobs.noop)
    assert isinstance(added[0], Job)
    assert _run(conn, outer).result == [1, None]


def test_extend_after_postprocess_released(conn):
    outer = _run(conn, zc.asyncui.parallel(jobs.noop))
    with pytest.raises(errors.BadStatusError, match='cannot take more'):
        composite.extend(outer, jobs.noop)


def test_extend_wo_composite_job():
    with pytest.raises(TypeError, match='not a job made by'):
        composite.extend(Job(jobs.noop), jobs.noop)
    assert composite.outer_of(Job(jobs.noop)) is None


def test_bad_components_and_postprocess(conn):
    with pytest.raises(TypeError, match='must be a Job or a callable'):
        zc.asyncui.parallel(42)
    queued = zc.asyncui.getQueue(conn).put(Job(jobs.noop))
    with pytest.raises(errors.BadStatusError, match='expected NEW'):
        zc.asyncui.serial(queued)
    with pytest.raises(TypeError, match='postprocess must be callable'):
        zc.asyncui.parallel(jobs.noop, postprocess='total')
    with pytest.raises(errors.UnpicklableCallableError):
        zc.asyncui.parallel(lambda: 1)
    with pytest.raises(errors.UnpicklableCallableError):
        zc.asyncui.parallel(jobs.noop, postprocess=lambda *j: 1)
    with pytest.raises(errors.BadStatusError, match='the postprocess of'):
        zc.asyncui.parallel(jobs.noop, postprocess=queued)


def test_failing_postprocess_is_the_result(conn):
    outer = _run(conn, zc.asyncui.parallel(jobs.noop, postprocess=jobs.fail))
    assert isinstance(outer.result, Failure)


# -- broadcast and pins --------------------------------------------------

def test_broadcast_wo_queue():
    with pytest.raises(ValueError, match='pass queue='):
        zc.asyncui.broadcast(jobs.noop)


def test_broadcast_wo_active_dispatchers(conn, queue):
    outer = zc.asyncui.broadcast(jobs.noop, 1, queue=queue)
    assert outer.status == 'PENDING'
    conn.transaction_manager.commit()
    testing.run_jobs(conn)
    assert outer.result == {}


def _fake_dispatcher(queue, name):
    record = queue.getDispatcherAgents(str(uuid.UUID(int=name)), create=True)
    record.activate('host', 1, 'token')
    record['main'] = Agent()
    return record


def test_claim_filter_keeps_pinned_job_for_its_dispatcher(conn, queue):
    mine, other = _fake_dispatcher(queue, 1), _fake_dispatcher(queue, 2)
    assert pins.claim_filter(None, queue, mine.UUID) is None  # no pins
    job = Job(jobs.noop)
    job.pinned_to = other.UUID
    pins.register(other, queue.put(job))
    free = queue.put(Job(jobs.noop))
    accepts = pins.claim_filter(lambda j: False, queue, other.UUID)
    assert accepts(job) and not accepts(free)
    assert mine['main'].claimJobs(5) == [free]
    assert other['main'].claimJob() is job


def test_released_pinned_job_fails_instead_of_moving(conn, queue):
    record = _fake_dispatcher(queue, 1)
    queued, started = Job(compositejobs.echo, 1), Job(compositejobs.echo, 2)
    for job in (queued, started):
        job.pinned_to = record.UUID
        job.addCallback(Job(jobs.noop))
        pins.register(record, queue.put(job))
    record['main'].claimJob()
    mark_active(started if started not in queue else queued,
                types.SimpleNamespace(uuid_str=record.UUID), record['main'])
    counts = record.deactivate('test')
    assert counts == {'aborted': 2}
    for job in (queued, started):
        assert job.status == 'CALLBACKS' and job in queue  # anyone runs them
        assert 'deactivated (test)' in job.result.message
    conn.transaction_manager.commit()
    testing.run_jobs(conn)
    assert queued.status == 'COMPLETED'


def test_broadcast_on_real_dispatcher_and_a_dead_one(db, conn, queue):
    gone = _fake_dispatcher(queue, 7)
    conn.transaction_manager.commit()
    with testing.dispatcher_running(
            db, uuid=uuid.UUID(int=1), ping_death_interval=60) as d:
        testing.wait_until(lambda: _active(db, d), 10, 'activation')
        conn.transaction_manager.begin()
        outer = zc.asyncui.broadcast(compositejobs.pid, queue=queue)
        conn.transaction_manager.commit()
        comp = composite._composite_of(outer)
        testing.wait_for_start(comp.components[0])
        copies = {j.pinned_to: j for j in comp.components}
        assert set(copies) == {str(d.UUID), gone.UUID}
        conn.transaction_manager.begin()
        assert copies[gone.UUID].status == 'PENDING'  # nobody else took it
        gone.deactivate('died in the test')
        conn.transaction_manager.commit()
        result = testing.wait_for_result(outer)
    assert result[str(d.UUID)] == __import__('os').getpid()
    assert 'died in the test' in result[gone.UUID].message
    assert outer.annotations[A]['kind'] == 'broadcast'
    conn.transaction_manager.begin()
    assert pins.claim_filter(None, queue, 'any') is None  # pins forgotten


def _active(db, d):
    tm = transaction.TransactionManager()
    c = db.open(tm)
    try:
        record = zc.asyncui.getQueue(c).dispatchers.get(str(d.UUID))
        return record is not None and record.activated is not None
    finally:
        tm.abort()
        c.close()


def test_parallel_on_real_dispatcher_many_threads(db, conn, queue):
    agent_kw = {}
    with testing.dispatcher_running(db, **agent_kw) as d:
        outer = queue.put(zc.asyncui.parallel(
            *[Job(jobs.sleep, 0.05 * (i % 3)) for i in range(12)],
            postprocess=compositejobs.total))
        conn.transaction_manager.commit()
        result = testing.wait_for_result(outer, timeout=30)
    comp = composite._composite_of(outer)
    assert result == pytest.approx(sum(0.05 * (i % 3) for i in range(12)))
    assert len(comp.postprocess.attempts) == 1
    assert all(len(j.attempts) == 1 for j in comp.components)


def test_broadcast_to_dispatcher_gone_before_the_outer_job_ran(conn, queue):
    gone = _fake_dispatcher(queue, 3)
    outer = zc.asyncui.broadcast(compositejobs.pid, queue=queue)
    conn.transaction_manager.commit()
    gone.deactivate('stopped')
    conn.transaction_manager.commit()
    testing.run_jobs(conn)
    failure = outer.result[gone.UUID]
    assert isinstance(failure, Failure)
    assert 'gone when the broadcast ran' in failure.message
    assert 'not given to another dispatcher' in failure.message


def test_register_keeps_unfinished_pins_only(conn, queue):
    record = _fake_dispatcher(queue, 4)
    done, waiting = Job(jobs.noop), Job(jobs.noop)
    for job in (done, waiting):
        job.pinned_to = record.UUID
        pins.register(record, queue.put(job))
    conn.transaction_manager.commit()
    testing.run_jobs(conn)  # runs both: run_jobs claims without filters
    third = Job(jobs.noop)
    third.pinned_to = record.UUID
    conn.transaction_manager.begin()
    pins.register(record, queue.put(third))
    assert list(getattr(record, pins.INDEX).values()) == [third]


def test_components_share_the_outer_priority(conn, queue):
    own = Job(jobs.noop)
    own.priority = 7
    outer = zc.asyncui.parallel(jobs.noop, own)
    queue.put(outer, priority=3)
    conn.transaction_manager.commit()
    testing.run_jobs(conn)
    comp = composite._composite_of(outer)
    assert [j.priority for j in comp.components] == [3, 7]
    assert comp.postprocess.priority == 3


def test_postprocess_may_be_a_partially_bound_job(conn):
    outer = _run(conn, zc.asyncui.parallel(
        Job(jobs.add, 1, 2), postprocess=Job(compositejobs.total)))
    assert outer.result == 3


def test_extend_and_last_finish_conflict_rather_than_lose_a_job(
        conn, concurrently, clock):
    # One component left, scheduled later; extend() and that component's
    # callback, committed at once, must not both succeed: the callback
    # would release the postprocess without the new component.
    later = Job(jobs.noop, 1)
    later.begin_after = clock() + datetime.timedelta(hours=1)
    outer = _run(conn, zc.asyncui.parallel(later))
    oid = outer._p_oid

    def add(c):
        composite.extend(c.get(oid), jobs.noop)

    def done(c):
        composite._composite_of(c.get(oid)).componentDone(None)
    with pytest.raises(ZODB.POSException.ConflictError):
        concurrently(add, done)


def test_broadcast_from_a_running_job_uses_its_queue(conn, queue):
    starter = queue.put(Job(compositejobs.broadcast_echo, 'hi'))
    conn.transaction_manager.commit()
    testing.run_jobs(conn)
    # it returned the broadcast job, put in its queue, and so waited for it
    assert starter.result == {}


def test_components_of_and_postprocess_of():
    first = Job(jobs.noop)
    outer = zc.asyncui.serial(first, jobs.noop)
    assert composite.components_of(outer)[0] is first
    assert composite.postprocess_of(outer).status == 'NEW'
    with pytest.raises(TypeError, match='not a job made by'):
        composite.components_of(first)
