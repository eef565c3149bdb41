"""The reading functions of zc.asyncui.queries that the shell commands,
``asyncdb`` and the web pages share: one job found and described, the
queues' counts and latency, the dispatchers, a summary by state.  (The
asyncdb grammar, select and count, is tested in test_monitor_asyncdb.)
"""
import datetime
import json
import types

import pytest

import jobs
import zc.asyncui
from zc.asyncui import config
from zc.asyncui import errors
from zc.asyncui import history
from zc.asyncui import lifecycle
from zc.asyncui import queries
from zc.asyncui import testing
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.queries import jobdetail
from zc.asyncui.queries import overview
from zc.asyncui.queries import selection

UUID = '11111111-2222-3333-4444-555555555555'
MIN = datetime.timedelta(minutes=1)


def run(conn, job, result, now):
    """Run ``job`` (pulled from its queue) to COMPLETED by hand."""
    job.queue.pull(job)
    lifecycle.put(job)
    lifecycle.start(job, UUID, 'main', now=now - MIN)
    lifecycle.set_result(job, result, now)
    return job


def test_every_public_name_of_the_submodules_is_in_the_package():
    # Front-ends import the reading functions from zc.asyncui.queries,
    # whichever of its modules they are written in.
    for module in (selection, jobdetail, overview):
        public = {name for name, value in vars(module).items()
                  if not name.startswith('_')
                  and getattr(value, '__module__', module.__name__)
                  == module.__name__ and not isinstance(value, types.ModuleType)}
        missing = public - set(queries.__all__)
        assert not missing, '%s: add %s to zc.asyncui.queries' % (
            module.__name__, sorted(missing))
        for name in public:
            assert getattr(queries, name) is getattr(module, name)


def test_find_job_by_key_in_any_state(conn, queue, clock):
    pending = queue.put(Job(jobs.add, 1, 2))
    done = run(conn, queue.put(jobs.noop), 42, clock())
    conn.transaction_manager.commit()
    history.record(conn, [done], UUID)   # only the history keeps it
    conn.transaction_manager.commit()
    assert queries.find_job(conn, pending.key) is pending
    assert queries.find_job(conn, done.key) is done
    assert queries.find_job(conn, int(done.key, 16)) is done


@pytest.mark.parametrize('key, error, message', [
    ('nonsense', errors.ConfigurationError, "'nonsense' is not a job key"),
    ('0xfffff', errors.JobNotFoundError, 'no job 0xfffff in this database'),
    ('0x0', errors.JobNotFoundError, '0x0 is not a job but a'),
])
def test_find_job_bad_keys(conn, key, error, message):
    with pytest.raises(error) as e:
        queries.find_job(conn, key)
    assert str(e.value).startswith(message)
    if error is errors.JobNotFoundError:
        assert e.value.key == key and isinstance(e.value, LookupError)


def test_job_detail_is_plain_data(conn, queue, clock):
    job = queue.put(Job(jobs.fail, 'kaboom'))
    callback = job.addCallback(jobs.noop)
    run(conn, job, Failure(ValueError('kaboom')), clock())
    assert queries.job_detail(job)['state'] == 'callbacks'
    lifecycle.complete(job, clock())
    conn.transaction_manager.commit()
    info = queries.job_detail(job)
    assert json.loads(json.dumps(info)) == info
    assert info['key'] == job.key and info['status'] == 'COMPLETED'
    assert info['state'] == 'failed' and info['result'] is None
    assert info['callable'] == 'jobs.fail' and info['args'] == ['kaboom']
    assert info['call'] == "jobs.fail('kaboom')"
    assert info['failure']['type'] == 'builtins.ValueError'
    assert info['failure']['message'] == 'kaboom'
    assert info['active_end'] == clock().isoformat()
    assert info['attempts'][0]['dispatcher'] == UUID
    assert info['attempts'][0]['agent'] == 'main'
    assert info['parent'] is None
    assert [c['key'] for c in info['callbacks']] == [callback.key]
    assert queries.job_detail(callback)['parent'] == job.key


def test_job_detail_of_unjsonable_values_are_reprs(conn, queue):
    job = queue.put(Job(jobs.noop, object))
    job.annotations['when'] = datetime.date(2026, 1, 2)
    info = queries.job_detail(job)
    assert info['args'] == [repr(object)]
    assert info['annotations'] == {'when': 'datetime.date(2026, 1, 2)'}
    assert info['state'] == 'pending' and info['failure'] is None


