"""Unit tests of zc.asyncui.job."""
import datetime
import logging
import threading

import pytest
import transaction
import ZODB.POSException
import ZODB.utils

from zc.asyncui import calls
from zc.asyncui import errors
from zc.asyncui import lifecycle
from zc.asyncui import recovery
from zc.asyncui import testing
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.job import success_or_failure

import jobs

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Plain:
    """Not persistent: its methods cannot be job callables."""

    def method(self):
        return 1

    @classmethod
    def make(cls):
        return 'made'


def _open(db):
    tm = transaction.TransactionManager()
    return db.open(tm), tm


def _completed_in_queue(queue):
    """A job that went through the queue and completed with result 3."""
    job = queue.put(Job(jobs.add, 1, 2))
    assert queue.claim() is job
    _finish(job, 3, datetime.datetime.now(UTC))
    return job


def _finish(job, result, now):
    """Store a result the way a worker does: the job is started first."""
    if job._status != 'ACTIVE':
        lifecycle.start(job, 'test', 'main', now)
    lifecycle.set_result(job, result, now)


# -- construction --------------------------------------------------------

def test_init_with_module_function():
    job = Job(jobs.add, 1, b=2)
    assert job.callable is jobs.add
    assert job.args == [1]
    assert job.kwargs == {'b': 2}
    assert job() == 3


def test_init_with_persistent_method_stored_as_root_and_name(conn):
    counter = conn.root()['counter'] = jobs.Counter()
    job = Job(counter.increment)
    assert job._callable_root is counter
    assert job._callable_name == 'increment'
    assert job.callable == counter.increment
    assert job() == 1


def test_init_with_persistent_method_resolved_in_other_connection(
        db, conn, queue):
    counter = conn.root()['counter'] = jobs.Counter()
    job = queue.put(counter.increment)
    conn.transaction_manager.commit()
    other, tm = _open(db)
    try:
        copy = other.get(job._p_oid)
        assert copy.callable.__self__ is other.root()['counter']
        assert copy.callable.__self__ is not counter
    finally:
        tm.abort()
        other.close()


def test_init_with_persistent_callable():
    target = jobs.PersistentCallable()
    job = Job(target, 'v')
    assert job.callable is target
    assert job() == ('called', 'v')


def test_init_with_other_job():
    inner = Job(jobs.add, 1, 2)
    job = Job(inner)
    assert job.callable is inner
    assert job() == 3


def test_init_with_classmethod():
    assert Job(Plain.make)() == 'made'


def test_init_wo_lambda():
    func = lambda: 1  # noqa: E731
    with pytest.raises(errors.UnpicklableCallableError) as info:
        Job(func)
    message = str(info.value)
    assert '<lambda>' in message
    assert 'lambdas and nested functions' in message
    assert 'Pass a module-level function' in message
    assert info.value.obj is func


def test_init_wo_nested_function():
    def nested():
        pass
    with pytest.raises(errors.UnpicklableCallableError) as info:
        Job(nested)
    assert 'nested' in str(info.value)
    assert 'module-level function' in str(info.value)


def test_init_wo_method_of_non_persistent_object():
    obj = Plain()
    with pytest.raises(errors.UnpicklableCallableError) as info:
        Job(obj.method)
    message = str(info.value)
    assert 'Plain' in message
    assert 'not persistent' in message
    assert 'Make the object persistent' in message


def test_init_wo_callable():
    with pytest.raises(errors.UnpicklableCallableError,
                       match='42 is not callable'):
        Job(42)


def test_init_wo_picklable_callable():
    unpicklable = threading.Lock().acquire  # a builtin method of a lock
    with pytest.raises(errors.UnpicklableCallableError,
                       match='Cannot store the callable'):
        Job(unpicklable)


def test_unpicklable_error_is_type_error():
    with pytest.raises(TypeError):
        Job(lambda: 1)


def test_put_wo_picklable_args(queue):
    with pytest.raises(errors.UnpicklableCallableError) as info:
        queue.put(Job(jobs.noop, threading.Lock()))
    assert 'the arguments of' in str(info.value)
    assert 'jobs.noop' in str(info.value)
    assert len(queue) == 0


