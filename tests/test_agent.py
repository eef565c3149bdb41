"""Unit tests of zc.asyncui.agent."""
import datetime
import logging

import pytest
import transaction

import zc.asyncui
from zc.asyncui import agent as agent_module
from zc.asyncui import errors
from zc.asyncui import testing
from zc.asyncui.agent import Agent
from zc.asyncui.job import Job

import jobs

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
UUID = 'd1d1d1d1-0000-4000-8000-000000000001'


def last_one(agent, jobs):
    """A chooser: the last eligible job."""
    return jobs[-1]


def choose_nothing(agent, jobs):
    return None


def _agent(queue, name='main', **kw):
    record = queue.getDispatcherAgents(UUID, create=True)
    record[name] = agent = Agent(**kw)
    return agent


def _put(queue, *tags, **kw):
    return [queue.put(Job(jobs.record, tag), **kw) for tag in tags]


def _tags(items):
    return [job.args[0] for job in items]


def _open(db):
    tm = transaction.TransactionManager()
    return db.open(tm), tm


# -- construction --------------------------------------------------------

def test_init_defaults():
    agent = Agent()
    assert agent.size == 3
    assert agent.filter is None and agent.chooser is None
    assert agent.retry_policy_factory is None
    assert agent.completed_max_count == (
        agent_module.DEFAULT_COMPLETED_MAX_COUNT)
    assert agent.completed_max_age == agent_module.DEFAULT_COMPLETED_MAX_AGE
    assert agent.queue is None
    assert agent.dispatcher_record is None
    assert len(agent) == 0


def test_init_keyword_only():
    with pytest.raises(TypeError):
        Agent(3)


@pytest.mark.parametrize('size', [-1, True, '3', 1.5, None])
def test_init_wo_valid_size(size):
    with pytest.raises(errors.ConfigurationError) as info:
        Agent(size=size)
    assert 'agent size must be an int >= 0' in str(info.value)


def test_init_size_zero_pauses():
    assert Agent(size=0).size == 0


def test_init_wo_callable_filter():
    with pytest.raises(errors.ConfigurationError,
                       match='agent filter must be callable'):
        Agent(filter='everything')


def test_init_wo_storable_filter():
    with pytest.raises(errors.UnpicklableCallableError) as info:
        Agent(filter=lambda job: True)
    assert 'the agent filter' in str(info.value)


def test_init_wo_storable_chooser():
    def nested(agent, jobs):
        return None
    with pytest.raises(errors.UnpicklableCallableError):
        Agent(chooser=nested)


def test_init_wo_valid_completed_max_count():
    with pytest.raises(errors.ConfigurationError,
                       match='completed_max_count must be an int >= 0'):
        Agent(completed_max_count=-1)
    with pytest.raises(errors.ConfigurationError, match='not None'):
        Agent(completed_max_count=None)


def test_repr_and_name(queue):
    agent = _agent(queue, 'workers', size=2)
    assert repr(agent) == "<Agent 'workers' size=2>"
    assert agent.__name__ == 'workers'
    assert agent.queue is queue
    assert agent.dispatcher_record is queue.getDispatcherAgents(UUID)


# -- claiming --------------------------------------------------------------

def test_claimJob(queue):
    agent = _agent(queue)
    (job,) = _put(queue, 'a')
    assert agent.claimJob() is job
    assert job in agent
    assert job.status == 'ASSIGNED'
    assert agent.claimJob() is None


def test_claimJobs_in_claim_order(queue):
    agent = _agent(queue)
    _put(queue, 'a', 'b')
    _put(queue, 'urgent', priority=5)
    assert _tags(agent.claimJobs(2)) == ['urgent', 'a']
    assert len(agent) == 2
    assert len(queue) == 1


def test_claimJobs_with_filter(queue):
    agent = _agent(queue, filter=jobs.accept_record_jobs)
    noop = queue.put(jobs.noop)
    (record,) = _put(queue, 'r')
    assert agent.claimJobs(5) == [record]
    assert list(queue) == [noop]


def test_claimJobs_with_chooser(queue):
    agent = _agent(queue, chooser=last_one)
    _put(queue, 'a', 'b', 'c')
    assert _tags(agent.claimJobs(2)) == ['c', 'b']
    assert _tags(queue) == ['a']
    assert len(queue) == 1


