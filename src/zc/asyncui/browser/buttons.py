"""``@@action-buttons``: the action forms a page shows for its object, as
an HTML fragment the page's template inserts (``structure
context/@@action-buttons``; a list page passes its kind:
``python: path('nocall:context/@@action-buttons').render(view.kind)``).

Only a principal who may act (zc.asyncui.Manage) gets buttons; anyone
else gets an empty string (or, on a paused queue's page, the note that
it is paused).  A job gets one POST form per action that
applies to it now (with the CSRF token: one click acts, and the answer
says what was done); a queue gets pause or resume and a form that acts
on every job its list selects; a list page the same for its list.  The
forms that act on a selection GET the action's confirmation page, which
lists the jobs first.
"""
import zope.publisher.browser
import zope.security
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import utils
from zc.asyncui.browser import csrf
from zc.asyncui.browser import operations
from zc.asyncui.browser import selection
from zc.asyncui.browser import traversal
from zc.asyncui.browser.actions import unwrap
from zc.asyncui.failure import Failure
from zc.asyncui.job import JobStatus

MANAGE = 'zc.asyncui.Manage'
#: Actions offered on a selection, by list (kind) or on a queue page's
#: status.
SELECTION_ACTIONS = {
    'failed': ('requeue',), 'dead': ('requeue',),
    'retries': ('retry-now', 'cancel', 'remove'),
    'scheduled': ('run-now', 'cancel', 'remove'),
    'pending': ('cancel', 'remove'), 'active': ('cancel',),
    'succeeded': (),
}


def job_actions(job, now=None):
    """The names of the job actions that apply to ``job`` now (what the
    operations would not refuse, as far as can be told cheaply)."""
    status = job.status
    if status == JobStatus.COMPLETED:
        failed = isinstance(job.result, Failure)
        return ['requeue'] if failed and job.queue is not None else []
    names = []
    if status in (JobStatus.PENDING, JobStatus.ASSIGNED, JobStatus.ACTIVE):
        names.append('cancel')
    waiting = (status == JobStatus.PENDING and job.queue is not None
               and job in job.queue)
    if waiting:
        later = job.begin_after > (now or utils.now())
        if later and job.attempts:
            names.append('retry-now')
        if later:
            names.append('run-now')
        names.append('remove')
    return names


class ActionButtons(zope.publisher.browser.BrowserPage):
    """See the module docstring."""

    template = ViewPageTemplateFile('templates/buttons.pt')

    def __call__(self):
        return self.render()

    def render(self, kind=None):
        obj = unwrap(self.context)
        is_queue = getattr(obj, 'dispatchers', None) is not None
        self.posts, self.selection = [], None
        # Everyone who sees the queue page is told it is paused.
        self.paused = is_queue and bool(obj.paused)
        if zope.security.checkPermission(MANAGE, self.context):
            self.token = csrf.token(self.request)
            if is_queue:
                self._queue(obj)
            elif hasattr(obj, 'attempts'):                      # a job
                self._job(obj)
            elif kind is not None:                              # a list
                self._list(kind)
        if not (self.posts or self.selection or self.paused):
            return ''
        return self.template()

    def _job(self, job):
        base = traversal.job_url(self.request, job.key)
        for name in job_actions(job, utils.now()):
            self.posts.append({'url': '%s/@@%s' % (base, name),
                               'title': operations.JOB_ACTIONS[name][0]})

    def _queue(self, queue):
        base = traversal.queue_url(self.request, queue.name)
        name = 'resume' if queue.paused else 'pause'
        self.posts.append({'url': '%s/@@%s' % (base, name),
                           'title': '%s queue' % (
                               operations.QUEUE_ACTIONS[name][0])})
        status = self.request.form.get('status') or 'pending'
        self._selection(base, SELECTION_ACTIONS.get(status, ()), {})

    def _list(self, kind):
        self._selection(traversal.base_url(self.request),
                        SELECTION_ACTIONS.get(kind, ()), {'kind': kind})

    def _selection(self, base, names, extra):
        if not names:
            return
        fields = {k: v for k, v in self.request.form.items()
                  if k in selection.FIELDS and isinstance(v, str)
                  and k not in ('start', 'size')}
        fields.update(extra, select='1')
        self.selection = {
            'url': base + '/@@jobs-action',
            'fields': sorted(fields.items()),
            'actions': [{'name': n, 'title': operations.JOB_ACTIONS[n][0]}
                        for n in names]}
