"""Callbacks: re-checks that keep a callback from running twice."""
import types

import transaction

import jobs
import zc.asyncui
from zc.asyncui import callbacks
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
