"""The dispatcher and its workers, with real threads on a FileStorage."""
import datetime
import logging
import re
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
import transaction
import ZODB.POSException

import jobs
import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import errors
from zc.asyncui import jobrun
from zc.asyncui import polling
from zc.asyncui import testing
from zc.asyncui import utils
from zc.asyncui import worker
from zc.asyncui.agent import Agent
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.execution import mark_active

FAST = dict(poll_interval=0.1, ping_interval=0.2, ping_death_interval=1.0)


class Session:
    """A connection with its own transaction manager."""

    def __init__(self, db):
        self.tm = transaction.TransactionManager()
        self.conn = db.open(self.tm)

    @property
    def queue(self):
        return zc.asyncui.getQueue(self.conn)

    def put(self, func, *args, **kw):
        job = self.queue.put(Job(func, *args), **kw)
        self.tm.commit()
        return job


@pytest.fixture
def session(db):
    zc.asyncui.install(db)
    s = Session(db)
    yield s
    s.tm.abort()
    s.conn.close()


def start(db, tmp_path, **kw):
    options = dict(FAST)
    options.update(kw)
    options.setdefault('uuid_file', str(tmp_path / 'uuid.txt'))
    return dispatcher.start(db, **options)


def test_start_runs_job_and_callback(db, session, tmp_path):
    job = session.queue.put(Job(jobs.add, 1, 2))
    callback = job.addCallback(jobs.record)
    session.tm.commit()
    d = start(db, tmp_path)
    assert testing.wait_for_result(job) == 3
    assert job.status == JobStatus.COMPLETED
    assert testing.wait_for_result(callback) == 3
    assert dispatcher.get() is d
    assert d.getStatusInfo()['status'] in ('RUNNING', 'STARTING')


def test_failed_job_result_is_failure(db, session, tmp_path, caplog):
    job = session.put(jobs.fail, 'bad input')
    start(db, tmp_path)
    result = testing.wait_for_result(job)
    assert isinstance(result, Failure)
    assert result.type_name == 'ValueError'
    assert job.status == JobStatus.COMPLETED

    def logged():
        return any(r.levelno == logging.ERROR and job.key in r.getMessage()
                   for r in list(caplog.records))
    # The worker logs the failure just after its commit: wait for it.
    deadline = time.monotonic() + 10
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert logged()


def test_job_put_by_this_process_starts_without_waiting_for_poll(
        db, session, tmp_path):
    start(db, tmp_path, poll_interval=60.0)
    testing.run_until_idle(dispatcher.get())
    job = session.put(jobs.noop, 'now')
    # The poll interval is a minute: only the after-commit wake-up can
    # make this pass.
    assert testing.wait_for_result(job, timeout=20) == 'now'


def test_concurrent_producers_each_job_completes_exactly_once(
        db, session, tmp_path):
    start(db, tmp_path, main_agent_size=3)
    keys = []
    lock = threading.Lock()

    def produce(n):
        s = Session(db)
        for i in range(250):
            for attempt in s.tm.attempts(20):
                with attempt:
                    job = s.queue.put(Job(jobs.noop, (n, i)))
            with lock:
                keys.append(job._p_oid)
        s.conn.close()

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 1000
    testing.run_until_idle(dispatcher.get(), timeout=120)
    session.tm.begin()
    results = set()
    for oid in keys:
        job = session.conn.get(oid)
        assert job.status == JobStatus.COMPLETED
        assert len(job.attempts) == 1
        assert job.attempts[0]['outcome'] == 'succeeded'
        results.add(job.result)
    assert len(results) == 1000
    assert len(session.queue) == 0


def test_stop_then_restart_with_same_uuid_works_at_once(
        db, session, tmp_path):
    d = start(db, tmp_path)
    job = session.put(jobs.noop, 1)
    testing.wait_for_result(job)
    d.stop()
    assert not d.activated
    assert dispatcher.get() is None
    d2 = start(db, tmp_path)
    assert d2.UUID == d.UUID
    job = session.put(jobs.noop, 2)
    assert testing.wait_for_result(job) == 2


def test_two_dispatchers_with_same_uuid_in_one_process_refused(
        db, session, tmp_path):
    start(db, tmp_path)
    with pytest.raises(errors.DispatcherError, match='already runs'):
        start(db, tmp_path)


