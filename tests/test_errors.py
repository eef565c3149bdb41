"""Unit tests of zc.asyncui.errors: every error is documented, and the
messages raised say what to do."""
import inspect
import uuid

import pytest

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import errors
from zc.asyncui import testing
from zc.asyncui.agent import Agent
from zc.asyncui.job import Job
from zc.asyncui.queue import Queue

import jobs

ERRORS = [cls for _, cls in inspect.getmembers(errors, inspect.isclass)
          if issubclass(cls, BaseException) and cls.__module__ ==
          errors.__name__]


def test_errors_found():
    assert len(ERRORS) >= 12
    assert errors.AsyncUIError in ERRORS


@pytest.mark.parametrize('cls', ERRORS, ids=lambda c: c.__name__)
def test_error_has_own_docstring(cls):
    doc = cls.__dict__.get('__doc__')
    assert doc and len(doc.split()) >= 5, cls


@pytest.mark.parametrize('cls', ERRORS, ids=lambda c: c.__name__)
def test_error_derives_from_base(cls):
    assert issubclass(cls, errors.AsyncUIError)


@pytest.mark.parametrize('cls, builtin', [
    (errors.UnpicklableCallableError, TypeError),
    (errors.QueueNotFoundError, LookupError),
    (errors.NotInstalledError, errors.QueueNotFoundError),
    (errors.WaitTimeoutError, AssertionError),
    (errors.ConfigurationError, ValueError)])
def test_error_is_also_builtin_kind(cls, builtin):
    # so that code catching the builtin kind catches ours too
    assert issubclass(cls, builtin)


def test_structured_attributes():
    error = errors.BadStatusError('msg', job_key='0x1', status='ACTIVE',
                                  expected=['NEW'])
    assert (error.job_key, error.status, error.expected) == (
        '0x1', 'ACTIVE', ('NEW',))
    assert errors.UnpicklableCallableError('msg', obj=1).obj == 1


# -- messages say what to do ------------------------------------------------

def _message(exc_type, func, *args, **kw):
    with pytest.raises(exc_type) as info:
        func(*args, **kw)
    return str(info.value)


def test_message_unpicklable_callable():
    message = _message(errors.UnpicklableCallableError, Job, lambda: 1)
    assert 'Pass a module-level function' in message


def test_message_bad_status(conn):
    job = zc.asyncui.getQueue(conn).put(jobs.noop)
    message = _message(errors.BadStatusError, zc.asyncui.getQueue(conn).put,
                       job)
    assert 'its status is PENDING, expected NEW' in message


def test_message_not_in_database():
    message = _message(errors.NotInDatabaseError, Queue().put, jobs.noop)
    assert 'zc.asyncui.getQueue(connection)' in message


def test_message_queue_not_found(conn):
    message = _message(errors.QueueNotFoundError, zc.asyncui.getQueue, conn,
                       'x')
    assert "zc.asyncui.install(db, names=['x'])" in message


def test_message_not_installed(tmp_path):
    db = testing.file_storage_db(str(tmp_path), name='bare.fs')
    try:
        conn = db.open()
        message = _message(errors.NotInstalledError, zc.asyncui.getQueue,
                           conn)
        assert 'call zc.asyncui.install(db) once' in message
        conn.close()
    finally:
        db.close()


def test_message_configuration():
    message = _message(errors.ConfigurationError, Agent, size=-1)
    assert 'int >= 0' in message


def test_message_wait_timeout(conn):
    job = zc.asyncui.getQueue(conn).put(jobs.noop)
    conn.transaction_manager.commit()
    message = _message(errors.WaitTimeoutError, testing.wait_for_result, job,
                       timeout=0)
    assert job.key in message
    assert 'its status is PENDING' in message
    assert 'Is a dispatcher running on this database' in message


def test_message_dispatcher_twice(db):
    same = uuid.uuid4()
    options = dict(poll_interval=0.1, ping_interval=0.2,
                   ping_death_interval=1.0, main_agent_size=0)
    dispatcher.start(db, uuid=same, **options)
    message = _message(errors.DispatcherError, dispatcher.start, db,
                       uuid=same, **options)
    assert str(same) in message
    assert 'zc.asyncui.dispatcher.get()' in message
