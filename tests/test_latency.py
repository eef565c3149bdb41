"""Put-to-start latency, by counting (never timing): which poll claims a
job, what commits come between its claim and its start, and when the
workers ask for a poll (zc.asyncui.polling, zc.asyncui.worker).  The
figures are bench/latency.py's."""
import threading
import uuid

import pytest
import transaction

import jobs
import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import polling
from zc.asyncui import queue as queue_module
from zc.asyncui import testing
from zc.asyncui import worker
from zc.asyncui.job import Job
from test_worker import DummyDispatcher


class Recorder:
    """The poll thread's polls and commits, the claims and the starts of
    jobs, in the order they happen (list.append is atomic)."""

    def __init__(self, monkeypatch):
        self.events = []
        poll = dispatcher.Dispatcher._poll
        after = dispatcher.Dispatcher._after_poll_commit
        start_held = worker.start_held
        commit = transaction._transaction.Transaction.commit
        events = self.events

        def traced_poll(d):
            events.append(('poll',))
            return poll(d)

        def traced_after(d, name, result, record):
            for _, oids in (result.claims if result is not None else ()):
                for oid in oids:
                    events.append(('claimed', oid))
            return after(d, name, result, record)

        def traced_start_held(job, agent, d):
            started = start_held(job, agent, d)
            if started:
                oid = job._p_oid
                transaction.get().addAfterCommitHook(
                    lambda ok: ok and events.append(('started', oid)))
            return started

        def traced_commit(txn):
            if txn._resources and threading.current_thread().name.startswith(
                    'zc.asyncui dispatcher'):
                events.append(('poll commit',))
            return commit(txn)

        monkeypatch.setattr(dispatcher.Dispatcher, '_poll', traced_poll)
        monkeypatch.setattr(dispatcher.Dispatcher, '_after_poll_commit',
                            traced_after)
        monkeypatch.setattr(worker, 'start_held', traced_start_held)
        monkeypatch.setattr(transaction._transaction.Transaction, 'commit',
                            traced_commit)

    def polls(self):
        return sum(1 for e in self.events if e == ('poll',))

    def polls_before_start(self, job):
        """The polls begun before ``job`` started."""
        events = list(self.events)
        started = events.index(('started', job._p_oid))
        return sum(1 for e in events[:started] if e == ('poll',))

    def between(self, oid):
        """The events between the claim of ``oid`` and its start."""
        events = list(self.events)
        begin = events.index(('claimed', oid))
        return events[begin + 1:events.index(('started', oid))]


def no_wakeups(monkeypatch):
    """Polling only: no wake-up after this process's puts, no check of
    the last transaction id (the workers still ask for polls)."""
    monkeypatch.setattr(queue_module, '_wake_after_commit', lambda jar: None)
    monkeypatch.setattr(dispatcher, 'CHANGE_CHECK_SECONDS', 1e9)


def started_dispatcher(db, **kw):
    d = dispatcher.start(db, uuid=uuid.uuid4(), ping_interval=600.0,
                         ping_death_interval=1200.0, **kw)
    testing.wait_until(lambda: d.getStatusInfo()['active_queues'], 20,
                       'the dispatcher active')
    return d


def put(conn, *jobs_):
    tm = conn.transaction_manager
    tm.begin()
    put = [zc.asyncui.getQueue(conn).put(j) for j in jobs_]
    tm.commit()
    return put


def test_one_poll_claims_and_starts_a_job(db, conn, monkeypatch):
    # Polling only, with a poll interval no test waits for: the poll a
    # wake-up makes claims the job, and a worker starts it at once -- not
    # at the next poll.
    no_wakeups(monkeypatch)
    recorder = Recorder(monkeypatch)
    d = started_dispatcher(db, poll_interval=600.0)
    try:
        before = recorder.polls()
        job, = put(conn, zc.asyncui.Job(jobs.add, 1, 2))
        d.wake()  # the one poll
        testing.wait_for_result(job, 30)
        assert recorder.polls_before_start(job) == before + 1
    finally:
        d.stop(10.0)


def test_polling_only_claims_on_as_room_frees(db, conn, monkeypatch):
    # The first claim of an agent has room for twice its size (no pace
    # known yet): the rest of the due jobs are claimed as the jobs
    # complete, without waiting for the next (600 s) poll -- the workers
    # ask for a poll once room frees up and the inbox is empty.
    no_wakeups(monkeypatch)
    recorder = Recorder(monkeypatch)
    d = started_dispatcher(db, poll_interval=600.0, main_agent_size=1)
    try:
        put_jobs = put(conn, *[zc.asyncui.Job(jobs.add, i, 1)
                               for i in range(10)])
        d.wake()
        for job in put_jobs:
            testing.wait_for_result(job, 30)
        claims = [e for e in recorder.events if e[0] == 'claimed']
        assert len(claims) == 10
        assert recorder.polls() < 40
    finally:
        d.stop(10.0)