def test_bad_intervals_refused(db, tmp_path):
    with pytest.raises(errors.ConfigurationError, match='ping_death'):
        start(db, tmp_path, ping_interval=5, ping_death_interval=5)
    with pytest.raises(errors.ConfigurationError, match='poll_interval'):
        start(db, tmp_path, poll_interval=-1)
    with pytest.raises(errors.ConfigurationError, match='main_agent_size'):
        start(db, tmp_path, main_agent_size='3')


def test_job_returning_job_finishes_with_inner_result(db, session, tmp_path):
    job = session.put(jobs.return_job, 41)
    start(db, tmp_path)
    assert testing.wait_for_result(job) == 42


def test_callback_added_to_completed_job_still_runs(db, session, tmp_path):
    job = session.put(jobs.add, 2, 3)
    start(db, tmp_path)
    testing.wait_for_result(job)
    callback = job.addCallback(jobs.record)
    session.tm.commit()
    assert testing.wait_for_result(callback) == 5


def test_addCallbacks_routes_failure(db, session, tmp_path):
    job = session.queue.put(Job(jobs.fail, 'x'))
    both = job.addCallbacks(success=jobs.record, failure=jobs.noop)
    session.tm.commit()
    start(db, tmp_path)
    result = testing.wait_for_result(both)
    assert isinstance(result, Failure) and result.message == 'x'


def test_failing_callback_logged_critical(db, session, tmp_path, caplog):
    job = session.queue.put(Job(jobs.noop, 'ok'))
    callback = job.addCallback(jobs.fail)
    session.tm.commit()
    start(db, tmp_path)
    testing.wait_for_result(job)
    assert isinstance(testing.wait_for_result(callback), Failure)
    critical = [r.getMessage() for r in caplog.records
                if r.levelno == logging.CRITICAL]
    assert any(callback.key in m and job.key in m and 'jobs.fail' in m
               for m in critical)


def test_conflict_in_job_is_retried(db, session, tmp_path):
    job = session.put(jobs.conflict_once, 'tag-%s' % uuid.uuid4())
    start(db, tmp_path)
    testing.wait_for_result(job)
    assert not job.failed
    assert job.retry_counts.get('transient') == 1


def test_job_not_started_by_deadline_times_out(db, session, tmp_path):
    past = utils.now() - datetime.timedelta(minutes=5)
    job = session.queue.put(Job(jobs.noop, 1), begin_after=past,
                            begin_by=datetime.timedelta(seconds=1))
    callback = job.addCallback(jobs.record)
    session.tm.commit()
    start(db, tmp_path)
    result = testing.wait_for_result(job)
    assert result.check(errors.JobTimeoutError)
    assert testing.wait_for_result(callback) == result


def test_begin_after_in_future_waits(db, session, tmp_path):
    later = utils.now() + datetime.timedelta(seconds=1)
    job = session.put(jobs.noop, 1, begin_after=later)
    start(db, tmp_path)
    assert testing.wait_for_result(job) == 1
    assert job.active_start >= later


def test_local_reports_job_and_agent(db, session, tmp_path):
    job = session.put(jobs.who_am_i)
    start(db, tmp_path)
    assert testing.wait_for_result(job) == (job.key, 'main')


def test_live_annotation_visible_before_job_commits(db, session, tmp_path):
    flag = str(tmp_path / 'go')
    job = session.queue.put(Job(jobs.annotate_then_wait_for_file, flag))
    session.tm.commit()
    start(db, tmp_path)
    assert testing.wait_for_annotation(job, 'progress') == 'halfway'
    assert job.status == JobStatus.ACTIVE
    open(flag, 'w').close()
    assert testing.wait_for_result(job) == 'done'


def test_agent_size_zero_pauses(db, session, tmp_path):
    d = start(db, tmp_path, main_agent_size=1)
    testing.run_until_idle(d)
    session.tm.begin()
    record = session.queue.dispatchers[str(d.UUID)]
    record['main'].size = 0
    session.tm.commit()
    job = session.put(jobs.noop, 1)
    with pytest.raises(errors.WaitTimeoutError, match=job.key):
        testing.wait_for_result(job, timeout=1)
    record['main'].size = 2
    session.tm.commit()
    assert testing.wait_for_result(job) == 1