def test_put_wo_picklable_kwargs(queue):
    with pytest.raises(errors.UnpicklableCallableError):
        queue.put(Job(jobs.noop, x=lambda: 1))


# -- status --------------------------------------------------------------

def test_status_enum_is_str():
    assert [s.value for s in JobStatus] == [
        'NEW', 'PENDING', 'ASSIGNED', 'ACTIVE', 'CALLBACKS', 'COMPLETED']
    assert isinstance(JobStatus.NEW, str)
    assert JobStatus.PENDING == 'PENDING'
    assert str(JobStatus.ACTIVE) == 'ACTIVE'
    assert JobStatus('COMPLETED') is JobStatus.COMPLETED


def test_status_new():
    job = Job(jobs.noop)
    assert job.status is JobStatus.NEW
    assert job.result is None
    assert not job.failed


def test_status_pending_then_assigned(queue):
    job = queue.put(jobs.noop)
    assert job.status is JobStatus.PENDING
    queue.claim()
    assert job.status is JobStatus.ASSIGNED


def test_failed_with_failure_result():
    job = Job(jobs.noop)
    job._result = Failure(ValueError('x'))
    assert job.failed


# -- scheduling attributes -------------------------------------------------

def test_begin_after_wo_timezone():
    job = Job(jobs.noop)
    with pytest.raises(ValueError) as info:
        job.begin_after = datetime.datetime(2026, 1, 1)
    assert 'timezone-aware' in str(info.value)
    assert 'datetime.timezone.utc' in str(info.value)


def test_begin_after_wo_datetime():
    job = Job(jobs.noop)
    with pytest.raises(TypeError, match='begin_after must be a datetime'):
        job.begin_after = '2026-01-01'


def test_begin_after_converted_to_utc():
    job = Job(jobs.noop)
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    job.begin_after = datetime.datetime(2026, 1, 1, 14, 0, tzinfo=plus2)
    assert job.begin_after == T0
    assert job.begin_after.tzinfo is UTC
    job.begin_after = None
    assert job.begin_after is None


def test_begin_after_on_pending_job(queue):
    job = queue.put(jobs.noop)
    with pytest.raises(errors.BadStatusError) as info:
        job.begin_after = T0
    assert info.value.job_key == job.key
    assert info.value.status == 'PENDING'
    assert info.value.expected == ('NEW',)
    assert 'expected NEW' in str(info.value)


def test_begin_by_negative():
    job = Job(jobs.noop)
    with pytest.raises(ValueError, match='must not be negative'):
        job.begin_by = datetime.timedelta(seconds=-1)


def test_begin_by_wrong_type():
    job = Job(jobs.noop)
    with pytest.raises(TypeError, match='datetime.timedelta or None'):
        job.begin_by = 5


def test_begin_by_settable_while_pending(queue):
    job = queue.put(jobs.noop)
    job.begin_by = datetime.timedelta(minutes=1)
    assert job.begin_by == datetime.timedelta(minutes=1)
    job.begin_by = None
    assert job.begin_by is None


def test_begin_by_on_active_job():
    job = Job(jobs.noop)
    job._status = 'ACTIVE'
    with pytest.raises(errors.BadStatusError, match='change begin_by'):
        job.begin_by = datetime.timedelta(1)


def test_deadline():
    job = Job(jobs.noop)
    assert job.deadline is None
    job.begin_by = datetime.timedelta(minutes=5)
    assert job.deadline is None  # no begin_after yet
    job.begin_after = T0
    assert job.deadline == T0 + datetime.timedelta(minutes=5)


def test_callable_on_pending_job(queue):
    job = queue.put(jobs.noop)
    with pytest.raises(errors.BadStatusError, match='change its callable'):
        job.callable = jobs.add


def test_callable_replaced_while_new(conn):
    counter = conn.root()['counter'] = jobs.Counter()
    job = Job(counter.increment)
    job.callable = jobs.add
    assert job._callable_name is None
    assert job.callable is jobs.add


# -- calling ---------------------------------------------------------------