def test_no_poll_commit_between_a_claim_and_its_start(db, conn,
                                                      monkeypatch):
    # The completion of the previous job is written by a poll after the
    # start of the next (or in a claim the workers could not start at
    # once): never by a commit the start waits for.
    recorder = Recorder(monkeypatch)
    d = started_dispatcher(db, poll_interval=600.0, main_agent_size=1)
    try:
        done = []
        for i in range(10):
            job, = put(conn, zc.asyncui.Job(jobs.add, i, 1))
            testing.wait_for_result(job, 30)
            done.append(job)
        for job in done:
            assert ('poll commit',) not in recorder.between(job._p_oid)
        # ... and every completion is recorded (the poll after the last
        # job writes it: the workers ask for it once quiet).
        from zc.asyncui import history
        tm = conn.transaction_manager
        testing.wait_until(lambda: (tm.begin(), history.count(conn))[1]
                           == 10, 30, 'the completions recorded')
    finally:
        d.stop(10.0)


def test_a_poll_begins_one_transaction_before_its_claim(db, conn,
                                                      monkeypatch):
    # Every lock the poll thread waits for before the claim (a FileStorage
    # serves a new snapshot under the lock held by other threads' fsyncs)
    # delays the job: a poll begins one transaction per queue, which also
    # reads the queues' names, and reads its neighbour's record (which
    # another process writes: a load through ZEO) only after its claims.
    from zc.asyncui import liveness
    recorder = Recorder(monkeypatch)
    events = recorder.events
    begin = transaction.TransactionManager.begin
    claim = polling.claim
    check_neighbour = liveness.Liveness.check_neighbour

    def poll_thread():
        return threading.current_thread().name.startswith(
            'zc.asyncui dispatcher')

    def traced_begin(tm):
        if poll_thread():
            events.append(('begin',))
        return begin(tm)

    def traced_claim(*args):
        oids = claim(*args)
        events.extend(('claim', oid) for oid in oids)
        return oids

    def traced_check(*args):
        events.append(('neighbour',))
        return check_neighbour(*args)

    monkeypatch.setattr(transaction.TransactionManager, 'begin',
                        traced_begin)
    monkeypatch.setattr(polling, 'claim', traced_claim)
    monkeypatch.setattr(liveness.Liveness, 'check_neighbour', traced_check)
    no_wakeups(monkeypatch)
    d = started_dispatcher(db, poll_interval=600.0)
    try:
        for i in range(3):
            job, = put(conn, zc.asyncui.Job(jobs.add, i, 1))
            d.wake()
            testing.wait_for_result(job, 30)
            events_ = list(events)
            claimed = events_.index(('claim', job._p_oid))
            poll = max(i for i, e in enumerate(events_[:claimed])
                       if e == ('poll',))
            assert events_[poll + 1:claimed] == [('begin',)]
            assert ('neighbour',) in events_[claimed:]
    finally:
        d.stop(10.0)


def test_light_load_one_poll_commit_per_job(db, conn, monkeypatch):
    # One job at a time: the poll thread's only commit per job is the
    # claim; the completions of its quiet workers wait for more (here
    # longer than the test) and are written by one commit of their own
    # once they waited long enough.
    monkeypatch.setattr(polling, 'QUIET_FLUSH_SECONDS', 600.0)
    # Nothing else due while it runs, however slow the machine: no prune,
    # no completions old enough to be urgent.
    monkeypatch.setattr(dispatcher, 'PRUNE_SECONDS', 1e9)
    monkeypatch.setattr(worker, 'COMPLETION_FLUSH_SECONDS', 600.0)
    recorder = Recorder(monkeypatch)
    d = started_dispatcher(db, poll_interval=600.0, main_agent_size=1)
    from zc.asyncui import history
    tm = conn.transaction_manager
    try:
        testing.wait_until(lambda: (tm.begin(), history.count(conn))[1]
                           == 0, 30, 'the history there')
        before = recorder.events.count(('poll commit',))
        for i in range(10):
            job, = put(conn, zc.asyncui.Job(jobs.add, i, 1))
            testing.wait_for_result(job, 30)
        assert recorder.events.count(('poll commit',)) - before == 10
        tm.begin()
        assert history.count(conn) == 0
        monkeypatch.setattr(polling, 'QUIET_FLUSH_SECONDS', 0.0)
        d.wake()
        testing.wait_until(lambda: (tm.begin(), history.count(conn))[1]
                           == 10, 30, 'the completions recorded')
        assert recorder.events.count(('poll commit',)) - before == 11
    finally:
        d.stop(10.0)