def test_claimJobs_with_chooser_and_filter(queue):
    agent = _agent(queue, chooser=last_one, filter=jobs.accept_record_jobs)
    _put(queue, 'a', 'b')
    queue.put(jobs.noop)
    assert _tags(agent.claimJobs(1)) == ['b']


def test_claimJobs_with_chooser_takes_expired_job_whatever_the_filter(queue):
    agent = _agent(queue, chooser=last_one, filter=jobs.reject_all)
    past = datetime.datetime.now(UTC) - datetime.timedelta(hours=1)
    expired = queue.put(jobs.noop, begin_after=past,
                        begin_by=datetime.timedelta(seconds=1))
    assert agent.claimJobs(1) == [expired]
    assert len(queue) == 0


def test_claimJobs_with_chooser_wo_due_jobs(queue):
    agent = _agent(queue, chooser=last_one)
    queue.put(jobs.noop, begin_after=datetime.datetime.now(UTC)
              + datetime.timedelta(days=1))
    assert agent.claimJobs(1) == []
    assert len(queue) == 1


def test_claimJobs_with_chooser_choosing_nothing(queue):
    agent = _agent(queue, chooser=choose_nothing)
    _put(queue, 'a')
    assert agent.claimJob() is None
    assert len(queue) == 1


def test_claimJobs_chooser_window(queue, monkeypatch):
    monkeypatch.setattr(agent_module, 'CHOOSER_WINDOW', 2)
    seen = []

    def spy(agent, candidates):
        seen.append(len(candidates))
        return candidates[0]
    agent = _agent(queue)
    agent.chooser = spy
    _put(queue, 'a', 'b', 'c')
    agent.claimJob()
    assert seen == [2]


# -- holding -----------------------------------------------------------------

def test_len_iter_contains_heldOids(queue):
    agent = _agent(queue)
    a, b = _put(queue, 'a', 'b')
    agent.claimJobs(2)
    assert len(agent) == 2
    assert set(agent) == {a, b}
    assert a in agent and b in agent
    assert sorted(agent.heldOids()) == sorted([a._p_oid, b._p_oid])


def test_remove(queue):
    agent = _agent(queue)
    (job,) = _put(queue, 'a')
    agent.claimJob()
    agent.remove(job)
    assert job not in agent
    assert len(agent) == 0


def test_remove_wo_held_job_is_noop(queue, caplog):
    # Seed item 1: never "not in Agent".
    agent = _agent(queue)
    (job,) = _put(queue, 'a')
    with caplog.at_level(logging.DEBUG, logger='zc.asyncui.agent'):
        agent.remove(job)
        agent.remove(job)
    assert len(agent) == 0
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["agent 'main': job %s was not held (already"
                        " removed)" % job.key] * 2
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_remove_keeps_job_agent(queue):
    agent = _agent(queue)
    (job,) = _put(queue, 'a')
    agent.claimJob()
    job._agent = agent
    agent.remove(job)
    assert job.agent is agent


def _main_agent(connection):
    return zc.asyncui.getQueue(connection).getDispatcherAgents(UUID)['main']


def _remover(job):
    return lambda c: _main_agent(c).remove(c.get(job._p_oid))


def test_remove_concurrent_different_jobs_no_conflict(
        db, conn, queue, concurrently):
    agent = _agent(queue, size=10)
    _put(queue, *range(6))
    held = agent.claimJobs(6)
    conn.transaction_manager.commit()
    for first, second in ((0, 1), (2, 3), (4, 5)):
        # No ConflictError, even when the tree empties.
        concurrently(_remover(held[first]), _remover(held[second]))
    conn.transaction_manager.begin()
    assert len(agent) == 0
    assert list(agent) == []


def test_claim_concurrent_with_remove_no_conflict(
        db, conn, queue, concurrently):
    agent = _agent(queue, size=10)
    _put(queue, 'a', 'b')
    (held,) = agent.claimJobs(1)
    conn.transaction_manager.commit()
    concurrently(_remover(held), lambda c: _main_agent(c).claimJob())
    conn.transaction_manager.begin()
    assert _tags(agent) == ['b']


# -- completions -------------------------------------------------------------

def _complete(agent, job, when):
    job._end_ts = when.timestamp()
    agent.jobCompleted(job)