def test_call_with_extra_arguments():
    job = Job(jobs.add, 1)
    assert job(2) == 3
    job = Job(jobs.add, a=1, b=2)
    assert job(b=5) == 6


def test_call_on_pending_job(queue):
    job = queue.put(jobs.noop)
    with pytest.raises(errors.BadStatusError, match='be called'):
        job()


# -- key and repr ----------------------------------------------------------

def test_key_before_added():
    assert Job(jobs.noop).key is None


def test_key_is_hex_oid(conn):
    job = Job(jobs.noop)
    conn.add(job)
    assert job.key == '0x%x' % ZODB.utils.u64(job._p_oid)
    assert job.key.startswith('0x')


def test_repr_unsaved():
    assert repr(Job(jobs.add, 1, 2)) == (
        '<Job (unsaved) %s.add>' % jobs.__name__)


def test_repr_saved(conn):
    job = Job(jobs.noop)
    conn.add(job)
    assert repr(job) == '<Job %s %s.noop>' % (job.key, jobs.__name__)


def test_repr_persistent_method(conn):
    counter = conn.root()['counter'] = jobs.Counter()
    assert 'Counter.increment' in repr(Job(counter.increment))


def test_repr_classmethod():
    assert 'Plain.make' in repr(Job(Plain.make))


def test_repr_of_job_of_job():
    inner = Job(jobs.noop)
    assert repr(Job(inner)) == '<Job (unsaved) %r>' % inner


def test_repr_wo_resolvable_callable(conn):
    counter = conn.root()['counter'] = jobs.Counter()
    job = Job(counter.increment)
    job._callable_name = 'vanished'
    assert repr(job) == '<Job (unsaved) ?>'


# -- times -----------------------------------------------------------------

def test_times_are_aware(queue):
    with testing.FakeClock(T0):
        job = queue.put(jobs.noop)
    assert job.put_time == T0
    assert job.put_time.tzinfo is UTC
    assert job.begin_after == T0
    assert job.active_start is None
    assert job.active_end is None
    assert job.callbacks_completed is None


def test_attempts_are_aware_dicts():
    job = Job(jobs.noop)
    assert job.attempts == ()
    job._attempts = ((T0.timestamp(), None, 'uuid-1', 'main', None),)
    (attempt,) = job.attempts
    assert attempt == {'start': T0, 'end': None, 'dispatcher': 'uuid-1',
                       'agent': 'main', 'outcome': None}
    assert attempt['start'].tzinfo is UTC


# -- callbacks -------------------------------------------------------------

def test_addCallback_in_new():
    job = Job(jobs.noop)
    callback = job.addCallback(jobs.record)
    assert isinstance(callback, Job)
    assert callback.parent is job
    assert callback.status is JobStatus.NEW
    assert job.callbacks == (callback,)
    assert callback.queue is None


def test_addCallback_with_job():
    job = Job(jobs.noop)
    callback = Job(jobs.record)
    assert job.addCallback(callback) is callback
    assert job.callbacks == (callback,)


def test_addCallback_with_non_new_job(queue):
    job = Job(jobs.noop)
    queued = queue.put(jobs.noop)
    with pytest.raises(errors.BadStatusError, match='become a callback'):
        job.addCallback(queued)


def test_addCallback_wo_storable_callable():
    with pytest.raises(errors.UnpicklableCallableError):
        Job(jobs.noop).addCallback(lambda r: r)


def test_addCallback_settings():
    callback = Job(jobs.noop).addCallback(
        jobs.record, failure_log_level=30,
        retry_policy_factory=jobs.PersistentCallable)
    assert callback.failure_log_level == 30
    assert callback.retry_policy_factory is jobs.PersistentCallable


def test_addCallback_added_to_parent_connection(conn):
    job = Job(jobs.noop)
    conn.add(job)
    callback = job.addCallback(jobs.record)
    assert callback._p_jar is conn
    assert callback.key is not None


def test_addCallback_in_pending_inherits_queue(queue):
    job = queue.put(jobs.noop)
    callback = job.addCallback(jobs.record)
    assert callback.queue is queue
    assert callback.status is JobStatus.NEW


