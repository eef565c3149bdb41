"""The agent page (``/++async++/queues/<queue>/dispatchers/<uuid>/<agent>``,
JSON twin ``@@agent.json``) and the agent's edit form (``@@edit.html``,
zope.formlib): size, filter, chooser and retry policy, the filter and
chooser chosen by the names they are registered under
(zc.asyncui.config.getFilters, getChoosers), the policy among the
built-in ones and the registered IRetryPolicy adapters.
"""

import zope.component
import zope.formlib.form
import zope.interface
import zope.publisher.browser
import zope.schema
import zope.schema.vocabulary
from zope.formlib.interfaces import InvalidCSRFTokenError

from zc.asyncui import config
from zc.asyncui import interfaces
from zc.asyncui import retry
from zc.asyncui import settings
from zc.asyncui import utils
from zc.asyncui.browser import base
from zc.asyncui.browser import actions
from zc.asyncui.browser import csrf
from zc.asyncui.browser import format
from zc.asyncui.browser import job as job_page
from zc.asyncui.browser import traversal
from zc.asyncui.browser.actions import unwrap
from zc.asyncui.failure import Failure
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

#: Jobs listed at most: held, and recent completions.
HELD_SHOWN = 100
COMPLETED_SHOWN = 50
#: The form's word for "no filter / chooser / policy of its own".
NONE = '(none)'
#: The form's word for a value set in Python that has no registered name:
#: keeping it leaves it as it is.
KEEP = '(keep current)'
#: Built-in retry policy factories, by the name the form shows.
BUILTIN_POLICIES = {
    'RetryCommonFourTimes': retry.RetryCommonFourTimes,
    'RetryCommonForever': retry.RetryCommonForever,
    'NeverRetry': retry.NeverRetry,
}


def name_of(value, named):
    """The name ``value`` is registered under in ``named`` ({name:
    component}), None for None, else its bounded repr."""
    if value is None:
        return None
    for name, component in sorted(named.items()):
        if component is value or _equal(component, value):
            return name
    return format.safe_repr(value, 200)


def _equal(a, b):
    try:
        return bool(a == b)
    except Exception:
        return False


def policy_names():
    """{name: factory} of the policies the form offers: the built-in
    ones, and each registered IRetryPolicy adapter for jobs as
    ``AdapterPolicy(name)``."""
    names = dict(BUILTIN_POLICIES)
    registry = zope.component.getSiteManager().adapters
    for name, _ in registry.lookupAll((interfaces.IJob,),
                                      interfaces.IRetryPolicy):
        names['adapter %r' % name] = retry.AdapterPolicy(name)
    return names


def _job_row(job, request):
    failed = isinstance(job.result, Failure)
    return {'key': job.key, 'url': traversal.job_url(request, job.key),
            'call': job_page.describe_call(job, 120),
            'status': job.status.value,
            'outcome': 'failed' if failed else (
                'succeeded' if job.status.value == 'COMPLETED' else ''),
            'started': format.format_time(job.active_start),
            'ended': format.format_time(job.active_end)}


def agent_data(agent, request, now=None):
    """Everything the agent page shows, as plain data."""
    now = now or utils.now()
    record = agent.dispatcher_record
    queue = record.queue
    held = []
    for job in agent:
        if len(held) >= HELD_SHOWN:
            break
        held.append(_job_row(job, request))
    base = traversal.agent_url(request, queue.name, record.UUID, agent.name)
    return {
        'name': agent.name, 'url': base, 'queue': queue.name,
        'queue_url': traversal.queue_url(request, queue.name),
        'dispatcher': record.UUID,
        'dispatcher_url': traversal.dispatcher_url(request, queue.name,
                                                   record.UUID),
        'dispatcher_state': record.livenessState(now),
        'active': bool(agent.active), 'queue_paused': bool(queue.paused),
        'size': agent.size, 'prefetch': agent.prefetch,
        'held_count': len(agent), 'held': held,
        'completed': [_job_row(job, request) for job in
                      agent.recentCompletions(COMPLETED_SHOWN)],
        'filter': name_of(agent.filter, config.getFilters()),
        'chooser': name_of(agent.chooser, config.getChoosers()),
        'retry_policy': name_of(agent.retry_policy_factory, policy_names()),
        'completed_max_count': agent.completed_max_count,
        'completed_max_age': format.format_duration(agent.completed_max_age),
    }


