"""Running one job in a worker: driven step by step in the test's thread
(a real WorkerThread object that is never started), on a FileStorage."""
import logging

import pytest
import transaction

import lifecyclejobs
import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import worker as worker_module
from zc.asyncui.agent import Agent
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job

UUID = '00000000-0000-0000-0000-00000000abcd'


class _Dispatcher:
    """Just what workers and execution ask of a dispatcher."""

    uuid_str = UUID = UUID
    verbose_failures = False
    job_retry_policy_factory = None
    callback_retry_policy_factory = None
    stopped = False

    def __init__(self, db):
        self.db = db
        self.events = []
        self.completions = []
        self.finished = []

    def wake(self):
        pass

    def recordJob(self, job, event):
        self.events.append((job.key, event))

    def noteCompletion(self, agent, job):
        self.completions.append(job.key)

    def noteFinished(self, job):
        self.finished.append(job.key)

    def findAgent(self, conn, queue_name, agent_name):
        queue = zc.asyncui.getQueue(conn, queue_name)
        return queue.getDispatcherAgents(self.UUID)[agent_name]


class Harness:
    """A producer connection, an agent of our dispatcher and one worker."""

    def __init__(self, db, size=1):
        zc.asyncui.install(db)
        self.db = db
        self.tm = transaction.TransactionManager()
        self.conn = db.open(self.tm)
        record = self.queue.getDispatcherAgents(UUID, create=True)
        record['main'] = Agent(size=size)
        self.tm.commit()
        self.dispatcher = _Dispatcher(db)
        self.workers = worker_module.AgentWorkers(self.dispatcher, '', 'main')
        self.worker = worker_module.WorkerThread(self.workers, 0)
        self.worker.tm = transaction.TransactionManager()
        self.worker.conn = db.open(self.worker.tm)

    @property
    def queue(self):
        return zc.asyncui.getQueue(self.conn)

    @property
    def agent(self):
        return self.queue.getDispatcherAgents(UUID)['main']

    def put(self, job, **kw):
        job = self.queue.put(job, **kw)
        self.tm.commit()
        return job

    def claim(self, count=1):
        """Claim in the producer's connection (as the poll thread does) and
        hand the oids to the workers' inbox."""
        jobs = self.agent.claimJobs(count)
        self.tm.commit()
        self.workers.submit([j._p_oid for j in jobs])
        return jobs

    def run_one(self):
        """Start the next job of the inbox and run it (and the chain of
        jobs it starts); returns the oids run."""
        ran = []
        oid = self.worker._start_next()
        while oid is not None:
            ran.append(oid)
            oid = self.worker._run_safely(oid)
        return ran

    def fresh(self, job):
        self.tm.begin()
        return job

    def close(self):
        self.worker.tm.abort()
        self.worker.conn.close()
        self.tm.abort()
        self.conn.close()


@pytest.fixture
def harness(db):
    h = Harness(db)
    lifecyclejobs.calls[:] = []
    yield h
    h.close()


# -- H: the next job's trouble never re-runs this one -------------------------

def test_start_next_in_wo_next_job_in_snapshot_does_not_rerun_job(harness):
    first = harness.put(Job(lifecyclejobs.record, 'first'))
    harness.claim()
    oid = harness.worker._start_next()
    # The worker's snapshot begins before the next job exists.
    harness.worker.tm.begin()
    harness.worker.conn.get(oid)._p_activate()
    second = harness.put(Job(lifecyclejobs.record, 'second'))
    harness.claim()
    next_oid = harness.worker._run_safely(oid)
    assert lifecyclejobs.calls == ['first']
    harness.fresh(first)
    assert first.status == 'COMPLETED'
    assert [a['outcome'] for a in first.attempts] == ['succeeded']
    # The next job was not lost: it runs from the inbox, on a snapshot
    # taken after its claim.
    assert next_oid is None
    assert harness.run_one() == [second._p_oid]
    harness.fresh(second)
    assert second.result == 'second'
    assert lifecyclejobs.calls == ['first', 'second']


def test_execute_retry_now_is_a_recorded_attempt(harness):
    job = harness.put(Job(lifecyclejobs.conflict_once, 'retry-now'))
    harness.claim()
    harness.run_one()
    harness.fresh(job)
    assert job.result == 'retry-now'
    outcomes = [a['outcome'] for a in job.attempts]
    assert len(outcomes) == 2
    assert outcomes[0].startswith('retry now: call raised'
                                  ' ZODB.POSException.ConflictError')
    assert outcomes[1] == 'succeeded'
    assert job.retry_counts == {'transient': 1}


# -- B: a job raising a BaseException fails; the worker goes on ---------------

@pytest.mark.parametrize('name', ['SystemExit', 'KeyboardInterrupt',
                                  'GeneratorExit'])
