"""Unit tests of zc.asyncui.recovery: releasing the jobs of a dispatcher
that stopped or died."""
import datetime

import pytest

from zc.asyncui import errors
from zc.asyncui import lifecycle
from zc.asyncui import recovery
from zc.asyncui import retry
from zc.asyncui import testing
from zc.asyncui.agent import Agent
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus

import jobs

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
UUID = 'dead0000-0000-4000-8000-000000000001'


class Answer:
    """A retry policy factory whose ``interrupted()`` gives ``answer``."""

    def __init__(self, answer):
        self.answer = answer

    def __call__(self, job):
        return _AnswerPolicy(job, self.answer)


class _AnswerPolicy:

    def __init__(self, job, answer):
        self.answer = answer
        self.counts = {'interrupted': 1}

    def interrupted(self):
        return self.answer


class Dispatcher:
    """Only what ``retry.policy_for`` asks of a dispatcher."""

    callback_retry_policy_factory = None

    def __init__(self, job_retry_policy_factory=None):
        self.job_retry_policy_factory = job_retry_policy_factory


@pytest.fixture
def agent(queue):
    record = queue.getDispatcherAgents(UUID, create=True)
    record['main'] = agent = Agent(size=3)
    return agent


def _claimed(queue, agent, *tags):
    put = [queue.put(Job(jobs.record, tag)) for tag in tags]
    agent.claimJobs(len(tags))
    return put


def _activate(job, agent, when=T0):
    # What a worker does when it starts a job.
    job._status = 'ACTIVE'
    job._agent = agent
    job._start_ts = when.timestamp()
    job._attempts += ((when.timestamp(), None, UUID, agent.name, None),)


def _finish(job, result, now):
    """Store a result the way a worker does: the job is started first."""
    if job._status != 'ACTIVE':
        lifecycle.start(job, UUID, 'main', now)
    lifecycle.set_result(job, result, now)


# -- by status ----------------------------------------------------------------

def test_release_assigned_back_at_its_place(queue, agent, clock):
    a, b, c = _claimed(queue, agent, 'a', 'b', 'c')
    assert recovery.release(b, agent, 'stop') == 'requeued'
    assert recovery.release(a, agent, 'stop') == 'requeued'
    assert list(queue) == [a, b]
    assert a.status is JobStatus.PENDING
    assert a not in agent and b not in agent
    assert list(agent) == [c]


