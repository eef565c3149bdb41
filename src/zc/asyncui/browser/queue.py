"""The queue page, ``/++async++/queues/<queue>``, and its JSON twin
``@@queue.json``: the queue's counts and latency, its dispatchers, and
its jobs by status -- pending (due now, in claim order), scheduled
(soonest first), active (held by its agents), failed and succeeded (from
the history, newest first) -- paged and filtered (browser.listing).
"""
import builtins
import datetime
import itertools

import zope.security.proxy
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import history
from zc.asyncui import utils
from zc.asyncui.browser import base
from zc.asyncui.browser import format
from zc.asyncui.browser import listing
from zc.asyncui.browser import traversal

STATUSES = ('pending', 'scheduled', 'active', 'failed', 'succeeded')
#: Due jobs listed newest first at most (the list is reversed in memory).
REVERSE_LIMIT = 20000
DAY = datetime.timedelta(days=1)


def counts(queue, conn, now):
    """The queue's numbers as plain data: pending (due), scheduled,
    held and active (by its agents), latency and, from the history's
    counters, succeeded and failed in the last 24 hours."""
    scheduled = queue.countScheduled(now)
    oldest = queue.oldestDue(now)
    held = [job for record in queue.dispatchers.values()
            for agent in record.values() for job in agent]
    day = history.counts(conn, since=now - DAY, queue=queue.name)
    latency = None if oldest is None else max(
        0.0, (now - oldest).total_seconds())
    return {'pending': len(queue) - scheduled, 'scheduled': scheduled,
            'held': len(held),
            'active': sum(1 for job in held if job.status == 'ACTIVE'),
            'latency_seconds': latency,
            'latency': format.format_duration(latency),
            'succeeded_24h': day['succeeded'], 'failed_24h': day['failed']}


def _history_source(conn, queue_name, selection):
    """Finished jobs of ``selection.status`` newest first, the filters the
    history's indexes answer applied; returns (jobs, filters left, True
    when the jobs start at the page)."""
    left = dict(selection.filters)
    left.pop('queue', None)
    kw = index_filters(left)
    kw.update(status=selection.status, queue=queue_name)
    if left:  # a filtered scan: listing.page_of skips and bounds it
        return history.iter_query(
            conn, start=selection.scan_from, count=selection.start
            + listing.SCAN_LIMIT + 1, **kw), left, False
    return history.iter_query(conn, start=selection.start,
                              count=selection.size + 1, **kw), left, True


def index_filters(left):
    """History query arguments for the filters in ``left`` that its
    indexes answer (removed from ``left``)."""
    kw = {}
    pattern = left.get('callable')
    if pattern is not None and '.' in pattern:
        kw['callable'] = left.pop('callable')
    error = left.get('error')
    if error is not None and not any(c in error for c in '*?[') and (
            '.' in error or isinstance(getattr(builtins, error, None),
                                       type)):
        kw['failure_type'] = left.pop('error')
    return kw


def jobs_source(queue, conn, selection, now):
    """(jobs in the order shown, filters left, note, True when the jobs
    start at the page) for the queue page."""
    status, newest = selection.status, selection.order == 'newest'
    note = None
    if status == 'pending':
        due = len(queue) - queue.countScheduled(now)
        jobs = itertools.islice(iter(queue), due)
        if newest:
            jobs = list(itertools.islice(jobs, REVERSE_LIMIT))[::-1]
            if due > REVERSE_LIMIT:
                note = ('Newest first lists the last of the first %d due'
                        ' jobs in claim order.' % REVERSE_LIMIT)
            jobs = iter(jobs)
        return (listing.skip_scanned(jobs, selection), selection.filters,
                note, False)
    if status == 'scheduled':
        return (listing.skip_scanned(queue.scheduled(now, reverse=newest),
                                     selection), selection.filters,
                None, False)
    if status == 'active':
        held = sorted((job for record in queue.dispatchers.values()
                       for agent in record.values() for job in agent),
                      key=lambda job: job.key, reverse=newest)
        return (listing.skip_scanned(iter(held), selection),
                selection.filters, None, False)
    jobs, left, at_start = _history_source(conn, queue.name, selection)
    if not newest:
        note = 'Finished jobs are listed newest first.'
    return jobs, left, note, at_start


def queue_data(queue, request, form, now=None):
    """Everything the queue page shows, as plain data; BadParameter for
    bad query parameters."""
    now = now or utils.now()
    selection = listing.parse(form, STATUSES, 'pending')
    conn = queue._p_jar
    source, left, note, at_start = jobs_source(queue, conn, selection, now)
    filters = {k: v for k, v in left.items() if k != 'queue'}
    page = listing.page_of(source, selection, listing.matcher(filters),
                           at_start)
    url = traversal.queue_url(request, queue.name)
    return {
        'name': queue.name, 'title': format.queue_title(queue.name),
        'url': url,
        'counts': counts(queue, conn, now),
        'dispatchers': [{
            'uuid': uuid, 'state': record.livenessState(now),
            'url': traversal.dispatcher_url(request, queue.name, uuid),
            'last_ping': format.format_age(record.last_ping, now),
            'agents': [{'name': name, 'size': agent.size,
                        'held': len(agent), 'url': traversal.agent_url(
                            request, queue.name, uuid, name)}
                       for name, agent in record.items()]}
            for uuid, record in sorted(queue.dispatchers.items())],
        'selection': selection.as_dict(),
        'jobs': listing.rows(page.jobs, request, now),
        'json_url': '%s/@@queue.json?%s' % (url, selection.query()),
        'note': note,
        **listing.paging(url, selection, page),
        'statuses': [{'name': name, 'current': name == selection.status,
                      'url': '%s?%s' % (url, selection.query(
                          status=name, start=0, **{'from': None}))}
                     for name in STATUSES],
    }


class _QueueView(base.DataPage):

    advice = ('Change the parameter in the address, or start again from'
              ' the queue page without parameters.')

    def data(self):
        # The page's permission was checked on the way here; the engine's
        # objects have no security declarations of their own.
        queue = zope.security.proxy.removeSecurityProxy(self.context)
        return queue_data(queue, self.request, self.request.form)


class QueuePage(_QueueView):
    """The queue page (see queue_data)."""

    template = ViewPageTemplateFile('templates/queue.pt')
    jobtable = ViewPageTemplateFile('templates/jobtable.pt')


class QueueJSON(_QueueView):
    """``@@queue.json``: queue_data as JSON."""