def test_execute_with_base_exception_fails_job_not_worker(harness, name):
    bad = harness.put(Job(lifecyclejobs.raise_base, name))
    good = harness.put(Job(lifecyclejobs.record, 'after'))
    harness.claim(2)
    harness.run_one()
    harness.run_one()
    harness.fresh(bad)
    assert isinstance(bad.result, Failure)
    assert bad.result.type_name == name
    assert bad.status == 'COMPLETED'
    assert [a['outcome'] for a in bad.attempts] == ['failed']
    assert good.result == 'after'
    assert lifecyclejobs.calls == [name, 'after']


# -- C: a callable the worker cannot import ------------------------------------

@pytest.fixture
def vanishing(tmp_path, monkeypatch):
    """A module the producer imports and the worker then cannot."""
    import importlib
    import sys
    directory = tmp_path / 'producer_path'
    directory.mkdir()
    source = directory / 'vanishing_mod.py'
    source.write_text('def greet(name):\n    return "hello " + name\n')
    monkeypatch.syspath_prepend(str(directory))
    module = importlib.import_module('vanishing_mod')

    def vanish():
        sys.path.remove(str(directory))
        del sys.modules['vanishing_mod']
        source.unlink()
        importlib.invalidate_caches()
    module.vanish = vanish
    yield module
    sys.modules.pop('vanishing_mod', None)


def _run_due(harness, clock):
    clock.advance(minutes=10)
    harness.tm.begin()
    harness.claim()
    return harness.run_one()


def test_execute_wo_importable_callable_retried_then_failed(
        harness, vanishing, caplog):
    from zc.asyncui import testing
    with testing.FakeClock() as clock:
        job = harness.put(Job(vanishing.greet, 'you'))
        other = harness.put(Job(lifecyclejobs.record, 'other'))
        vanishing.vanish()
        harness.conn.cacheMinimize()
        caplog.set_level(logging.WARNING)
        harness.claim(2)
        assert len(harness.run_one()) == 1  # started, then rescheduled
        harness.run_one()
        harness.tm.begin()
        # It holds no capacity while it waits: the other job ran.
        assert other.result == 'other'
        assert job.status == 'PENDING'
        assert job not in harness.agent
        assert job.attempts[0]['outcome'].startswith(
            'retry later: zc.asyncui.errors.CallableImportError: cannot'
            " import vanishing_mod.greet in this process: ModuleNotFoundError")
        lines = [r for r in caplog.records if job.key in r.getMessage()]
        assert len(lines) == 1 and lines[0].exc_info is None
        assert '\n' not in lines[0].getMessage()
        for _ in range(4):
            _run_due(harness, clock)
    harness.tm.begin()
    assert job.status == 'COMPLETED'
    assert isinstance(job.result, Failure)
    assert job.result.check(ImportError)
    assert 'cannot import vanishing_mod.greet in this process' in \
        job.result.message
    assert len(job.attempts) == 5
    assert job.retry_counts == {'cannot_import': 5}


def test_execute_wo_importable_callable_runs_once_importable_again(
        harness, vanishing, tmp_path, monkeypatch):
    from zc.asyncui import testing
    with testing.FakeClock() as clock:
        job = harness.put(Job(vanishing.greet, 'again'))
        vanishing.vanish()
        harness.conn.cacheMinimize()
        harness.claim()
        harness.run_one()  # stored while its callable was broken here
        directory = tmp_path / 'deployed'
        directory.mkdir()
        (directory / 'vanishing_mod.py').write_text(
            'def greet(name):\n    return "hello " + name\n')
        monkeypatch.syspath_prepend(str(directory))
        harness.worker.conn.cacheMinimize()
        _run_due(harness, clock)
    harness.tm.begin()
    assert job.result == 'hello again'


# -- D: a policy that raises does not wedge the job ---------------------------

class _RaisingPolicy:

    def __init__(self, job):
        self.counts = {}

    def jobError(self, failure):
        raise RuntimeError('policy is broken')

    commitError = interrupted = jobError


def test_execute_with_raising_policy_uses_default_and_logs_once(
        harness, caplog):
    job = Job(lifecyclejobs.conflict_once, 'policy')
    job.retry_policy_factory = _RaisingPolicy
    harness.put(job)
    other = harness.put(Job(lifecyclejobs.record, 'other'))
    harness.claim(2)
    harness.run_one()
    harness.run_one()
    harness.fresh(job)
    # The default policy retried the ConflictError at once.
    assert job.result == 'policy'
    assert job.retry_counts == {'transient': 1}
    assert other.result == 'other'
    errors_logged = [r for r in caplog.records if r.levelname == 'ERROR']
    assert len(errors_logged) == 1
    assert job.key in errors_logged[0].getMessage()


