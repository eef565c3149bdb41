"""Direct tests of zc.asyncui.worker: the inbox, where a job is in this
process (AgentWorkers), and a worker thread's decision to start, skip or
release a job -- on a Dispatcher that is constructed but never started,
and a WorkerThread that is never started (its steps are called in the
test's thread)."""
import logging
import threading
import time
import uuid

import pytest
import transaction
import ZEO.Exceptions

from zc.asyncui import utils
from zc.asyncui import worker
from zc.asyncui.agent import Agent
from zc.asyncui.dispatcher import Dispatcher
from zc.asyncui.execution import mark_active
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus

import jobs


# -- Inbox ------------------------------------------------------------------

def test_inbox_get_in_order_with_put_front_first():
    inbox = worker.Inbox()
    inbox.put_many([b'a', b'b'])
    inbox.put_front(b'z')
    assert [inbox.get(0), inbox.get_nowait(), inbox.get(0)] == [
        b'z', b'a', b'b']
    assert len(inbox) == 0


def test_inbox_get_wo_items_times_out():
    assert worker.Inbox().get(0.0) is None
    assert worker.Inbox().get_nowait() is None


def test_inbox_on_low_once_per_refill():
    inbox = worker.Inbox()
    calls = []
    inbox.on_low = lambda: calls.append(len(inbox))
    inbox.put_many([b'a', b'b', b'c'])
    inbox.get_nowait()  # 2 left: above low_water
    inbox.get_nowait()  # 1 left: low
    assert calls == [1]
    inbox.get_nowait()  # empty: always signalled
    assert calls == [1, 0]
    inbox.put_many([b'd', b'e'])
    inbox.get_nowait()
    assert calls == [1, 0, 1]


def test_inbox_get_wakes_on_put():
    inbox = worker.Inbox()
    got = []
    thread = threading.Thread(target=lambda: got.append(inbox.get(30)))
    thread.start()
    inbox.put_many([b'x'])
    thread.join(30)
    assert got == [b'x']


# -- AgentWorkers -----------------------------------------------------------

@pytest.fixture
def dispatcher(db):
    return Dispatcher(db, uuid.UUID(int=7), poll_interval=0.1,
                      ping_interval=1.0, ping_death_interval=5.0)


@pytest.fixture
def workers(dispatcher):
    return worker.AgentWorkers(dispatcher, '', 'main')


def test_submit_ignores_known_oids(workers):
    workers.submit([b'1', b'2'])
    workers.submit([b'2', b'3'])
    assert len(workers.inbox) == 3
    assert sorted(workers.known_oids()) == [b'1', b'2', b'3']
    workers.forget(b'1')
    workers.submit([b'1'])
    assert len(workers.inbox) == 4


def test_acquire_by_one_thread_at_a_time(workers):
    assert workers.acquire(b'1')
    assert workers.acquire(b'1')  # the same thread again
    other = []
    thread = threading.Thread(target=lambda: other.append(
        workers.acquire(b'1')))
    thread.start()
    thread.join()
    assert other == [False]
    workers.release(b'1')
    assert b'1' not in workers.running


def test_turn_wo_tiny_calls_does_not_serialize(workers):
    workers.note_call(0.5)
    with workers.turn():
        assert not workers._turn.locked()


def test_turn_with_tiny_calls_takes_turns_but_never_waits_long(
        workers, monkeypatch):
    # Replaces a machine-speed assertion (call_ema < 1 ms after noop
    # jobs): the averages are set, not measured.
    monkeypatch.setattr(worker, 'TURN_WAIT_SECONDS', 0.01)
    workers.note_call(0.0001)
    entered = []
    with workers.turn():
        assert workers._turn.locked()
        thread = threading.Thread(target=lambda: _enter(workers, entered))
        thread.start()
        thread.join(30)  # it gave up waiting for the turn and ran
    assert entered == [True]


def _enter(workers, entered):
    with workers.turn():
        entered.append(True)


def test_note_call_keeps_moving_average(workers):
    workers.note_call(1.0)
    workers.note_call(0.0)
    assert workers.call_ema == pytest.approx(0.8)


# -- WorkerThread: start, skip, or release a job ------------------------------

