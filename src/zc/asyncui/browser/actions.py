"""The action pages: cancel, retry now, run now, requeue and remove a job
(one, or many at once); pause and resume a queue; deactivate and activate
an agent; deactivate a dead dispatcher.

Every action is a page that needs ``zc.asyncui.Manage``.  A GET answers
a confirmation page whose form POSTs to the same URL; only a POST acts,
and only with the CSRF token of that form (zc.asyncui.browser.csrf).  The
answer says what was done, with links back.  Bad input (a missing or
repeated field, an unknown field or action, a malformed job key, a stale
or forged token, an oversized request) answers a 4xx page that says what
was wrong, never a 500, and changes nothing.  What each action does to
the engine is in zc.asyncui.browser.operations.
"""
import logging

import zope.proxy
import zope.publisher.browser
import zope.security.proxy
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import filters
from zc.asyncui import utils
from zc.asyncui.browser import csrf
from zc.asyncui.browser import format
from zc.asyncui.browser import listing
from zc.asyncui.browser import operations
from zc.asyncui.browser import selection
from zc.asyncui.browser import traversal
from zc.asyncui.browser.operations import Refused

logger = logging.getLogger(__name__)

#: Bytes of a request body an action accepts (a thousand job keys are
#: about 20 kB).
MAX_BODY_BYTES = 256 * 1024
#: Job keys one bulk action takes at most.
MAX_KEYS = 1000
#: Characters of one field value (other than the list of keys).
MAX_VALUE_CHARS = 2000
#: Up to this many things done are logged one line each.
LOGGED_ONE_BY_ONE = 10
#: Fields every action form may send besides its own.
COMMON_FIELDS = frozenset([csrf.FIELD, csrf.FORMLIB_FIELD, 'came_from',
                           'submit'])


class Problem(Exception):
    """A request an action cannot take: HTTP ``status``, a ``title`` and
    the ``message`` (what was wrong and what to do)."""

    def __init__(self, status, title, message):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def bad_request(message):
    return Problem(400, 'Bad request', message)


def unwrap(obj):
    """The engine's object behind the security and location proxies; the
    page's permission was checked on the way here."""
    return zope.proxy.removeAllProxies(
        zope.security.proxy.removeSecurityProxy(obj))


