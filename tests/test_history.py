"""zc.asyncui.history: the durable history of finished jobs, its indexes,
counters and retention, on FileStorage."""
import datetime

import pytest

import jobs
import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import errors
from zc.asyncui import history
from zc.asyncui import lifecycle
from zc.asyncui import polling
from zc.asyncui import testing
from zc.asyncui.failure import Failure

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
MIN = datetime.timedelta(minutes=1)
SHARD = 'd1'


def finish(conn, func, end, failed=False, attempts=1, queue_name=''):
    """Put a job in ``queue_name`` and finish it at ``end`` after
    ``attempts`` attempts (each started a minute earlier)."""
    queue = zc.asyncui.getQueue(conn, queue_name)
    with testing.FakeClock(end - attempts * MIN):
        job = queue.put(func)
    queue.pull(job)  # out of the queue, as an agent would claim it
    lifecycle.put(job)
    lifecycle.start(job, 'uuid', 'main', now=end - attempts * MIN)
    for n in range(1, attempts):
        lifecycle.new_attempt(job, 'uuid', 'retry',
                              now=end - (attempts - n) * MIN)
    result = Failure(ValueError('boom')) if failed else 42
    lifecycle.set_result(job, result, end)
    return job


@pytest.fixture
def seeded(conn):
    tm = conn.transaction_manager
    done = []
    for i in range(10):
        done.append(finish(conn, jobs.noop if i % 2 else jobs.add,
                           T0 + i * MIN, failed=(i % 3 == 0)))
    tm.commit()
    history.record(conn, done, SHARD)
    tm.commit()
    return done


def keys(found):
    return [j.key for j in found]


def test_query_newest_first_and_by_each_index(conn, seeded):
    assert keys(history.query(conn)) == keys(reversed(seeded))
    failed = [j for j in seeded if j.failed]
    assert keys(history.query(conn, status='failed')) == keys(
        reversed(failed))
    assert len(history.query(conn, status='succeeded')) == 10 - len(failed)
    assert keys(history.query(conn, callable='jobs.add')) == keys(
        reversed(seeded[0::2]))
    assert keys(history.query(conn, callable='jobs.n*')) == keys(
        reversed(seeded[1::2]))
    assert history.query(conn, queue='') and not history.query(
        conn, queue='other')
    assert keys(history.query(conn, failure_type='ValueError')
                ) == keys(reversed(failed))
    assert history.query(conn, failure_type='KeyError') == []
    # since <= end < before; count
    assert keys(history.query(conn, since=T0 + 2 * MIN,
                              before=T0 + 5 * MIN)) == keys(
        reversed(seeded[2:5]))
    assert keys(history.query(conn, count=3)) == keys(reversed(seeded))[:3]
    assert history.count(conn, status='failed', callable='jobs.add',
                         since=T0 + 3 * MIN) == len(
        [j for j in seeded[3:] if j.failed and j.callable is jobs.add])


def test_query_start_skips_a_page(conn, seeded):
    newest_first = keys(reversed(seeded))
    assert keys(history.query(conn, start=3, count=4)) == newest_first[3:7]
    assert keys(history.query(conn, start=8)) == newest_first[8:]
    assert history.query(conn, start=20, count=5) == []
    failed = keys(reversed([j for j in seeded if j.failed]))
    assert keys(history.query(conn, status='failed', start=1)) == failed[1:]
    with pytest.raises(errors.ConfigurationError, match='start must be'):
        history.query(conn, start=-1)


def test_query_bad_input(conn, seeded):
    with pytest.raises(errors.ConfigurationError, match='status must be'):
        history.query(conn, status='done')
    with pytest.raises(errors.ConfigurationError, match='aware datetime'):
        history.query(conn, since=datetime.datetime(2026, 1, 1))
    with pytest.raises(errors.ConfigurationError, match='count must be'):
        history.query(conn, count=-1)


