"""The overview at ``/++async++/`` and its JSON twin ``@@overview.json``:
every queue with its pending, scheduled, active and failed counts and its
latency; every dispatcher with its liveness, last ping, uptime, agents
and their fill; throughput and failure graphs of the last hour and day,
drawn as inline SVG from the history's per-minute counters (which survive
restarts).

The page reloads itself every ``refresh`` seconds (a query parameter,
default REFRESH_SECONDS, 0 for never): a small script does it with a
Pause button; without JavaScript a ``<noscript>`` meta refresh does, and
the pause link sets ``refresh=0``.

It needs the permission zc.asyncui.View (browser/configure.zcml).  The
counts come from zc.asyncui.queries (shared with ``zc-asyncui status``
and ``asyncdb``), which reads them from the queues' keys: no pending job
is loaded.
"""
import datetime

import zope.security.proxy
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import history
from zc.asyncui import queries
from zc.asyncui import utils
from zc.asyncui.browser import base
from zc.asyncui.browser import format
from zc.asyncui.browser import listing
from zc.asyncui.browser import traversal

REFRESH_SECONDS = 10
MAX_REFRESH_SECONDS = 3600
DAY = datetime.timedelta(days=1)
#: The graphs: (name, title, span, bucket).
GRAPHS = (('hour', 'Last hour, per minute', datetime.timedelta(hours=1),
           datetime.timedelta(minutes=1)),
          ('day', 'Last 24 hours, per 15 minutes', DAY,
           datetime.timedelta(minutes=15)))
GRAPH_WIDTH, GRAPH_HEIGHT = 600, 120
LABEL_HEIGHT = 14


def _minute(when):
    return when.replace(second=0, microsecond=0)


def graph(conn, title, span, bucket, now):
    """Succeeded and failed jobs per ``bucket`` over the last ``span``
    (from history.counts) as plain data, with the SVG bars to draw."""
    end = _minute(now) + datetime.timedelta(minutes=1)
    n = int(span / bucket)
    start = end - n * bucket
    points = []
    for i in range(n):
        since = start + i * bucket
        c = history.counts(conn, since=since, before=since + bucket)
        points.append({'since': format.iso(since),
                       'succeeded': c['succeeded'], 'failed': c['failed']})
    top = max([p['succeeded'] + p['failed'] for p in points] + [1])
    width = GRAPH_WIDTH / n
    bars = []
    for i, p in enumerate(points):
        x = round(i * width, 2)
        ok = GRAPH_HEIGHT * p['succeeded'] / top
        bad = GRAPH_HEIGHT * p['failed'] / top
        label = '%s: %d succeeded, %d failed' % (
            p['since'][11:16], p['succeeded'], p['failed'])
        if p['succeeded']:
            bars.append({'x': x, 'y': round(GRAPH_HEIGHT - ok - bad, 2),
                         'width': max(round(width - 1, 2), 1),
                         'height': round(ok, 2), 'class': 'ok',
                         'label': label})
        if p['failed']:
            bars.append({'x': x, 'y': round(GRAPH_HEIGHT - bad, 2),
                         'width': max(round(width - 1, 2), 1),
                         'height': round(bad, 2), 'class': 'bad',
                         'label': label})
    return {'title': title, 'points': points, 'bars': bars, 'top': top,
            'succeeded': sum(p['succeeded'] for p in points),
            'failed': sum(p['failed'] for p in points),
            'width': GRAPH_WIDTH, 'height': GRAPH_HEIGHT,
            'box': '0 0 %d %d' % (GRAPH_WIDTH, GRAPH_HEIGHT + LABEL_HEIGHT),
            'label_y': GRAPH_HEIGHT + LABEL_HEIGHT - 2,
            'start_label': format.format_time(start)[11:16],
            'end_label': format.format_time(end)[11:16] + ' UTC'}


def queue_rows(conn, request, now):
    rows = []
    for row in queries.queue_summary(conn, now):
        day = history.counts(conn, since=now - DAY, queue=row['name'])
        rows.append(dict(
            row, title=format.queue_title(row['name']),
            url=traversal.queue_url(request, row['name']),
            failed_24h=day['failed'], succeeded_24h=day['succeeded'],
            latency=format.format_duration(row['latency_seconds'])))
    return rows


def dispatcher_rows(conn, queues, request, now):
    rows = []
    for row in queries.dispatcher_rows(conn, now):
        record = queues[row['queue']].dispatchers[row['uuid']]
        uptime = (None if record.activated is None
                  else (now - record.activated).total_seconds())
        rows.append(dict(
            row, url=traversal.dispatcher_url(request, row['queue'],
                                              row['uuid']),
            queue_title=format.queue_title(row['queue']),
            queue_url=traversal.queue_url(request, row['queue']),
            uptime_seconds=uptime, uptime=format.format_duration(uptime),
            last_ping_text=format.format_age(record.last_ping, now),
            host=row['host'] or '-', pid=row['pid'] or '-',
            agents=[dict(agent, url=traversal.agent_url(
                request, row['queue'], row['uuid'], agent['name']),
                fill='%d/%d' % (agent['held'], agent['size']))
                for agent in row['agents']]))
    return rows


def refresh_seconds(form):
    """The ``refresh`` parameter; listing.BadParameter when bad."""
    return listing.number(form, 'refresh', REFRESH_SECONDS, 0,
                           MAX_REFRESH_SECONDS)


def overview_data(queues, request, form=None, now=None):
    """Everything the overview shows, as plain data."""
    now = now or utils.now()
    conn = queues._p_jar
    refresh = refresh_seconds(form or {})
    base = traversal.page_url(request)
    return {
        'now': format.iso(now), 'now_text': format.format_time(now),
        'queues': queue_rows(conn, request, now),
        'dispatchers': dispatcher_rows(conn, queues, request, now),
        'graphs': [dict(graph(conn, title, span, bucket, now), name=name)
                   for name, title, span, bucket in GRAPHS],
        'history_size': len(history.get(conn) or ()),
        'refresh': refresh,
        'pause_url': base + '?refresh=0',
        'resume_url': base + '?refresh=%d' % (refresh or REFRESH_SECONDS),
        'json_url': traversal.page_url(request, 'overview.json'),
    }


#: The standalone site's front page: a redirect to /++async++/ (the site
#: ZCML registers it for the root folder).
RedirectToOverview = traversal.RedirectToOverview


class _OverviewView(base.DataPage):

    advice = 'Use refresh=0 to stop reloading, or leave it out.'

    def data(self):
        # The page's permission was checked on the way here; the engine's
        # objects have no security declarations of their own.
        queues = zope.security.proxy.removeSecurityProxy(self.context)
        return overview_data(queues, self.request, self.request.form)


class Overview(_OverviewView):
    """The queues and dispatchers of this database (see overview_data)."""

    template = ViewPageTemplateFile('templates/overview.pt')


class OverviewJSON(_OverviewView):
    """``@@overview.json``: overview_data as JSON."""