@pytest.fixture
def thread(db, dispatcher, workers):
    """A worker thread, never started, with its connection open."""
    t = worker.WorkerThread(workers, 0)
    t.tm = transaction.TransactionManager()
    t.conn = db.open(t.tm)
    yield t
    t.tm.abort()
    t.conn.close()


@pytest.fixture
def agent(conn, queue, dispatcher):
    record = queue.getDispatcherAgents(dispatcher.UUID, create=True)
    record['main'] = agent = Agent(size=1)
    conn.transaction_manager.commit()
    return agent


def _claimed(conn, queue, agent, started=False, dispatcher=None):
    job = queue.put(Job(jobs.noop, 'x'))
    assert agent.claimJob() is job
    if started:
        mark_active(job, dispatcher, agent)
    conn.transaction_manager.commit()
    return job


def _start(thread, oid):
    return utils.retry_transaction(thread.tm, lambda: thread._start(oid),
                                   'start job', attempts=1)


def test_start_held_job(conn, queue, agent, thread):
    job = _claimed(conn, queue, agent)
    assert _start(thread, job._p_oid) == job._p_oid
    conn.transaction_manager.begin()
    assert job.status == JobStatus.ACTIVE and job.agent is agent
    assert thread.workers.running == {job._p_oid: threading.get_ident()}


def test_start_wo_held_job_skips_it(conn, queue, agent, thread):
    job = queue.put(Job(jobs.noop))
    conn.transaction_manager.commit()
    thread.workers.submit([job._p_oid])
    assert _start(thread, job._p_oid) is None
    conn.transaction_manager.begin()
    assert job.status == JobStatus.PENDING and job in queue
    assert job._p_oid not in thread.workers.known
    assert job._p_oid not in thread.workers.running


def test_start_job_running_in_another_thread(conn, queue, agent, thread):
    job = _claimed(conn, queue, agent)
    t = threading.Thread(target=thread.workers.acquire, args=(job._p_oid,))
    t.start()
    t.join()
    assert _start(thread, job._p_oid) is None
    conn.transaction_manager.begin()
    assert job.status == JobStatus.ASSIGNED


def test_start_lost_active_job_releases_it(conn, queue, agent, thread,
                                           dispatcher, caplog):
    # Held here and ACTIVE, yet no thread of this process runs it (its
    # worker lost it): handed to its retry policy as interrupted.
    job = _claimed(conn, queue, agent, started=True, dispatcher=dispatcher)
    with caplog.at_level(logging.WARNING, 'zc.asyncui.worker'):
        assert _start(thread, job._p_oid) is None
    conn.transaction_manager.begin()
    assert job.status == JobStatus.PENDING and job in queue
    assert job not in agent
    assert job.attempts[0]['outcome'] == (
        'interrupted: its worker in dispatcher %s lost it' % dispatcher.UUID)
    assert job.retry_counts == {'interrupted': 1}
    assert any('was ACTIVE but no worker ran it' in r.getMessage()
               for r in caplog.records)


# -- AgentWorkers with a dummy dispatcher: completions, status, dead threads


class DummyDispatcher:
    uuid_str = '00000000-0000-0000-0000-000000000001'
    UUID = uuid_str

    def __init__(self):
        self.wakes = 0

    def wake(self):
        self.wakes += 1


class DummyJob:
    # What AgentWorkers.note_completion reads (historyfacts.Facts).
    _result = _queue = _put_ts = _start_ts = None
    _attempts = ()
    callable = len

    def __init__(self, oid, end):
        self._p_oid = oid
        self._end_ts = end
        self.key = oid.decode()


def dummy_workers():
    return worker.AgentWorkers(DummyDispatcher(), '', 'main')


def test_forget_leaves_known():
    w = dummy_workers()
    w.submit([b'1'])
    w.forget(b'1')
    assert w.known_oids() == []


def test_take_completions_then_drop_after_commit():
    w = dummy_workers()
    w.note_completion(DummyJob(b'1', 10.0))
    w.note_completion(DummyJob(b'2', 11.0))
    done, urgent = w.take_completions()
    assert done == [(b'1', 10.0), (b'2', 11.0)] and not urgent
    w.note_completion(DummyJob(b'3', 12.0))  # noted during the commit
    assert [f.key for f in w.completion_facts(done)] == ['1', '2']
    w.drop_completions(done)
    assert w.take_completions()[0] == [(b'3', 12.0)]
    assert w.completion_facts(done) == [None, None]  # dropped with them


