"""Grouped commits (zc.asyncui.grouping, issue 11): a worker finishes
several short jobs in one transaction, and every guarantee of one commit
per job is kept.  Real dispatcher, worker thread and FileStorage.

The jobs (tests/groupjobs.py) count their calls in this process
(``CALLS``) and write their tag to ``root['log']`` in their transaction;
``HELD`` says how many finished jobs the worker held uncommitted when
each was called.  "Nothing runs twice unseen" is then: for every job,
calls == len(attempts); "no outcome taken": every tag that should be in
the log is, once per committed call.
"""
import collections
import time

import pytest
import transaction
import ZODB.TimeStamp
import zope.event

import groupjobs
from test_dispatcher import _ThreadKiller
import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import errors
from zc.asyncui import events
from zc.asyncui import settings
from zc.asyncui import testing
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job

FAST = dict(poll_interval=0.1, ping_interval=0.2, ping_death_interval=1.0)
#: Long enough that a test's short jobs all fit in one group.
LONG_GROUP = 2.0


class Session:
    def __init__(self, db):
        self.tm = transaction.TransactionManager()
        self.conn = db.open(self.tm)
        groupjobs.reset(self.conn)
        self.tm.commit()

    def put_all(self, specs, callbacks=()):
        """Put one job per (function, tag); returns {tag: job}."""
        queue = zc.asyncui.getQueue(self.conn)
        jobs = {}
        for func, tag in specs:
            jobs[tag] = queue.put(Job(func, tag))
            if tag in callbacks:
                jobs[tag + ' callback'] = jobs[tag].addCallback(
                    groupjobs.add_suffix)
        self.tm.commit()
        return jobs

    def log(self):
        self.tm.begin()
        return collections.Counter(self.conn.root()['log'].tags)


@pytest.fixture
def session(db):
    zc.asyncui.install(db)
    s = Session(db)
    yield s
    s.tm.abort()
    s.conn.close()


def start(db, tmp_path, group):
    # One worker that claims every job at once: they run one after the
    # other, each started in the transaction that finishes the previous.
    return dispatcher.start(
        db, main_agent_size=0, group_commit_seconds=group,
        uuid_file=str(tmp_path / 'uuid.txt'),
        agents=[(None, 'main', {'size': 1, 'prefetch': 50})], **FAST)


def results(jobs):
    return {tag: testing.wait_for_result(job, 30)
            for tag, job in jobs.items()}


def check_attempts_match_calls(jobs, exact=True):
    """Every call is an attempt in the job's history (``exact``: and
    every attempt a call; a job started but not called when its worker
    died has an attempt closed as interrupted, as without grouping)."""
    for tag, job in jobs.items():
        if tag.endswith('callback'):
            continue
        calls, attempts = groupjobs.CALLS[job.key], len(job.attempts)
        assert calls == attempts if exact else calls <= attempts, (
            tag, calls, job.attempts)


def outcome(value):
    return ('failed', value.type_name) if isinstance(value, Failure) \
        else ('value', value)


def serial(job):
    return job._p_serial


# -- grouping happens ---------------------------------------------------------

def test_short_jobs_are_committed_together(db, session, tmp_path):
    specs = [(groupjobs.tally, 'a%d' % i) for i in range(10)]
    jobs = session.put_all(specs)
    start(db, tmp_path, LONG_GROUP)
    assert results(jobs) == {tag: tag for tag in jobs}
    check_attempts_match_calls(jobs)
    assert session.log() == collections.Counter(list(jobs))
    # One commit finished (nearly) all of them: a1 is the first held
    # (a0, whose callable was not seen yet, was committed before a1).
    assert len({serial(jobs['a%d' % i]) for i in range(1, 10)}) == 1
    assert max(groupjobs.HELD.values()) >= 8
    for job in jobs.values():
        assert [a['outcome'] for a in job.attempts] == ['succeeded']


def test_every_call_has_a_committed_start(db, session, tmp_path):
    # What makes a crash safe: a job is never called in the transaction
    # that starts it.  Grouping starts the next jobs in the commit of the
    # held ones; each is called only after that commit.
    jobs = session.put_all([(groupjobs.tally_checking_start, 'a%d' % i)
                            for i in range(30)])
    start(db, tmp_path, LONG_GROUP)
    assert results(jobs) == {tag: tag for tag in jobs}
    assert max(groupjobs.HELD.values()) >= 5
    assert groupjobs.COMMITTED == {tag: ('ACTIVE', 1) for tag in jobs}


