"""zc.async's documented scenarios, ported to zc.asyncui's names.

Each test names the zc.async document it comes from (README, job.txt,
queue.txt, catastrophes.txt ...; see ../shared/reference/zc_async.md) and
checks that zc.asyncui behaves as zc.async documented -- or, where the
test is named ``test_deliberate_*``, that it keeps the deliberate
difference listed in docs/porting.rst.  Jobs run in the test's thread
(``testing.run_jobs``) unless the scenario needs a dispatcher.
"""
import datetime

import pytest
import transaction
import ZODB.POSException

import zc.asyncui
from zc.asyncui import Agent
from zc.asyncui import errors
from zc.asyncui import Failure
from zc.asyncui import Job
from zc.asyncui import JobStatus
from zc.asyncui import local
from zc.asyncui import retry
from zc.asyncui import testing
from zc.asyncui.execution import mark_active

import jobs
import parityjobs

UTC = datetime.timezone.utc


@pytest.fixture
def conn(db):
    """A connection using the thread's transaction manager, as zc.async's
    doctests did (run_jobs runs jobs in that manager)."""
    zc.asyncui.install(db)
    connection = db.open()
    yield connection
    transaction.abort()
    connection.close()


@pytest.fixture
def queue(conn):
    return zc.asyncui.getQueue(conn)


def run(conn, **kw):
    transaction.commit()
    return testing.run_jobs(conn, **kw)


@pytest.fixture(autouse=True)
def _fresh_seen():
    del parityjobs.seen[:]


# -- job.txt: the lifecycle -----------------------------------------------

def test_status_moves_new_pending_assigned_active_callbacks_completed(
        conn, queue):
    job = Job(parityjobs.status_of_self)
    assert job.status == JobStatus.NEW
    queue.put(job)
    assert job.status == JobStatus.PENDING
    callback = job.addCallback(parityjobs.parent_status)
    record = queue.getDispatcherAgents('parity-dispatcher', create=True)
    record['main'] = agent = Agent(size=1)
    assert agent.claimJob() is job
    assert job.status == JobStatus.ASSIGNED
    agent.remove(job)
    queue.putBack(job)
    run(conn)
    # ACTIVE while called; CALLBACKS while its callbacks run.
    assert job.result == 'ACTIVE'
    assert callback.result == ('CALLBACKS', 'ACTIVE')
    assert job.status == callback.status == JobStatus.COMPLETED
    assert job.begin_after <= job.active_start <= job.active_end


def test_put_sets_begin_after_to_now_and_no_begin_by(queue):
    before = datetime.datetime.now(UTC)
    job = queue.put(jobs.noop)
    assert before <= job.begin_after <= datetime.datetime.now(UTC)
    assert job.begin_by is None  # zc.async 1.2: no limit by default


def test_put_adapts_callables_to_jobs(queue):
    job = queue.put(jobs.noop)
    assert isinstance(job, Job)
    assert job.callable is jobs.noop


def test_put_requires_new(conn, queue):
    job = queue.put(jobs.noop)
    with pytest.raises(errors.BadStatusError, match='expected NEW'):
        queue.put(job)


def test_call_time_args_appended_and_kwargs_override():
    job = Job(parityjobs.collect_kw, 1, key='stored', other=0)
    assert job(2, key='given') == ((1, 2), {'key': 'given', 'other': 0})


def test_raised_error_aborts_and_becomes_failure(conn, queue):
    job = queue.put(Job(parityjobs.write_root_and_raise, 'raised'))
    run(conn)
    assert isinstance(job.result, Failure)
    assert job.result.check(ValueError)
    assert 'parity' not in conn.root()


def test_returned_failure_is_not_aborted(conn, queue):
    job = queue.put(Job(parityjobs.write_root_and_return_failure, 'kept'))
    run(conn)
    assert job.result.getErrorMessage() == 'returned, not raised'
    assert conn.root()['parity'] == 'kept'


def test_job_may_commit_itself(conn, queue):
    job = queue.put(Job(parityjobs.commit_inside, 'inside'))
    run(conn)
    assert job.result == 'inside'
    assert conn.root()['committed_inside'] == 'inside'


def test_job_calling_itself_gets_bad_status_error(conn, queue):
    job = queue.put(parityjobs.call_self)
    run(conn)
    assert job.result.check(errors.BadStatusError)
    assert 'called itself' in job.result.message