def test_empty_database(conn):
    assert history.query(conn) == []
    assert history.count(conn) == 0
    assert history.counts(conn)['put'] == 0
    assert history.prune(conn, SHARD) == 0


def test_recording_twice_is_harmless(conn, seeded):
    history.record(conn, seeded[:3], SHARD)
    assert len(history.get(conn)) == 10


def test_counters_by_minute_queue_and_callable(conn):
    job = finish(conn, jobs.add, T0 + 10 * MIN, failed=True, attempts=3)
    history.record(conn, [job], SHARD)
    total = history.counts(conn)
    assert total == {'put': 1, 'started': 3, 'succeeded': 0, 'failed': 1,
                     'retried': 2}
    # each event in its minute: the last attempt started at T0+9
    assert history.counts(conn, since=T0 + 9 * MIN) == {
        'put': 0, 'started': 1, 'succeeded': 0, 'failed': 1, 'retried': 1}
    assert history.counts(conn, callable='jobs.noop')['started'] == 0
    assert history.counts(conn, queue='', callable='jobs.*')['failed'] == 1


def test_retention_by_age_and_count_in_bounded_steps(conn, seeded):
    tm = conn.transaction_manager
    # by count: keep 6 of 10, at most 3 per step
    history.configure(conn, max_count=6)
    assert history.prune(conn, SHARD, T0 + 10 * MIN, step=3) == 3
    assert history.prune(conn, SHARD, T0 + 10 * MIN, step=3) == 1
    assert history.prune(conn, SHARD, T0 + 10 * MIN, step=3) == 0
    assert keys(history.query(conn)) == keys(reversed(seeded[4:]))
    # by age: entries ended before now - max_age go
    history.configure(conn, max_age=datetime.timedelta(minutes=3))
    assert history.prune(conn, SHARD, T0 + 10 * MIN) == 3
    assert keys(history.query(conn)) == keys(reversed(seeded[7:]))
    assert history.query(conn, status='failed') == [seeded[9]]
    tm.commit()
    # old counter rows went too
    assert history.counts(conn, before=T0 + 7 * MIN)['put'] == 0


def test_configure_refuses_bad_values(conn):
    with pytest.raises(errors.ConfigurationError, match='history max_age'):
        history.configure(conn, max_age=3)
    with pytest.raises(errors.ConfigurationError, match='history max_count'):
        history.configure(conn, max_count=-1)
    with pytest.raises(errors.ConfigurationError, match='not a history'):
        history.configure(conn, max_size=1)


def test_concurrent_finishing_never_conflicts(db, conn, concurrently):
    # Two dispatchers record their completions and prune in transactions
    # begun together: each writes its own shard.
    tm = conn.transaction_manager
    a = [finish(conn, jobs.noop, T0 + i * MIN) for i in range(50)]
    b = [finish(conn, jobs.add, T0 + i * MIN) for i in range(50)]
    history.record(conn, a[:1], 'A')
    history.record(conn, b[:1], 'B')
    tm.commit()
    history.configure(conn, max_count=60)
    tm.commit()
    oids_a = [j._p_oid for j in a]
    oids_b = [j._p_oid for j in b]

    def writer(name, oids):
        def write(c):
            history.record(c, [c.get(o) for o in oids[1:]], name)
            history.prune(c, name, T0)
        return write
    concurrently(writer('A', oids_a), writer('B', oids_b))
    for _ in range(3):   # and again, pruning both at once
        concurrently(lambda c: history.prune(c, 'A', T0, step=10),
                     lambda c: history.prune(c, 'B', T0, step=10))
    tm.begin()
    assert len(history.get(conn)) == 60
    assert history.count(conn, callable='jobs.add') + history.count(
        conn, callable='jobs.noop') == 60