def test_addCallback_on_completed_job_puts_callback_in_queue(queue):
    job = _completed_in_queue(queue)
    assert job.status is JobStatus.COMPLETED
    callback = job.addCallback(jobs.record)
    assert callback.status is JobStatus.PENDING
    assert callback in queue
    assert list(queue) == [callback]
    assert job.status is JobStatus.COMPLETED


def test_addCallback_on_completed_job_never_queued():
    job = Job(jobs.noop)
    _finish(job, 1, T0)
    with pytest.raises(errors.BadStatusError) as info:
        job.addCallback(jobs.record)
    assert 'Call the callback directly with job.result' in str(info.value)


def test_addCallbacks_calls_matching_side():
    job = Job(jobs.noop)
    callback = job.addCallbacks(jobs.record, jobs.noop)
    assert callback.callable is success_or_failure
    assert callback.args == [jobs.record, jobs.noop]
    jobs.calls.clear()
    assert callback(7) == 7
    assert jobs.calls == [7]
    failure = Failure(ValueError('x'))
    assert callback(failure) is failure
    assert jobs.calls == [7]


def test_addCallbacks_wo_storable_side():
    with pytest.raises(errors.UnpicklableCallableError):
        Job(jobs.noop).addCallbacks(failure=lambda f: f)


def test_success_or_failure_missing_side_passes_result():
    failure = Failure(ValueError('x'))
    assert success_or_failure(None, None, 5) == 5
    assert success_or_failure(jobs.noop, None, failure) is failure
    assert success_or_failure(None, jobs.noop, 5) == 5


# -- conflict resolution ---------------------------------------------------

@pytest.fixture
def two(db, conn, queue):
    """A committed job, and its copies in two other connections with
    their own transaction managers."""
    job = queue.put(Job(jobs.add, 1, 2))
    conn.transaction_manager.commit()
    c1, tm1 = _open(db)
    c2, tm2 = _open(db)
    yield job, (c1.get(job._p_oid), tm1), (c2.get(job._p_oid), tm2)
    for c, tm in ((c1, tm1), (c2, tm2)):
        tm.abort()
        c.close()


def _fresh(db, job):
    c, tm = _open(db)
    return c.get(job._p_oid), (c, tm)


def _close(pair):
    c, tm = pair
    tm.abort()
    c.close()


def test_resolveConflict_concurrent_first_callbacks(db, two):
    job, (j1, tm1), (j2, tm2) = two
    j1.addCallback(jobs.record)
    j2.addCallback(jobs.noop)
    tm1.commit()
    tm2.commit()  # no ConflictError
    merged, pair = _fresh(db, job)
    try:
        assert [cb.callable for cb in merged.callbacks] == [
            jobs.record, jobs.noop]
        assert all(cb.parent is merged for cb in merged.callbacks)
    finally:
        _close(pair)


def test_resolveConflict_concurrent_later_callbacks(db, conn, two):
    job, (j1, tm1), (j2, tm2) = two
    job.addCallback(jobs.add, 1)
    conn.transaction_manager.commit()
    tm1.begin()
    tm2.begin()
    j1.addCallback(jobs.record)
    j2.addCallback(jobs.noop)
    tm1.commit()
    tm2.commit()
    merged, pair = _fresh(db, job)
    try:
        assert [cb.callable for cb in merged.callbacks] == [
            jobs.add, jobs.record, jobs.noop]
    finally:
        _close(pair)


def _make_active(conn, job):
    job._status = 'ACTIVE'
    conn.transaction_manager.commit()


def test_resolveConflict_completion_then_callback(db, conn, two):
    job, (j1, tm1), (j2, tm2) = two
    _make_active(conn, job)
    tm1.begin()
    tm2.begin()
    recovery.set_result(j1, 3, T0)  # the worker finishes: COMPLETED
    assert j1._status == 'COMPLETED'
    j2.addCallback(jobs.record)
    tm1.commit()
    tm2.commit()
    merged, pair = _fresh(db, job)
    try:
        assert merged.status is JobStatus.CALLBACKS
        assert merged.result == 3
        assert len(merged.callbacks) == 1
        assert merged.callbacks_completed is None
    finally:
        _close(pair)


