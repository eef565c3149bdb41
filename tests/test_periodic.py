"""Periodic jobs: zc.asyncui.periodic.schedule and its Schedule."""
import datetime

import pytest

import jobs
import periodicjobs
import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import patterns
from zc.asyncui import periodic
from zc.asyncui import testing
from zc.asyncui.job import Job

MINUTE = datetime.timedelta(minutes=1)
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def ledger(conn):
    periodicjobs.install_ledger(conn)
    conn.transaction_manager.commit()
    return conn.root()[periodicjobs.LEDGER]


def run(conn, clock):
    ran = testing.run_jobs(conn, clock=clock)
    return ran


def test_public_names():
    assert patterns.schedule is periodic.schedule
    assert zc.asyncui.schedule is periodic.schedule


def test_every_runs_once_per_period(conn, queue, clock, ledger):
    s = periodic.schedule(periodicjobs.tick, 'a', every=MINUTE, queue=queue,
                          name='ticker')
    first = s.job
    assert first.begin_after == T0 + MINUTE
    assert s.next_run == T0 + MINUTE
    assert first.annotations[periodic.ANNOTATION] == {
        'schedule': 'ticker', 'every': '0:01:00', 'cron': None,
        'period': (T0 + MINUTE).isoformat()}
    conn.transaction_manager.commit()
    assert run(conn, clock) == 0
    clock.advance(minutes=1)
    assert run(conn, clock) == 1  # and not the next one, due later
    assert first.result == 'a'
    second = s.job
    assert second.begin_after == T0 + 2 * MINUTE
    info = first.annotations[periodic.ANNOTATION]
    assert info['next_run'] == (T0 + 2 * MINUTE).isoformat()
    assert info['next_job'] == second.key
    assert s.runs == 1 and s.last_job is first
    clock.advance(minutes=1)
    assert run(conn, clock) == 1
    assert list(ledger) == [(T0 + n * MINUTE).isoformat() for n in (1, 2)]
    assert all(len(v) == 1 for v in ledger.values())


def test_missed_periods_run_once(conn, queue, clock, ledger):
    s = periodic.schedule(periodicjobs.tick, every=MINUTE, queue=queue)
    conn.transaction_manager.commit()
    clock.advance(minutes=10, seconds=30)
    assert run(conn, clock) == 1
    # periods stay on the grid of the first one
    assert s.next_run == T0 + 11 * MINUTE
    assert len(ledger) == 1


def test_cron_schedule(conn, queue, clock):
    s = periodic.schedule(jobs.noop, cron='*/15 * * * *', queue=queue)
    assert s.cron == '*/15 * * * *' and s.every is None
    assert s.next_run == T0 + 15 * MINUTE
    assert s.job.annotations[periodic.ANNOTATION]['cron'] == '*/15 * * * *'
    conn.transaction_manager.commit()
    clock.advance(minutes=16)
    assert run(conn, clock) == 1
    assert s.next_run == T0 + 30 * MINUTE


def test_unnamed_schedules_get_a_name(conn, queue):
    a = periodic.schedule(jobs.noop, every=MINUTE, queue=queue)
    b = periodic.schedule(jobs.noop, every=MINUTE, queue=queue)
    assert a.name != b.name and a.name.startswith('schedule-0x')
    assert sorted(periodic.getSchedules(conn)) == sorted([a.name, b.name])
    assert repr(a) == '<Schedule %r every 0:01:00>' % a.name


def test_rescheduling_a_name_replaces_it(conn, queue):
    old = periodic.schedule(jobs.noop, every=MINUTE, queue=queue, name='n')
    old_job = old.job
    new = periodic.schedule(jobs.add, 1, 2, cron='0 * * * *', queue=queue,
                            name='n')
    assert periodic.getSchedule(conn, 'n') is new
    assert old.removed and old.job is None
    assert old_job.status == 'NEW' and old_job not in queue
    assert len(queue) == 1 and list(queue) == [new.job]


def test_get_and_remove(conn, queue):
    assert periodic.getSchedules(conn) is None
    with pytest.raises(LookupError, match="no schedule named 'x'; schedules:"
                       " none"):
        periodic.getSchedule(conn, 'x')
    s = periodic.schedule(jobs.noop, every=MINUTE, queue=queue, name='x')
    job = s.job
    assert periodic.removeSchedule(conn, 'x') is s
    assert job not in queue and len(queue) == 0
    with pytest.raises(LookupError, match='x'):
        periodic.removeSchedule(conn, 'x')
    with pytest.raises(errors.BadStatusError, match='removed'):
        s.resume()


def test_pause_and_resume(conn, queue, clock, ledger):
    s = periodic.schedule(periodicjobs.tick, every=MINUTE, queue=queue)
    s.pause()
    assert s.paused and s.next_run is None and len(queue) == 0
    conn.transaction_manager.commit()
    clock.advance(minutes=5)
    assert run(conn, clock) == 0
    s.resume()
    assert not s.paused and s.next_run == T0 + 6 * MINUTE
    s.resume()  # resuming a running schedule changes nothing
    assert len(queue) == 1
    conn.transaction_manager.commit()
    clock.advance(minutes=1)
    assert run(conn, clock) == 1
    assert len(ledger) == 1


def test_pause_while_claimed_runs_once_without_next(conn, queue, clock):
    s = periodic.schedule(jobs.noop, every=MINUTE, queue=queue)
    conn.transaction_manager.commit()
    clock.advance(minutes=1)
    job = queue.claim()  # an agent holds it: it cannot be taken out
    assert job is s.job
    s.pause()
    assert s.job is job
    from zc.asyncui import lifecycle
    lifecycle.start(job, 'd', 'main')
    assert s.job is None and len(queue) == 0
    assert 'next_run' not in job.annotations[periodic.ANNOTATION]