def test_dispatcher_feeds_the_history(db, conn):
    tm = conn.transaction_manager
    queue = zc.asyncui.getQueue(conn)
    ok = queue.put(zc.asyncui.Job(jobs.add, 1, 2))
    bad = queue.put(jobs.fail)
    tm.commit()
    with testing.dispatcher_running(db):
        testing.wait_until(lambda: (tm.begin(), history.count(conn) == 2)[1],
                           20, 'both jobs in the history')
    assert keys(history.query(conn, status='failed')) == [bad.key]
    assert keys(history.query(conn, status='succeeded')) == [ok.key]
    assert history.counts(conn)['started'] == 2


def test_dispatcher_applies_the_retention(db, conn):
    tm = conn.transaction_manager
    history.configure(conn, max_count=2)
    queue = zc.asyncui.getQueue(conn)
    for i in range(5):
        queue.put(zc.asyncui.Job(jobs.add, i, 1))
    tm.commit()
    with testing.dispatcher_running(db):
        testing.wait_until(
            lambda: (tm.begin(), history.counts(conn)['succeeded'] == 5
                     and len(history.get(conn)) == 2)[1],
            20, 'five jobs recorded, two kept')
    assert len(history.query(conn)) == 2


# -- what no agent flushes: callbacks, parents after them, cancellations ------

def test_dispatcher_records_callbacks_with_their_parent(db, conn):
    tm = conn.transaction_manager
    queue = zc.asyncui.getQueue(conn)
    parent = queue.put(zc.asyncui.Job(jobs.add, 1, 2))
    callback = parent.addCallback(jobs.noop)
    inner = callback.addCallback(jobs.noop)   # a callback's own callback
    tm.commit()
    with testing.dispatcher_running(db):
        testing.wait_until(lambda: (tm.begin(), history.count(conn) == 3)[1],
                           20, 'the job and its two callbacks recorded')
    found = {j.key: j for j in history.query(conn, status='succeeded')}
    assert set(found) == {parent.key, callback.key, inner.key}
    assert found[callback.key].parent is parent
    assert found[inner.key].parent is callback
    assert history.counts(conn)['succeeded'] == 3


def test_cancelled_before_start_is_recorded_as_failed(db, conn):
    tm = conn.transaction_manager
    queue = zc.asyncui.getQueue(conn)
    job = queue.put(zc.asyncui.Job(jobs.add, 1, 2))
    tm.commit()
    job.cancel()
    tm.commit()
    assert history.count(conn) == 0   # noted, recorded by a poll
    assert history.get(conn).notedCount() == 1
    with testing.dispatcher_running(db):
        testing.wait_until(lambda: (tm.begin(), history.count(conn) == 1)[1],
                           20, 'the cancelled job recorded')
    assert history.query(conn, status='failed',
                         failure_type='zc.asyncui.errors.JobCancelledError'
                         ) == [job]
    assert history.get(conn).notedCount() == 0
    counts = history.counts(conn)
    assert counts['failed'] == 1 and counts['started'] == 0


def test_cancelling_concurrently_never_conflicts(db, conn, concurrently):
    tm = conn.transaction_manager
    queue = zc.asyncui.getQueue(conn)
    one, two = [queue.put(zc.asyncui.Job(jobs.add, i, 1)) for i in (1, 2)]
    tm.commit()

    def cancel(job):
        return lambda c: c.get(job._p_oid).cancel()
    concurrently(cancel(one), cancel(two))
    tm.begin()
    assert history.get(conn).notedCount() == 2
    three = queue.put(zc.asyncui.Job(jobs.add, 3, 1))
    tm.commit()
    # a poll records the noted ones while another job is cancelled
    concurrently(lambda c: history.record_noted(c, SHARD),
                 cancel(three))
    tm.begin()
    assert history.get(conn).notedCount() == 1
    assert {j.key for j in history.query(conn)} == {one.key, two.key}
    assert history.record_noted(conn, SHARD) == 1
    tm.commit()
    assert history.count(conn, status='failed') == 3
    assert history.record_noted(conn, SHARD) == 0


