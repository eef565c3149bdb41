"""The whole installation at a glance, as plain data: each queue's
counts and latency, each dispatcher's record in each queue (liveness,
agents, the jobs they hold), the history's size and retention.  What
``zc-asyncui status``, the monitor and the overview page show.

Counted from keys where it can be, so it stays cheap with many pending
jobs.  Never commits, never writes.  Layer: configuration (part of
``zc.asyncui.queries``, which re-exports every public name).
"""
from zc.asyncui import history
from zc.asyncui import queueroot
from zc.asyncui import utils
from zc.asyncui.job import JobStatus
from zc.asyncui.queries.jobdetail import describe_call
from zc.asyncui.queries.jobdetail import iso

def _seconds(delta):
    return round(max(0.0, delta.total_seconds()), 3)


def queue_row(name, queue, now):
    """One queue as plain data: name, pending (due now), scheduled
    (begin_after in the future), active (held by agents and running),
    held (held by agents, any status), dispatchers (how many are
    recorded), latency_seconds (how long the oldest due job has waited
    since it could start; None when none is due), paused (True while no
    job is claimed from it: IQueue.pause)."""
    # Counted from the queue's keys (Queue.countScheduled, oldestDue):
    # no pending job is loaded, so this stays cheap with 100,000 of them.
    scheduled = queue.countScheduled(now)
    due = len(queue) - scheduled
    oldest = queue.oldestDue(now)
    held = [job for record in queue.dispatchers.values()
            for agent in record.values() for job in agent]
    return {'name': name, 'pending': due, 'scheduled': scheduled,
            'active': sum(1 for job in held
                          if job.status == JobStatus.ACTIVE),
            'held': len(held), 'dispatchers': len(queue.dispatchers),
            'latency_seconds': (None if oldest is None
                                else _seconds(now - oldest)),
            'paused': bool(queue.paused)}


def queue_summary(conn, now=None):
    """``queue_row`` of every queue, by name.  NotInstalledError when
    the database has no queues."""
    now = now or utils.now()
    queues = queueroot.getQueues(conn)
    return [queue_row(name, queues[name], now) for name in sorted(queues)]


def dispatcher_row(queue_name, record, now):
    """One dispatcher's record in one queue as plain data: uuid, queue,
    state ('alive', 'dead': no ping within its ping death interval, or
    'inactive'), host, pid, activated, last_ping, since_ping_seconds,
    ping_interval_seconds, ping_death_interval_seconds, agents (dicts:
    name, size, held, filter: its repr or None) and jobs (what its
    agents hold, dicts: key, status, agent, call, dead_dispatcher: True
    for an ACTIVE job of a dead dispatcher, which recovery will retry
    when a live dispatcher notices)."""
    state = record.livenessState(now)
    held, agents = [], []
    for agent_name, agent in sorted(record.items()):
        jobs = list(agent)
        agents.append({'name': agent_name, 'size': agent.size,
                       'held': len(jobs), 'filter': None
                       if agent.filter is None else repr(agent.filter)})
        for job in jobs:
            status = job.status.value
            held.append({'key': job.key, 'status': status,
                         'agent': agent_name, 'call': describe_call(job),
                         'dead_dispatcher': state == 'dead'
                         and status == JobStatus.ACTIVE.value})
    last = record.last_ping
    return {'uuid': str(record.UUID), 'queue': queue_name, 'state': state,
            'host': record.host, 'pid': record.pid,
            'activated': iso(record.activated), 'last_ping': iso(last),
            'since_ping_seconds': None if last is None
            else _seconds(now - last),
            'ping_interval_seconds': record.ping_interval,
            'ping_death_interval_seconds': record.ping_death_interval,
            'agents': agents, 'jobs': held}


def dispatcher_rows(conn, now=None):
    """``dispatcher_row`` of every dispatcher recorded in every queue
    (activated or not), by queue name then UUID: a dispatcher serving
    three queues has three rows."""
    now = now or utils.now()
    queues = queueroot.getQueues(conn)
    return [dispatcher_row(name, record, now)
            for name in sorted(queues)
            for uuid, record in sorted(queues[name].dispatchers.items())]


def history_summary(conn):
    """The history of finished jobs as plain data: jobs (how many it
    keeps now), max_count, max_age_seconds (its retention), noted (jobs
    cancelled before they started that wait for a poll to record them);
    None when the database has no history.  Reads no job."""
    found = history.get(conn)
    if found is None:
        return None
    return {'jobs': len(found), 'max_count': found.max_count,
            'max_age_seconds': found.max_age.total_seconds(),
            'noted': found.notedCount()}


def status(conn, now=None):
    """{'now': ISO time, 'queues': queue_summary, 'dispatchers':
    dispatcher_rows, 'history': history_summary}: what ``zc-asyncui
    status`` and the overview page show."""
    now = now or utils.now()
    return {'now': iso(now), 'queues': queue_summary(conn, now),
            'dispatchers': dispatcher_rows(conn, now),
            'history': history_summary(conn)}
