"""The dispatcher page (``/++async++/queues/<queue>/dispatchers/<uuid>``,
JSON twin ``@@dispatcher.json``): the dispatcher's UUID, host, pid,
activation and pings, its record and agents in every queue, and -- when
it runs in this process -- its recent polls and what each claimed (kept
in memory by the dispatcher, zc.asyncui.dispatcherstate).  A dead
dispatcher gets the button that deactivates it and recovers its jobs
(``@@deactivate``, zc.asyncui.browser.actions).
"""

import zope.publisher.browser
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import dispatcher as dispatcher_module
from zc.asyncui import utils
from zc.asyncui.browser import base
from zc.asyncui.browser import csrf
from zc.asyncui.browser import format
from zc.asyncui.browser import operations
from zc.asyncui.browser import traversal
from zc.asyncui.browser.actions import unwrap

#: Polls listed at most.
POLLS_SHOWN = 50
#: Job keys listed per agent and poll at most.
CLAIMS_SHOWN = 20


def _record_row(queue_name, record, request, now):
    return {
        'queue': queue_name,
        'queue_url': traversal.queue_url(request, queue_name),
        'url': traversal.dispatcher_url(request, queue_name, record.UUID),
        'state': record.livenessState(now),
        'activated': format.format_time(record.activated),
        'last_ping': format.format_time(record.last_ping),
        'last_seen_age': format.format_age(record.lastSeen(), now),
        'ping_interval': format.format_duration(record.ping_interval),
        'ping_death_interval': format.format_duration(
            record.ping_death_interval),
        'agents': [{
            'name': name, 'size': agent.size, 'held': len(agent),
            'active': bool(agent.active),
            'url': traversal.agent_url(request, queue_name, record.UUID,
                                       name)}
            for name, agent in record.items()],
    }


def running_dispatcher(uuid, db):
    """The dispatcher ``uuid`` if it runs in this process on ``db``, or
    None."""
    try:
        found = dispatcher_module.get(uuid)
    except (ValueError, TypeError):
        return None
    if found is None or found.db is not db:
        return None
    return found


def _poll_rows(running, request):
    rows = []
    for poll in list(running.state.polls)[:POLLS_SHOWN]:
        claims = []
        for queue_name, info in sorted(poll['queues'].items()):
            if not info['activated']:
                claims.append({'queue': queue_name, 'agent': None,
                               'jobs': [], 'more': 0,
                               'note': 'not active in this queue'})
            for agent_name, keys in sorted(info['claimed'].items()):
                claims.append({
                    'queue': queue_name, 'agent': agent_name, 'note': '',
                    'jobs': [{'key': k, 'url': traversal.job_url(request, k)}
                             for k in keys[:CLAIMS_SHOWN]],
                    'more': max(0, len(keys) - CLAIMS_SHOWN)})
        rows.append({'number': poll['number'],
                     'time': format.format_time(poll['time']),
                     'claims': claims})
    return rows


def dispatcher_data(record, request, now=None):
    """Everything the dispatcher page shows, as plain data."""
    now = now or utils.now()
    queue = record.queue
    queues = queue.__parent__
    records = operations.records_of(queues, record.UUID)
    running = running_dispatcher(record.UUID, queue._p_jar.db())
    states = {r.livenessState(now) for r in records.values()}
    return {
        'uuid': record.UUID, 'host': record.host or '-',
        'pid': record.pid or '-', 'queue': queue.name,
        'state': record.livenessState(now),
        'dead': 'dead' in states and 'alive' not in states,
        'records': [_record_row(name, r, request, now)
                    for name, r in records.items()],
        'in_this_process': running is not None,
        'polls': _poll_rows(running, request) if running else [],
        'poll_count': running.state.poll_count if running else None,
    }


class DispatcherPage(zope.publisher.browser.BrowserPage):
    """The dispatcher page (see dispatcher_data)."""

    template = ViewPageTemplateFile('templates/dispatcher.pt')

    def __call__(self):
        record = unwrap(self.context)
        self.data = dispatcher_data(record, self.request)
        self.deactivate_url = traversal.dispatcher_url(
            self.request, record.queue.name, record.UUID) + '/@@deactivate'
        self.token = csrf.token(self.request) if self.data['dead'] else None
        return self.template()


class DispatcherJSON(zope.publisher.browser.BrowserPage):
    """``@@dispatcher.json``: dispatcher_data as JSON."""

    def __call__(self):
        return base.json_response(
            self.request, dispatcher_data(unwrap(self.context), self.request))