def test_callback_calling_its_parent_gets_bad_status_error(conn, queue):
    parent = queue.put(Job(jobs.add, 1, 2))
    caller = parent.addCallback(parityjobs.call_parent)
    run(conn)
    assert caller.result.check(errors.BadStatusError)
    assert 'its status is CALLBACKS' in caller.result.message
    # The parent still completes.
    assert parent.status == JobStatus.COMPLETED and parent.result == 3


def test_naive_begin_after_refused(queue):
    with pytest.raises(ValueError, match='timezone-aware'):
        queue.put(jobs.noop, begin_after=datetime.datetime(2030, 1, 1))


def test_aware_begin_after_stored_in_utc(queue):
    paris = datetime.timezone(datetime.timedelta(hours=1))
    when = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=paris)
    job = queue.put(jobs.noop, begin_after=when)
    assert job.begin_after == when
    assert job.begin_after.utcoffset() == datetime.timedelta(0)


def test_callable_settable_only_while_new(queue):
    job = Job(jobs.noop)
    job.callable = jobs.record
    queue.put(job)
    with pytest.raises(errors.BadStatusError):
        job.callable = jobs.noop


def test_begin_after_settable_only_while_new(queue):
    job = queue.put(jobs.noop)
    with pytest.raises(errors.BadStatusError):
        job.begin_after = datetime.datetime.now(UTC)


def test_begin_by_settable_while_pending(queue):
    job = queue.put(jobs.noop)
    job.begin_by = datetime.timedelta(hours=1)
    assert job.begin_by == datetime.timedelta(hours=1)


# -- job.txt: callbacks -----------------------------------------------------

def test_callbacks_get_parent_result_and_are_not_chained(conn, queue):
    parent = queue.put(Job(jobs.add, 1, 2))
    first = parent.addCallback(Job(jobs.add, 10))
    second = parent.addCallback(Job(jobs.add, 100))
    chained = first.addCallback(Job(jobs.add, 1000))
    run(conn)
    assert (first.result, second.result, chained.result) == (13, 103, 1013)


def test_callbacks_get_failure(conn, queue):
    parent = queue.put(Job(jobs.fail, 'no'))
    callback = parent.addCallback(parityjobs.collect)
    run(conn)
    (failure,), = [callback.result]
    assert isinstance(failure, Failure) and failure.check(ValueError)


def test_addCallbacks_success_and_failure(conn, queue):
    good = queue.put(Job(jobs.add, 1, 2))
    good_side = good.addCallbacks(success=parityjobs.collect,
                                  failure=jobs.describe_failure)
    bad = queue.put(Job(jobs.fail, 'disk full'))
    bad_side = bad.addCallbacks(success=parityjobs.collect,
                                failure=jobs.describe_failure)
    run(conn)
    assert good_side.result == (3,)
    assert bad_side.result == 'handled ValueError: disk full'


def test_twisted_style_failure_handler(conn, queue):
    """A zc.async failure handler written for zc.twist Failures."""
    bad = queue.put(Job(jobs.fail, 'disk full'))
    handled = bad.addCallbacks(failure=parityjobs.trap_value_error)
    run(conn)
    assert handled.result == 'trapped ValueError: disk full'


def test_local_getJob_is_the_callback_in_callbacks(conn, queue):
    parent = queue.put(Job(jobs.add, 1, 2))
    callback = parent.addCallback(parityjobs.same_job_in_callback)
    run(conn)
    assert callback.result == (True, 3)
    assert local.getJob() is None  # outside jobs


def test_callback_added_while_callbacks_run_is_run(conn, queue):
    parent = queue.put(Job(jobs.add, 1, 2))
    adder = parent.addCallback(parityjobs.add_sibling_callback)
    run(conn)
    assert adder.status == JobStatus.COMPLETED
    sibling = parent.callbacks[-1]
    assert sibling is not adder
    assert sibling.result == (3,)


def test_callback_failure_logged_critical(conn, queue, caplog):
    parent = queue.put(Job(jobs.add, 1, 2))
    parent.addCallback(Job(jobs.fail))
    with caplog.at_level('ERROR'):
        run(conn)
    assert any(r.levelname == 'CRITICAL' and 'a callback of job' in
               r.getMessage() for r in caplog.records)


# -- README / job.txt: a job returning a job ----------------------------------