def test_finished_jobs_are_recorded_when_the_poll_writes_or_urgently(
        conn, monkeypatch):
    from zc.asyncui import polling
    tm = conn.transaction_manager
    job = finish(conn, jobs.noop, T0)
    tm.commit()
    finished = polling.FinishedJobs()
    finished.note(job)
    result = polling.PollResult()
    # An idle poll writes nothing for one fresh completion ...
    polling.record_finished(conn, SHARD, finished, False, result)
    assert result.finished == [] and history.count(conn) == 0
    # ... but records it in a poll that commits anyway,
    polling.record_finished(conn, SHARD, finished, True, result)
    assert result.finished == [job._p_oid] and history.count(conn) == 1
    tm.commit()
    finished.drop(result.finished)
    assert finished.take() == ([], False)
    # or once it waited FLUSH_SECONDS.
    later = finish(conn, jobs.noop, T0 + MIN)
    tm.commit()
    monkeypatch.setattr(polling.FinishedJobs, 'FLUSH_SECONDS', 0.0)
    finished.note(later)
    result = polling.PollResult()
    polling.record_finished(conn, SHARD, finished, False, result)
    assert result.finished == [later._p_oid] and history.count(conn) == 2


# -- no completion is lost: stop, restart, kill -9; idle dispatchers -----------

def _slow_flushes(monkeypatch):
    # A completion then reaches the history only when the dispatcher
    # flushes it for a reason of its own, never by waiting.
    from zc.asyncui import polling, worker
    monkeypatch.setattr(worker, 'COMPLETION_FLUSH_SECONDS', 600.0)
    monkeypatch.setattr(polling.FinishedJobs, 'FLUSH_SECONDS', 600.0)


def test_a_stop_right_after_a_job_finished_records_it(db, conn, monkeypatch):
    import uuid
    _slow_flushes(monkeypatch)
    tm = conn.transaction_manager
    queue = zc.asyncui.getQueue(conn)
    bad = queue.put(jobs.fail)
    parent = queue.put(zc.asyncui.Job(jobs.add, 1, 2))
    callback = parent.addCallback(jobs.noop)
    tm.commit()
    me = uuid.uuid4()
    d = dispatcher.start(db, poll_interval=0.1, uuid=me, ping_interval=1.0,
                         ping_death_interval=5.0)
    testing.wait_for_result(bad)
    testing.wait_for_result(callback)
    d.stop(10.0)
    tm.begin()
    assert {j.key for j in history.query(conn)} == {
        bad.key, parent.key, callback.key}
    assert keys(history.query(conn, status='failed')) == [bad.key]
    record = queue.getDispatcherAgents(me)
    assert len(record['main']) == 0   # its agent let them go
    # A restart records nothing twice.
    with testing.dispatcher_running(db, uuid=me):
        testing.wait_until(
            lambda: (tm.begin(), queue.getDispatcherAgents(me).activated)[1],
            20, 'the dispatcher active again')
    tm.begin()
    assert history.count(conn) == 3


def _run_until_killed(db, job, monkeypatch, uuid, **options):
    """Run a dispatcher ``uuid`` until ``job`` finished, then stop it as
    a kill -9 would leave it: never deactivated, the completion never
    written (its workers ask for that poll at once: the kill comes
    first)."""
    with monkeypatch.context() as m:
        m.setattr(dispatcher.Dispatcher, '_deactivate_all',
                  lambda self, reason, seconds: {})
        m.setattr(polling, 'flush_now', lambda *args: False)
        d = dispatcher.start(db, poll_interval=0.1, uuid=uuid, **options)
        testing.wait_for_result(job)
        d.stop(10.0)