def test_zero_turns_grouping_off(db, session, tmp_path):
    jobs = session.put_all([(groupjobs.tally, 'a%d' % i) for i in range(5)])
    start(db, tmp_path, 0)
    assert results(jobs) == {tag: tag for tag in jobs}
    assert len({serial(job) for job in jobs.values()}) == 5
    assert set(groupjobs.HELD.values()) == {0}


# -- a job that fails, raises ConflictError or commits by itself --------------

def _with_special(func):
    # A warm-up call of the special callable (so that it is known short),
    # three held jobs, the special one, then two more.
    return [(func, 'w0'), (groupjobs.tally, 'a1'), (groupjobs.tally, 'a2'),
            (groupjobs.tally, 'a3'), (func, 'x'), (groupjobs.tally, 'b1'),
            (groupjobs.tally, 'b2')]


def test_failing_job_does_not_take_held_jobs_with_it(db, session, tmp_path):
    jobs = session.put_all(_with_special(groupjobs.fail_after_write))
    start(db, tmp_path, LONG_GROUP)
    found = results(jobs)
    assert groupjobs.HELD['x'] == 3  # a1..a3 were held when x failed
    assert outcome(found['x']) == ('failed', 'ValueError')
    assert {t: found[t] for t in ('a1', 'a2', 'a3', 'b1', 'b2')} == {
        t: t for t in ('a1', 'a2', 'a3', 'b1', 'b2')}
    check_attempts_match_calls(jobs)
    # x's own write was rolled back to the savepoint before its call; the
    # held jobs' writes were committed.
    assert session.log() == collections.Counter(['a1', 'a2', 'a3', 'b1',
                                                 'b2'])
    assert serial(jobs['a1']) == serial(jobs['a2']) == serial(jobs['a3'])


def test_conflicting_job_is_retried_alone_held_jobs_kept(db, session,
                                                         tmp_path):
    jobs = session.put_all(_with_special(
        groupjobs.conflict_once_after_write))
    start(db, tmp_path, LONG_GROUP)
    found = results(jobs)
    assert found == {tag: tag for tag in jobs}
    assert groupjobs.HELD['x'] >= 3
    check_attempts_match_calls(jobs)
    x = jobs['x']
    first, second = x.attempts
    assert first['outcome'].startswith('retry now: call raised')
    assert 'ConflictError' in first['outcome']
    assert second['outcome'] == 'succeeded'
    for tag in ('a1', 'a2', 'a3', 'b1', 'b2'):
        assert len(jobs[tag].attempts) == 1
    # Each committed call wrote once: x's first call was rolled back.
    assert session.log() == collections.Counter(list(jobs))


def test_job_committing_itself_makes_held_jobs_durable(db, session,
                                                       tmp_path):
    jobs = session.put_all(_with_special(groupjobs.commit_itself))
    start(db, tmp_path, LONG_GROUP)
    found = results(jobs)
    assert found == {tag: tag for tag in jobs}
    assert groupjobs.HELD['x'] >= 3
    check_attempts_match_calls(jobs)
    for job in jobs.values():
        assert len(job.attempts) == 1
    assert session.log() == collections.Counter(list(jobs))


def test_job_aborting_itself_loses_nothing_unseen(db, session, tmp_path,
                                                   caplog):
    jobs = session.put_all(_with_special(groupjobs.abort_itself))
    start(db, tmp_path, LONG_GROUP)
    found = results(jobs)
    assert found == {tag: tag for tag in jobs}
    assert groupjobs.HELD['x'] >= 3
    # The held jobs lost their outcome with the transaction x aborted:
    # each ran again alone, as a recorded attempt.  x itself (its start
    # was committed before its call) went on as without grouping.
    check_attempts_match_calls(jobs)
    for tag in ('a1', 'a2', 'a3'):
        attempts = jobs[tag].attempts
        assert len(attempts) == 2, (tag, attempts)
        assert attempts[0]['outcome'].startswith(
            'retry now: the transaction holding its result was aborted')
        assert attempts[1]['outcome'] == 'succeeded'
    assert len(jobs['x'].attempts) == 1
    # An abort discards the aborting job's own write, as without
    # grouping; the held jobs' writes were made again.
    assert session.log() == collections.Counter(
        [tag for tag in jobs if tag not in ('w0', 'x')])
    assert 'each is run again alone as a new attempt' in caplog.text


# -- a conflict at the grouped commit -----------------------------------------

@pytest.mark.parametrize('conflicting', [
    groupjobs.conflict_at_commit_once,
    groupjobs.conflict_at_commit_once_no_savepoints])