def test_extra_agent_with_filter(db, session, tmp_path):
    d = start(db, tmp_path, main_agent_size=0)
    testing.run_until_idle(d)
    session.tm.begin()
    record = session.queue.dispatchers[str(d.UUID)]
    record['adders'] = Agent(size=1, filter=jobs.only_add)
    session.tm.commit()
    add = session.put(jobs.add, 1, 1)
    noop = session.put(jobs.noop, 1)
    assert testing.wait_for_result(add) == 2
    with pytest.raises(errors.WaitTimeoutError):
        testing.wait_for_result(noop, timeout=0.5)


# -- recovery -------------------------------------------------------------

def _fake_record(session, uuid_str, minutes_ago, host=None, pid=None,
                 started=True):
    """A dispatcher record as a process that stopped pinging would leave
    it, holding one started job."""
    queue = session.queue
    record = queue.getDispatcherAgents(uuid_str, create=True)
    then = utils.now() - datetime.timedelta(minutes=minutes_ago)
    record.activated = record.last_ping = then
    record.ping_death_interval = datetime.timedelta(seconds=1)
    record.host, record.pid, record.process_token = host, pid, 'gone'
    record['main'] = agent = Agent(size=1)
    job = queue.put(Job(jobs.noop, 'recovered'))
    agent.claimJob()
    if started:
        mark_active(job, _FakeDispatcher(uuid_str), agent)
    session.tm.commit()
    return job


class _FakeDispatcher:
    def __init__(self, uuid_str):
        self.uuid_str = uuid_str


def test_dead_dispatcher_found_and_its_started_job_rerun(
        db, session, tmp_path, caplog):
    dead = str(uuid.UUID(int=2 ** 127))  # sorts after ours: our neighbour
    job = _fake_record(session, dead, minutes_ago=10)
    start(db, tmp_path, uuid=uuid.UUID(int=1))
    assert testing.wait_for_result(job) == 'recovered'
    assert [a['outcome'] for a in job.attempts] == [
        'interrupted: dispatcher %s found it dead' % uuid.UUID(int=1),
        'succeeded']
    assert job.retry_counts['interrupted'] == 1
    assert any('was silent since' in r.getMessage() and dead in
               r.getMessage() for r in caplog.records)


def test_dead_dispatcher_unstarted_job_requeued(db, session, tmp_path):
    dead = str(uuid.UUID(int=2 ** 127))
    job = _fake_record(session, dead, minutes_ago=10, started=False)
    start(db, tmp_path, uuid=uuid.UUID(int=1))
    assert testing.wait_for_result(job) == 'recovered'
    assert len(job.attempts) == 1


def test_poison_pill_fails_after_interruption_limit(db, session, tmp_path):
    dead = str(uuid.UUID(int=2 ** 127))
    job = _fake_record(session, dead, minutes_ago=10)
    job.retry_counts = {'interrupted': 9}
    session.tm.commit()
    start(db, tmp_path, uuid=uuid.UUID(int=1))
    result = testing.wait_for_result(job)
    assert result.check(errors.AbortedError)
    assert dead in result.message
    assert 'interrupted 10 times' in result.message


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize('pid', ['dead', 'this process'])
def test_unclean_shutdown_of_this_instance_recovered_at_once(
        db, session, tmp_path, caplog, pid):
    # The old record is fresh and says "dead after a minute of silence";
    # but it was written on this host by a process that is gone (or by an
    # earlier dispatcher of this very process), so no need to wait.
    caplog.set_level(logging.INFO)
    mine = uuid.uuid4()
    pid = _dead_pid() if pid == 'dead' else os.getpid()
    job = _fake_record(session, str(mine), minutes_ago=0,
                       host=dispatcher.socket.gethostname(), pid=pid)
    session.queue.dispatchers[str(mine)].ping_death_interval = 600
    session.tm.commit()
    start(db, tmp_path, uuid=mine, ping_death_interval=600)
    assert testing.wait_for_result(job, timeout=20) == 'recovered'
    new = session.put(jobs.noop, 'new')
    assert testing.wait_for_result(new, timeout=20) == 'new'
    messages = [r for r in caplog.records if str(mine) in r.getMessage()]
    assert not [r for r in messages if r.levelno >= logging.WARNING]
    assert not [r for r in messages if 'will be re-queued' in
                r.getMessage()]
    recovered = [r.getMessage() for r in messages
                 if 'recovered from an unclean shutdown' in r.getMessage()]
    assert len(recovered) == 1
    assert 'at once (its process, pid %s on this host, is gone)' % pid \
        in recovered[0]


