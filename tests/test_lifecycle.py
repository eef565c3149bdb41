"""The one owner of job state: the table of allowed status moves."""
import ast
import datetime
import inspect
import os

import pytest
import zope.event

import jobs
import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import events
from zc.asyncui import lifecycle
from zc.asyncui.job import Job

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)


def _job(status):
    job = Job(jobs.noop)
    job._status = status  # a fixture, not a move
    return job


def test_move_along_the_forward_path():
    job = Job(jobs.noop)
    names = [lifecycle.move(job, to) for to in
             ('PENDING', 'ACTIVE', 'CALLBACKS', 'COMPLETED')]
    assert names == ['put', 'start', 'run callbacks',
                     'complete after callbacks']


@pytest.mark.parametrize('current, to', [
    ('COMPLETED', 'PENDING'), ('COMPLETED', 'NEW'), ('NEW', 'COMPLETED'),
    ('PENDING', 'CALLBACKS'), ('CALLBACKS', 'ACTIVE'), ('COMPLETED', 'ACTIVE'), ('ACTIVE', 'NEW')])
def test_move_not_in_table_refused(current, to):
    job = _job(current)
    with pytest.raises(errors.BadStatusError) as info:
        lifecycle.move(job, to)
    assert 'cannot move from %s to %s' % (current, to) in str(info.value)
    assert info.value.status == current
    assert job._status == current


def test_requeue_of_completed_job_refused(queue):
    job = queue.put(Job(jobs.noop))
    queue.claim()
    lifecycle.start(job, 'd', 'main', T0)
    lifecycle.set_result(job, 1, T0)
    with pytest.raises(errors.BadStatusError):
        queue.putBack(job)
    assert job.status == 'COMPLETED'


def test_set_result_fires_event_from_one_place():
    seen = []
    zope.event.subscribers.append(seen.append)
    try:
        job = _job('ACTIVE')
        lifecycle.set_result(job, 1, T0)
    finally:
        zope.event.subscribers.remove(seen.append)
    assert [type(e) for e in seen] == [events.JobCompleted]
    assert job.status == 'COMPLETED'


def test_new_attempt_wo_active_refused():
    with pytest.raises(errors.BadStatusError, match='expected ACTIVE'):
        lifecycle.new_attempt(_job('PENDING'), 'd', 'retry now')


def test_new_attempt_closes_and_opens():
    job = Job(jobs.noop)
    lifecycle.start(job, 'd', 'main', T0)
    lifecycle.new_attempt(job, 'd', 'retry now: x', T0)
    assert [a['outcome'] for a in job.attempts] == ['retry now: x', None]
    assert [a['agent'] for a in job.attempts] == ['main', 'main']


def test_save_counts_writes_only_changes(conn):
    job = Job(jobs.noop)
    conn.add(job)
    conn.transaction_manager.commit()
    lifecycle.save_counts(job, {})
    assert not job._p_changed
    lifecycle.save_counts(job, {'transient': 1})
    assert job.retry_counts == {'transient': 1}


def test_no_other_module_assigns_job_state():
    # The one-owner rule, enforced: outside lifecycle, only Job.__init__
    # (a new job's first status) assigns a job's status, attempts,
    # result or retry counters.
    owned = {'_status', '_attempts', '_result', 'retry_counts'}
    source = os.path.dirname(zc.asyncui.__file__)
    found = []
    for directory, _, files in os.walk(source):
        for filename in files:
            path = os.path.join(directory, filename)
            if not filename.endswith('.py') or filename == 'lifecycle.py':
                continue
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                targets = getattr(node, 'targets', None) or [
                    getattr(node, 'target', None)]
                found.extend(
                    '%s line %d' % (os.path.relpath(path, source),
                                    node.lineno)
                    for t in targets if isinstance(t, ast.Attribute)
                    and t.attr in owned)
    assert found == ['job.py line %d' % _init_status_line()]


def _init_status_line():
    lines, first = inspect.getsourcelines(Job.__init__)
    return first + next(i for i, line in enumerate(lines)
                        if 'self._status = NEW' in line)


def test_retry_failed_clears_the_result_and_keeps_attempts(queue):
    from zc.asyncui.failure import Failure
    job = queue.put(Job(jobs.noop))
    queue.claim()
    lifecycle.start(job, 'd', 'main', T0)
    lifecycle.set_result(job, Failure(ValueError('x')), T0)
    queue.retry(job)
    assert job.status == 'PENDING' and job.result is None
    assert job.active_end is None and len(job.attempts) == 1
    assert job in queue
    with pytest.raises(errors.BadStatusError):
        queue.retry(job)  # PENDING now


def test_retry_failed_waits_until_its_agent_let_go(queue):
    # A failed job its agent still holds (the dispatcher takes finished
    # jobs off their agent a poll or a few seconds later) is refused:
    # retried now, that late removal would take it off its agent again
    # once claimed, and it would stay ASSIGNED with no worker.
    from zc.asyncui.agent import Agent
    from zc.asyncui.failure import Failure
    record = queue.getDispatcherAgents('d' * 32, create=True)
    record['main'] = agent = Agent()
    job = queue.put(Job(jobs.noop))
    assert agent.claimJobs(1) == [job]
    lifecycle.start(job, 'd', agent, T0)
    lifecycle.set_result(job, Failure(ValueError('x')), T0)
    with pytest.raises(errors.BadStatusError, match='a few seconds'):
        queue.retry(job)
    assert job.status == 'COMPLETED' and job in agent
    agent.remove(job)  # what the dispatcher's poll does
    queue.retry(job)
    assert job.status == 'PENDING' and job in queue


def test_retry_failed_refuses_success_and_callbacks(queue):
    from zc.asyncui.failure import Failure
    ok = queue.put(Job(jobs.noop))
    queue.claim()
    lifecycle.start(ok, 'd', 'main', T0)
    lifecycle.set_result(ok, 1, T0)
    with pytest.raises(errors.BadStatusError, match='successful'):
        lifecycle.retry_failed(ok)
    job = Job(jobs.noop)
    job._status = 'COMPLETED'  # a fixture, not a move
    job._result = Failure(ValueError('x'))
    job._callbacks = (Job(jobs.noop),)
    with pytest.raises(errors.BadStatusError, match='callback'):
        lifecycle.retry_failed(job)
