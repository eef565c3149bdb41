"""AgentWorkers: where a job is in this process, and its threads."""
import time

from zc.asyncui import worker


class DummyDispatcher:
    uuid_str = '00000000-0000-0000-0000-000000000001'
    UUID = uuid_str

    def __init__(self):
        self.wakes = 0

    def wake(self):
        self.wakes += 1


class DummyJob:
    def __init__(self, oid, end):
        self._p_oid = oid
        self._end_ts = end


def workers():
    return worker.AgentWorkers(DummyDispatcher(), '', 'main')


def test_submit_same_oid_twice_queued_once():
    w = workers()
    w.submit([b'1', b'2'])
    w.submit([b'2', b'3'])
    assert len(w.inbox) == 3
    assert sorted(w.known_oids()) == [b'1', b'2', b'3']


def test_forget_leaves_known():
    w = workers()
    w.submit([b'1'])
    w.forget(b'1')
    assert w.known_oids() == []


def test_acquire_only_one_thread_runs_an_oid():
    import threading
    w = workers()
    assert w.acquire(b'1')
    other = []
    t = threading.Thread(target=lambda: other.append(w.acquire(b'1')))
    t.start()
    t.join()
    assert other == [False]
    w.release(b'1')
    assert b'1' not in w.running


def test_take_completions_then_drop_after_commit():
    w = workers()
    w.note_completion(DummyJob(b'1', 10.0))
    w.note_completion(DummyJob(b'2', 11.0))
    done, urgent = w.take_completions()
    assert done == [(b'1', 10.0), (b'2', 11.0)] and not urgent
    w.note_completion(DummyJob(b'3', 12.0))  # noted during the commit
    w.drop_completions(done)
    assert w.take_completions()[0] == [(b'3', 12.0)]


def test_take_completions_urgent_when_old():
    w = workers()
    w.note_completion(DummyJob(b'1', 10.0))
    w._completions[0] = (time.monotonic() - 60, b'1', 10.0)
    assert w.take_completions()[1] is True


def test_status_without_threads():
    assert workers().status() == {
        'queue': '', 'agent': 'main', 'size': 0, 'alive': 0,
        'replaced': 0, 'last_death': None}


def test_forget_thread_frees_the_jobs_a_dead_thread_held():
    import threading
    w = workers()
    w.submit([b'1', b'2'])
    assert w.acquire(b'1')  # this thread "runs" job 1, then "dies"
    t = threading.Thread(target=lambda: w.acquire(b'2'))
    t.start()
    t.join()
    w.forget_thread(threading.get_ident())
    assert b'1' not in w.running and b'1' not in w.known_oids()
    assert b'2' in w.running and b'2' in w.known_oids()