def test_unclean_shutdown_on_other_host_waits_for_death_interval(
        db, session, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    mine = uuid.uuid4()
    job = _fake_record(session, str(mine), minutes_ago=0,
                       host='elsewhere', pid=_dead_pid())
    start(db, tmp_path, uuid=mine, ping_death_interval=1.5)
    assert testing.wait_for_result(job) == 'recovered'
    messages = [r.getMessage() for r in caplog.records]
    assert any('active in pid' in m and 'elsewhere' in m for m in messages)
    assert any('recovered from an unclean shutdown' in m and
               '(silent for more than 1s)' in m for m in messages)


def test_uuid_used_by_another_live_process_warns_once(
        db, session, tmp_path, caplog):
    mine = uuid.uuid4()
    queue = session.queue
    record = queue.getDispatcherAgents(str(mine), create=True)
    record.activate(dispatcher.socket.gethostname(), os.getppid(), 'other')
    session.tm.commit()
    d = start(db, tmp_path, uuid=mine)
    job = session.put(jobs.noop, 1)
    # Let it poll a good number of times.
    with pytest.raises(errors.WaitTimeoutError):
        testing.wait_for_result(job, timeout=1.5)
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and str(mine) in
                r.getMessage()]
    assert len(warnings) == 1
    assert 'two processes share the instance file' in warnings[0]
    assert 'uuid.txt' in warnings[0]
    assert d.state.poll_count > 5


def test_falsely_dead_dispatcher_runs_job_once(db, session, tmp_path,
                                                caplog):
    flag = str(tmp_path / 'release')
    job = session.put(jobs.wait_for_file, flag)
    d = start(db, tmp_path)
    testing.wait_for_start(job)
    # Another dispatcher decides we are dead and hands our job on.
    session.tm.begin()
    record = session.queue.dispatchers[str(d.UUID)]
    record.deactivate('test: thought dead')
    session.tm.commit()
    open(flag, 'w').close()
    assert testing.wait_for_result(job) == flag
    outcomes = [a['outcome'] for a in job.attempts]
    assert outcomes[0] == 'interrupted: test: thought dead'
    assert outcomes[-1] == 'succeeded'
    assert outcomes.count('succeeded') == 1
    assert any('thought it dead' in r.getMessage() for r in caplog.records)


def test_stop_timeout_hands_running_job_to_policy(db, session, tmp_path):
    flag = str(tmp_path / 'release')
    job = session.put(jobs.wait_for_file, flag)
    d = start(db, tmp_path)
    testing.wait_for_start(job)
    d.stop(timeout=0.2)
    session.tm.begin()
    assert job.status == JobStatus.PENDING
    assert job.retry_counts['interrupted'] == 1
    open(flag, 'w').close()
    start(db, tmp_path)
    assert testing.wait_for_result(job) == flag


def test_active_job_no_worker_runs_is_released_and_rerun(
        db, session, tmp_path, caplog):
    d = start(db, tmp_path, main_agent_size=1)
    testing.run_until_idle(d)
    session.tm.begin()
    agent = session.queue.dispatchers[str(d.UUID)]['main']
    agent.size = 0  # so that the poll does not claim it first
    session.tm.commit()
    job = session.queue.put(Job(jobs.noop, 'lost'))
    agent.claimJob()
    mark_active(job, d, agent)  # as if a worker had started, then lost it
    agent.size = 1
    session.tm.commit()
    assert testing.wait_for_result(job) == 'lost'
    assert job.attempts[0]['outcome'].startswith('interrupted: its worker')
    assert any('no worker ran it' in r.getMessage() for r in caplog.records)


def test_job_code_uses_the_jobs_transaction(db, session, tmp_path):
    job = session.put(jobs.note_in_transaction, 'hello')
    start(db, tmp_path)
    assert testing.wait_for_result(job) == 'hello'
    session.tm.begin()
    assert job.annotations['note'] == 'hello'


def test_failing_event_subscriber_does_not_change_outcome(
        db, session, tmp_path, caplog):
    import zope.event

    def broken(event):
        raise RuntimeError('subscriber bug')
    zope.event.subscribers.append(broken)
    try:
        job = session.put(jobs.add, 1, 1)
        start(db, tmp_path)
        assert testing.wait_for_result(job) == 2
        assert len(job.attempts) == 1
    finally:
        zope.event.subscribers.remove(broken)
    assert any('a subscriber of JobCompleted failed for %s' % job.key
               in r.getMessage() for r in caplog.records)


