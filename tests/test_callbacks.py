"""Callbacks: resumed after a dispatcher died, and never run twice."""
import datetime
import types
import uuid

import transaction

import jobs
import zc.asyncui
from zc.asyncui import callbacks
from zc.asyncui import dispatcher
from zc.asyncui import errors
from zc.asyncui import retry
from zc.asyncui import testing
from zc.asyncui.agent import Agent
from zc.asyncui import recovery
from zc.asyncui import utils
from zc.asyncui.execution import mark_active
from zc.asyncui.job import Job


def _completed_elsewhere(db, callback):
    """Another dispatcher starts and completes ``callback`` meanwhile."""
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    other = conn.get(callback._p_oid)
    mark_active(other, types.SimpleNamespace(uuid_str='other'), 'callbacks')
    tm.commit()
    recovery.close_attempt(other, utils.now(), 'succeeded')
    recovery.set_result(other, 'done', utils.now())
    tm.commit()
    conn.close()


def test_start_callback_wo_stale_status_does_not_restart_it(db):
    zc.asyncui.install(db)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    parent = zc.asyncui.getQueue(conn).put(Job(jobs.noop, 1))
    callback = parent.addCallback(Job(jobs.record, 'cb'))
    tm.commit()
    _completed_elsewhere(db, callback)   # after run_callback read NEW
    stale = types.SimpleNamespace(uuid_str='stale')
    started = utils.retry_transaction(
        tm, lambda: callbacks._start_callback(stale, callback), 'start')
    tm.begin()
    assert started is False
    assert callback.status == 'COMPLETED'
    assert [a['dispatcher'] for a in callback.attempts] == ['other']
    tm.abort()
    conn.close()


# -- resuming callbacks after a dispatcher died -------------------------------

DEAD = str(uuid.UUID(int=2 ** 127))  # sorts after the live one below


class _Dead:
    uuid_str = DEAD


def _dead_parent_in_callbacks(queue, callback_factory=None,
                              callback_started=True):
    """A parent whose dead dispatcher stored its result and was running its
    callback when it died."""
    record = queue.getDispatcherAgents(DEAD, create=True)
    then = utils.now() - datetime.timedelta(minutes=10)
    record.activated = record.last_ping = then
    record.ping_death_interval = datetime.timedelta(seconds=1)
    record.process_token = 'gone'
    record['main'] = agent = Agent(size=1)
    parent = queue.put(Job(jobs.add, 20, 22))
    callback = parent.addCallback(
        Job(jobs.record), retry_policy_factory=callback_factory)
    nested = callback.addCallback(jobs.noop)
    agent.claimJob()
    mark_active(parent, _Dead(), agent)
    recovery.close_attempt(parent, then, 'succeeded')
    recovery.set_result(parent, 42, then)
    if callback_started:
        mark_active(callback, _Dead(), 'callbacks')
    return parent, callback, nested


def _start_live(db, tmp_path):
    return dispatcher.start(
        db, uuid=uuid.UUID(int=1), poll_interval=0.1, ping_interval=0.2,
        ping_death_interval=1.0, uuid_file=str(tmp_path / 'uuid.txt'))


def test_interrupted_callback_is_retried_and_parent_completes(
        db, conn, queue, tmp_path):
    parent, callback, nested = _dead_parent_in_callbacks(queue)
    conn.transaction_manager.commit()
    _start_live(db, tmp_path)
    assert testing.wait_for_result(parent) == 42
    assert testing.wait_for_result(callback) == 42
    assert testing.wait_for_result(nested) == 42  # its own callback ran
    assert [a['outcome'] for a in callback.attempts] == [
        'interrupted', 'succeeded']
    assert callback.retry_counts == {'interrupted': 1}


def test_interrupted_callback_whose_policy_gives_up_fails(
        db, conn, queue, tmp_path):
    parent, callback, nested = _dead_parent_in_callbacks(
        queue, callback_factory=retry.NeverRetry)
    conn.transaction_manager.commit()
    _start_live(db, tmp_path)
    assert testing.wait_for_result(parent) == 42
    assert testing.wait_for_result(callback).check(errors.AbortedError)
    # The callback's own callback still gets its (failed) result.
    assert testing.wait_for_result(nested).check(errors.AbortedError)


def test_unstarted_callback_of_resumed_parent_runs_once(
        db, conn, queue, tmp_path):
    parent, callback, nested = _dead_parent_in_callbacks(
        queue, callback_started=False)
    conn.transaction_manager.commit()
    _start_live(db, tmp_path)
    assert testing.wait_for_result(parent) == 42
    assert testing.wait_for_result(callback) == 42
    assert len(callback.attempts) == 1