def test_queue_summary_counts_and_latency(db, conn, queue, clock):
    queue.put(jobs.noop)
    clock.advance(seconds=10)
    queue.put(jobs.noop)
    queue.put(jobs.noop, begin_after=clock() + datetime.timedelta(
        hours=1))
    conn.transaction_manager.commit()
    config.installQueues(db, ('', 'mail'))
    conn.transaction_manager.begin()
    clock.advance(seconds=5)
    rows = queries.queue_summary(conn)
    assert rows == [
        {'name': '', 'pending': 2, 'scheduled': 1, 'active': 0,
         'held': 0, 'dispatchers': 0, 'latency_seconds': 15.0,
         'paused': False},
        {'name': 'mail', 'pending': 0, 'scheduled': 0, 'active': 0,
         'held': 0, 'dispatchers': 0, 'latency_seconds': None,
         'paused': False}]


def test_dispatcher_rows_alive_then_dead(conn, queue, clock):
    record = queue.getDispatcherAgents(UUID, create=True)
    record['main'] = zc.asyncui.Agent(size=2)
    record.activate('host1', 4242, 'token')
    conn.transaction_manager.commit()
    job = queue.put(jobs.noop)
    conn.transaction_manager.commit()
    assert record['main'].claimJob() is job
    lifecycle.start(job, UUID, 'main')
    conn.transaction_manager.commit()
    row, = queries.dispatcher_rows(conn)
    assert json.loads(json.dumps(row)) == row
    assert row['uuid'] == UUID and row['queue'] == ''
    assert row['state'] == 'alive' and row['host'] == 'host1'
    assert row['pid'] == 4242 and row['since_ping_seconds'] == 0.0
    assert row['last_ping'] == clock().isoformat()
    assert row['agents'] == [{'name': 'main', 'size': 2, 'held': 1,
                              'filter': None}]
    assert row['jobs'] == [{'key': job.key, 'status': 'ACTIVE',
                            'agent': 'main', 'call': 'jobs.noop()',
                            'dead_dispatcher': False}]
    clock.advance(seconds=record.ping_death_interval + 1)
    row, = queries.dispatcher_rows(conn)
    assert row['state'] == 'dead' and row['jobs'][0]['dead_dispatcher']
    status = queries.status(conn)
    assert status['now'] == clock().isoformat()
    assert status['queues'][0]['active'] == 1
    assert status['queues'][0]['held'] == 1
    assert status['dispatchers'] == [row]
    assert status['history'] == {'jobs': 0, 'max_count': 100000,
                                 'max_age_seconds': 7 * 86400.0,
                                 'noted': 0}


def test_readers_without_queues_raise_not_installed(tmp_path):
    db = testing.file_storage_db(str(tmp_path))
    try:
        conn = db.open()
        for read in (queries.queue_summary, queries.dispatcher_rows,
                     queries.status):
            with pytest.raises(errors.NotInstalledError):
                read(conn)
        assert queries.history_summary(conn) is None
        conn.close()
    finally:
        db.close()


def test_summarize_counts_finished_jobs_from_the_index(conn, queue, clock):
    done = [run(conn, queue.put(Job(jobs.add, 1, i)), 1, clock())
            for i in range(3)]
    done.append(run(conn, queue.put(jobs.noop), Failure(KeyError('k')),
                    clock()))
    conn.transaction_manager.commit()
    history.record(conn, done, UUID)
    conn.transaction_manager.commit()
    conn.cacheMinimize()      # no job is loaded by the next summary
    info = queries.summarize(conn, ['completed'], by='failure')
    assert all(job._p_changed is None for job in done)
    assert info == {'by': 'failure',
                    'total': {'succeeded': 3, 'failed': 1},
                    'groups': {'(none)': {'succeeded': 3},
                               'KeyError': {'failed': 1}}}
    assert queries.summarize(conn, ['succeeded'], {'callable': 'add'})[
        'groups'] == {'jobs.add': {'succeeded': 3}}


def test_summarize_bad_group(conn):
    with pytest.raises(errors.ConfigurationError) as e:
        queries.summarize(conn, by='colour')
    assert 'expected one of callable, queue' in str(e.value)