def test_take_completions_urgent_when_old():
    w = dummy_workers()
    w.note_completion(DummyJob(b'1', 10.0))
    w._completions[0] = (time.monotonic() - 60, b'1', 10.0)
    assert w.take_completions()[1] is True


def test_status_without_threads():
    assert dummy_workers().status() == {
        'queue': '', 'agent': 'main', 'size': 0, 'alive': 0,
        'replaced': 0, 'last_death': None}


def test_forget_thread_frees_the_jobs_a_dead_thread_held():
    w = dummy_workers()
    w.submit([b'1', b'2'])
    assert w.acquire(b'1')  # this thread "runs" job 1, then "dies"
    t = threading.Thread(target=lambda: w.acquire(b'2'))
    t.start()
    t.join()
    w.forget_thread(threading.get_ident())
    assert b'1' not in w.running and b'1' not in w.known_oids()
    assert b'2' in w.running and b'2' in w.known_oids()


def test_start_next_transient_failure_is_one_line(thread, caplog,
                                                  monkeypatch):
    # The database away while starting a job: a WARNING naming the
    # dispatcher, the job and the error, the traceback only at DEBUG.
    def unreachable(oid):
        thread.dispatcher.stopped = True  # retried until the stop
        raise ZEO.Exceptions.ClientDisconnected()
    monkeypatch.setattr(thread, '_start', unreachable)
    thread.workers.submit([b'\0' * 7 + b'\x09'])
    with caplog.at_level(logging.DEBUG, 'zc.asyncui.worker'):
        assert thread._start_next() is None
    mine = [r for r in caplog.records if r.name == 'zc.asyncui.worker']
    warning, = [r for r in mine if r.levelno >= logging.WARNING]
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert warning.getMessage() == (
        'dispatcher %s: could not start job 0x9: ClientDisconnected: the'
        ' storage is unreachable; it stays with its agent and is handed to'
        ' a worker again at the next poll' % thread.dispatcher.UUID)
    assert [r.exc_info is not None for r in mine
            if r.levelno == logging.DEBUG][-1]
    assert b'\0' * 7 + b'\x09' not in thread.workers.known


def test_start_next_unexpected_failure_logs_a_bug(thread, caplog,
                                                  monkeypatch):
    def broken(oid):
        raise AttributeError('oops')
    monkeypatch.setattr(thread, '_start', broken)
    thread.workers.submit([b'\0' * 7 + b'\x09'])
    assert thread._start_next() is None
    record, = [r for r in caplog.records if r.levelno >= logging.WARNING
               and r.name == 'zc.asyncui.worker']
    assert record.levelno == logging.ERROR and record.exc_info
    assert 'This is a bug in zc.asyncui' in record.getMessage()


def test_turn_is_kept_while_the_holders_calls_keep_ending(
        workers, monkeypatch):
    # The holder of the turn runs a chain of tiny jobs: the others wait
    # for its end (one thread takes and groups them), not for
    # TURN_WAIT_SECONDS.
    monkeypatch.setattr(worker, 'TURN_WAIT_SECONDS', 0.2)
    workers.note_call(0.0001)
    entered = []
    with workers.turn():
        thread = threading.Thread(target=lambda: _enter(workers, entered))
        thread.start()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            workers.note_call(0.0001)   # a call of the chain ended
            time.sleep(0.01)
        assert entered == []
    thread.join(30)
    assert entered == [True]


def test_turn_waiter_gives_up_when_calls_stop_being_tiny(
        workers, monkeypatch):
    monkeypatch.setattr(worker, 'TURN_WAIT_SECONDS', 0.05)
    workers.note_call(0.0001)
    entered = []
    with workers.turn():
        thread = threading.Thread(target=lambda: _enter(workers, entered))
        thread.start()
        for _ in range(20):
            workers.note_call(1.0)   # progress, but long calls now
        thread.join(30)
        assert entered == [True]
