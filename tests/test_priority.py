"""The claim order of due jobs (issue 8): strict priority, then FIFO by
arrival, which is why no job waits behind jobs of its own or a lower
priority put after it.  See IQueue."""
import datetime

from zc.asyncui.agent import Agent
from zc.asyncui.job import Job

import jobs

UUID = '00000000-0000-0000-0000-00000000cafe'


def _put(queue, clock, tag, **kw):
    job = queue.put(Job(jobs.record, tag), **kw)
    clock.advance(seconds=1)
    return job


def _tags(got):
    return [job.args[0] for job in got]


def test_default_agent_claims_highest_priority_first(queue, clock):
    record = queue.getDispatcherAgents(UUID, create=True)
    record['main'] = agent = Agent(size=10)
    for tag, priority in [('low', -5), ('a', 0), ('urgent', 9), ('b', 0),
                          ('high', 3)]:
        _put(queue, clock, tag, priority=priority)
    assert _tags(agent.claimJobs(10)) == ['urgent', 'high', 'a', 'b', 'low']


def test_fifo_within_a_priority_under_a_steady_stream(queue, clock):
    # One claim per round while a new job of the same priority arrives
    # each round: the first one put is never passed.
    _put(queue, clock, 'first')
    order = []
    for n in range(5):
        _put(queue, clock, 'later-%d' % n)
        order.extend(_tags([queue.claim()]))
    assert order == ['first', 'later-0', 'later-1', 'later-2', 'later-3']


def test_lower_priority_runs_once_no_higher_one_is_due(queue, clock):
    _put(queue, clock, 'low', priority=-1)
    _put(queue, clock, 'normal')
    assert _tags([queue.claim()]) == ['normal']
    assert _tags([queue.claim()]) == ['low']


def test_arrival_is_the_later_of_put_and_begin_after(queue, clock):
    # A job put long ago to begin later arrives when it becomes due: it
    # does not jump ahead of same-priority jobs that were due before.
    later = _put(queue, clock, 'scheduled',
                 begin_after=clock() + datetime.timedelta(seconds=5))
    _put(queue, clock, 'due-1')
    clock.advance(seconds=10)
    _put(queue, clock, 'due-2')
    assert later.begin_after < clock()
    assert _tags(queue.claimMany(3)) == ['due-1', 'scheduled', 'due-2']


def test_priority_beats_age_among_due_jobs(queue, clock):
    _put(queue, clock, 'old', priority=0)
    clock.advance(seconds=3600)
    _put(queue, clock, 'new-urgent', priority=1)
    assert _tags(queue.claimMany(2)) == ['new-urgent', 'old']
