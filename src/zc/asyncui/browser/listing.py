"""Lists of jobs on the pages: the query parameters that select and page
them, and the rows shown for each job.

Parameters (the same on the queue page, the Failed, Retries, Scheduled
and Dead pages and their JSON twins; the actions of the management pages
take the same selection): ``status``, ``order`` ('oldest' or 'newest'),
``start`` (jobs skipped, a number), ``size`` (jobs shown, 1 to
MAX_SIZE), and the filters ``callable`` (a glob on the dotted name, or on
its last part when it has no dot), ``args`` (text in the call's repr),
``error`` (a failure type, dotted as ``Failure.type_name`` writes it, or
a glob), ``agent`` (a glob) and ``queue`` (a queue name), and ``from``
(jobs a filtered scan skips: where a scan that stopped at its limits
continues).  A bad value answers a 400 page saying which and what to
give (``BadParameter``).

Work per request is bounded: unfiltered pages slice the sources (queue
iteration, the history's indexes) and load only the jobs shown; a
filtered page examines at most SCAN_LIMIT jobs, for at most
SCAN_SECONDS, and says so when it stopped there.
"""
import fnmatch
import itertools
import time
import urllib.parse

from zc.asyncui import queries
from zc.asyncui import utils
from zc.asyncui.browser import format
from zc.asyncui.browser.base import BadParameter  # noqa: F401 (API)
from zc.asyncui.browser import job as job_page
from zc.asyncui.browser import traversal
from zc.asyncui.failure import Failure

DEFAULT_SIZE = 50
MAX_SIZE = 500
#: Jobs a filtered page examines at most per request, and for how long.
SCAN_LIMIT = 5000
SCAN_SECONDS = 0.15
#: Longest filter value accepted.
MAX_FILTER_LENGTH = 200
MAX_START = 10 ** 6
ORDERS = ('oldest', 'newest')
FILTERS = ('callable', 'args', 'error', 'agent', 'queue')



class Selection:
    """What a list shows: status, order, paging and filters, validated
    (see the module docstring)."""

    def __init__(self, status, order, start, size, filters, scan_from=0):
        self.status = status
        self.order = order
        self.start = start
        self.size = size
        self.filters = filters
        #: Jobs of the source a filtered scan skips (the "continue"
        #: link of a page whose scan stopped at its limits).
        self.scan_from = scan_from

    def query(self, **changes):
        """The query string of this selection with ``changes``."""
        values = {'from': self.scan_from or None}
        values.update(self.filters, status=self.status, order=self.order,
                      start=self.start, size=self.size)
        values.update(changes)
        return urllib.parse.urlencode(
            [(k, v) for k, v in sorted(values.items())
             if v not in (None, '')])

    def as_dict(self):
        return dict(status=self.status, order=self.order, start=self.start,
                    size=self.size, filters=dict(self.filters),
                    scan_from=self.scan_from)


def _one(form, name):
    value = form.get(name)
    if isinstance(value, (list, tuple)):
        raise BadParameter('%s is given %d times: give it once.'
                           % (name, len(value)))
    if value is not None and not isinstance(value, str):
        raise BadParameter('%s must be text (UTF-8, percent-encoded).'
                           % name)
    return value


def number(form, name, default, low, high):
    """The whole number parameter ``name`` of ``form`` (``default`` when
    absent), between ``low`` and ``high``; BadParameter otherwise."""
    text = _one(form, name)
    if text in (None, ''):
        return default
    if not text.isdigit() or len(text) > 9:
        raise BadParameter(
            '%s=%s is not a whole number: give %s between %d and %d.'
            % (name, format.truncate(text, 40), name, low, high))
    value = int(text)
    if not low <= value <= high:
        raise BadParameter('%s=%d is out of range: give %s between %d'
                           ' and %d.' % (name, value, name, low, high))
    return value


def parse(form, statuses, default_status):
    """A Selection from the request's ``form``; BadParameter for a bad
    value.  ``statuses`` are those this list accepts."""
    status = _one(form, 'status') or default_status
    if status not in statuses:
        raise BadParameter('status=%s is not one of this list\'s: give one'
                           ' of %s.' % (format.truncate(status, 40),
                                        ', '.join(statuses)))
    order = _one(form, 'order') or ORDERS[0]
    if order not in ORDERS:
        raise BadParameter('order=%s is unknown: give oldest or newest.'
                           % format.truncate(order, 40))
    start = number(form, 'start', 0, 0, MAX_START)
    size = number(form, 'size', DEFAULT_SIZE, 1, MAX_SIZE)
    filters = {}
    for name in FILTERS:
        value = _one(form, name)
        if value is None or (value == '' and name != 'queue'):
            continue
        if len(value) > MAX_FILTER_LENGTH:
            raise BadParameter(
                'the %s filter is %d characters long: give at most %d.'
                % (name, len(value), MAX_FILTER_LENGTH))
        filters[name] = value
    scan_from = number(form, 'from', 0, 0, MAX_START) if filters else 0
    return Selection(status, order, start, size, filters, scan_from)


# -- matching -----------------------------------------------------------------

def _glob(pattern, text):
    return fnmatch.fnmatchcase(text or '', pattern)


def error_of(job):
    """The failure type of a failed job, else None."""
    result = job.result
    return result.type_name if isinstance(result, Failure) else None