def test_conflict_at_group_commit_reruns_each_job_as_attempt(
        db, session, tmp_path, caplog, conflicting):
    specs = [(groupjobs.tally, 'a0'), (groupjobs.tally, 'a1'),
             (groupjobs.tally, 'a2'), (conflicting, 'w0'),
             (groupjobs.tally, 'a3'), (conflicting, 'x'),
             (groupjobs.tally, 'b1')]
    jobs = session.put_all(specs)
    start(db, tmp_path, LONG_GROUP)
    found = results(jobs)
    assert found == {tag: tag for tag in jobs}
    check_attempts_match_calls(jobs)
    rerun = [tag for tag, job in jobs.items() if len(job.attempts) > 1]
    if conflicting is groupjobs.conflict_at_commit_once:
        # w0's commit failed with a3, x and b1 held with it.
        assert set(rerun) == {'w0', 'a3', 'x', 'b1'}
    else:
        # No savepoint could isolate a3's call: w0 was committed (and
        # failed) before it, alone in the group, then x likewise.
        assert set(rerun) == {'w0', 'x'}
    for tag in rerun:
        first, second = jobs[tag].attempts
        # Held jobs: "retry now: the grouped commit of its result failed
        # with ConflictError..."; the job whose own finishing commit it
        # was: its policy's "retry now: commit raised ...ConflictError".
        assert first['outcome'].startswith('retry now: ')
        assert 'ConflictError' in first['outcome']
        assert second['outcome'] == 'succeeded'
        assert groupjobs.CALLS[jobs[tag].key] == 2
    # Every tag is in the log once: the lost calls' writes went with
    # their transaction, the second calls' were committed.
    assert session.log() == collections.Counter(list(jobs))
    assert 'ConflictError' in caplog.text


# -- results, callbacks and events as without grouping ------------------------

def _run_mix(db, tmp_path, group):
    s = Session(db)
    seen = []

    def subscriber(event):
        if isinstance(event, (events.JobCompleted, events.JobFailed)):
            seen.append((type(event).__name__, event.object.key))
    zope.event.subscribers.append(subscriber)
    try:
        jobs = s.put_all(
            [(groupjobs.tally, 'a'), (groupjobs.tally, 'b'),
             (groupjobs.fail_after_write, 'f'), (groupjobs.tally, 'c'),
             (groupjobs.conflict_once_after_write, 'x'),
             (groupjobs.tally, 'd'), (groupjobs.tally, 'e')],
            callbacks=('c', 'f'))
        d = start(db, tmp_path, group)
        found = {tag: outcome(value) for tag, value in results(jobs).items()}
        check_attempts_match_calls(jobs)
        d.stop(10)
        names = {job.key: tag for tag, job in jobs.items()}
        fired = collections.Counter((kind, names[key]) for kind, key in seen)
        attempts = {tag: len(job.attempts) for tag, job in jobs.items()}
        return found, fired, attempts, s.log()
    finally:
        zope.event.subscribers.remove(subscriber)
        s.tm.abort()
        s.conn.close()


def test_results_callbacks_events_same_as_without_grouping(tmp_path):
    runs = []
    for group in (0, LONG_GROUP):
        directory = tmp_path / str(group)
        directory.mkdir()
        db = testing.file_storage_db(str(directory))
        zc.asyncui.install(db)
        try:
            runs.append(_run_mix(db, directory, group))
        finally:
            dispatcher.stop_all(10)
            db.close()
    assert runs[0] == runs[1]
    found = runs[1][0]
    assert found['c callback'] == ('value', 'c+cb')
    kind, text = found['f callback']  # it was given f's Failure
    assert kind == 'value' and 'ValueError' in text and text.endswith('+cb')


# -- durability and wait_for_result -------------------------------------------

def test_held_jobs_do_not_wait_for_an_unknown_call(db, session, tmp_path):
    jobs = session.put_all([(groupjobs.tally, 'a0'), (groupjobs.tally, 'a1'),
                            (groupjobs.tally, 'a2'),
                            (groupjobs.wait_for_release, 'w')])
    start(db, tmp_path, LONG_GROUP)
    try:
        # a1 and a2 were held; w's callable was never seen, so they were
        # committed before it was called: they complete while w blocks.
        assert testing.wait_for_result(jobs['a2'], 10) == 'a2'
        assert testing.wait_for_result(jobs['a1'], 10) == 'a1'
        session.tm.begin()
        assert jobs['w'].status.value == 'ACTIVE'
    finally:
        groupjobs.release.set()
    assert testing.wait_for_result(jobs['w'], 10) == 'w'
    assert serial(jobs['a1']) == serial(jobs['a2'])


