"""The Failed, Retries, Scheduled and Dead pages (``/++async++/@@failed``
...), in the spirit of Sidekiq's, over every queue; each with a JSON twin
(``@@failed.json`` ...).

- Failed: finished jobs whose result is a Failure, newest first (the
  history's index).
- Retries: pending jobs that already ran at least once and wait for a
  new attempt (a retry policy put them back), next attempt first.
- Scheduled: pending jobs whose begin_after is in the future, soonest
  first.
- Dead: failed jobs that gave up after retrying (more than one attempt)
  or after interruptions (AbortedError), newest first.

Filters and paging are browser.listing's (``queue`` selects one queue).
"""
import heapq
import itertools

import zope.security.proxy
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import history
from zc.asyncui import utils
from zc.asyncui.browser import base
from zc.asyncui.browser import listing
from zc.asyncui.browser import queue as queue_page
from zc.asyncui.browser import traversal



def _queues(queues, selection):
    name = selection.filters.get('queue')
    if name is None:
        return [queues[n] for n in sorted(queues)]
    return [queues[name]] if name in queues else []


def _index_filters(selection):
    """History query arguments for the filters its indexes answer, and
    the filters left for listing.matcher."""
    left = {k: v for k, v in selection.filters.items() if k != 'queue'}
    kw = queue_page.index_filters(left)
    kw['queue'] = selection.filters.get('queue')
    return kw, left


def failed_source(queues, conn, selection, now):
    kw, left = _index_filters(selection)
    if left:
        return history.iter_query(
            conn, status='failed', start=selection.scan_from,
            count=selection.start + listing.SCAN_LIMIT + 1,
            **kw), listing.matcher(left), False
    return iter(history.iter_query(
        conn, status='failed', start=selection.start,
        count=selection.size + 1, **kw)), None, True


def is_dead(job):
    """A failed job that gave up after retrying or interruptions (the
    history's rule, which @@metrics counts as dead too)."""
    return history.gave_up(job)


def dead_source(queues, conn, selection, now):
    kw, left = _index_filters(selection)
    jobs = history.iter_query(conn, status='failed',
                              start=selection.scan_from,
                              count=selection.start + listing.SCAN_LIMIT + 1,
                              **kw)
    match = listing.matcher(left)
    return jobs, (is_dead if match is None
                        else lambda job: is_dead(job) and match(job)), False


def _has_attempts(job):
    return bool(job.attempts)


def retries_source(queues, conn, selection, now):
    chosen = _queues(queues, selection)
    due = itertools.chain.from_iterable(
        itertools.islice(iter(q), len(q) - q.countScheduled(now))
        for q in chosen)
    later = heapq.merge(*(q.scheduled(now) for q in chosen),
                        key=lambda job: job.begin_after)
    match = listing.matcher({k: v for k, v in selection.filters.items()
                             if k != 'queue'})
    return listing.skip_scanned(itertools.chain(due, later), selection), (
        _has_attempts if match is None
        else lambda job: _has_attempts(job) and match(job)), False


def scheduled_source(queues, conn, selection, now):
    newest = selection.order == 'newest'
    jobs = heapq.merge(*(q.scheduled(now, reverse=newest)
                         for q in _queues(queues, selection)),
                       key=lambda job: job.begin_after, reverse=newest)
    return listing.skip_scanned(jobs, selection), listing.matcher(
        {k: v for k, v in selection.filters.items() if k != 'queue'}), False


class Kind:
    """One of the list pages: its name, title, description, source."""

    def __init__(self, name, title, description, source, orders=True):
        self.name, self.title, self.description = name, title, description
        self.source, self.orders = source, orders


KINDS = {kind.name: kind for kind in (
    Kind('failed', 'Failed', 'Finished jobs whose result is a failure,'
         ' newest first.', failed_source, orders=False),
    Kind('retries', 'Retries', 'Pending jobs that already ran and wait'
         ' for a new attempt: due ones first, then by the time of their'
         ' next attempt.', retries_source, orders=False),
    Kind('scheduled', 'Scheduled', 'Pending jobs that may not start'
         ' before a time in the future, soonest first.', scheduled_source),
    Kind('dead', 'Dead', 'Failed jobs that gave up after retrying or'
         ' after interruptions, newest first.', dead_source, orders=False),
)}


def list_data(kind, queues, request, form, now=None):
    """Everything a list page shows, as plain data; BadParameter for bad
    query parameters."""
    now = now or utils.now()
    selection = listing.parse(form, (kind.name,), kind.name)
    source, match, at_start = kind.source(queues, queues._p_jar,
                                          selection, now)
    page = listing.page_of(source, selection, match, at_start)
    url = traversal.page_url(request, kind.name)
    return {
        'kind': kind.name, 'title': kind.title,
        'description': kind.description, 'url': url,
        'with_queue_filter': True,
        'json_url': '%s.json?%s' % (url, selection.query()),
        'selection': selection.as_dict(),
        'jobs': listing.rows(page.jobs, request, now),
        'note': None, 'fixed_order': not kind.orders,
        **listing.paging(url, selection, page),
    }


class _ListView(base.DataPage):

    kind = None  # the name of a KINDS entry

    def data(self):
        # The page's permission was checked on the way here; the engine's
        # objects have no security declarations of their own.
        queues = zope.security.proxy.removeSecurityProxy(self.context)
        return list_data(KINDS[self.kind], queues, self.request,
                         self.request.form)


class ListPage(_ListView):
    """A list page (see list_data)."""

    template = ViewPageTemplateFile('templates/list.pt')
    jobtable = ViewPageTemplateFile('templates/jobtable.pt')


class ListJSON(_ListView):
    """The JSON twin of a list page."""


def _kind_classes(kind):
    page = type(kind.title + 'Page', (ListPage,), {
        'kind': kind.name, '__doc__': 'The %s page.' % kind.title})
    twin = type(kind.title + 'JSON', (ListJSON,), {
        'kind': kind.name, '__doc__': 'The %s page as JSON.' % kind.title})
    return page, twin


FailedPage, FailedJSON = _kind_classes(KINDS['failed'])
RetriesPage, RetriesJSON = _kind_classes(KINDS['retries'])
ScheduledPage, ScheduledJSON = _kind_classes(KINDS['scheduled'])
DeadPage, DeadJSON = _kind_classes(KINDS['dead'])