class ActionPage(zope.publisher.browser.BrowserPage):
    """Base of the action pages: GET confirms, POST acts (see the module
    docstring).  Subclasses set ``fields`` (their own form fields) and
    define ``parse()`` (check the form; set what ``question()`` and
    ``perform()`` use) and ``perform()`` (act; return (done, refused)
    lists of sentences)."""

    template = ViewPageTemplateFile('templates/action.pt')
    fields = frozenset()
    heading = 'Action'
    button = 'Confirm'
    #: True when the page acts on one object (a refusal is then a 409).
    single = True

    def __call__(self):
        self.mode, self.done, self.refused = 'error', [], []
        self.problem = None
        try:
            self._check_size()
            self._check_fields()
            self.parse()
            self._dispatch()
        except Problem as problem:
            self._fail(problem)
        return self.template()

    def _dispatch(self):
        method = self.request.method
        if method == 'POST':
            why = csrf.problem(self.request)
            if why is not None:
                raise Problem(403, 'Forbidden', 'Nothing was done: ' + why
                              + '.')
            self.done, self.refused = self.perform()
            self.mode = 'done'
            self._log()
            if self.refused and not self.done and self.single:
                raise Problem(409, 'Not done', ' '.join(self.refused))
        elif method in ('GET', 'HEAD'):
            self.token = csrf.token(self.request)
            self.mode = 'confirm'
        else:
            self.request.response.setHeader('Allow', 'GET, POST')
            raise Problem(405, 'Method not allowed',
                          'This action answers GET (a confirmation form)'
                          ' and POST (the form itself), not %s.'
                          % _safe(method, 20))

    def _log(self):
        """What was done, for operators: each sentence, or a count when
        many jobs were acted on."""
        who = getattr(self.request.principal, 'id', '?')
        if len(self.done) <= LOGGED_ONE_BY_ONE:
            for message in self.done:
                logger.info('%s (by %s, through the web)', message, who)
        else:
            logger.info('%s: %d jobs done, %d refused (by %s, through the'
                        ' web); the first: %s', self.heading,
                        len(self.done), len(self.refused), who,
                        self.done[0])

    def _fail(self, problem):
        self.mode = 'error'
        self.problem = problem
        self.request.response.setStatus(problem.status)
        # Whatever ran before the problem must not commit.
        txn = _transaction_of(self.context)
        if txn is not None:
            txn.doom()

    # -- request checks -------------------------------------------------

    def _check_size(self):
        length = self.request.get('CONTENT_LENGTH') or '0'
        try:
            length = int(length)
        except ValueError:
            raise bad_request('Content-Length %r is not a number.'
                              % _safe(length, 40)) from None
        if length > MAX_BODY_BYTES:
            raise Problem(413, 'Request too large',
                          'The request body has %d bytes; an action takes'
                          ' at most %d. Act on fewer jobs at once (at most'
                          ' %d keys), or on a filtered selection.'
                          % (length, MAX_BODY_BYTES, MAX_KEYS))

    def _check_fields(self):
        allowed = self.fields | COMMON_FIELDS
        unknown = sorted(name for name in self.request.form
                         if name not in allowed)
        if unknown:
            raise bad_request(
                'Unknown field%s %s; this action takes %s.'
                % ('s' if len(unknown) > 1 else '',
                   ', '.join(repr(_safe(n, 40)) for n in unknown[:10]),
                   ', '.join(sorted(self.fields)) or 'no fields'))

    def field(self, name, required=True, default=None):
        """The one value of form field ``name``: Problem (400) when it is
        missing (and required), repeated, or too long."""
        value = self.request.form.get(name)
        if value is None:
            if required:
                raise bad_request('The field %r is missing.' % name)
            return default
        if not isinstance(value, str):
            raise bad_request('The field %r was sent %s; send it once.'
                              % (name, _times(value)))
        if len(value) > MAX_VALUE_CHARS:
            raise bad_request('The field %r has %d characters; at most %d'
                              ' are accepted.' % (name, len(value),
                                                  MAX_VALUE_CHARS))
        return value

    def choice(self, name, choices):
        value = self.field(name)
        if value not in choices:
            raise bad_request('%r is not an action here; the actions are:'
                              ' %s.' % (_safe(value, 40),
                                        ', '.join(choices)))
        return value

    # -- what the template shows ------------------------------------------

    def hidden_fields(self):
        """(name, value) pairs that the confirmation form sends again."""
        return []

    def question(self):
        return ''

    def can_confirm(self):
        """False when the confirmation would act on nothing."""
        return True

    def action_url(self):
        return self.request.getURL()

    def back_url(self):
        """``came_from`` when it is a page of this site, else the page of
        the object acted on."""
        came_from = self.request.form.get('came_from')
        if isinstance(came_from, str) and _is_local(came_from, self.request):
            return came_from
        return self.object_url()

    def object_url(self):
        """The page of the object acted on (the overview here)."""
        return overview_url(self.request)

    def overview_url(self):
        return overview_url(self.request)

    def came_from(self):
        value = self.request.form.get('came_from')
        return value if isinstance(value, str) and _is_local(
            value, self.request) else None


def overview_url(request):
    return traversal.page_url(request)


def _is_local(url, request):
    if len(url) > MAX_VALUE_CHARS:
        return False
    if url.startswith('/') and not url.startswith('//'):
        return '\\' not in url
    return url.startswith(request.getApplicationURL() + '/')


def _times(value):
    try:
        return '%d times' % len(value)
    except TypeError:
        return 'as a %s' % type(value).__name__


def _safe(text, limit):
    return format.safe_text(text, limit)


def _transaction_of(obj):
    jar = getattr(unwrap(obj), '_p_jar', None)
    if jar is None:
        return None
    return jar.transaction_manager.get()


# -- a job ---------------------------------------------------------------

