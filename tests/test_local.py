"""Unit tests of zc.asyncui.local."""
import threading
import uuid

import pytest
import transaction

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import local
from zc.asyncui import testing
from zc.asyncui.job import Job

import jobs


class FakeDispatcher:
    """Stands in for the dispatcher a worker passes to ``local._set``."""


@pytest.fixture
def job(conn):
    job = zc.asyncui.getQueue(conn).put(jobs.noop)
    conn.transaction_manager.commit()
    return job


@pytest.fixture
def running(job):
    fake = FakeDispatcher()
    local._set(job, fake, 'main')
    yield fake
    local._set()


def _in_thread(func):
    out = []
    thread = threading.Thread(target=lambda: out.append(func()))
    thread.start()
    thread.join(10)
    return out[0]


def _open(db):
    tm = transaction.TransactionManager()
    return db.open(tm), tm


# -- outside jobs -------------------------------------------------------------

def test_getters_outside_jobs():
    assert local.getJob() is None
    assert local.getQueue() is None
    assert local.getDispatcher() is None
    assert local.getAgentName() is None


def test_getters_in_fresh_thread():
    assert _in_thread(lambda: (
        local.getJob(), local.getQueue(), local.getDispatcher(),
        local.getAgentName())) == (None, None, None, None)


def test_setLiveAnnotation_wo_job():
    with pytest.raises(ValueError) as info:
        local.setLiveAnnotation('progress', 1)
    assert 'call this inside a running job or pass a job' in str(info.value)


def test_getLiveAnnotation_wo_job():
    with pytest.raises(ValueError, match='no job'):
        local.getLiveAnnotation('progress')


def test_setLiveAnnotation_wo_stored_job():
    with pytest.raises(ValueError, match='stored in the database'):
        local.setLiveAnnotation('progress', 1, job=Job(jobs.noop))


# -- inside a job (as the worker sets it up) ----------------------------------

def test_getters_inside_job(job, running):
    assert local.getJob() is job
    assert local.getQueue() is job.queue
    assert local.getDispatcher() is running
    assert local.getAgentName() == 'main'


def test_getters_are_per_thread(job, running):
    assert _in_thread(local.getJob) is None


def test_set_clears():
    local._set(Job(jobs.noop), FakeDispatcher(), 'main')
    local._set()
    assert local.getJob() is None
    assert local.getAgentName() is None


def test_setLiveAnnotation_current_job_seen_by_others(db, conn, job,
                                                      running):
    job.priority = 7  # an uncommitted change of the job's own transaction
    local.setLiveAnnotation('progress', 'halfway')
    other, tm = _open(db)
    try:
        copy = other.get(job._p_oid)
        assert copy.annotations['progress'] == 'halfway'
        assert copy.priority == 0
    finally:
        other.close()
    assert job.priority == 7  # the job's own transaction is untouched
    assert local.getLiveAnnotation('progress') == 'halfway'


# -- with an explicit job, across connections ---------------------------------

def test_setLiveAnnotation_with_explicit_job(db, job):
    local.setLiveAnnotation('step', 3, job=job)
    other, tm = _open(db)
    try:
        copy = other.get(job._p_oid)
        assert local.getLiveAnnotation('step', job=copy) == 3
    finally:
        other.close()


def test_setLiveAnnotation_overwrites(job):
    local.setLiveAnnotation('step', 1, job=job)
    local.setLiveAnnotation('step', 2, job=job)
    assert local.getLiveAnnotation('step', job=job) == 2


def test_getLiveAnnotation_default(job):
    assert local.getLiveAnnotation('missing', job=job) is None
    assert local.getLiveAnnotation('missing', 'dflt', job=job) == 'dflt'


def test_getLiveAnnotation_waits_up_to_timeout(job):
    assert local.getLiveAnnotation('missing', 'dflt', timeout=0.05,
                                   poll=0.01, job=job) == 'dflt'


def test_getLiveAnnotation_sees_later_commit(db, job):
    # The value is committed by another thread while we wait for it.
    done = threading.Event()

    def writer():
        local.setLiveAnnotation('ready', True, job=job_copy)
        done.set()
    other, tm = _open(db)
    try:
        job_copy = other.get(job._p_oid)
        thread = threading.Thread(target=writer)
        thread.start()
        assert local.getLiveAnnotation('ready', timeout=10, poll=0.01,
                                       job=job) is True
        thread.join(10)
    finally:
        other.close()


# -- through a real dispatcher ------------------------------------------------

def test_getters_in_dispatched_job(db, conn, tmp_path):
    job = zc.asyncui.getQueue(conn).put(jobs.who_am_i)
    conn.transaction_manager.commit()
    dispatcher.start(db, poll_interval=0.1, uuid=uuid.uuid4(),
                     ping_interval=0.2, ping_death_interval=1.0)
    assert testing.wait_for_result(job) == (job.key, 'main')
    assert local.getJob() is None


def test_live_annotation_from_dispatched_job(db, conn, tmp_path):
    job = zc.asyncui.getQueue(conn).put(
        Job(jobs.annotate_and_wait, 0.2))
    conn.transaction_manager.commit()
    dispatcher.start(db, poll_interval=0.1, uuid=uuid.uuid4(),
                     ping_interval=0.2, ping_death_interval=1.0)
    assert testing.wait_for_annotation(job, 'progress') == 'halfway'
    assert testing.wait_for_result(job) == 'done'
