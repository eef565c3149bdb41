"""The job page, ``/++async++/jobs/<key>``, and its JSON twin
``/++async++/jobs/<key>/@@job.json``.

``job_data`` gathers everything shown (plain, bounded data: every repr
goes through format.safe_repr); the page and the JSON twin both render
it.  Callbacks are a tree, bounded in depth and breadth so that a job
with thousands of callbacks still renders quickly.
"""

import zope.publisher.browser
import zope.security.proxy
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import queries
from zc.asyncui import utils
from zc.asyncui.browser import base
from zc.asyncui.browser import format
from zc.asyncui.browser import traversal
from zc.asyncui.failure import Failure

#: Callback tree bounds: levels shown, callbacks shown per job.
CALLBACK_DEPTH = 5
CALLBACK_BREADTH = 50
#: Annotations shown at most (a job may keep many).
ANNOTATION_COUNT = 100
#: Frames with locals shown at most.
FRAME_COUNT = 20


def call_name(job):
    """The dotted name of the job's callable (queries.call_name: as the
    user put it); never raises."""
    try:
        return format.safe_text(queries.call_name(job), 300)
    except Exception as e:  # a callable that cannot be loaded here
        return '<unavailable: %s>' % format.safe_text(e, 100)


def describe_call(job, limit=format.REPR_LIMIT):
    """``name(arg, key=value)``, bounded to ``limit``; never raises."""
    try:
        parts = [format.safe_repr(a, 60) for a in list(job.args)[:10]]
        parts += ['%s=%s' % (k, format.safe_repr(v, 60))
                  for k, v in list(job.kwargs.items())[:10]]
        if len(job.args) > 10 or len(job.kwargs) > 10:
            parts.append('...')
    except Exception as e:
        parts = ['<arguments unavailable: %s>' % format.safe_text(e, 80)]
    return format.truncate('%s(%s)' % (call_name(job), ', '.join(parts)),
                           limit)


def _failure_data(result):
    frames = [{'where': '%s:%s in %s' % (filename, lineno, name),
               'locals': [{'name': n, 'value': format.truncate(v, 500)}
                          for n, v in local_reprs]}
              for filename, lineno, name, local_reprs in
              tuple(getattr(result, 'frames', ()) or ())[-FRAME_COUNT:]]
    return {'type': result.type_name,
            'message': format.safe_text(result.message, 2000),
            'traceback': format.truncate(result.traceback or '', 20000),
            'frames': frames}


def _attempts(job, request):
    rows = []
    for n, a in enumerate(job.attempts, 1):
        uuid = a['dispatcher']
        queue_name = getattr(job.queue, 'name', None)
        rows.append({
            'number': n, 'start': format.iso(a['start']),
            'end': format.iso(a['end']),
            'start_text': format.format_time(a['start']),
            'duration': format.format_duration(
                format.seconds_between(a['start'], a['end'])),
            'dispatcher': uuid and str(uuid),
            'dispatcher_url': (traversal.dispatcher_url(
                request, queue_name, uuid) if uuid and queue_name is not None
                else None),
            'agent': a['agent'] and format.safe_text(a['agent'], 100),
            'outcome': format.safe_text(a['outcome'] or 'unfinished', 200)})
    return rows


def callback_tree(job, request, depth=CALLBACK_DEPTH):
    """The callbacks of ``job`` as nested dicts (key, url, status, call,
    callbacks), at most CALLBACK_BREADTH per level and ``depth``
    levels; ``more`` counts what was left out."""
    callbacks = tuple(job.callbacks)
    nodes = []
    for cb in callbacks[:CALLBACK_BREADTH]:
        nodes.append({
            'key': cb.key, 'url': cb.key and traversal.job_url(
                request, cb.key),
            'status': cb.status.value, 'state': queries.state_of(cb),
            'call': describe_call(cb, 120),
            'callbacks': callback_tree(cb, request, depth - 1)
            if depth > 1 else {'nodes': [], 'more': len(cb.callbacks)}})
    return {'nodes': nodes, 'more': max(0, len(callbacks) - CALLBACK_BREADTH)}