def test_jobCompleted_records_newest_first(queue):
    agent = _agent(queue)
    a, b, c = _put(queue, 'a', 'b', 'c')
    agent.claimJobs(3)
    _complete(agent, b, T0)
    _complete(agent, a, T0 + datetime.timedelta(seconds=2))
    _complete(agent, c, T0 + datetime.timedelta(seconds=1))
    assert len(agent) == 0
    assert agent.recentCompletions() == [a, c, b]
    assert agent.completed == [a, c, b]
    assert agent.recentCompletions(limit=2) == [a, c]


def test_jobCompleted_idempotent(queue):
    agent = _agent(queue)
    (job,) = _put(queue, 'a')
    agent.claimJob()
    _complete(agent, job, T0)
    _complete(agent, job, T0)
    assert agent.recentCompletions() == [job]


def test_jobCompleted_uses_callbacks_time(queue):
    agent = _agent(queue)
    a, b = _put(queue, 'a', 'b')
    a._end_ts = T0.timestamp()
    a._callbacks_ts = (T0 + datetime.timedelta(seconds=5)).timestamp()
    b._end_ts = (T0 + datetime.timedelta(seconds=1)).timestamp()
    agent.jobCompleted(a)
    agent.jobCompleted(b)
    assert agent.recentCompletions() == [a, b]


def test_recordCompletions_with_zero_max_count(queue):
    agent = _agent(queue, completed_max_count=0)
    (job,) = _put(queue, 'a')
    _complete(agent, job, T0)
    assert agent.recentCompletions() == []


def test_pruneCompleted_by_count(queue):
    agent = _agent(queue, completed_max_count=2)
    done = _put(queue, *range(5))
    for n, job in enumerate(done):
        _complete(agent, job, T0 + datetime.timedelta(seconds=n))
    assert agent.pruneCompleted(now=T0) == 3
    assert agent.recentCompletions() == [done[4], done[3]]
    assert agent.pruneCompleted(now=T0) == 0


def test_pruneCompleted_by_age(queue):
    agent = _agent(queue, completed_max_age=datetime.timedelta(hours=1))
    old, older, fresh = _put(queue, 'old', 'older', 'fresh')
    _complete(agent, older, T0)
    _complete(agent, old, T0 + datetime.timedelta(minutes=30))
    _complete(agent, fresh, T0 + datetime.timedelta(hours=2))
    with testing.FakeClock(T0 + datetime.timedelta(hours=2, minutes=1)):
        assert agent.pruneCompleted() == 2
    assert agent.recentCompletions() == [fresh]


def test_pruneCompleted_by_age_and_count(queue):
    agent = _agent(queue, completed_max_age=datetime.timedelta(hours=1),
                   completed_max_count=1)
    done = _put(queue, *range(4))
    _complete(agent, done[0], T0 - datetime.timedelta(hours=5))
    for n, job in enumerate(done[1:]):
        _complete(agent, job, T0 + datetime.timedelta(seconds=n))
    assert agent.pruneCompleted(now=T0 + datetime.timedelta(minutes=1)) == 3
    assert agent.recentCompletions() == [done[3]]


# -- the share of claims of several dispatchers (issue 11) ----------------

def _record(queue, uuid, active=True, **agents):
    record = queue.getDispatcherAgents(uuid, create=True)
    if active:
        record.activate('host', 1, 'token')
    for name, size in agents.items():
        record[name] = Agent(size=size)
    return record


def test_claim_share_among_claiming_dispatchers(queue):
    a = _record(queue, 'a', main=3)
    idle = _record(queue, 'b', main=0)          # claims nothing
    c = _record(queue, 'c', main=0, other=2)
    stopped = _record(queue, 'd', active=False, main=3)
    assert agent_module.claim_share(queue, a) == (0, 2)
    assert agent_module.claim_share(queue, c) == (1, 2)
    assert agent_module.claim_share(queue, idle) is None
    assert agent_module.claim_share(queue, stopped) is None
    c['other'].active = False
    assert agent_module.claim_share(queue, a) == (0, 1)


def test_claims_of_two_agents_take_distinct_trees(queue):
    first = _record(queue, 'a', main=3)['main']
    second = _record(queue, 'b', main=3)['main']
    put = _put(queue, *range(300))
    claimed = [first.claimJobs(30), second.claimJobs(30)]
    shards = len(queue._due)
    for n, jobs_ in enumerate(claimed):
        assert 15 <= len(jobs_) <= 30
        assert {j._p_oid[-1] % shards % 2 for j in jobs_} == {n}
    assert len(queue) == len(put) - len(claimed[0]) - len(claimed[1])