class JobActionPage(ActionPage):
    """One job action on the job page's object (``.../jobs/KEY/@@NAME``);
    subclasses name their ``action`` in operations.JOB_ACTIONS."""

    action = None

    def parse(self):
        self.job = unwrap(self.context)
        self.heading = '%s job %s' % (
            operations.JOB_ACTIONS[self.action][0], self.job.key)
        self.button = operations.JOB_ACTIONS[self.action][0]

    def question(self):
        return '%s job %s (%s, %s)?' % (
            operations.JOB_ACTIONS[self.action][0], self.job.key,
            _safe(_callable_name(self.job), 200), self.job.status)

    def perform(self):
        return operations.apply_to_jobs(self.action, [self.job])

    def object_url(self):
        return traversal.job_url(self.request, self.job.key)


def _callable_name(job):
    try:
        return filters.callable_name(job) or '?'
    except Exception:
        return '?'


def job_action_page(action):
    """A JobActionPage class for ``action`` (for ZCML's ``class=``)."""
    return type('JobActionPage_' + action.replace('-', '_'),
                (JobActionPage,), {'action': action,
                                   '__module__': __name__})


CancelJob = job_action_page('cancel')
RetryJobNow = job_action_page('retry-now')
RunJobNow = job_action_page('run-now')
RequeueJob = job_action_page('requeue')
RemoveJob = job_action_page('remove')


# -- many jobs -----------------------------------------------------------

class BulkJobActionPage(ActionPage):
    """A job action on many jobs at once: by key (``key`` repeated, the
    checkboxes of a list), or every job a list's filters select
    (``select=1`` and the list's query parameters, see browser.selection;
    the confirmation page lists them and its form sends their keys).  On
    the Queues mapping (any job; ``kind`` names the list) or on a queue
    (its jobs only)."""

    fields = frozenset(['action', 'key', 'select', 'kind']) | \
        selection.FIELDS
    heading = 'Act on jobs'
    single = False
    #: When the selection matched more than MAX_KEYS jobs.
    more = False
    described = None

    def parse(self):
        self.action = self.choice('action', list(operations.JOB_ACTIONS))
        self.button = operations.JOB_ACTIONS[self.action][0]
        if self.field('select', required=False):
            self._parse_selection()
        else:
            self._parse_keys()
        self.heading = '%s %d job%s' % (self.button, len(self.keys),
                                         '' if len(self.keys) == 1 else 's')

    def _parse_selection(self):
        if 'key' in self.request.form:
            raise bad_request('Send either job keys (key) or a selection'
                              ' (select=1 and filters), not both.')
        try:
            jobs, self.more, self.described = selection.select(
                unwrap(self.context), self.request.form, MAX_KEYS,
                utils.now())
        except listing.BadParameter as e:
            raise bad_request(str(e)) from None
        self.jobs, self.missing = list(jobs), []
        # From the oids: ``job.key`` would load each job (a ghost until
        # then) just to name it on the confirmation page.
        self.keys = [utils.oid_key(job._p_oid) for job in self.jobs]

    def _parse_keys(self):
        keys = self.request.form.get('key')
        if keys is None:
            raise bad_request('No job is selected (field "key"): tick the'
                              ' jobs to act on, or send select=1 with the'
                              ' filters of a list.')
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, (list, tuple)) or not all(
                isinstance(k, str) for k in keys):
            raise bad_request('The field "key" holds job keys such as'
                              ' 0x3a1f.')
        if len(keys) > MAX_KEYS:
            raise bad_request('%d jobs are selected; an action takes at'
                              ' most %d at once.' % (len(keys), MAX_KEYS))
        self.keys = list(dict.fromkeys(keys))
        self.jobs, self.missing = self._find_jobs(self.keys)

    def _find_jobs(self, keys):
        context = unwrap(self.context)
        jobs, missing = [], []
        for key in keys:
            if not traversal.JOB_KEY.match(key):
                raise bad_request(
                    '%r is not a job key: a key is the hex oid that'
                    ' listings show, such as 0x3a1f (lower case, with 0x).'
                    % _safe(key, 40))
            found = traversal.find_job(context._p_jar, key)
            if isinstance(found, str):
                missing.append(found)
            elif getattr(context, 'dispatchers', None) is not None and (
                    found.queue is not context):
                missing.append('Job %s is not a job of queue %r.'
                               % (key, context.name))
            else:
                jobs.append(found)
        return jobs, missing

    def hidden_fields(self):
        return [('action', self.action)] + [('key', k) for k in self.keys]

    def can_confirm(self):
        return bool(self.keys)

    def question(self):
        if not self.keys:
            return 'No job matches %s.' % self.described
        return '%s %d job%s%s: %s%s?' % (
            self.button, len(self.keys), '' if len(self.keys) == 1 else 's',
            ' (%s)' % self.described if self.described else '',
            ', '.join(self.keys[:20]) + (' ...' if len(self.keys) > 20
                                         else ''),
            ' (more match: this takes the first %d; act again for the'
            ' rest)' % MAX_KEYS if self.more else '')

    def perform(self):
        done, refused = operations.apply_to_jobs(self.action, self.jobs)
        return done, self.missing + refused

    def object_url(self):
        context = unwrap(self.context)
        if getattr(context, 'dispatchers', None) is not None:
            return traversal.queue_url(self.request, context.name)
        return overview_url(self.request)