def test_job_returning_job_gets_inner_result(conn, queue):
    outer = queue.put(Job(parityjobs.return_outer_status_job, 5))
    callback = outer.addCallback(parityjobs.collect)
    run(conn)
    assert outer.result == 10
    assert callback.result == (10,)
    assert outer.attempts[0]['outcome'].startswith('waiting for job')


def test_job_returning_job_stays_active_until_inner_completes(conn, queue):
    outer = queue.put(Job(parityjobs.return_scheduled_job, 1))
    assert run(conn) == 1
    assert outer.status == JobStatus.ACTIVE
    inner = outer.waiting_on
    assert inner.status == JobStatus.PENDING
    later = datetime.datetime.now(UTC) + datetime.timedelta(hours=2)
    testing.run_jobs(conn, clock=testing.FakeClock(later))
    assert outer.status == JobStatus.COMPLETED
    assert outer.result == inner.result == 42


# -- catastrophes.txt / jobs_and_transactions.txt: retries --------------------

def test_conflict_error_retried_then_succeeds(conn, queue):
    job = queue.put(Job(parityjobs.conflict_n_times, 'twice', 2))
    run(conn)
    assert job.result == 3


def test_conflict_error_five_attempts_then_failure(conn, queue):
    job = queue.put(Job(parityjobs.conflict_n_times, 'always', 99))
    run(conn)
    assert job.result.check(ZODB.POSException.ConflictError)
    assert parityjobs.seen.count('always') == 5


def test_other_error_not_retried(conn, queue):
    job = queue.put(Job(jobs.fail))
    run(conn)
    assert job.failed
    assert len(job.attempts) == 1


def test_never_retry_gives_up_on_conflict(conn, queue):
    job = queue.put(Job(parityjobs.conflict_n_times, 'never', 99),
                    retry_policy_factory=retry.NeverRetry)
    run(conn)
    assert job.failed
    assert parityjobs.seen.count('never') == 1


def test_retry_policy_by_adapter_name(conn, queue):
    import zope.component
    from zc.asyncui.interfaces import IJob, IRetryPolicy
    gsm = zope.component.getGlobalSiteManager()
    gsm.registerAdapter(retry.NeverRetry, (IJob,), IRetryPolicy, 'once')
    try:
        job = queue.put(Job(parityjobs.conflict_n_times, 'named', 99),
                        retry_policy_factory='once')
        run(conn)
    finally:
        gsm.unregisterAdapter(retry.NeverRetry, (IJob,), IRetryPolicy,
                              'once')
    assert parityjobs.seen.count('named') == 1


# -- README: begin_after and begin_by -----------------------------------------

def test_begin_after_future_not_claimed_until_due(conn, queue):
    start = datetime.datetime.now(UTC)
    job = queue.put(Job(jobs.record, 'later'),
                    begin_after=start + datetime.timedelta(hours=1))
    assert run(conn) == 0
    assert job.status == JobStatus.PENDING
    clock = testing.FakeClock(start + datetime.timedelta(hours=1, seconds=1))
    assert testing.run_jobs(conn, clock=clock) == 1
    assert job.result == 'later'


def test_begin_by_missed_fails_with_timeout_and_runs_callbacks(conn, queue):
    start = datetime.datetime.now(UTC) - datetime.timedelta(minutes=5)
    job = queue.put(Job(jobs.record, 'too late'), begin_after=start,
                    begin_by=datetime.timedelta(minutes=1))
    callback = job.addCallback(parityjobs.collect)
    run(conn)
    assert job.result.check(errors.JobTimeoutError, 'builtins.TimeoutError')
    assert 'too late' not in jobs.calls
    assert callback.result == (job.result,)


# -- README / job.txt: annotations and zc.async.local -----------------------

def test_annotations_are_stored(conn, queue):
    job = queue.put(Job(parityjobs.annotate, 'progress', 50))
    run(conn)
    assert dict(job.annotations) == {'progress': 50}


def test_live_annotation_visible_before_job_commits(conn, queue):
    job = queue.put(parityjobs.live_annotation_seen_elsewhere)
    run(conn)
    assert job.result == 'halfway'
    assert job.annotations['progress'] == 'halfway'


