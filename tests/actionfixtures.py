"""Fixtures of the action, agent, dispatcher and security tests: a
functional layer on the project's ftesting.zcml (its principals: mgr,
with zc.asyncui.Manage; viewer, with zc.asyncui.View only; user, with
neither) whose dispatcher has no agent, so jobs stay where a test puts
them; and a database holding one object of every kind the pages show.
"""
import datetime
import os

import transaction  # noqa: F401 (tests use fx.transaction)

import zc.asyncui
from zc.asyncui import history
from zc.asyncui import lifecycle
from zc.asyncui import testing
from zc.asyncui import utils
from zc.asyncui.agent import Agent
from zc.asyncui.browser import traversal
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job

import jobs
import testbrowsers

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = 'http://localhost/++async++'
MANAGER, VIEWER, USER = 'mgr:mgrpw', 'viewer:viewerpw', 'user:userpw'
#: A dispatcher that ran once and died (its record is old and silent).
DEAD_UUID = 'deadbeef-0000-4000-8000-00000000dead'

layer = testing.FunctionalLayer(
    os.path.join(HERE, '..', 'ftesting.zcml'), name='actions',
    dispatcher_settings=dict(poll_interval=0.05, ping_interval=1.0,
                             ping_death_interval=10.0, main_agent_size=0),
    queue_names=('', 'other'))


def browser(layer, login=MANAGER):
    return testbrowsers.browser_for(layer, login)


def status(b):
    return int(b.headers['status'].split()[0])


def _take(queue, job):
    assert queue.claim(lambda candidate: candidate is job) is job


def _failed(queue, now, uuid=DEAD_UUID):
    job = queue.put(Job(jobs.fail))
    _take(queue, job)
    lifecycle.start(job, uuid, 'worker', now)
    lifecycle.set_result(job, Failure(ValueError('boom')), now)
    return job


def populate(layer):
    """One object of each kind, committed; returns their keys and names:
    pending, scheduled, retrying (waiting for a retry), failed, succeeded
    jobs, and a dead dispatcher with an agent 'worker' holding a job."""
    root = layer.getRootFolder()
    conn = root._p_jar
    queues = zc.asyncui.getQueues(conn)
    queue = queues['']
    now = utils.now()
    later = now + datetime.timedelta(hours=1)
    made = {}
    made['pending'] = queue.put(Job(jobs.add, 1, 2))
    made['scheduled'] = queue.put(Job(jobs.add, 3, 4), begin_after=later)
    retrying = made['retrying'] = queue.put(Job(jobs.fail))
    _take(queue, retrying)
    lifecycle.start(retrying, DEAD_UUID, 'worker', now)
    lifecycle.close_attempt(retrying, now, 'ValueError: boom')
    lifecycle.requeue(retrying)
    queue.reschedule(retrying, later)
    made['failed'] = _failed(queue, now)
    succeeded = made['succeeded'] = queue.put(Job(jobs.add, 5, 6))
    _take(queue, succeeded)
    lifecycle.start(succeeded, DEAD_UUID, 'worker', now)
    lifecycle.set_result(succeeded, 11, now)
    record = queue.getDispatcherAgents(DEAD_UUID, create=True)
    record.activate('deadhost', 4242, 'token', now - datetime.timedelta(
        hours=2))
    record['worker'] = agent = Agent(size=2)
    held = made['held'] = queues['other'].put(Job(jobs.add, 7, 8))
    made['other'] = held
    record2 = queues['other'].getDispatcherAgents(DEAD_UUID, create=True)
    record2.activate('deadhost', 4242, 'token', now - datetime.timedelta(
        hours=2))
    record2['worker'] = other_agent = Agent(size=1)
    assert other_agent.claimJobs(1) == [held]
    # As a dispatcher's poll records finished jobs (the list pages read
    # the history).
    history.record(conn, [made['failed'], succeeded], DEAD_UUID)
    transaction.commit()
    keys = {name: job.key for name, job in made.items()}
    keys['agent'] = agent
    return keys


def job_url(key):
    return '%s/jobs/%s' % (BASE, key)


def queue_url(name=''):
    return '%s/queues/%s' % (BASE, traversal.name_to_segment(name))


def dispatcher_url(uuid, queue=''):
    return '%s/dispatchers/%s' % (queue_url(queue), uuid)


def agent_url(uuid, name, queue=''):
    return '%s/%s' % (dispatcher_url(uuid, queue), name)
