"""The page at ``/++async++/``: the queues with their pending counts and
the dispatchers with their liveness.

It needs the permission zc.asyncui.View (browser/configure.zcml), like
the management pages to come.  The view reads the engine through its
public API and hands the template plain data.
"""
import zope.publisher.browser
import zope.security.proxy
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import utils


def _format_time(value):
    return '-' if value is None else value.strftime('%Y-%m-%d %H:%M:%S UTC')


def dispatcher_row(queue_name, record, now):
    """One dispatcher's record in one queue, as plain data."""
    state = record.livenessState(now)
    return {
        'uuid': record.UUID, 'queue': repr(queue_name), 'state': state,
        'host': record.host or '-', 'pid': record.pid or '-',
        'activated': _format_time(record.activated),
        'last_ping': _format_time(record.last_ping),
        'agents': ', '.join(
            '%s (%d/%d)' % (name, len(agent), agent.size)
            for name, agent in record.items()) or '-',
    }


def summarize(queues, now=None):
    """(queue rows, dispatcher rows) for a Queues mapping."""
    now = now or utils.now()
    queue_rows, dispatcher_rows = [], []
    for name, queue in sorted(queues.items()):
        queue_rows.append({'name': name, 'title': repr(name),
                           'pending': len(queue),
                           'dispatchers': len(queue.dispatchers)})
        for uuid, record in sorted(queue.dispatchers.items()):
            dispatcher_rows.append(dispatcher_row(name, record, now))
    return queue_rows, dispatcher_rows


class RedirectToOverview(zope.publisher.browser.BrowserPage):
    """The standalone site's front page: a redirect to /++async++/ (the
    site ZCML registers it for the root folder)."""

    def __call__(self):
        self.request.response.redirect(
            self.request.getApplicationURL() + '/++async++/')
        return ''


class Overview(zope.publisher.browser.BrowserPage):
    """The queues and dispatchers of this database."""

    template = ViewPageTemplateFile('templates/overview.pt')

    def update(self):
        # The page's permission was checked on the way here; the engine's
        # objects have no security declarations of their own.
        queues = zope.security.proxy.removeSecurityProxy(self.context)
        self.queues, self.dispatchers = summarize(queues)

    def __call__(self):
        self.update()
        return self.template()