def test_wait_for_result_returns_when_the_group_commits(db, session,
                                                         tmp_path):
    # With a group bound of 0.3 s, a job held in a long chain of short
    # jobs is committed about 0.3 s after its call at most (not when the
    # chain ends), and wait_for_result sees it as soon as that commit is
    # made (it polls every 50 ms).
    jobs = session.put_all([(groupjobs.tally, 'a%d' % i)
                            for i in range(400)])
    start(db, tmp_path, 0.3)
    assert testing.wait_for_result(jobs['a2'], 10) == 'a2'
    returned = time.time()
    job = jobs['a2']
    committed = ZODB.TimeStamp.TimeStamp(job._p_serial).timeTime()
    results(jobs)
    assert len([j for j in jobs.values()
                if j._p_serial == job._p_serial]) > 1  # a group's commit
    # Slack for a loaded machine: the bound is 0.3 s.
    assert committed - job.active_end.timestamp() < 1.3
    assert returned - committed < 1.0


# -- the setting --------------------------------------------------------------

def test_setting_table_command_line_and_zcml():
    setting = settings.get('dispatcher', 'group_commit_seconds')
    assert 0 < setting.default <= 0.01
    assert setting.validate(0) == 0.0
    assert setting.validate(0.002) == 0.002
    assert setting.parse('0') == 0.0
    for bad in (-0.001, 'x', None, float('nan'), True):
        with pytest.raises(errors.ConfigurationError,
                           match='group_commit_seconds'):
            setting.validate(bad)
    with pytest.raises(errors.ConfigurationError, match='0: off'):
        setting.parse('soon')
    from zc.asyncui.cli import options
    assert setting in options.DISPATCHER_SETTINGS
    from zc.asyncui import zcml
    assert 'group_commit_seconds' in zcml.IDispatcherDirective


def test_dispatcher_start_checks_the_setting(db, tmp_path):
    with pytest.raises(errors.ConfigurationError, match='group_commit'):
        start(db, tmp_path, -1)


# -- a worker thread that dies holding jobs -------------------------------------

def test_thread_dying_with_held_jobs_loses_no_call_unseen(
        db, session, tmp_path, monkeypatch, caplog):
    from zc.asyncui import jobrun
    real = jobrun.JobRun
    killed = []

    class KillingJobRun(real):
        def run(self):
            held = len(self.group) if self.group is not None else 0
            if not killed and held >= 3:
                killed.append(self.oid)
                raise _ThreadKiller('killed by the test')
            return super().run()

    monkeypatch.setattr(jobrun, 'JobRun', KillingJobRun)
    jobs = session.put_all([(groupjobs.tally, 'a%d' % i) for i in range(6)])
    start(db, tmp_path, LONG_GROUP)
    found = results(jobs)
    assert killed
    assert found == {tag: tag for tag in jobs}
    # The held jobs (called, uncommitted) and the started ones (not
    # called yet) were all durably ACTIVE: handed to their retry policy
    # as interrupted, each a recorded attempt.
    check_attempts_match_calls(jobs, exact=False)
    rerun = [tag for tag, job in jobs.items() if len(job.attempts) > 1]
    assert len(rerun) >= 3
    for tag in rerun:
        assert 'interrupted' in jobs[tag].attempts[0]['outcome'], (
            jobs[tag].attempts)
    assert session.log() == collections.Counter(list(jobs))


# -- several worker threads; a stop in the middle -------------------------------

def test_three_threads_run_each_job_once(db, session, tmp_path):
    # Each job writes only its own annotations: jobs writing one shared
    # object from three threads conflict, grouped or not.
    jobs = session.put_all([(groupjobs.tally_own, 'a%d' % i)
                            for i in range(300)])
    dispatcher.start(db, main_agent_size=3, group_commit_seconds=0.005,
                     uuid_file=str(tmp_path / 'uuid.txt'), **FAST)
    assert results(jobs) == {tag: tag for tag in jobs}
    check_attempts_match_calls(jobs)
    session.tm.begin()
    assert all(job.annotations['tag'] == tag for tag, job in jobs.items())
    assert max(groupjobs.HELD.values()) >= 1


def test_stop_in_the_middle_then_restart_loses_nothing(db, session,
                                                       tmp_path):
    jobs = session.put_all([(groupjobs.tally, 'a%d' % i)
                            for i in range(1000)])
    d = start(db, tmp_path, 0.005)
    testing.wait_for_result(jobs['a50'], 30)
    d.stop(10)
    session.tm.begin()
    done = sum(1 for job in jobs.values() if job.status.value == 'COMPLETED')
    assert done < len(jobs)  # stopped in the middle
    start(db, tmp_path, 0.005)
    assert results(jobs) == {tag: tag for tag in jobs}
    # A job started (in a batch) but not called when the dispatcher
    # stopped is recorded as interrupted, as without grouping.
    check_attempts_match_calls(jobs, exact=False)
    assert session.log() == collections.Counter(list(jobs))