def test_release_active_retried_by_default(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    _activate(job, agent)
    clock.advance(seconds=5)
    assert recovery.release(job, agent, 'dispatcher died') == 'retry'
    assert job.status is JobStatus.PENDING
    assert job in queue
    assert job.agent is None
    assert job not in agent
    assert job.retry_counts == {'interrupted': 1}
    (attempt,) = job.attempts
    assert attempt['end'] == T0 + datetime.timedelta(seconds=5)
    assert attempt['outcome'] == 'interrupted: dispatcher died'


def test_release_active_rescheduled_by_policy(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    _activate(job, agent)
    job.retry_policy_factory = Answer(datetime.timedelta(minutes=2))
    assert recovery.release(job, agent, 'died') == 'rescheduled'
    assert job.begin_after == T0 + datetime.timedelta(minutes=2)
    assert job in queue
    assert queue.claim() is None
    clock.advance(minutes=3)
    assert queue.claim() is job


def test_release_active_rescheduled_to_datetime(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    _activate(job, agent)
    when = T0 + datetime.timedelta(hours=1)
    outcome = recovery.release(job, agent, 'died',
                               dispatcher=Dispatcher(Answer(when)))
    assert outcome == 'rescheduled'
    assert job.begin_after == when


def test_release_active_rescheduled_never_to_the_past(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    _activate(job, agent)
    past = T0 - datetime.timedelta(hours=1)
    recovery.release(job, agent, 'died', dispatcher=Dispatcher(Answer(past)))
    assert job.begin_after == T0
    assert queue.claim() is job


def test_release_active_aborted(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    _activate(job, agent)
    outcome = recovery.release(job, agent, 'dispatcher %s died' % UUID,
                               dispatcher=Dispatcher(Answer(False)))
    assert outcome == 'aborted'
    assert job.status is JobStatus.COMPLETED
    assert job not in queue
    result = job.result
    assert isinstance(result, Failure)
    assert result.check(errors.AbortedError)
    assert job.key in result.message
    assert 'dispatchers that were running it: %s' % UUID in result.message
    assert 'interrupted 1 times' in result.message
    assert job.active_end == T0
    assert job.callbacks_completed == T0


def test_release_active_aborted_with_callbacks(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    job.addCallback(jobs.record)
    _activate(job, agent)
    outcome = recovery.release(job, agent, 'died',
                               dispatcher=Dispatcher(retry.NeverRetry))
    assert outcome == 'aborted'
    assert job.status is JobStatus.CALLBACKS
    assert job in queue  # a worker claims it and runs the callbacks
    assert job.result.check(errors.AbortedError)


def test_release_active_after_nine_interruptions(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    _activate(job, agent)
    job.retry_counts = {'interrupted': 9}
    assert recovery.release(job, agent, 'died') == 'aborted'
    assert job.retry_counts == {'interrupted': 10}
    assert 'interrupted 10 times' in job.result.message


def test_release_callbacks_resumed(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    job.addCallback(jobs.record)
    _finish(job, 'a', T0)
    assert job._status == 'CALLBACKS'
    assert recovery.release(job, agent, 'died') == 'resumed'
    assert job.status is JobStatus.CALLBACKS
    assert job in queue
    assert job not in agent


def test_release_completed_only_removed(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    _finish(job, 'a', T0)
    assert recovery.release(job, agent, 'died') == 'completed'
    assert job.status is JobStatus.COMPLETED
    assert job not in agent
    assert job not in queue
    assert len(queue) == 0


def test_release_job_not_held_any_more(queue, agent, clock):
    (job,) = _claimed(queue, agent, 'a')
    agent.remove(job)
    assert recovery.release(job, agent, 'died') == 'requeued'
    assert list(queue) == [job]


# -- helpers ------------------------------------------------------------------

def test_apply_decision_wo_attempts_names_no_dispatcher(queue, clock):
    job = queue.put(jobs.noop)
    queue.claim()
    lifecycle.start(job, UUID, 'main', T0)
    job._attempts = ()
    recovery.apply_decision(job, False, queue, T0, abort_reason='gone')
    assert 'dispatchers that were running it: unknown' in job.result.message
    assert '(last: gone)' in job.result.message


def test_close_attempt_wo_attempts():
    job = Job(jobs.noop)
    recovery.close_attempt(job, T0, 'x')
    assert job.attempts == ()


def test_close_attempt_keeps_closed_attempt():
    job = Job(jobs.noop)
    closed = (T0.timestamp(), T0.timestamp(), UUID, 'main', 'succeeded')
    job._attempts = (closed,)
    recovery.close_attempt(job, T0 + datetime.timedelta(1), 'interrupted')
    assert job._attempts == (closed,)


def test_set_result_without_and_with_callbacks():
    job = Job(jobs.noop)
    _finish(job, 1, T0)
    assert job.status is JobStatus.COMPLETED
    assert job.result == 1
    assert job.active_end == job.callbacks_completed == T0
    job = Job(jobs.noop)
    job.addCallback(jobs.noop)
    _finish(job, 2, T0)
    assert job.status is JobStatus.CALLBACKS
    assert job.callbacks_completed is None


# -- one job's trouble never stops the recovery of the others (defect 3) ------

def _raising_factory(job):
    raise RuntimeError('factory is broken')


class _RaisingPolicy:

    def __init__(self, job):
        self.counts = {}

    def interrupted(self):
        raise RuntimeError('policy is broken')


@pytest.mark.parametrize('factory', [_raising_factory, _RaisingPolicy])
def test_release_with_raising_policy_uses_default_and_logs_once(
        queue, agent, clock, caplog, factory):
    (job,) = _claimed(queue, agent, 'a')
    _activate(job, agent)
    job.retry_policy_factory = factory
    assert recovery.release(job, agent, 'died') == 'retry'
    assert job in queue
    assert job.retry_counts == {'interrupted': 1}
    errors_logged = [r for r in caplog.records if r.levelname == 'ERROR']
    assert len(errors_logged) == 1
    assert job.key in errors_logged[0].getMessage()
    assert 'broken' in errors_logged[0].exc_text


def test_release_with_raising_dispatcher_default_uses_builtin(
        queue, agent, clock, caplog):
    (job,) = _claimed(queue, agent, 'a')
    _activate(job, agent)
    outcome = recovery.release(job, agent, 'died',
                               dispatcher=Dispatcher(_RaisingPolicy))
    assert outcome == 'retry'
    assert len([r for r in caplog.records if r.levelname == 'ERROR']) == 1


def test_deactivate_with_unreleasable_job_releases_the_others(
        queue, agent, clock, caplog):
    good, bad, other = _claimed(queue, agent, 'good', 'bad', 'other')
    for job in (good, bad):
        _activate(job, agent)
    bad._attempts = (('damaged',),)
    counts = agent.__parent__.deactivate('died')
    assert counts == {'retry': 1, 'requeued': 2}
    assert len(agent) == 0
    assert set(queue) == {good, bad, other}
    assert bad.status is JobStatus.PENDING
    assert good.retry_counts == {'interrupted': 1}
    (line,) = [r.getMessage() for r in caplog.records
               if r.levelname == 'ERROR']
    assert bad.key in line and 'could not be released' in line


def test_release_aborted_fires_job_failed(queue, agent, clock):
    import zope.event
    from zc.asyncui import events
    (job,) = _claimed(queue, agent, 'a')
    _activate(job, agent)
    job.retry_policy_factory = retry.NeverRetry
    seen = []
    zope.event.subscribers.append(seen.append)
    try:
        assert recovery.release(job, agent, 'died') == 'aborted'
    finally:
        zope.event.subscribers.remove(seen.append)
    assert [type(e) for e in seen] == [events.JobFailed]
    assert seen[0].object is job