def test_retry_counts_kept_when_policy_gives_up(db, session, tmp_path):
    job = session.put(jobs.always_conflict)
    start(db, tmp_path)
    result = testing.wait_for_result(job)
    assert result.check(ZODB.POSException.ConflictError)
    assert job.retry_counts == {'transient': 5}


def test_note_gap_after_long_pause(db, session, tmp_path):
    d = start(db, tmp_path)
    testing.run_until_idle(d)
    d.state.last_poll -= 60  # as if the poll thread had stalled a minute
    before = d.liveness.healthy_since
    d.liveness.note_gap(0, d.state.last_poll)
    assert d.liveness.healthy_since > before


def test_jobs_still_run_concurrently_after_tiny_ones(db, session, tmp_path):
    d = start(db, tmp_path, main_agent_size=2)
    tiny = [session.put(jobs.noop, i) for i in range(30)]
    testing.wait_for_result(tiny[-1])
    workers = d._workers[('', 'main')]
    assert workers.call_ema is not None
    # Tiny calls take turns (how tiny the noop calls were depends on the
    # machine: the average is set, as test_worker's turn tests do); these
    # two can only finish together.
    for _ in range(50):
        workers.note_call(0.0)
    assert workers.call_ema < worker.TINY_CALL_SECONDS
    name = 'meet-%s' % uuid.uuid4()
    pair = [session.put(jobs.meet, name) for _ in range(2)]
    assert [testing.wait_for_result(j, timeout=30) for j in pair] == [
        name, name]


def test_prefetch_follows_the_calls_not_the_commits(db, session, tmp_path):
    # Commits slowed by other processes (or a busy machine) must not
    # shrink the claims: smaller claims make smaller groups and more
    # commits, which slow the commits further (issue 11, RelStorage).
    d = start(db, tmp_path, main_agent_size=3)
    testing.wait_for_result(session.put(jobs.noop, 1))
    workers = d._workers[('', 'main')]
    session.tm.begin()
    agent = zc.asyncui.getQueue(session.conn).getDispatcherAgents(
        d.UUID)['main']
    for _ in range(50):  # tiny calls, each run 80 ms with its commit
        workers.note_call(0.0001)
        workers.note_duration(0.08)
    assert polling.prefetch(agent, workers) == polling.MAX_PREFETCH
    for _ in range(50):  # calls of 0.1 s: a quarter second per worker
        workers.note_call(0.1)
    assert polling.prefetch(agent, workers) == 7
    for _ in range(50):  # long calls stay in the queue for the others
        workers.note_call(2 * polling.LONG_JOB_SECONDS)
    assert polling.prefetch(agent, workers) == 0
    session.tm.abort()


# -- a start that fails leaves nothing behind (defect 6) -------------------

def test_start_on_closed_database_leaves_nothing_behind(db, tmp_path):
    (tmp_path / 'closed').mkdir()
    closed = testing.file_storage_db(str(tmp_path / 'closed'))
    closed.close()
    with pytest.raises(errors.DispatcherError, match='database closed'):
        start(closed, tmp_path)
    assert dispatcher.get() is None
    with dispatcher._registry_lock:
        assert not dispatcher._registry
    dispatcher.stop_all(1.0)  # nothing left to stop: does not raise
    zc.asyncui.install(db)
    d = start(db, tmp_path)  # same UUID (same uuid file)
    assert dispatcher.get() is d
    s = Session(db)
    job = s.put(jobs.noop, 'after')
    assert testing.wait_for_result(job) == 'after'
    s.conn.close()


@pytest.mark.parametrize('name', ['poll_interval', 'ping_interval',
                                  'ping_death_interval'])
@pytest.mark.parametrize('value', [float('nan'), float('inf'),
                                   -float('inf')])
def test_start_non_finite_interval_refused(db, tmp_path, name, value):
    with pytest.raises(errors.ConfigurationError, match=name):
        start(db, tmp_path, **{name: value})
    assert dispatcher.get() is None


# -- worker threads that die are replaced (defect 1, runtime half) -------

class _ThreadKiller(BaseException):
    """Stands for anything that escapes a worker thread's handlers (a bug
    in the engine, an exception nothing catches)."""


