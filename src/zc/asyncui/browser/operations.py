"""What the management actions do to the engine's objects, apart from
any request: each function checks that its action applies, changes the
objects through the engine's API (``Job.cancel``, ``Queue.retry``,
``Queue.reschedule``, ``Queue.pull``, ``Queue.pause``, ``Agent.
deactivate``, ``DispatcherAgents.deactivate``: zc.asyncui.lifecycle is
still the only writer of a job's state) and returns a sentence saying
what it did.  An action that does not apply raises Refused, whose
message says why and what to do instead; nothing was changed then.

Nothing here commits: the request's transaction does.
"""
import collections

from zc.asyncui import errors
from zc.asyncui import liveness
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import JobStatus


class Refused(Exception):
    """An action does not apply to its object; the message says why and
    what to do instead.  Nothing was changed."""


def _state(job):
    status = job.status
    if status == JobStatus.COMPLETED:
        return ('COMPLETED (failed)' if isinstance(job.result, Failure)
                else 'COMPLETED (succeeded)')
    return str(status)


def _waiting_queue(job, what):
    """The queue where ``job`` waits, or Refused."""
    queue = job.queue
    if queue is not None and job.status == JobStatus.PENDING and (
            job in queue):
        return queue
    if job.status == JobStatus.ASSIGNED or (
            job.status == JobStatus.PENDING and queue is not None):
        raise Refused('Job %s cannot be %s: an agent has already claimed'
                      ' it and it starts shortly.' % (job.key, what))
    raise Refused('Job %s cannot be %s: only a job waiting in a queue can'
                  ' be, and it is %s.' % (job.key, what, _state(job)))


# -- jobs ----------------------------------------------------------------

def cancel_job(job, now=None):
    """A waiting job is completed with a JobCancelledError failure; a
    claimed or running one is asked to stop (Job.cancel)."""
    try:
        job.cancel()
    except errors.BadStatusError:
        raise Refused('Job %s cannot be cancelled: only a waiting, claimed'
                      ' or running job can be, and it is %s.'
                      % (job.key, _state(job))) from None
    if job.status == JobStatus.COMPLETED:
        return 'Job %s was cancelled before it started.' % job.key
    return ('Job %s is %s: it was asked to stop, and its worker stops it'
            ' (it is not called again).' % (job.key, job.status))


def retry_now(job, now=None):
    """A job waiting to be retried later is due now."""
    queue = _waiting_queue(job, 'retried now')
    if not job.attempts:
        raise Refused('Job %s cannot be retried now: it has not run yet,'
                      ' it is not waiting for a retry. To start a'
                      ' scheduled job early, use "run now".' % job.key)
    return _make_due(queue, job, now, 'retry')


def run_now(job, now=None):
    """A job scheduled for later is due now."""
    queue = _waiting_queue(job, 'run now')
    return _make_due(queue, job, now, 'run')


def _make_due(queue, job, now, what):
    now = now or utils.now()
    before = job.begin_after
    if before <= now:
        raise Refused('Job %s is already due (since %s): it starts as soon'
                      ' as an agent is free.' % (job.key, _time(before)))
    queue.reschedule(job, now)
    return 'Job %s is due now (its %s was set for %s).' % (
        job.key, what, _time(before))


def _time(when):
    return when.strftime('%Y-%m-%d %H:%M:%S UTC')


def requeue_failed(job, now=None):
    """A failed job goes back to its queue for a new attempt
    (Queue.retry)."""
    queue = job.queue
    if queue is None:
        raise Refused('Job %s cannot be requeued: it was never put in a'
                      ' queue (a callback, or an inline job). Put a new job'
                      ' instead.' % job.key)
    try:
        queue.retry(job)
    except errors.BadStatusError as e:
        raise Refused(str(e)) from None
    return ('Job %s is waiting in queue %r again, for attempt %d.'
            % (job.key, queue.name, len(job.attempts) + 1))


def remove_job(job, now=None):
    """A waiting job is taken out of its queue and never runs (Queue.pull:
    its status goes back to NEW)."""
    queue = _waiting_queue(job, 'removed')
    queue.pull(job)
    return ('Job %s was removed from queue %r: it will not run (its status'
            ' is NEW; put it again to run it).' % (job.key, queue.name))