def test_getLiveAnnotation_default_and_outside_jobs(conn, queue):
    job = queue.put(jobs.noop)
    transaction.commit()
    assert local.getLiveAnnotation('x', 'none', job=job) == 'none'
    local.setLiveAnnotation('x', 1, job=job)
    assert local.getLiveAnnotation('x', job=job) == 1
    with pytest.raises(ValueError, match='no job'):
        local.setLiveAnnotation('x', 1)


def test_local_inside_job(db, conn, queue, tmp_path):
    job = queue.put(parityjobs.where_am_i)
    transaction.commit()
    with testing.dispatcher_running(db, uuid_file=str(tmp_path / 'uuid.txt')):
        key, queue_name, agent_name, has_dispatcher = \
            testing.wait_for_result(job)
    assert key == job.key and queue_name == ''
    assert agent_name == 'main' and has_dispatcher
    assert local.getJob() is local.getQueue() is None


# -- queue.txt -----------------------------------------------------------------

def test_queue_claim_order_and_len(conn, queue):
    first = queue.put(Job(jobs.record, 1))
    second = queue.put(Job(jobs.record, 2))
    assert len(queue) == 2
    assert list(queue) == [first, second]
    assert queue.claim() is first
    assert len(queue) == 1
    assert queue.claim(lambda job: False) is None
    assert queue.claim() is second
    assert queue.claim() is None


def test_queue_pull_cancels(conn, queue):
    job = queue.put(jobs.noop)
    assert queue.pull(job) is job
    assert job.status == JobStatus.NEW
    assert len(queue) == 0
    queue.put(job)  # a pulled job may be put again
    assert job.status == JobStatus.PENDING


def test_queue_remove_absent_raises_lookup_error(conn, queue):
    job = queue.put(jobs.noop)
    queue.pull(job)
    with pytest.raises(LookupError):
        queue.remove(job)


def test_deliberate_pull_takes_job_not_index(queue):
    queue.put(jobs.noop)
    with pytest.raises(TypeError, match=r'pull\(list\(queue\)\[index\]\)'):
        queue.pull(0)


def test_queue_putBack_goes_first(conn, queue):
    first = queue.put(Job(jobs.record, 1))
    queue.put(Job(jobs.record, 2))
    assert queue.claim() is first
    queue.putBack(first)
    assert queue.claim() is first


# -- catastrophes.txt: a dispatcher that stopped or died --------------------

def _dead_record(queue, size=3):
    record = queue.getDispatcherAgents('parity-dead', create=True)
    record['main'] = agent = Agent(size=size)
    record.activate('host', 1, 'token')
    return record, agent


def test_interrupted_job_is_run_again(conn, queue):
    job = queue.put(Job(jobs.record, 'interrupted'))
    callback = job.addCallback(parityjobs.collect)
    record, agent = _dead_record(queue)
    assert agent.claimJob() is job
    mark_active(job, parityjobs.FakeDispatcher, agent)
    transaction.commit()
    assert record.deactivate('stopped mid-job') == {'retry': 1}
    run(conn)
    assert job.result == 'interrupted'
    assert callback.result == ('interrupted',)
    assert job.retry_counts == {'interrupted': 1}


def test_unstarted_job_of_dead_dispatcher_requeued(conn, queue):
    job = queue.put(Job(jobs.record, 'waiting'))
    record, agent = _dead_record(queue)
    agent.claimJob()
    assert record.deactivate('died') == {'requeued': 1}
    assert job.status == JobStatus.PENDING
    run(conn)
    assert job.result == 'waiting'


def test_tenth_interruption_aborts_and_runs_callbacks(conn, queue):
    job = queue.put(Job(jobs.record, 'poison'))
    callback = job.addCallback(parityjobs.collect)
    record, agent = _dead_record(queue)
    agent.claimJob()
    mark_active(job, parityjobs.FakeDispatcher, agent)
    job.retry_counts = {'interrupted': 9}
    assert record.deactivate('died again') == {'aborted': 1}
    run(conn)
    assert job.result.check(errors.AbortedError)
    assert 'interrupted 10 times' in job.result.message
    assert callback.result == (job.result,)


def test_job_interrupted_in_callbacks_resumes_them(conn, queue):
    job = queue.put(Job(jobs.add, 1, 2))
    callback = job.addCallback(parityjobs.collect)
    record, agent = _dead_record(queue)
    agent.claimJob()
    mark_active(job, parityjobs.FakeDispatcher, agent)
    parityjobs.finish_without_callbacks(job, 3)
    assert job.status == JobStatus.CALLBACKS
    assert record.deactivate('died in callbacks') == {'resumed': 1}
    run(conn)
    assert job.status == JobStatus.COMPLETED
    assert callback.result == (3,)