class AgentPage(zope.publisher.browser.BrowserPage):
    """The agent page (see agent_data), with its actions."""

    template = ViewPageTemplateFile('templates/agent.pt')

    def __call__(self):
        self.agent = unwrap(self.context)
        self.data = agent_data(self.agent, self.request)
        self.token = csrf.token(self.request)
        base = self.data['url']
        self.actions = [
            {'url': base + '/@@' + name, 'title': title}
            for name, (title, _) in actions.operations.AGENT_ACTIONS.items()
            if (name == 'deactivate') == self.data['active']]
        return self.template()


class AgentJSON(zope.publisher.browser.BrowserPage):
    """``@@agent.json``: agent_data as JSON."""

    def __call__(self):
        return base.json_response(
            self.request, agent_data(unwrap(self.context), self.request))


# -- the edit form -----------------------------------------------------------

def _vocabulary(names, current):
    """Terms: NONE, the names, and KEEP when the current value has no
    name."""
    values = [NONE] + sorted(names)
    if current is not None and current not in names:
        values.insert(1, KEEP)
    # Tokens are the names as URLs write them: plain names as they are,
    # any other as '~' and hex, so that no two names share a token.
    return zope.schema.vocabulary.SimpleVocabulary([
        zope.schema.vocabulary.SimpleTerm(
            v, token=traversal.name_to_segment(v), title=v)
        for v in values])


class AgentEditForm(zope.formlib.form.Form):
    """Edit an agent's size, filter, chooser and retry policy.  The form
    shows the named choices; a value set in Python without a name can be
    kept as it is.  Protected by the CSRF token (zc.asyncui.browser.
    csrf, which also reads zope.formlib's misnamed field)."""

    protected = True
    prefix = 'agent'
    template = ViewPageTemplateFile('templates/agent_edit.pt')

    @property
    def label(self):
        return 'Edit agent %r of dispatcher %s' % (
            self.agent.name, self.agent.dispatcher_record.UUID)

    def __init__(self, context, request):
        super().__init__(context, request)
        self.agent = unwrap(context)
        self.named = {'filter': config.getFilters(),
                      'chooser': config.getChoosers(),
                      'retry_policy_factory': policy_names()}
        self.current = {
            name: name_of(getattr(self.agent, name), self.named[name])
            for name in self.named}
        self.form_fields = zope.formlib.form.Fields(*self._fields())

    def _fields(self):
        size = settings.get('agent', 'size')
        fields = [zope.schema.Int(
            __name__='size', title='Size', min=0, max=10000,
            description=size.help)]
        for name, title in (('filter', 'Filter'), ('chooser', 'Chooser'),
                            ('retry_policy_factory', 'Retry policy')):
            fields.append(zope.schema.Choice(
                __name__=name, title=title,
                description=settings.get('agent', name).help,
                vocabulary=_vocabulary(self.named[name],
                                       self.current[name])))
        return fields

    def _current_data(self):
        data = {'size': self.agent.size}
        for name in self.named:
            value = self.current[name]
            data[name] = NONE if value is None else (
                value if value in self.named[name] else KEEP)
        return data

    def setUpWidgets(self, ignore_request=False):
        self.adapters = {}
        self.widgets = zope.formlib.form.setUpDataWidgets(
            self.form_fields, self.prefix, self.context, self.request,
            data=self._current_data(), ignore_request=ignore_request)

    def checkToken(self):
        why = csrf.problem(self.request)
        if why is not None:
            raise InvalidCSRFTokenError(why)

    def update(self):
        try:
            super().update()
        except InvalidCSRFTokenError as e:
            self.request.response.setStatus(403)
            self.status = 'Nothing was saved: %s.' % e.args[0]

    @zope.formlib.form.action('Save', name='save')
    def handle_save(self, action, data):
        changed = []
        if data['size'] != self.agent.size:
            changed.append('size %d -> %d' % (self.agent.size, data['size']))
            self.agent.size = settings.get('agent', 'size').validate(
                data['size'])
        for name, named in self.named.items():
            choice = data[name]
            if choice == KEEP or choice == (self.current[name] or NONE):
                continue
            value = None if choice == NONE else named[choice]
            setattr(self.agent, name, settings.get('agent', name).validate(
                value))
            changed.append('%s %s -> %s' % (name, self.current[name] or NONE,
                                            choice))
        self.status = ('Saved: %s.' % '; '.join(changed) if changed
                       else 'Nothing changed.')
        self.current = {
            name: name_of(getattr(self.agent, name), self.named[name])
            for name in self.named}

    def back_url(self):
        record = self.agent.dispatcher_record
        return traversal.agent_url(self.request, record.queue.name,
                                   record.UUID, self.agent.name)