#: name -> (button title, function(job, now) -> message).
JOB_ACTIONS = collections.OrderedDict([
    ('cancel', ('Cancel', cancel_job)),
    ('retry-now', ('Retry now', retry_now)),
    ('run-now', ('Run now', run_now)),
    ('requeue', ('Requeue', requeue_failed)),
    ('remove', ('Remove', remove_job)),
])


def apply_to_jobs(action, jobs, now=None):
    """Run job action ``action`` on each of ``jobs``; returns (done,
    refused): the messages of the jobs it applied to, and those of the
    jobs it did not (Refused's messages)."""
    function = JOB_ACTIONS[action][1]
    now = now or utils.now()
    done, refused = [], []
    for job in jobs:
        try:
            done.append(function(job, now))
        except Refused as e:
            refused.append(str(e))
    return done, refused


# -- queues and agents ---------------------------------------------------

def pause_queue(queue):
    if not queue.pause():
        raise Refused('Queue %r is already paused.' % queue.name)
    return ('Queue %r is paused: no dispatcher claims its jobs until it is'
            ' resumed (jobs already claimed or running go on; puts still'
            ' work).' % queue.name)


def resume_queue(queue):
    if not queue.resume():
        raise Refused('Queue %r is not paused.' % queue.name)
    return 'Queue %r is resumed: its jobs are claimed again.' % queue.name


def deactivate_agent(agent):
    if not agent.deactivate():
        raise Refused('Agent %r is already inactive.' % agent.name)
    return ('Agent %r of dispatcher %s is inactive: it claims no job until'
            ' it is activated (the jobs it holds still run).'
            % (agent.name, agent.dispatcher_record.UUID))


def activate_agent(agent):
    if not agent.activate():
        raise Refused('Agent %r is already active.' % agent.name)
    return ('Agent %r of dispatcher %s is active: it claims jobs again.'
            % (agent.name, agent.dispatcher_record.UUID))


QUEUE_ACTIONS = collections.OrderedDict([
    ('pause', ('Pause', pause_queue)),
    ('resume', ('Resume', resume_queue)),
])
AGENT_ACTIONS = collections.OrderedDict([
    ('deactivate', ('Deactivate', deactivate_agent)),
    ('activate', ('Activate', activate_agent)),
])


# -- dispatchers ---------------------------------------------------------

def records_of(queues, uuid):
    """The records of dispatcher ``uuid`` in every queue, by queue
    name."""
    found = collections.OrderedDict()
    for name in sorted(queues):
        record = queues[name].dispatchers.get(uuid)
        if record is not None:
            found[name] = record
    return found


def deactivate_dead_dispatcher(queues, uuid, who, now=None):
    """Deactivate dispatcher ``uuid`` in every queue where it is dead,
    recovering its jobs now (as another dispatcher would once it noticed);
    Refused when it is alive in some queue or inactive everywhere."""
    now = now or utils.now()
    records = records_of(queues, uuid)
    if not records:
        raise Refused('No dispatcher %s has ever run in this database.'
                      % uuid)
    states = {name: r.livenessState(now) for name, r in records.items()}
    alive = [name for name, state in states.items() if state == 'alive']
    if alive:
        record = records[alive[0]]
        raise Refused(
            'Dispatcher %s is alive (it pinged %s, in queue %r): only'
            ' a dead dispatcher can be deactivated here. Stop its process'
            ' (pid %s on %s) instead; it deactivates itself.'
            % (uuid, _time(record.lastSeen()), alive[0], record.pid or '?',
               record.host or '?'))
    dead = [name for name, state in states.items() if state == 'dead']
    if not dead:
        raise Refused('Dispatcher %s is already inactive in every queue:'
                      ' there is nothing to recover.' % uuid)
    messages = []
    for name in dead:
        counts = records[name].deactivate(
            'dead dispatcher %s deactivated through the web by %s'
            % (uuid, who), now)
        messages.append('Dispatcher %s deactivated in queue %r; its jobs:'
                        ' %s.' % (uuid, name,
                                  liveness.describe_outcomes(counts)))
    return messages