def matcher(filters):
    """A predicate job -> bool for the filters a source did not apply
    (None when there is none left)."""
    checks = []
    if 'callable' in filters:
        pattern = filters['callable']
        checks.append(lambda job: _glob(
            pattern, job_page.call_name(job) if '.' in pattern
            else job_page.call_name(job).rsplit('.', 1)[-1]))
    if 'args' in filters:
        text = filters['args']
        checks.append(lambda job: text in job_page.describe_call(job, 2000))
    if 'error' in filters:
        pattern = filters['error']
        checks.append(lambda job: _glob(pattern, error_of(job)) or _glob(
            pattern, (error_of(job) or '').rsplit('.', 1)[-1]))
    if 'agent' in filters:
        pattern = filters['agent']
        checks.append(lambda job: _glob(
            pattern, str(queries.agent_of(job) or '')))
    if not checks:
        return None
    return lambda job: all(check(job) for check in checks)


class Page:
    """One page of a list: ``jobs``, whether there are ``more``, and
    whether the scan stopped at SCAN_LIMIT (``truncated``)."""

    def __init__(self, jobs, more, truncated=False, scanned=0):
        self.jobs = jobs
        self.more = more
        self.truncated = truncated
        self.scanned = scanned


def page_of(source, selection, match=None, at_start=False):
    """The page of ``source`` (an iterator of jobs, in the order shown)
    that ``selection`` asks for (``at_start``: the source starts at the
    page already); ``match`` filters, in a scan bounded by SCAN_LIMIT
    jobs and SCAN_SECONDS."""
    start, size = (0 if at_start else selection.start), selection.size
    if match is None:
        found = list(itertools.islice(source, start, start + size + 1))
        return Page(found[:size], len(found) > size)
    found, scanned, skipped = [], 0, 0
    deadline = time.monotonic() + SCAN_SECONDS
    for job in source:
        scanned += 1
        if scanned > SCAN_LIMIT or (
                scanned % 20 == 0 and time.monotonic() > deadline):
            return Page(found, True, truncated=True, scanned=scanned - 1)
        if not _safe_match(match, job):
            continue
        if skipped < start:
            skipped += 1
            continue
        if len(found) == size:
            return Page(found, True, scanned=scanned)
        found.append(job)
    return Page(found, False, scanned=scanned)


def paging(url, selection, page):
    """The paging part of a list's data: first and last (counted from
    1), the URLs of the next and previous pages, and when a filtered scan
    stopped at its limits, the URL that continues it (``from``)."""
    start, size = selection.start, selection.size
    return {
        'first': start + 1, 'last': start + len(page.jobs),
        'more': page.more, 'truncated': page.truncated,
        'scanned': page.scanned,
        'scanned_from': selection.scan_from + 1,
        'scanned_to': selection.scan_from + page.scanned,
        'next_url': page.more and not page.truncated and '%s?%s' % (
            url, selection.query(start=start + size)),
        'previous_url': start > 0 and '%s?%s' % (
            url, selection.query(start=max(0, start - size))),
        'continue_url': page.truncated and '%s?%s' % (
            url, selection.query(start=0, **{
                'from': selection.scan_from + page.scanned})),
    }


def skip_scanned(source, selection):
    """``source`` without the jobs a continued scan already checked."""
    if not selection.scan_from:
        return source
    return itertools.islice(source, selection.scan_from, None)


def _safe_match(match, job):
    try:
        return match(job)
    except Exception:  # a job that cannot be loaded here matches nothing
        return False


# -- rows ---------------------------------------------------------------------

def job_row(job, request, now):
    """What a list shows of a job, as plain data."""
    try:
        return _row(job, request, now)
    except Exception as e:  # never let one broken job break the list
        key = getattr(job, 'key', None)
        return {'key': key, 'url': key and traversal.job_url(request, key),
                'state': '?', 'status': '?', 'call': '<unavailable: %s>'
                % format.safe_text(e, 200), 'queue': None,
                'queue_title': '-', 'priority': '',
                'put': '-', 'begin_after': '-', 'begin_after_iso': None,
                'end': '-', 'end_iso': None, 'duration': '-',
                'attempts': 0, 'agent': None, 'error': None,
                'outcome': None}


def _row(job, request, now):
    attempts = job.attempts
    result = job.result
    failure = isinstance(result, Failure)
    return {
        'key': job.key, 'url': traversal.job_url(request, job.key),
        'state': queries.state_of(job), 'status': job.status.value,
        'call': job_page.describe_call(job),
        'queue': getattr(job.queue, 'name', None),
        'queue_title': format.queue_title(getattr(job.queue, 'name', None))
        if job.queue is not None else '-',
        'priority': job.priority,
        'put': format.format_age(job.put_time, now),
        'begin_after': format.format_age(job.begin_after, now),
        'begin_after_iso': format.iso(job.begin_after),
        'end': format.format_age(job.active_end, now),
        'end_iso': format.iso(job.active_end),
        'duration': format.format_duration(format.seconds_between(
            job.active_start, job.active_end)),
        'attempts': len(attempts),
        'agent': queries.agent_of(job),
        'error': ('%s: %s' % (result.type_name, format.safe_text(
            result.message, 200))) if failure else None,
        'outcome': (format.safe_text(attempts[-1]['outcome'] or '', 200)
                    if attempts else None),
    }


def rows(jobs, request, now=None):
    now = now or utils.now()
    return [job_row(job, request, now) for job in jobs]