def test_resolveConflict_callback_then_completion(db, conn, two):
    job, (j1, tm1), (j2, tm2) = two
    _make_active(conn, job)
    tm1.begin()
    tm2.begin()
    j1.addCallback(jobs.record)
    recovery.set_result(j2, 3, T0)
    tm1.commit()
    tm2.commit()
    merged, pair = _fresh(db, job)
    try:
        assert merged.status is JobStatus.CALLBACKS
        assert merged.result == 3
        assert len(merged.callbacks) == 1
    finally:
        _close(pair)


def test_resolveConflict_completion_and_other_attribute(db, conn, two):
    # No callback was added: the merged job stays COMPLETED.
    job, (j1, tm1), (j2, tm2) = two
    _make_active(conn, job)
    tm1.begin()
    tm2.begin()
    recovery.set_result(j1, 3, T0)
    j2.failure_log_level = 40
    tm1.commit()
    tm2.commit()
    merged, pair = _fresh(db, job)
    try:
        assert merged.status is JobStatus.COMPLETED
        assert merged.failure_log_level == 40
        assert merged.callbacks == ()
    finally:
        _close(pair)


def test_resolveConflict_agent_set_and_callback_added(db, conn, two):
    # A worker starting the job (it sets _agent, a persistent reference,
    # for the first time) and an addCallback merge.
    job, (j1, tm1), (j2, tm2) = two
    tm1.begin()
    tm2.begin()
    j1._agent = j1.queue  # any persistent object stands in for the agent
    j1._status = 'ACTIVE'
    j2.addCallback(jobs.record)
    tm1.commit()
    tm2.commit()
    merged, pair = _fresh(db, job)
    try:
        assert merged.agent is merged.queue
        assert merged._status == 'ACTIVE'
        assert len(merged.callbacks) == 1
    finally:
        _close(pair)


def test_resolveConflict_same_attribute_changed_differently(db, two):
    job, (j1, tm1), (j2, tm2) = two
    j1.failure_log_level = 10
    j2.failure_log_level = 20
    tm1.commit()
    with pytest.raises(ZODB.POSException.ConflictError):
        tm2.commit()


def test_resolveConflict_same_change_on_both_sides(db, two):
    job, (j1, tm1), (j2, tm2) = two
    j1.failure_log_level = 10
    j2.failure_log_level = 10
    tm1.commit()
    tm2.commit()
    merged, pair = _fresh(db, job)
    try:
        assert merged.failure_log_level == 10
    finally:
        _close(pair)


def test_resolveConflict_wo_dict_states():
    job = Job(jobs.noop)
    with pytest.raises(ZODB.POSException.ConflictError):
        job._p_resolveConflict(None, {}, {})


def test_resolveConflict_unexpected_error_is_conflict():
    class Unequal:
        def __eq__(self, other):
            raise RuntimeError('cannot compare')
    job = Job(jobs.noop)
    with pytest.raises(ZODB.POSException.ConflictError):
        job._p_resolveConflict({'a': Unequal()}, {'a': Unequal()},
                               {'a': 1})


def test_resolveConflict_callbacks_rewritten_is_conflict():
    job = Job(jobs.noop)
    with pytest.raises(ZODB.POSException.ConflictError):
        job._p_resolveConflict({'_callbacks': (1,)}, {'_callbacks': (2, 3)},
                               {'_callbacks': (1, 4)})


def test_resolveConflict_attribute_deleted_on_one_side():
    job = Job(jobs.noop)
    merged = job._p_resolveConflict({'x': 1, 'y': 1}, {'y': 1},
                                    {'x': 1, 'y': 2})
    assert merged == {'y': 2}


def test_addCallback_wo_storable_arguments():
    with pytest.raises(errors.UnpicklableCallableError) as info:
        Job(jobs.noop).addCallback(Job(jobs.record, threading.Lock()))
    assert 'the arguments or retry policy factory of' in str(info.value)


def test_addCallback_wo_storable_retry_policy_factory():
    job = Job(jobs.noop)

    def nested_factory(job):
        return None
    with pytest.raises(errors.UnpicklableCallableError):
        job.addCallback(jobs.record, retry_policy_factory=nested_factory)
    assert job.callbacks == ()


