"""``zc-asyncui status``: the queues and dispatchers at a glance.

Per queue: pending jobs that are due, scheduled ones (begin_after in the
future), active ones (held by agents, running), and the latency: the age
of the oldest due job (how long it has been waiting since it could
start).  Per dispatcher and queue: alive, dead or inactive, its last
ping, and the jobs its agents hold; the ACTIVE jobs of a dead dispatcher
are marked, as recovery will retry them.  ``--json`` prints the same as
one object.
"""
import json

import transaction

from zc.asyncui import utils
from zc.asyncui.cli import jobinfo
from zc.asyncui.cli import put
from zc.asyncui.cli import server
from zc.asyncui.job import JobStatus


def _queue_info(name, queue, now):
    due = scheduled = 0
    oldest = None
    for job in queue:
        start = job.begin_after or job.put_time
        if job.begin_after is not None and job.begin_after > now:
            scheduled += 1
            continue
        due += 1
        if start is not None and (oldest is None or start < oldest):
            oldest = start
    active = sum(1 for record in queue.dispatchers.values()
                 for agent in record.values() for job in agent
                 if job.status == JobStatus.ACTIVE)
    return {'name': name, 'pending': due, 'scheduled': scheduled,
            'active': active,
            'latency_seconds': (None if oldest is None else round(
                max(0.0, (now - oldest).total_seconds()), 3))}


def _dispatcher_info(name, record, now):
    state = record.livenessState(now)
    held = []
    for agent_name, agent in sorted(record.items()):
        for job in agent:
            status = job.status.value
            held.append({'key': job.key, 'status': status,
                         'agent': agent_name,
                         'dead_dispatcher': state == 'dead'
                         and status == JobStatus.ACTIVE.value})
    return {'uuid': str(record.UUID), 'queue': name, 'state': state,
            'host': record.host, 'pid': record.pid,
            'last_ping': jobinfo._iso(record.last_ping),
            'jobs': held}


def collect(conn, now):
    """The status as a dict of JSON-friendly values."""
    queues = put.get_queues(conn)
    info = {'now': now.isoformat(), 'queues': [], 'dispatchers': []}
    for name in sorted(queues):
        queue = queues[name]
        info['queues'].append(_queue_info(name, queue, now))
        for uuid, record in sorted(queue.dispatchers.items()):
            info['dispatchers'].append(_dispatcher_info(name, record, now))
    return info


def format_text(info):
    lines = []
    for q in info['queues']:
        lines.append('queue %r: %d pending, %d scheduled, %d active,'
                     ' latency %s' % (
                         q['name'], q['pending'], q['scheduled'],
                         q['active'], '-' if q['latency_seconds'] is None
                         else '%.1fs' % q['latency_seconds']))
    for d in info['dispatchers']:
        lines.append('dispatcher %s (queue %r): %s, last ping %s, pid %s'
                     ' on %s, %d job%s held' % (
                         d['uuid'], d['queue'], d['state'],
                         d['last_ping'] or '-', d['pid'] or '-',
                         d['host'] or '-', len(d['jobs']),
                         '' if len(d['jobs']) == 1 else 's'))
        for job in d['jobs']:
            lines.append('  %s  %s  agent %s%s' % (
                job['key'], job['status'], job['agent'],
                '  (its dispatcher is dead: recovery retries it)'
                if job['dead_dispatcher'] else ''))
    return lines


def status_command(args):
    """``zc-asyncui status``."""
    db, _ = server.open_tool_database(args)
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        try:
            info = collect(conn, utils.now())
        finally:
            tm.abort()
            conn.close()
    finally:
        server.close_database(db)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        for line in format_text(info):
            print(line)
    return 0
