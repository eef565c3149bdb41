"""Unit tests of zc.asyncui.retry."""
import datetime
import logging

import pytest
import ZEO.Exceptions
import ZODB.POSException

from zc.asyncui import errors
from zc.asyncui import retry
from zc.asyncui import testing
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job

import jobs

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class AppError(Exception):
    """An application error."""


def conflict():
    return Failure(ZODB.POSException.ConflictError())


def disconnected():
    return Failure(ZEO.Exceptions.ClientDisconnected())


def app_error(cls=AppError):
    return Failure(cls('boom'))


def _job():
    return Job(jobs.noop)


def _answers(method, failure, n):
    return [method(failure) for _ in range(n)]


def _seconds(delay):
    return delay.total_seconds()


class Recording:
    """A policy factory that records the jobs it is asked about."""

    def __init__(self, name):
        self.name = name
        self.jobs = []

    def __call__(self, job):
        self.jobs.append(job)
        return self.name


class Holder:
    """Stands in for an agent or a dispatcher: just attributes."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


# -- RetryCommonFourTimes -----------------------------------------------------

def test_four_times_jobError_conflict_retried_four_times():
    policy = retry.RetryCommonFourTimes(_job())
    assert _answers(policy.jobError, conflict(), 5) == [
        True, True, True, True, False]
    assert policy.counts == {'transient': 5}


def test_four_times_commitError_like_jobError():
    policy = retry.RetryCommonFourTimes(_job())
    assert _answers(policy.commitError, conflict(), 5) == [
        True, True, True, True, False]
    assert policy.commitError(app_error()) is False


def test_four_times_disconnected_growing_delay():
    policy = retry.RetryCommonFourTimes(_job())
    delays = _answers(policy.jobError, disconnected(), 14)
    assert all(isinstance(d, datetime.timedelta) for d in delays)
    assert [_seconds(d) for d in delays[:3]] == [5, 10, 15]
    assert _seconds(delays[-1]) == 60  # capped
    assert policy.counts == {'disconnected': 14}


def test_four_times_interrupted_nine_times():
    policy = retry.RetryCommonFourTimes(_job())
    assert [policy.interrupted() for _ in range(10)] == [True] * 9 + [False]


def test_four_times_other_errors_final():
    policy = retry.RetryCommonFourTimes(_job())
    assert policy.jobError(app_error()) is False
    assert policy.jobError(app_error(KeyError)) is False
    assert policy.counts == {}


def test_four_times_counters_start_from_job():
    job = _job()
    job.retry_counts = {'transient': 3, 'interrupted': 9}
    policy = retry.RetryCommonFourTimes(job)
    assert policy.jobError(conflict()) is True
    assert policy.jobError(conflict()) is False
    assert policy.interrupted() is False
    assert job.retry_counts == {'transient': 3, 'interrupted': 9}


# -- RetryCommonForever -------------------------------------------------------

def test_forever_jobError_conflict_always_retried():
    policy = retry.RetryCommonForever(_job())
    assert all(_answers(policy.jobError, conflict(), 100))
    assert policy.counts == {'transient': 100}


def test_forever_jobError_disconnected_delay():
    policy = retry.RetryCommonForever(_job())
    assert policy.jobError(disconnected()) == datetime.timedelta(seconds=5)


def test_forever_jobError_other_errors_final():
    assert retry.RetryCommonForever(_job()).jobError(app_error()) is False


def test_forever_commitError_transient_retried():
    policy = retry.RetryCommonForever(_job())
    assert policy.commitError(conflict()) is True


def test_forever_commitError_other_delayed_and_critical(caplog):
    policy = retry.RetryCommonForever(_job())
    with caplog.at_level(logging.CRITICAL, logger='zc.asyncui.retry'):
        delays = _answers(policy.commitError, app_error(), 10)
    assert [_seconds(d) for d in delays] == list(range(10))
    logged = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(logged) == 3  # the first, the fifth and the tenth
    assert 'retrying forever because losing a callback loses data' in (
        logged[0].getMessage())
    assert 'AppError: boom' in logged[0].getMessage()


def test_forever_commitError_delay_capped():
    job = _job()
    job.retry_counts = {'commit_error': 500}
    assert retry.RetryCommonForever(job).commitError(app_error()) == (
        datetime.timedelta(seconds=60))


def test_forever_interrupted_always_retried():
    policy = retry.RetryCommonForever(_job())
    assert all(policy.interrupted() for _ in range(50))


# -- NeverRetry ---------------------------------------------------------------

def test_never_retry():
    policy = retry.NeverRetry(_job())
    assert policy.jobError(conflict()) is False
    assert policy.commitError(conflict()) is False
    assert policy.jobError(disconnected()) is False
    assert policy.interrupted() is False


# -- RetryPolicy --------------------------------------------------------------

def constant_backoff(attempt):
    return 10 * attempt


@pytest.mark.parametrize('value', [0, -1, 1.5, 'three', True])
def test_RetryPolicy_wo_valid_max_attempts(value):
    with pytest.raises(ValueError, match='max_attempts must be an int >= 1'):
        retry.RetryPolicy(max_attempts=value)


def test_RetryPolicy_is_factory():
    factory = retry.RetryPolicy(max_attempts=2)
    job = _job()
    policy = factory(job)
    assert policy.job is job
    assert repr(factory) == 'RetryPolicy(max_attempts=2)'


def test_RetryPolicy_retry_on_with_backoff():
    policy = retry.RetryPolicy(max_attempts=3, retry_on=(AppError,),
                               backoff=constant_backoff)(_job())
    assert _answers(policy.jobError, app_error(), 3) == [
        datetime.timedelta(seconds=10), datetime.timedelta(seconds=20),
        False]


def test_RetryPolicy_not_in_retry_on_is_final():
    policy = retry.RetryPolicy(retry_on=(KeyError,))(_job())
    assert policy.jobError(app_error()) is False


def test_RetryPolicy_give_up_on_wins():
    policy = retry.RetryPolicy(retry_on=(Exception,),
                               give_up_on=(AppError,))(_job())
    assert policy.jobError(app_error()) is False
    assert policy.jobError(app_error(KeyError)) is not False


def test_RetryPolicy_dotted_names():
    policy = retry.RetryPolicy(
        retry_on=('%s.AppError' % __name__,),
        give_up_on=('builtins.KeyError',))(_job())
    assert isinstance(policy.jobError(app_error()), datetime.timedelta)
    assert policy.jobError(app_error(KeyError)) is False


def test_RetryPolicy_max_total_time():
    job = _job()
    job._attempts = ((T0.timestamp(), None, 'u', 'main', None),)
    policy = retry.RetryPolicy(
        max_attempts=10, max_total_time=datetime.timedelta(minutes=5))(job)
    with testing.FakeClock(T0 + datetime.timedelta(minutes=1)) as clock:
        assert isinstance(policy.jobError(app_error()), datetime.timedelta)
        clock.advance(minutes=10)
        assert policy.jobError(app_error()) is False


def test_RetryPolicy_transient_errors_as_four_times():
    policy = retry.RetryPolicy(retry_on=(KeyError,))(_job())
    assert _answers(policy.jobError, conflict(), 5) == [
        True, True, True, True, False]
    assert isinstance(policy.jobError(disconnected()), datetime.timedelta)


def test_RetryPolicy_max_interruptions():
    policy = retry.RetryPolicy(max_interruptions=2)(_job())
    assert [policy.interrupted() for _ in range(2)] == [True, False]


def test_RetryPolicy_counters_start_from_job():
    job = _job()
    job.retry_counts = {'error': 2}
    policy = retry.RetryPolicy(max_attempts=3)(job)
    assert policy.jobError(app_error()) is False


def test_exponential_backoff():
    assert [retry.exponential_backoff(n, jitter=0) for n in (1, 2, 3)] == [
        1.0, 2.0, 4.0]
    assert retry.exponential_backoff(30, jitter=0) == 300.0
    for _ in range(20):
        assert 0.75 <= retry.exponential_backoff(1) <= 1.25


# -- policy_for ---------------------------------------------------------------

def test_policy_for_builtin_defaults():
    job = _job()
    assert isinstance(retry.policy_for(job), retry.RetryCommonFourTimes)
    callback = job.addCallback(jobs.noop)
    assert isinstance(retry.policy_for(callback), retry.RetryCommonForever)


def test_policy_for_job_factory_first():
    job = _job()
    job.retry_policy_factory = Recording('job')
    agent = Holder(retry_policy_factory=Recording('agent'))
    dispatcher = Holder(job_retry_policy_factory=Recording('dispatcher'),
                        callback_retry_policy_factory=None)
    assert retry.policy_for(job, agent, dispatcher) == 'job'
    assert job.retry_policy_factory.jobs == [job]


def test_policy_for_agent_factory_second():
    agent = Holder(retry_policy_factory=Recording('agent'))
    dispatcher = Holder(job_retry_policy_factory=Recording('dispatcher'),
                        callback_retry_policy_factory=None)
    assert retry.policy_for(_job(), agent, dispatcher) == 'agent'


def test_policy_for_dispatcher_default_third():
    agent = Holder(retry_policy_factory=None)
    dispatcher = Holder(job_retry_policy_factory=Recording('jobs'),
                        callback_retry_policy_factory=Recording('callbacks'))
    job = _job()
    callback = job.addCallback(jobs.noop)
    assert retry.policy_for(job, agent, dispatcher) == 'jobs'
    assert retry.policy_for(callback, None, dispatcher) == 'callbacks'


def test_policy_for_dispatcher_wo_defaults():
    dispatcher = Holder(job_retry_policy_factory=None,
                        callback_retry_policy_factory=None)
    assert isinstance(retry.policy_for(_job(), object(), dispatcher),
                      retry.RetryCommonFourTimes)


def test_policy_for_callback_with_own_factory():
    callback = _job().addCallback(jobs.noop,
                                  retry_policy_factory=retry.NeverRetry)
    assert isinstance(retry.policy_for(callback), retry.NeverRetry)



# -- policies chosen by zope.component adapters (as in zc.async) -------------

@pytest.fixture
def registry():
    """A clean global component registry, cleaned up again afterwards."""
    import zope.component.testing
    zope.component.testing.setUp()
    yield
    zope.component.testing.tearDown()


def _provide(factory, name=''):
    import zope.component
    from zc.asyncui import interfaces
    zope.component.provideAdapter(
        factory, (interfaces.IJob,), interfaces.IRetryPolicy, name=name)


def test_job_factory_string_names_adapter(registry):
    _provide(retry.NeverRetry, name='mail')
    job = _job()
    job.retry_policy_factory = 'mail'
    policy = retry.policy_for(job)
    assert isinstance(policy, retry.NeverRetry)
    assert policy.job is job


def test_put_with_adapter_name(queue, registry):
    _provide(retry.NeverRetry, name='mail')
    job = queue.put(jobs.noop, retry_policy_factory='mail')
    assert job.retry_policy_factory == 'mail'
    assert isinstance(retry.policy_for(job), retry.NeverRetry)


def test_addCallback_with_adapter_name(registry):
    _provide(retry.NeverRetry, name='mail')
    callback = _job().addCallback(jobs.noop, retry_policy_factory='mail')
    assert isinstance(retry.policy_for(callback), retry.NeverRetry)


def test_job_factory_string_wo_adapter_logged_and_default(registry, caplog):
    _provide(retry.NeverRetry, name='mail')
    job = _job()
    job.retry_policy_factory = 'mial'
    with caplog.at_level(logging.ERROR, logger='zc.asyncui.retry'):
        policy = retry.policy_for(job)
    assert isinstance(policy, retry.RetryCommonFourTimes)
    text = caplog.text
    assert "No retry policy adapter named 'mial'" in text
    assert "registered names: 'mail'" in text
    assert 'the default policy decides instead' in text


def test_adapter_returning_none_logged_and_default(registry, caplog):
    _provide(lambda job: None, name='none')
    job = _job()
    job.retry_policy_factory = 'none'
    with caplog.at_level(logging.ERROR, logger='zc.asyncui.retry'):
        assert isinstance(retry.policy_for(job), retry.RetryCommonFourTimes)
    assert "named 'none'" in caplog.text


def test_unnamed_adapter_is_default_for_jobs(registry):
    _provide(retry.NeverRetry)
    job = _job()
    assert isinstance(retry.policy_for(job), retry.NeverRetry)
    # callbacks keep their own default ...
    callback = job.addCallback(jobs.noop)
    assert isinstance(retry.policy_for(callback), retry.RetryCommonForever)


def test_callback_adapter_is_default_for_callbacks(registry):
    _provide(retry.NeverRetry, name=retry.CALLBACK_ADAPTER)
    job = _job()
    callback = job.addCallback(jobs.noop)
    assert isinstance(retry.policy_for(callback), retry.NeverRetry)
    assert isinstance(retry.policy_for(job), retry.RetryCommonFourTimes)


def test_registered_default_after_agent_and_dispatcher(registry):
    _provide(retry.NeverRetry)
    dispatcher = Holder(job_retry_policy_factory=Recording('dispatcher'),
                        callback_retry_policy_factory=None)
    agent = Holder(retry_policy_factory=Recording('agent'))
    assert retry.policy_for(_job(), agent, dispatcher) == 'agent'
    assert retry.policy_for(_job(), None, dispatcher) == 'dispatcher'
    plain = Holder(job_retry_policy_factory=None,
                   callback_retry_policy_factory=None)
    assert isinstance(retry.policy_for(_job(), None, plain),
                      retry.NeverRetry)


def test_agent_and_dispatcher_may_name_adapters(registry):
    _provide(retry.NeverRetry, name='mail')
    agent = Holder(retry_policy_factory='mail')
    assert isinstance(retry.policy_for(_job(), agent), retry.NeverRetry)
    dispatcher = Holder(job_retry_policy_factory=retry.AdapterPolicy('mail'),
                        callback_retry_policy_factory=None)
    assert isinstance(retry.policy_for(_job(), None, dispatcher),
                      retry.NeverRetry)


def test_checked_policy_for_guards_adapter_policy(registry, caplog):
    class Broken:
        def __init__(self, job):
            pass

        def jobError(self, failure):
            raise RuntimeError('broken policy')
    _provide(Broken)
    job = _job()
    policy = retry.checked_policy_for(job)
    with caplog.at_level(logging.ERROR, logger='zc.asyncui.retry'):
        assert policy.jobError(conflict()) is True  # built-in decides
    assert 'broken policy' in caplog.text


def test_AdapterPolicy_wo_string_name():
    with pytest.raises(errors.ConfigurationError, match='not 3'):
        retry.AdapterPolicy(3)


def test_AdapterPolicy_eq_hash_repr():
    assert retry.AdapterPolicy('a') == retry.AdapterPolicy('a')
    assert retry.AdapterPolicy('a') != retry.AdapterPolicy('b')
    assert retry.AdapterPolicy('a') != 'a'
    assert hash(retry.AdapterPolicy('a')) == hash(retry.AdapterPolicy('a'))
    assert repr(retry.AdapterPolicy()) == "AdapterPolicy('')"


def test_adapter_names(registry):
    assert retry.adapter_names(_job()) == []
    _provide(retry.NeverRetry, name='a')
    _provide(retry.NeverRetry)
    assert sorted(retry.adapter_names(_job())) == ['', 'a']


def test_job_factory_wo_callable_or_string():
    with pytest.raises(errors.ConfigurationError, match='name of an'):
        _job().retry_policy_factory = 42


def test_adapter_policy_in_a_worker(db, registry):
    """End to end: a job named its policy by adapter; the worker asked
    it, and the job was not retried after a ConflictError."""
    import transaction
    import zc.asyncui
    _provide(retry.NeverRetry, name='once')
    zc.asyncui.install(db)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    job = zc.asyncui.getQueue(conn).put(jobs.always_conflict,
                                        retry_policy_factory='once')
    tm.commit()
    testing.run_jobs(db)
    tm.begin()
    assert job.failed
    assert job.result.check(ZODB.POSException.ConflictError)
    assert len(job.attempts) == 1
    tm.abort()
    conn.close()