def test_dead_dispatcher_found_by_live_one(db, conn, queue, tmp_path):
    """catastrophes.txt, hard crash with a live sibling: the live
    dispatcher deactivates the silent record and runs its job."""
    job = queue.put(Job(jobs.record, 'rescued'))
    record, agent = _dead_record(queue)
    long_ago = datetime.datetime.now(UTC) - datetime.timedelta(minutes=5)
    record.activate('crashed-host', 4242, 'token', long_ago)
    agent.claimJob()
    mark_active(job, parityjobs.FakeDispatcher, agent)
    transaction.commit()
    with testing.dispatcher_running(db, uuid_file=str(tmp_path / 'uuid.txt')):
        assert testing.wait_for_result(job, timeout=30) == 'rescued'
    transaction.begin()
    assert record.activated is None
    assert job.retry_counts == {'interrupted': 1}


# -- deliberate differences (docs/porting.rst) -------------------------------

def test_deliberate_calling_a_job_does_not_change_its_status():
    job = Job(jobs.add, 1, 2)
    assert job() == 3
    assert job.status == JobStatus.NEW and job.result is None


def test_deliberate_late_callback_goes_through_the_queue(conn, queue):
    parent = queue.put(Job(jobs.add, 1, 2))
    run(conn)
    late = parent.addCallback(parityjobs.collect)
    assert late.status == JobStatus.PENDING  # zc.async: ran at once
    run(conn)
    assert late.result == (3,)


def test_deliberate_addCallbacks_missing_side_passes_result(conn, queue):
    parent = queue.put(Job(jobs.add, 1, 2))
    router = parent.addCallbacks(failure=jobs.describe_failure)
    run(conn)
    assert router.result == 3  # zc.async: (3,)


def test_deliberate_timeout_error_class(conn, queue):
    assert issubclass(errors.JobTimeoutError, errors.AsyncUIError)



def test_no_retry_after_begin_by_deadline(conn, queue):
    """zc.async meant retries to stop once begin_after + begin_by has
    passed (its comparison was inverted): a job that started in time but
    failed after its deadline is not retried."""
    start = datetime.datetime.now(UTC)
    clock = parityjobs.clock = testing.FakeClock(start)
    job = queue.put(Job(parityjobs.conflict_after, 120),
                    begin_after=start, begin_by=datetime.timedelta(minutes=1))
    run(conn, clock=clock)
    assert job.result.check(ZODB.POSException.ConflictError)
    assert parityjobs.seen == ['conflict_after']
    # Within its deadline, the same job is retried (five calls).
    del parityjobs.seen[:]
    clock = parityjobs.clock = testing.FakeClock(start)
    job = queue.put(Job(parityjobs.conflict_after, 10),
                    begin_after=start, begin_by=datetime.timedelta(minutes=1))
    run(conn, clock=clock)
    assert job.result.check(ZODB.POSException.ConflictError)
    assert len(parityjobs.seen) == 5


def test_error_at_commit_one_attempt_commit_failure_stored(conn, queue):
    """catastrophes.txt: an ordinary error at commit is not retried; the
    commit's Failure is the result and the job's changes are gone."""
    job = queue.put(Job(parityjobs.return_unpicklable, 'lost'))
    run(conn)
    assert job.failed
    assert 'cannot pickle this result' in job.result.message
    assert len(job.attempts) == 1
    assert 'unpicklable_side_effect' not in conn.root()


def test_job_returning_failing_job_gets_its_failure(conn, queue):
    outer = queue.put(parityjobs.return_failing_job)
    run(conn)
    assert outer.failed and outer.result.getErrorMessage() == 'inner failed'


def test_callbacks_of_addCallbacks_get_the_chosen_side_result(conn, queue):
    """job.txt: callbacks added to the addCallbacks result get the result
    of the side that ran."""
    bad = queue.put(Job(jobs.fail, 'disk full'))
    router = bad.addCallbacks(success=parityjobs.collect,
                              failure=jobs.describe_failure)
    after = router.addCallback(parityjobs.collect)
    run(conn)
    assert after.result == ('handled ValueError: disk full',)