# -- E: a job that returns itself, or a cycle ---------------------------------

def test_execute_job_returning_itself_fails(harness):
    job = harness.put(Job(lifecyclejobs.return_self))
    harness.claim()
    harness.run_one()
    harness.fresh(job)
    assert job.status == 'COMPLETED'
    assert job.result.check(errors.JobCycleError)
    assert job.result.message.startswith(
        'job %s returned itself; a job that returns a job' % job.key)


def test_execute_jobs_returning_each_other_fail(harness):
    first = Job(lifecyclejobs.identity)
    second = Job(lifecyclejobs.identity, first)
    first.args.append(second)
    harness.put(first)
    harness.claim()
    harness.run_one()   # first returns second, which is queued
    harness.tm.begin()
    harness.claim()
    harness.run_one()   # second returns first: a cycle
    harness.fresh(first)
    assert second.result.check(errors.JobCycleError)
    assert 'returned job %s, which waits on it (%s -> %s)' % (
        first.key, first.key, second.key) in second.result.message
    # first finishes with second's result, as any job returning a job.
    assert first.status == 'COMPLETED'
    assert first.result == second.result


# -- F: a Job given as a callback is the callback job -------------------------

def test_addCallback_with_job_runs_it_and_its_callbacks(harness):
    parent = Job(lifecyclejobs.record, 'p')
    chained = Job(lifecyclejobs.record)
    parent.addCallback(chained)
    own = chained.addCallback(Job(lifecyclejobs.identity))
    harness.put(parent)
    harness.claim()
    harness.run_one()
    harness.fresh(parent)
    assert chained.status == 'COMPLETED' and chained.result == 'p'
    assert own.result == 'p'
    assert parent.status == 'COMPLETED'
    # No agent flushes these: the dispatcher records them in the history
    # (the parent completed after its callbacks, its agent let it go).
    assert sorted(harness.dispatcher.finished) == sorted(
        [own.key, chained.key, parent.key])


@pytest.mark.parametrize('fail', [False, True])
def test_addCallbacks_with_jobs_runs_the_chosen_one_as_a_job(harness, fail):
    parent = Job(lifecyclejobs.fail_if, fail)
    success = Job(lifecyclejobs.record)
    failure = Job(lifecyclejobs.identity)
    own = (failure if fail else success).addCallback(
        Job(lifecyclejobs.identity))
    router = parent.addCallbacks(success, failure)
    harness.put(parent)
    harness.claim()
    harness.run_one()  # the chosen job runs right after, in this worker
    harness.fresh(parent)
    assert parent.status == 'COMPLETED'
    chosen, other = (failure, success) if fail else (success, failure)
    assert chosen.status == 'COMPLETED'
    assert len(chosen.attempts) == 1
    assert other.status == 'NEW'
    assert own.result == chosen.result == router.result
    if fail:
        assert chosen.result.check(ValueError)
    else:
        assert chosen.result == 'ok'
        assert lifecyclejobs.calls == ['ok']


# -- K: log lines name the job once; tracebacks start at the job --------------

def test_execute_failure_logged_once_from_job_frame(harness, caplog):
    job = harness.put(Job(lifecyclejobs.fail_if, True))
    harness.claim()
    harness.run_one()
    harness.fresh(job)
    traceback = job.result.getTraceback()
    frames = [line for line in traceback.splitlines()
              if line.strip().startswith('File ')]
    assert len(frames) == 1 and 'lifecyclejobs.py' in frames[0]
    (line,) = [r.getMessage() for r in caplog.records
               if r.levelname == 'ERROR']
    assert line.startswith('dispatcher %s: job %s (lifecyclejobs.fail_if)'
                           ' failed:\n' % (UUID, job.key))
    assert '``' not in line and line.count(job.key) == 1


def test_execute_wo_importable_class_of_method_owner_retried(
        harness, tmp_path, monkeypatch):
    import importlib
    import sys
    directory = tmp_path / 'owner_path'
    directory.mkdir()
    source = directory / 'vanishing_cls.py'
    source.write_text('import persistent\n'
                      'class Greeter(persistent.Persistent):\n'
                      '    def greet(self, name):\n'
                      '        return "hi " + name\n')
    monkeypatch.syspath_prepend(str(directory))
    module = importlib.import_module('vanishing_cls')
    harness.conn.root()['greeter'] = greeter = module.Greeter()
    job = harness.put(Job(greeter.greet, 'you'))
    sys.path.remove(str(directory))
    del sys.modules['vanishing_cls']
    source.unlink()
    importlib.invalidate_caches()
    harness.claim()
    harness.run_one()
    harness.fresh(job)
    assert job.status == 'PENDING'  # rescheduled by its policy
    assert 'cannot import vanishing_cls.Greeter in this process' in \
        job.attempts[0]['outcome']