# -- the decisions, on their own ----------------------------------------

@pytest.mark.parametrize('claimed, idle, quiet, due, flush', [
    ([], 0, False, False, False),    # busy workers: a claim comes later
    ([], 1, True, False, True),      # quiet: no claim carries them
    ([b'1'], 1, True, False, False),  # the claim's start must not wait
    ([b'1'], 0, False, False, True),  # a claim the workers queue: rides
    ([b'1'], 1, True, True, True),   # many or old: now
    ([], 0, False, True, True),
])
def test_flush_now(claimed, idle, quiet, due, flush):
    assert polling.flush_now(claimed, idle, quiet, due) is flush


@pytest.mark.parametrize('ends, now, delay', [
    ([10.0], 10.05, 0.15),     # the last one 50 ms ago: wait for more
    ([9.0, 10.0], 10.2, 0.0),  # quiet for long enough
    ([10.0] * 32, 10.0, 0.0),  # enough of them
    ([None], 10.0, 0.0),       # no end known: now
])
def test_quiet_flush_delay(ends, now, delay):
    done = [(b'%d' % i, end) for i, end in enumerate(ends)]
    assert polling.quiet_flush_delay(done, now) == pytest.approx(delay)


def DummyJob(oid):
    """A job finished at timestamp 1.0 (what a worker notes), with the oid
    ``oid`` and no database."""
    job = Job(len, ())
    job._p_oid = oid.rjust(8, b'\0')
    job._end_ts = 1.0
    job._result = 0
    return job


def test_a_job_being_started_keeps_the_workers_from_quiet():
    w = worker.AgentWorkers(DummyDispatcher(), '', 'main')
    assert w.quiet
    w.submit([b'1'])
    assert w.inbox.get(0) == b'1'  # a worker took it, starts it now
    assert not w.quiet
    w.forget(b'1')
    assert w.quiet


def test_an_empty_inbox_asks_for_a_poll_only_with_a_backlog():
    d = DummyDispatcher()
    w = worker.AgentWorkers(d, '', 'main')
    w.backlog = False   # the last claim took all there was
    w.submit([b'1'])
    w.inbox.get(0)
    assert d.wakes == 0
    w.backlog = True    # due work left behind
    w.submit([b'2'])
    w.inbox.get(0)
    assert d.wakes == 1


def test_a_completion_asks_for_a_poll_once_per_claim_with_a_backlog():
    d = DummyDispatcher()
    w = worker.AgentWorkers(d, '', 'main')
    w.backlog = True
    w.known.add(b'9')   # another job still runs: not quiet
    w.note_completion(DummyJob(b'1'))
    w.note_completion(DummyJob(b'2'))
    assert d.wakes == 1 and not w.backlog
    w.known.clear()     # quiet now, completions waiting: flush them
    w._ask_for_poll()
    assert d.wakes == 2


# -- through ZEO: woken by the server's news of another client's commit ----

@pytest.fixture
def zeo_dbs(tmp_path):
    """Two databases, clients of one real ZEO server (run in a thread of
    this process, serving a FileStorage): as two processes would be."""
    import ZEO
    import ZODB
    address, stop = ZEO.server(path=str(tmp_path / 'Data.fs'))
    dbs = [ZODB.DB(ZEO.client(address, wait_timeout=30)) for _ in range(2)]
    try:
        yield dbs
    finally:
        dispatcher.stop_all(10.0)
        for db in dbs:
            db.close()
        stop()


def test_another_clients_commit_wakes_the_dispatcher(zeo_dbs, monkeypatch):
    # No check of the last transaction id, a poll interval no test waits
    # for: the news of the put, from the ZEO server, makes the poll.
    from zc.asyncui import notices
    monkeypatch.setattr(dispatcher, 'CHANGE_CHECK_SECONDS', 1e9)
    recorder = Recorder(monkeypatch)
    mine, other = zeo_dbs
    zc.asyncui.install(other)
    d = started_dispatcher(mine, poll_interval=600.0)
    conn = other.open(transaction.TransactionManager())
    try:
        before = recorder.polls()
        job, = put(conn, zc.asyncui.Job(jobs.add, 1, 2))
        testing.wait_for_result(job, 30)
        assert recorder.polls_before_start(job) == before + 1
    finally:
        d.stop(10.0)
        conn.close()
    # Stopped, it listens no more; the storage's own method is back.
    assert 'invalidate' not in vars(mine._mvcc_storage)
    assert notices.listen(mine, lambda: None)
    notices.unlisten(mine, None)  # not a listener: nothing happens


def test_no_notices_from_a_filestorage(db):
    from zc.asyncui import notices
    assert not notices.listen(db, lambda: None)
