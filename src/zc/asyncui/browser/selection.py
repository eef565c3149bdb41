"""The jobs a bulk action takes from a filtered selection: the same query
parameters as the list they come from (zc.asyncui.browser.listing) --
the queue page's (on a queue) or a list page's, named by ``kind``
(failed, retries, scheduled, dead: on the Queues mapping) -- but from
the first matching job, and at most ``limit`` of them.
"""
from zc.asyncui.browser import listing
from zc.asyncui.browser import lists
from zc.asyncui.browser import queue as queue_page

#: The query parameters of a selection (besides ``kind``).
FIELDS = frozenset(['status', 'order', 'start', 'size']) | frozenset(
    listing.FILTERS)


def _form(form):
    # Paging is ignored: a bulk action takes every match from the first.
    return {k: v for k, v in form.items()
            if k in FIELDS and k not in ('start', 'size')}


def select(context, form, limit, now):
    """(jobs, more, words): the first ``limit`` jobs the selection in
    ``form`` matches, whether more match, and the selection in words.
    ``context`` is a queue, or the Queues mapping (then ``kind`` names
    the list).  BadParameter for a bad value."""
    if getattr(context, 'dispatchers', None) is not None:  # a queue
        selection = listing.parse(_form(form), queue_page.STATUSES,
                                  'pending')
        selection.start, selection.size = 0, limit
        source, left, _, at_start = queue_page.jobs_source(
            context, context._p_jar, selection, now)
        match = listing.matcher({k: v for k, v in left.items()
                                 if k != 'queue'})
        where = 'queue %r' % context.name
    else:
        kind = lists.KINDS.get(form.get('kind'))
        if kind is None:
            raise listing.BadParameter(
                'kind=%s is not a list: give one of %s.' % (
                    str(form.get('kind'))[:40], ', '.join(sorted(
                        lists.KINDS))))
        selection = listing.parse(_form(form), (kind.name,), kind.name)
        selection.start, selection.size = 0, limit
        source, match, at_start = kind.source(context, context._p_jar,
                                              selection, now)
        where = 'the %s list' % kind.title
    page = listing.page_of(source, selection, match, at_start)
    words = ', '.join('%s=%s' % (k, v) for k, v in sorted(
        selection.filters.items()))
    return page.jobs, page.more, '%s %s%s' % (
        selection.status, where, ' where ' + words if words else '')