def test_dead_worker_thread_replaced_logged_and_reported(
        db, session, tmp_path, caplog, monkeypatch):
    real = jobrun.JobRun
    kills = []

    class KillingJobRun(real):
        def run(self):
            if len(kills) < 3:  # every worker thread of the agent
                kills.append(self.oid)
                raise _ThreadKiller('killed by the test')
            return super().run()

    monkeypatch.setattr(jobrun, 'JobRun', KillingJobRun)
    d = start(db, tmp_path, main_agent_size=3)
    doomed = [session.put(jobs.noop, i) for i in range(3)]
    for job in doomed:  # each reran after its thread died
        assert testing.wait_for_result(job, timeout=30) == job.args[0]
    later = session.put(jobs.noop, 'later')
    assert testing.wait_for_result(later) == 'later'
    deadline = time.monotonic() + 20  # replacements: at most one a second
    while d.getStatusInfo()['workers'][0]['replaced'] < 3 and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    info, = d.getStatusInfo()['workers']
    assert (info['size'], info['alive'], info['replaced']) == (3, 3, 3)
    assert 'killed by the test' in info['last_death']
    messages = [r.getMessage() for r in caplog.records]
    died = [m for m in messages if 'died with _ThreadKiller' in m]
    replaced = [m for m in messages if 'replaced worker thread' in m]
    assert len(died) == 3 and len(replaced) == 3
    for m in died + replaced:
        assert str(d.UUID) in m and "agent 'main'" in m and "queue ''" in m
        assert 'zc.asyncui worker' in m


# -- log lines operators understand (defects 13 and 10, runtime part) ----

def test_stop_after_completed_jobs_says_so_in_words(
        db, session, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    d = start(db, tmp_path, poll_interval=60.0)
    done = [session.put(jobs.noop, i) for i in range(3)]
    for job in done:
        testing.wait_for_result(job)
    d.stop()
    stopped, = [r.getMessage() for r in caplog.records
                if 'stopped;' in r.getMessage()]
    assert 'released' not in stopped and "{'" not in stopped
    # A poll may have taken some completions off the agent already: the
    # stop reports those still held, in words.
    assert re.search(r'the jobs it held: ([123] already completed, only'
                     r' taken off the agent|no jobs)$', stopped), stopped


def test_describe_outcomes_in_words():
    from zc.asyncui.liveness import describe_outcomes
    assert describe_outcomes({}) == 'no jobs'
    assert describe_outcomes({'completed': 11, 'requeued': 2}) == (
        '2 not started yet, back in their queue; 11 already completed,'
        ' only taken off the agent')


def test_poll_conflicts_debug_until_they_repeat(db, tmp_path, caplog):
    d = dispatcher.Dispatcher(db, uuid.uuid4())
    caplog.set_level(logging.DEBUG, logger='zc.asyncui.dispatcher')
    conflict = ZODB.POSException.ConflictError('routine')
    for failures in range(1, 12):
        polling.log_poll_failure(d.UUID, conflict, failures)
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    warnings = [m for level, m in levels if level >= logging.WARNING]
    assert len(warnings) == 1
    assert '10 times in a row' in warnings[0] and str(d.UUID) in warnings[0]
    assert len(levels) == 11  # the others at DEBUG


def test_poll_unreachable_storage_warns_at_once(db, caplog):
    import ZEO.Exceptions
    d = dispatcher.Dispatcher(db, uuid.uuid4())
    polling.log_poll_failure(d.UUID, ZEO.Exceptions.ClientDisconnected(),
                             1)
    record, = caplog.records
    assert record.levelno == logging.WARNING
    assert 'ClientDisconnected: the storage is unreachable' in \
        record.getMessage()


def test_worker_thread_dying_while_starting_a_job_job_still_runs(
        db, session, tmp_path, monkeypatch):
    from zc.asyncui import worker
    real = worker.start_held
    kills = []

    def start_held(job, agent, dispatcher):
        if not kills:
            kills.append(job.key)
            raise _ThreadKiller('killed while starting')
        return real(job, agent, dispatcher)

    monkeypatch.setattr(worker, 'start_held', start_held)
    d = start(db, tmp_path, main_agent_size=1)
    job = session.put(jobs.noop, 'started later')
    assert testing.wait_for_result(job, timeout=20) == 'started later'
    assert kills == [job.key]
    assert d.getStatusInfo()['workers'][0]['replaced'] == 1
