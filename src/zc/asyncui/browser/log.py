"""``/++async++/@@log`` and its JSON twin ``@@log.json``: the recent log
records of the zc.asyncui loggers in this process (zc.asyncui.logbuffer)
and the job failures the history keeps in the database (which survive
restarts), filterable by level, job key and dispatcher UUID.

Query parameters: ``level`` (DEBUG, INFO, WARNING, ERROR, CRITICAL: that
level and above), ``job`` (a job key such as 0x3f2a), ``dispatcher`` (a
UUID), ``count`` (1 to MAX_COUNT, default DEFAULT_COUNT).  A bad value
answers 400 with what is accepted.
"""
import datetime
import json
import logging
import re
import uuid

import zope.publisher.browser
import zope.security.proxy
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import logbuffer
from zc.asyncui import settings

DEFAULT_COUNT = 100
MAX_COUNT = 1000
JOB_KEY = re.compile(r'0x[0-9a-f]{1,16}\Z')
#: The longest parameter value read: anything longer is refused.
MAX_VALUE_LENGTH = 100


ADVICE = 'Leave the parameter out, or give a value as the message says.'


class BadFilter(ValueError):
    """A query parameter of the log page is not acceptable; the message
    says what is."""


def _text(form, name):
    value = form.get(name)
    if value is None or value == '':
        return None
    if not isinstance(value, str):
        raise BadFilter('give %s once' % name)
    if len(value) > MAX_VALUE_LENGTH:
        raise BadFilter('%s is %d characters long; at most %d are'
                        ' accepted' % (name, len(value), MAX_VALUE_LENGTH))
    return value.strip()


def read_filters(form):
    """The filters of a request's form: {'level', 'job', 'dispatcher',
    'count'}; BadFilter for a bad value."""
    level, job, dispatcher, count = (
        _text(form, name) for name in ('level', 'job', 'dispatcher',
                                       'count'))
    if level is not None:
        if level.upper() not in settings.LOG_LEVELS:
            raise BadFilter('level %r is not a level: choose one of %s'
                            % (level, ', '.join(settings.LOG_LEVELS)))
        level = level.upper()
    if job is not None and not JOB_KEY.match(job.lower()):
        raise BadFilter('job %r is not a job key: give the hex key shown'
                        ' on the pages, such as 0x3f2a' % (job,))
    if dispatcher is not None:
        try:
            dispatcher = str(uuid.UUID(dispatcher))
        except ValueError:
            raise BadFilter('dispatcher %r is not a UUID: give one such as'
                            ' %s' % (dispatcher, uuid.UUID(int=1))) from None
    if count is None:
        count = DEFAULT_COUNT
    elif not count.isdigit() or not 1 <= int(count) <= MAX_COUNT:
        raise BadFilter('count %r is not a number from 1 to %d'
                        % (count, MAX_COUNT))
    return {'level': level, 'job': job and job.lower(),
            'dispatcher': dispatcher, 'count': int(count)}


def _iso(ts):
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(
        ts, datetime.timezone.utc).isoformat(timespec='milliseconds')


def log_data(queues, filters):
    """What the log page shows, as plain data: the filters, whether this
    process keeps a log buffer, its records and the stored failures
    (newest first; times as ISO 8601 strings in UTC)."""
    buffer = logbuffer.get()
    records = [] if buffer is None else buffer.select(**filters)
    for record in records:
        record['time'] = _iso(record['time'])
        del record['levelno']
        # Failure lines carry their traceback in the message: the page
        # shows the first line and folds the rest.
        record['summary'], _, record['detail'] = record['message'].partition(
            '\n')
    wanted = logging.getLevelName(filters['level'] or 'DEBUG')
    failures = [] if wanted > logging.ERROR else logbuffer.stored_failures(
        queues, job=filters['job'], dispatcher=filters['dispatcher'],
        count=filters['count'])
    for row in failures:
        row['time'] = _iso(row['time'])
    return {'filters': filters, 'buffer': buffer is not None,
            'records': records, 'failures': failures}


class _LogView(zope.publisher.browser.BrowserPage):

    def update(self):
        """Read the filters and the data; on a bad filter, set 400 and
        ``self.error``."""
        self.error = self.data = None
        try:
            filters = read_filters(self.request.form)
        except BadFilter as e:
            self.error = str(e)
            self.request.response.setStatus(400)
            return
        # The page's permission was checked on the way here; the engine's
        # objects have no security declarations of their own.
        queues = zope.security.proxy.removeSecurityProxy(self.context)
        self.data = log_data(queues, filters)


class LogPage(_LogView):
    """The log page."""

    template = ViewPageTemplateFile('templates/log.pt')
    levels = settings.LOG_LEVELS

    def __call__(self):
        self.update()
        return self.template()

    def filter_value(self, name):
        """The filter as the form shows it back (the raw value after a
        bad one)."""
        if self.data is not None:
            value = self.data['filters'][name]
            return '' if value is None else str(value)
        value = self.request.form.get(name, '')
        return value[:MAX_VALUE_LENGTH] if isinstance(value, str) else ''


class LogJSON(_LogView):
    """The log page's data as JSON; a bad filter is 400 with {"error",
    "status", "problem", "advice"}, like the other JSON twins."""

    def __call__(self):
        self.update()
        self.request.response.setHeader('Content-Type',
                                        'application/json')
        body = self.data if self.error is None else {
            'error': 'Bad request', 'status': 400, 'problem': self.error,
            'advice': ADVICE}   # as traversal.ErrorPage answers JSON
        return json.dumps(body, indent=1, sort_keys=True)