def flatten_tree(tree, depth=0):
    """The nodes of a callback_tree as a list of rows with their
    ``depth`` (for an indented table)."""
    rows = []
    for node in tree['nodes']:
        rows.append(dict(node, depth=depth, indent='%dem' % (depth * 1.5)))
        rows.extend(flatten_tree(node['callbacks'], depth + 1))
    if tree['more']:
        rows.append({'key': None, 'url': None, 'status': '', 'state': '',
                     'call': '... %d more callbacks' % tree['more'],
                     'depth': depth, 'indent': '%dem' % (depth * 1.5)})
    return rows


def _annotations(job):
    rows = []
    try:
        items = job.annotations.items()
        for n, (name, value) in enumerate(items):
            if n >= ANNOTATION_COUNT:
                rows.append({'name': '...', 'value': 'more annotations'})
                break
            rows.append({'name': format.safe_text(name, 200),
                         'value': format.safe_repr(value, 1000)})
    except Exception as e:
        rows.append({'name': '?', 'value': '<unavailable: %s>'
                     % format.safe_text(e, 200)})
    return rows


def _times(job, now):
    pairs = [('put', job.put_time), ('begin_after', job.begin_after),
             ('deadline', job.deadline), ('active_start', job.active_start),
             ('active_end', job.active_end),
             ('callbacks_completed', job.callbacks_completed)]
    return [{'name': name, 'iso': format.iso(when),
             'text': format.format_time(when),
             'age': format.format_age(when, now)} for name, when in pairs]


def _arguments(job):
    try:
        args = [format.safe_repr(a, format.LONG_REPR_LIMIT)
                for a in list(job.args)[:100]]
        kwargs = [{'name': format.safe_text(k, 100),
                   'value': format.safe_repr(v, format.LONG_REPR_LIMIT)}
                  for k, v in list(job.kwargs.items())[:100]]
    except Exception as e:
        args, kwargs = ['<unavailable: %s>' % format.safe_text(e, 200)], []
    return args, kwargs


def job_data(job, request, now=None):
    """Everything the job page shows, as plain data (JSON-friendly)."""
    now = now or utils.now()
    result = job.result
    failure = isinstance(result, Failure)
    queue_name = getattr(job.queue, 'name', None)
    args, kwargs = _arguments(job)
    parent = job.parent
    return {
        'key': job.key, 'url': job.key and traversal.job_url(request, job.key),
        'status': job.status.value, 'state': queries.state_of(job),
        'callable': call_name(job), 'call': describe_call(job),
        'args': args, 'kwargs': kwargs,
        'queue': queue_name,
        'queue_title': format.queue_title(queue_name),
        'queue_url': (
            None if queue_name is None
            else traversal.queue_url(request, queue_name)),
        'agent': queries.agent_of(job), 'priority': job.priority,
        'begin_by': format.format_duration(job.begin_by),
        'times': _times(job, now),
        'duration': format.format_duration(format.seconds_between(
            job.active_start, job.active_end)),
        'attempts': _attempts(job, request),
        'retry_counts': {format.safe_text(k, 100): v for k, v in
                         dict(job.retry_counts or {}).items()},
        'cancel_requested': bool(job.cancel_requested),
        'result': None if failure or result is None
        else format.safe_repr(result, format.LONG_REPR_LIMIT),
        'failure': _failure_data(result) if failure else None,
        'parent': None if parent is None else {
            'key': parent.key, 'url': parent.key and traversal.job_url(
                request, parent.key), 'call': describe_call(parent, 120)},
        'callbacks': callback_tree(job, request),
        'annotations': _annotations(job),
        'quota_names': [format.safe_text(n, 100) for n in job.quota_names],
        'pinned_to': job.pinned_to,
    }


class JobPage(zope.publisher.browser.BrowserPage):
    """The job page (see job_data)."""

    template = ViewPageTemplateFile('templates/job.pt')

    def update(self):
        # The page's permission was checked on the way here; the engine's
        # objects have no security declarations of their own.
        self.job = zope.security.proxy.removeSecurityProxy(self.context)
        self.data = job_data(self.job, self.request)
        self.callbacks = flatten_tree(self.data['callbacks'])
        self.live = self.data['status'] not in ('COMPLETED',)

    def __call__(self):
        self.update()
        return self.template()


class JobJSON(zope.publisher.browser.BrowserPage):
    """``@@job.json``: job_data as JSON."""

    def __call__(self):
        job = zope.security.proxy.removeSecurityProxy(self.context)
        return base.json_response(self.request, job_data(job, self.request))
