"""``zc-asyncui status``: the queues and dispatchers at a glance.

Per queue: pending jobs that are due, scheduled ones (begin_after in the
future), active ones (held by agents, running), and the latency: the age
of the oldest due job (how long it has been waiting since it could
start).  Per dispatcher and queue: alive, dead or inactive, its last
ping, and the jobs its agents hold; the ACTIVE jobs of a dead dispatcher
are marked, as recovery will retry them.  Then the history: how many
finished jobs it keeps, and its retention.  ``--json`` prints the same as
one object.  The numbers come from zc.asyncui.queries.status (shared
with ``asyncdb`` and the web pages).
"""
import json

import transaction

from zc.asyncui import queries
from zc.asyncui import utils
from zc.asyncui.cli import put
from zc.asyncui.cli import server


def collect(conn, now):
    """The status as plain data (queries.status); CommandError when the
    database has no queues."""
    put.get_queues(conn)   # the shell's message when none are installed
    return queries.status(conn, now)


def format_text(info):
    """Lines of ``collect``'s dict, for people."""
    lines = []
    for q in info['queues']:
        lines.append('queue %r: %d pending, %d scheduled, %d active,'
                     ' latency %s%s' % (
                         q['name'], q['pending'], q['scheduled'],
                         q['active'], '-' if q['latency_seconds'] is None
                         else '%.1fs' % q['latency_seconds'],
                         ', PAUSED (nothing is claimed until it is'
                         ' resumed)' if q.get('paused') else ''))
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
    h = info.get('history')
    if h is not None:
        lines.append('history: %d finished jobs kept (at most %d, %g days)'
                     '%s' % (h['jobs'], h['max_count'],
                             h['max_age_seconds'] / 86400,
                             ', %d cancelled ones to record' % h['noted']
                             if h['noted'] else ''))
    return lines


def status_command(args):
    """``zc-asyncui status``."""
    db, _ = server.open_for_tool(args.path, args.zeo, args.storage,
                                 args.connect_timeout)
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        try:
            info = collect(conn, utils.now())
        finally:
            tm.abort()
            conn.close()
    finally:
        db.close()
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        for line in format_text(info):
            print(line)
    return 0