# -- settings refused at set time (defects 3 and 7) ---------------------------

def test_retry_policy_factory_wo_callable_refused():
    job = Job(jobs.noop)
    with pytest.raises(errors.ConfigurationError,
                       match='retry_policy_factory .* must be callable'):
        job.retry_policy_factory = 42
    assert job.retry_policy_factory is None


def test_put_with_non_callable_retry_policy_factory_refused(queue):
    with pytest.raises(errors.ConfigurationError, match='not 42'):
        queue.put(Job(jobs.noop), retry_policy_factory=42)
    with pytest.raises(errors.ConfigurationError):
        Job(jobs.noop).addCallback(jobs.noop, retry_policy_factory=b'x')


@pytest.mark.parametrize('value', ['x', -1, True, 2.5, object()])
def test_failure_log_level_wo_level_refused(value):
    with pytest.raises(errors.ConfigurationError, match='logging level'):
        Job(jobs.noop).failure_log_level = value


def test_failure_log_level_by_name():
    job = Job(jobs.noop)
    job.failure_log_level = 'warning'
    assert job.failure_log_level == logging.WARNING
    job.failure_log_level = None
    assert job.failure_log_level is None


def test_put_with_bad_failure_log_level_refused(queue):
    with pytest.raises(errors.ConfigurationError):
        queue.put(Job(jobs.noop), failure_log_level='x')


def test_begin_by_overflowing_refused(queue):
    with pytest.raises(errors.ConfigurationError, match='too long'):
        queue.put(Job(jobs.noop), begin_by=datetime.timedelta.max)
    job = Job(jobs.noop)
    job.begin_by = datetime.timedelta(days=365 * 7000)
    with pytest.raises(errors.ConfigurationError, match='too long'):
        job.begin_after = datetime.datetime(
            5000, 1, 1, tzinfo=datetime.timezone.utc)


# -- naming in logs -----------------------------------------------------------

def test_repr_names_public_modules():
    import operator
    import os
    assert repr(Job(os.getpid)) == '<Job (unsaved) os.getpid>'
    assert repr(Job(operator.add)) == '<Job (unsaved) operator.add>'
    assert repr(Job(int)) == '<Job (unsaved) int>'


def test_describe_names_job_once(conn):
    from zc.asyncui.job import describe
    job = Job(jobs.noop)
    conn.add(job)
    assert describe(job) == 'job %s (jobs.noop)' % job.key
    job._callable_name = 'vanished'
    assert describe(job) == 'job %s (?)' % job.key


# -- args and kwargs persist later changes (defect 12) ------------------------

def test_args_changed_in_later_transaction_persist(db, conn, queue):
    job = queue.put(Job(jobs.noop, 1, x=1))
    conn.transaction_manager.commit()
    other_tm = transaction.TransactionManager()
    other = db.open(other_tm)
    later = other.get(job._p_oid)
    later.args.append(2)
    later.args[0] = 0
    later.kwargs['y'] = 2
    later.kwargs.update(z=3)
    other_tm.commit()
    other.close()
    third_tm = transaction.TransactionManager()
    third = db.open(third_tm)
    fresh = third.get(job._p_oid)
    assert fresh.args == [0, 2]
    assert fresh.kwargs == {'x': 1, 'y': 2, 'z': 3}
    assert type(fresh.__getstate__()['args']) is list
    third_tm.abort()
    third.close()


def test_call_wo_reentry_and_flag_reset_after_error():
    job = Job(jobs.fail, 'once')
    with pytest.raises(ValueError):
        job()
    with pytest.raises(ValueError):  # not "called itself"
        job()
    assert job._v_calling is False


def test_check_storable_formats_what_only_on_error():
    class Loud:
        def __repr__(self):
            raise AssertionError('formatted although nothing was wrong')
    calls.check_storable((1, 2), 'the arguments of %r', Loud())
    with pytest.raises(errors.UnpicklableCallableError,
                       match='the arguments of 7'):
        calls.check_storable(threading.Lock(), 'the arguments of %r', 7)