def test_a_restart_records_what_a_killed_run_left_held(db, conn, monkeypatch):
    # kill -9 right after a worker committed its job COMPLETED: the job is
    # still held by its agent, no poll recorded it; the next run of the
    # instance (or the dispatcher that finds it dead) records it.
    import uuid
    _slow_flushes(monkeypatch)
    tm = conn.transaction_manager
    queue = zc.asyncui.getQueue(conn)
    bad = queue.put(jobs.fail)
    tm.commit()
    me = uuid.uuid4()
    _run_until_killed(db, bad, monkeypatch, me, ping_interval=1.0,
                      ping_death_interval=5.0)
    tm.begin()
    assert history.count(conn) == 0
    assert list(queue.getDispatcherAgents(me)['main'].heldOids()) == [
        bad._p_oid]
    with testing.dispatcher_running(db, uuid=me):
        testing.wait_until(lambda: (tm.begin(), history.count(conn) == 1)[1],
                           20, 'the held completed job recorded')
    assert keys(history.query(conn, status='failed')) == [bad.key]
    assert len(queue.getDispatcherAgents(me)['main']) == 0


def test_the_dispatcher_that_finds_a_killed_one_dead_records_its_jobs(
        db, conn, monkeypatch):
    import uuid
    _slow_flushes(monkeypatch)
    tm = conn.transaction_manager
    queue = zc.asyncui.getQueue(conn)
    bad = queue.put(jobs.fail)
    tm.commit()
    killed = uuid.uuid4()
    _run_until_killed(db, bad, monkeypatch, killed, ping_interval=0.5,
                      ping_death_interval=1.0)
    tm.begin()
    assert history.count(conn) == 0
    with testing.dispatcher_running(db, uuid=uuid.uuid4()):
        testing.wait_until(lambda: (tm.begin(), history.count(conn) == 1)[1],
                           20, 'the dead one\'s completed job recorded')
    assert keys(history.query(conn, status='failed')) == [bad.key]
    assert str(killed) in history.get(conn).shards
    assert len(queue.getDispatcherAgents(killed)['main']) == 0


def test_an_idle_dispatcher_records_completions_at_its_next_poll(
        db, conn, monkeypatch):
    _slow_flushes(monkeypatch)
    tm = conn.transaction_manager
    queue = zc.asyncui.getQueue(conn)
    with testing.dispatcher_running(db, poll_interval=0.2):
        bad = queue.put(jobs.fail)
        parent = queue.put(zc.asyncui.Job(jobs.add, 1, 2))
        callback = parent.addCallback(jobs.noop)
        tm.commit()
        # Generous bound: far below the 600 s flush, far above a poll.
        testing.wait_until(lambda: (tm.begin(), history.count(conn) == 3)[1],
                           20, 'the completions recorded by an idle poll')
    assert {j.key for j in history.query(conn)} == {
        bad.key, parent.key, callback.key}


def test_a_held_completed_job_whose_note_was_lost_is_recorded(
        db, conn, monkeypatch):
    # Self-healing: the poll hands the held job to the workers again,
    # which find it COMPLETED and note it as its worker would have.
    _slow_flushes(monkeypatch)
    lost = []
    note = dispatcher.Dispatcher.noteCompletion

    def lossy(self, agent, job):
        if not lost:
            lost.append(job.key)
            return
        note(self, agent, job)
    monkeypatch.setattr(dispatcher.Dispatcher, 'noteCompletion', lossy)
    tm = conn.transaction_manager
    queue = zc.asyncui.getQueue(conn)
    with testing.dispatcher_running(db, poll_interval=0.2) as d:
        bad = queue.put(jobs.fail)
        tm.commit()
        testing.wait_until(lambda: (tm.begin(), history.count(conn) == 1)[1],
                           20, 'the job recorded all the same')
        assert lost == [bad.key]
        assert len(queue.getDispatcherAgents(d.UUID)['main']) == 0


def test_iter_query_is_lazy_and_checks_at_once(conn, seeded):
    found = history.iter_query(conn, start=2)
    assert next(found).key == keys(reversed(seeded))[2]
    with pytest.raises(errors.ConfigurationError, match='start must be'):
        history.iter_query(conn, start='1')