# -- a queue, an agent, a dispatcher -------------------------------------

class QueueActionPage(ActionPage):
    """Pause or resume the queue (``.../queues/NAME/@@pause``)."""

    action = None

    def parse(self):
        self.queue = unwrap(self.context)
        self.button, self.function = operations.QUEUE_ACTIONS[self.action]
        self.heading = '%s queue %r' % (self.button, self.queue.name)

    def question(self):
        return '%s queue %r (%d jobs waiting)?' % (
            self.button, self.queue.name, len(self.queue))

    def perform(self):
        return _one(self.function, self.queue)

    def object_url(self):
        return traversal.queue_url(self.request, self.queue.name)


class PauseQueue(QueueActionPage):
    action = 'pause'


class ResumeQueue(QueueActionPage):
    action = 'resume'


class AgentActionPage(ActionPage):
    """Deactivate or activate the agent (``.../AGENT/@@deactivate``)."""

    action = None

    def parse(self):
        self.agent = unwrap(self.context)
        self.button, self.function = operations.AGENT_ACTIONS[self.action]
        self.heading = '%s agent %r' % (self.button, self.agent.name)

    def question(self):
        return '%s agent %r of dispatcher %s (it holds %d jobs)?' % (
            self.button, self.agent.name, self.agent.dispatcher_record.UUID,
            len(self.agent))

    def perform(self):
        return _one(self.function, self.agent)

    def object_url(self):
        record = self.agent.dispatcher_record
        return traversal.agent_url(self.request, record.queue.name,
                                   record.UUID, self.agent.name)


class DeactivateAgent(AgentActionPage):
    action = 'deactivate'


class ActivateAgent(AgentActionPage):
    action = 'activate'


class DeactivateDispatcher(ActionPage):
    """Deactivate a dead dispatcher in every queue and recover its jobs
    now (``.../dispatchers/UUID/@@deactivate``); refused for a live
    one."""

    button = 'Deactivate and recover its jobs'

    def parse(self):
        record = unwrap(self.context)
        self.uuid = record.UUID
        self.queue_name = record.queue.name
        self.queues = record.queue.__parent__
        self.heading = 'Deactivate dispatcher %s' % self.uuid

    def question(self):
        return ('Deactivate dispatcher %s in every queue where it is dead,'
                ' and recover its jobs now (those not started go back to'
                ' their queue, started ones to their retry policy)?'
                % self.uuid)

    def perform(self):
        who = getattr(self.request.principal, 'id', 'an unknown principal')
        try:
            return operations.deactivate_dead_dispatcher(
                self.queues, self.uuid, who), []
        except Refused as e:
            return [], [str(e)]

    def object_url(self):
        return traversal.dispatcher_url(self.request, self.queue_name,
                                        self.uuid)


def _one(function, obj):
    try:
        return [function(obj)], []
    except Refused as e:
        return [], [str(e)]