# -- held without a savepoint (Group._keep_held) -----------------------------

@pytest.fixture
def worker_savepoints(monkeypatch):
    """Counts the savepoints the worker threads take."""
    import threading
    import ZODB.Connection
    taken = []
    original = ZODB.Connection.Connection.savepoint

    def savepoint(self):
        if 'worker' in threading.current_thread().name:
            taken.append(self)
        return original(self)
    monkeypatch.setattr(ZODB.Connection.Connection, 'savepoint', savepoint)
    return taken


def _count_only_with(func):
    return [(func, 'w0'), (groupjobs.count_only, 'a1'),
            (groupjobs.count_only, 'a2'), (groupjobs.count_only, 'a3'),
            (func, 'x'), (groupjobs.count_only, 'b1'),
            (groupjobs.count_only, 'b2')]


def test_failing_job_rolled_back_without_savepoint(db, session, tmp_path,
                                                   worker_savepoints):
    # The held jobs change nothing but their own records: x's call is
    # isolated by keeping their states, not by a savepoint; its failure
    # aborts its write, and the held jobs are committed as they were.
    jobs = session.put_all(_count_only_with(groupjobs.fail_after_write))
    start(db, tmp_path, LONG_GROUP)
    found = results(jobs)
    assert groupjobs.HELD['x'] == 3
    assert outcome(found['x']) == ('failed', 'ValueError')
    assert {t: found[t] for t in ('a1', 'a2', 'a3', 'b1', 'b2')} == {
        t: t for t in ('a1', 'a2', 'a3', 'b1', 'b2')}
    check_attempts_match_calls(jobs)
    for tag in ('a1', 'a2', 'a3', 'b1', 'b2'):
        assert [a['outcome'] for a in jobs[tag].attempts] == ['succeeded']
    assert session.log() == collections.Counter()  # x's write is gone
    assert serial(jobs['a1']) == serial(jobs['a2']) == serial(jobs['a3'])
    assert worker_savepoints == []


@pytest.mark.parametrize('changing', [
    groupjobs.change_held_then_fail, groupjobs.change_held_args_then_fail,
    groupjobs.commit_held_record_elsewhere_then_fail])
def test_failing_job_that_changed_a_held_record_loses_the_group(
        db, session, tmp_path, caplog, changing):
    # x changes the record of a held job (a3) and fails: the kept states
    # cannot be trusted (nor restored over another transaction's change),
    # so the held jobs are lost, each run again alone as a new attempt;
    # nothing x did stays.
    jobs = session.put_all(_count_only_with(changing))
    start(db, tmp_path, LONG_GROUP)
    found = results(jobs)
    assert outcome(found.pop('x')) == ('failed', 'ValueError')
    assert found == {tag: tag for tag in jobs if tag != 'x'}
    assert groupjobs.HELD['x'] == 3
    check_attempts_match_calls(jobs)
    for tag in ('a1', 'a2', 'a3'):
        first, second = jobs[tag].attempts
        assert first['outcome'].startswith('retry now: ')
        assert second['outcome'] == 'succeeded'
    assert list(jobs['a3'].args) == ['a3']
    if changing is groupjobs.commit_held_record_elsewhere_then_fail:
        assert 'changed by another transaction' in caplog.text
        assert jobs['a3'].failure_log_level == 10
    else:
        assert 'changed its record, then failed' in caplog.text
        assert jobs['a3'].failure_log_level is None
    assert 'each is run again alone as a new attempt' in caplog.text
    assert session.log() == collections.Counter(['w0'])  # not x's write


def test_held_result_that_can_change_keeps_the_savepoint(
        db, session, tmp_path, worker_savepoints):
    # A held job whose result is a dict: a later call could change it in
    # place, unseen; the savepoint isolates that call, as before.
    specs = [(groupjobs.fail_after_write, 'w0')] + [
        (groupjobs.count_only_dict, 'a%d' % i) for i in range(1, 4)] + [
        (groupjobs.fail_after_write, 'x')]
    jobs = session.put_all(specs)
    start(db, tmp_path, LONG_GROUP)
    found = results(jobs)
    assert groupjobs.HELD['x'] == 3
    assert outcome(found['x']) == ('failed', 'ValueError')
    assert {t: found[t] for t in ('a1', 'a2', 'a3')} == {
        t: {'tag': t} for t in ('a1', 'a2', 'a3')}
    check_attempts_match_calls(jobs)
    assert worker_savepoints
    assert session.log() == collections.Counter()
