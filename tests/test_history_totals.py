"""zc.asyncui.history's running totals and duration histogram (the
ground of @@metrics): they never go down when retention prunes the
per-minute counters, and they name a bounded set of callables."""
import datetime

import jobs
from zc.asyncui import history

from test_history import MIN, SHARD, T0, finish, seeded  # noqa: F401


def test_totals_by_queue_and_callable_with_dead(conn):
    done = [finish(conn, jobs.add, T0 + MIN, failed=True, attempts=3),
            finish(conn, jobs.add, T0 + 2 * MIN, failed=True),
            finish(conn, jobs.noop, T0 + 3 * MIN)]
    history.record(conn, done, SHARD)
    totals = history.totals(conn)
    assert totals[('', 'jobs.add')] == {
        'put': 2, 'started': 4, 'succeeded': 0, 'failed': 2,
        'retried': 2, 'dead': 1}   # dead: failed after a retry
    assert totals[('', 'jobs.noop')]['succeeded'] == 1


def test_durations_of_the_last_attempt_in_buckets(conn):
    job = finish(conn, jobs.add, T0 + 5 * MIN, attempts=2)  # 60 s each
    history.record(conn, [job], SHARD)
    counts, seconds = history.durations(conn)['']
    assert len(counts) == len(history.DURATION_BUCKETS) + 1
    assert counts[history.DURATION_BUCKETS.index(120.0)] == 1
    assert sum(counts) == 1 and seconds == 60.0


def test_totals_survive_retention(conn, seeded):
    before = history.totals(conn)
    history.configure(conn, max_age=datetime.timedelta(minutes=1))
    while history.prune(conn, SHARD, T0 + 60 * MIN):
        pass
    conn.transaction_manager.commit()
    assert history.counts(conn)['put'] == 0      # counters pruned
    assert history.totals(conn) == before        # totals kept
    later = finish(conn, jobs.add, T0 + 61 * MIN)
    history.record(conn, [later], SHARD)
    assert history.totals(conn)[('', 'jobs.add')]['put'] == \
        before[('', 'jobs.add')]['put'] + 1


def test_recording_twice_counts_once(conn, seeded):
    before = history.totals(conn)
    durations = history.durations(conn)
    history.record(conn, seeded[:3], SHARD)
    assert history.totals(conn) == before
    assert history.durations(conn) == durations


def test_callables_beyond_the_bound_count_as_other(conn, monkeypatch):
    monkeypatch.setattr(history, 'TOTAL_CALLABLES', 1)
    done = [finish(conn, jobs.add, T0 + MIN), finish(conn, jobs.noop,
                                                     T0 + 2 * MIN),
            finish(conn, jobs.add, T0 + 3 * MIN)]
    history.record(conn, done, SHARD)
    totals = history.totals(conn)
    assert sorted(totals) == [('', 'jobs.add'), ('', history.OTHER)]
    assert totals[('', 'jobs.add')]['succeeded'] == 2
    assert totals[('', history.OTHER)]['succeeded'] == 1


def test_shard_written_before_the_totals_is_seeded_from_its_counters(conn):
    job = finish(conn, jobs.add, T0 + MIN, failed=True)
    history.record(conn, [job], SHARD)
    shard = history.get(conn).shards[SHARD]
    # As stored by a release without totals:
    del shard.totals, shard.durations, shard.callables
    assert shard.totals is None
    old = history.totals(conn)          # read from the counters
    assert old[('', 'jobs.add')]['failed'] == 1
    history.record(conn, [finish(conn, jobs.add, T0 + 2 * MIN)], SHARD)
    new = history.totals(conn)[('', 'jobs.add')]
    assert (new['failed'], new['succeeded'], new['put']) == (1, 1, 2)


def test_empty_database(conn):
    assert history.totals(conn) == {}
    assert history.durations(conn) == {}


def test_a_job_aborted_after_an_interruption_is_dead(conn):
    import zc.asyncui
    from zc.asyncui import errors
    from zc.asyncui import lifecycle
    from zc.asyncui.failure import Failure
    assert not history.gave_up(finish(conn, jobs.add, T0 + MIN, failed=True))
    queue = zc.asyncui.getQueue(conn)
    job = queue.put(jobs.add)
    queue.pull(job)
    lifecycle.put(job)
    lifecycle.start(job, 'uuid', 'main', now=T0)
    lifecycle.set_result(job, Failure(errors.AbortedError('gave up')),
                         T0 + MIN)
    assert history.gave_up(job)
    history.record(conn, [job], SHARD)
    assert history.totals(conn)[('', 'jobs.add')]['dead'] == 1


def test_query_one_shard(conn, seeded):
    other = finish(conn, jobs.add, T0 + 30 * MIN)
    history.record(conn, [other], 'd2')
    assert history.query(conn, shard='d2') == [other]
    assert len(history.query(conn, shard=SHARD)) == len(seeded)
    assert history.query(conn, shard='nobody') == []