def test_start_hook_is_idempotent(conn, queue, clock):
    """A retried run starts again: no second next run."""
    s = periodic.schedule(jobs.noop, every=MINUTE, queue=queue)
    first = s.job
    clock.advance(minutes=1)
    assert queue.claim() is first
    s(first)
    second = s.job
    s(first)
    assert s.job is second and len(queue) == 1 and s.runs == 1


def test_cancelling_a_run_skips_to_the_next(conn, queue, clock):
    s = periodic.schedule(jobs.noop, every=MINUTE, queue=queue)
    first = s.job
    first.cancel()
    assert first.status == 'COMPLETED'
    assert s.job is not first and s.next_run == T0 + 2 * MINUTE
    assert len(queue) == 1


def test_inside_a_job_queue_defaults_to_its_queue(conn, queue, clock):
    queue.put(Job(schedule_from_job))
    conn.transaction_manager.commit()
    run(conn, clock)
    s = periodic.getSchedule(conn, 'inner')
    assert s.queue is queue and s.next_run == T0 + MINUTE


def schedule_from_job():
    periodic.schedule(jobs.noop, every=MINUTE, name='inner')


@pytest.mark.parametrize('kw, message', [
    ({}, 'exactly one of every='),
    ({'every': MINUTE, 'cron': '* * * * *'}, 'exactly one of every='),
    ({'every': 60}, 'every= must be a datetime.timedelta'),
    ({'every': datetime.timedelta(0)}, 'at least one second'),
    ({'cron': '* * *'}, 'needs 5'),
    ({'every': MINUTE, 'name': ''}, 'non-empty string'),
    ({'every': MINUTE, 'name': 5}, 'non-empty string'),
    ({'every': MINUTE, 'queue': 'default'}, 'pass a queue stored'),
])
def test_bad_input(conn, queue, kw, message):
    kw.setdefault('queue', queue)
    with pytest.raises(errors.ConfigurationError, match=message):
        periodic.schedule(jobs.noop, **kw)
    assert len(queue) == 0


def test_no_queue_outside_a_job(conn):
    with pytest.raises(errors.ConfigurationError, match='needs queue='):
        periodic.schedule(jobs.noop, every=MINUTE)


def test_unstorable_callable_refused(conn, queue):
    with pytest.raises(errors.UnpicklableCallableError):
        periodic.schedule(lambda: 1, every=MINUTE, queue=queue)
    assert periodic.getSchedules(conn) is None


def test_exactly_once_with_two_dispatchers(db, conn, queue, ledger):
    """Two dispatchers (threads of this process, one FileStorage) race
    for every run; the clock jumps one period at a time."""
    periods = 8
    with testing.FakeClock(T0) as clock:
        s = periodic.schedule(periodicjobs.tick, every=MINUTE, queue=queue,
                              name='race')
        conn.transaction_manager.commit()
        with testing.dispatcher_running(db, uuid=_uuid(1),
                                        main_agent_size=3), \
                testing.dispatcher_running(db, uuid=_uuid(2),
                                           main_agent_size=3):
            for n in range(1, periods + 1):
                clock.advance(minutes=1)
                testing.wait_until(lambda: _ledger_len(conn) >= n, 20,
                                   'run %d of the schedule' % n)
        conn.transaction_manager.begin()
        assert s.runs == periods
        assert list(ledger) == [(T0 + n * MINUTE).isoformat()
                                for n in range(1, periods + 1)]
        assert all(len(runs) == 1 for runs in ledger.values()), dict(ledger)
        assert len(queue) == 1 and s.next_run == T0 + (periods + 1) * MINUTE


def _uuid(n):
    import uuid
    return uuid.UUID(int=n)


def _ledger_len(conn):
    conn.transaction_manager.begin()
    return len(conn.root()[periodicjobs.LEDGER])


def test_failing_next_run_does_not_block_this_one(conn, queue, clock,
                                                  caplog, monkeypatch):
    s = periodic.schedule(jobs.noop, every=MINUTE, queue=queue, name='bad')
    first = s.job
    conn.transaction_manager.commit()
    put_next = periodic.Schedule._put_next

    def broken(*a):
        raise ValueError('the callable moved')
    monkeypatch.setattr(periodic.Schedule, '_put_next', broken)
    clock.advance(minutes=1)
    assert testing.run_jobs(conn, clock=clock) == 1
    assert first.status == 'COMPLETED'
    assert s.job is None and len(queue) == 0
    info = first.annotations[periodic.ANNOTATION]
    assert info['error'] == 'ValueError: the callable moved'
    assert "schedule 'bad': putting the run after job" in caplog.text
    monkeypatch.setattr(periodic.Schedule, '_put_next', put_next)
    s.resume()
    assert s.next_run == T0 + 2 * MINUTE


def test_transient_error_in_next_run_propagates(conn, queue, clock,
                                                monkeypatch):
    import ZODB.POSException
    s = periodic.schedule(jobs.noop, every=MINUTE, queue=queue)
    first = s.job
    clock.advance(minutes=1)
    queue.claim()

    def conflict(*a):
        raise ZODB.POSException.ConflictError()
    monkeypatch.setattr(periodic.Schedule, '_put_next', conflict)
    with pytest.raises(ZODB.POSException.ConflictError):
        s(first)


def test_schedule_provides_its_interface(conn, queue):
    from zope.interface.verify import verifyObject
    from zc.asyncui import interfaces
    s = periodic.schedule(jobs.noop, cron='0 0 * * *', queue=queue)
    assert verifyObject(interfaces.ISchedule, s)
