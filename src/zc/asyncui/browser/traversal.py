"""Traversal below ``/++async++/`` and the URLs of what it reaches.

The URL scheme is documented in zc.asyncui.browser's docstring.  Each
step returns the engine's object in a ``LocationProxy`` (so absolute URLs
and the security policy see it inside the site), or a small folder object
for the fixed names ``jobs``, ``queues`` and ``dispatchers``.  A name that
names nothing answers a 404 page that says what was wrong and what to do
(``NotFoundPage``), not an exception: hostile URLs neither log tracebacks
nor answer 500.

Every lookup first checks ``zc.asyncui.View`` on the folder, so an
anonymous request is challenged (401) whether the key exists or not.
"""
import json
import re

import zope.component
import zope.interface
import zope.location
import zope.location.interfaces
import zope.publisher.browser
import zope.security
import zope.security.interfaces
import zope.security.checker
import zope.security.proxy
from zope.app.publication.traversers import SimpleComponentTraverser
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

from zc.asyncui import errors
from zc.asyncui import queries
from zc.asyncui.browser import format

#: The permission to read any page under /++async++/.
VIEW_PERMISSION = 'zc.asyncui.View'
NAMESPACE_SEGMENT = '++async++'
#: A job key in a URL: the canonical hex oid, as Job.key gives it.
JOB_KEY = re.compile(r'0x[0-9a-f]{1,16}\Z')
#: Queue and agent names written as they are in URLs; any other name
#: (the default queue '', names with '/', spaces, ...) is written as '~'
#: and the hex of its UTF-8 bytes: '' is '~'.
PLAIN_NAME = re.compile(r'[A-Za-z0-9_][A-Za-z0-9._-]{0,199}\Z')
#: Characters of a bad name echoed back on a 404 page.
ECHO_LIMIT = 80


class IAsyncFolder(zope.interface.Interface):
    """A fixed name below /++async++/ (``jobs``, ``queues``,
    ``dispatchers``); ``__parent__`` is what it is found on."""


class IJobsFolder(IAsyncFolder):
    """``/++async++/jobs``: every job of the database by key."""


class IQueuesFolder(IAsyncFolder):
    """``/++async++/queues``: the queues by URL segment (see
    name_to_segment)."""


class IDispatchersFolder(IAsyncFolder):
    """``/++async++/queues/<queue>/dispatchers``: the dispatchers known
    to one queue, by UUID."""


@zope.interface.implementer(zope.location.interfaces.ILocation)
class AsyncFolder:
    """See IAsyncFolder."""

    # Published through a security proxy; only its location is public.
    __Security_checker__ = zope.security.checker.NamesChecker(
        ['__name__', '__parent__'])

    def __init__(self, parent, name):
        self.__parent__ = parent
        self.__name__ = name


@zope.interface.implementer(IJobsFolder)
class JobsFolder(AsyncFolder):
    """See IJobsFolder."""


@zope.interface.implementer(IQueuesFolder)
class QueuesFolder(AsyncFolder):
    """See IQueuesFolder."""


@zope.interface.implementer(IDispatchersFolder)
class DispatchersFolder(AsyncFolder):
    """See IDispatchersFolder."""


# -- names in URLs ---------------------------------------------------------

def name_to_segment(name):
    """The URL segment of a queue or agent name: the name itself when it
    is plain (letters, digits, ``._-``), else '~' and the hex of its
    UTF-8 bytes (the default queue '' is '~')."""
    if PLAIN_NAME.match(name):
        return name
    return '~' + name.encode('utf-8').hex()


def segment_to_name(segment):
    """The name of a URL segment (see name_to_segment); ValueError for a
    segment no name gives."""
    if segment.startswith('~'):
        try:
            return bytes.fromhex(segment[1:]).decode('utf-8')
        except ValueError:
            raise ValueError('%r is not a name written as ~ and hex of'
                             ' UTF-8' % format.truncate(segment, ECHO_LIMIT))
    if PLAIN_NAME.match(segment):
        return segment
    raise ValueError('%r is not a queue or agent name as URLs write them'
                     % format.truncate(segment, ECHO_LIMIT))


# -- URLs ------------------------------------------------------------------

def base_url(request):
    """``http://host/++async++``: the root of every page's URL."""
    return '%s/%s' % (request.getApplicationURL(), NAMESPACE_SEGMENT)


def page_url(request, name=''):
    """A page on the Queues mapping: '' is the overview, else
    ``.../++async++/@@NAME``."""
    return base_url(request) + ('/@@' + name if name else '/')


def job_url(request, key):
    return '%s/jobs/%s' % (base_url(request), key)


def queue_url(request, queue_name):
    return '%s/queues/%s' % (base_url(request), name_to_segment(queue_name))


def dispatcher_url(request, queue_name, uuid):
    return '%s/dispatchers/%s' % (queue_url(request, queue_name), uuid)


def agent_url(request, queue_name, uuid, agent_name):
    return '%s/%s' % (dispatcher_url(request, queue_name, uuid),
                      name_to_segment(agent_name))


# -- lookups ---------------------------------------------------------------

def find_job(conn, key):
    """The Job of URL key ``key`` in the database of ``conn``
    (queries.find_job, for the canonical key only), or a sentence (str)
    saying why there is none."""
    if not JOB_KEY.match(key):
        return ('%r is not a job key: a key is the hex oid that listings'
                ' show, such as 0x3a1f (lower case, with 0x).'
                % format.truncate(key, ECHO_LIMIT))
    try:
        return queries.find_job(conn, key)
    except errors.JobNotFoundError as e:
        text = format.safe_text(e, 300)
        return ('There is ' + text if text.startswith('no ') else text) + '.'
    except Exception as e:  # an object that cannot be loaded here
        return 'Object %s cannot be loaded here (%s).' % (
            key, format.safe_text(e, 200))


def require_view(context):
    """Raise Unauthorized (a 401 challenge) unless the current principal
    may view ``context``."""
    if not zope.security.checkPermission(VIEW_PERMISSION, context):
        raise zope.security.interfaces.Unauthorized(
            context, 'traverse', VIEW_PERMISSION)


def located(obj, parent, name):
    """``obj`` in a LocationProxy named ``name`` in ``parent``."""
    return zope.location.LocationProxy(obj, parent, name)


# -- traversers ------------------------------------------------------------

class QueuesTraverser(SimpleComponentTraverser):
    """``/++async++/``: ``jobs`` and ``queues``, then views."""

    folders = {'jobs': JobsFolder, 'queues': QueuesFolder}

    def publishTraverse(self, request, name):
        factory = self.folders.get(name)
        if factory is not None:
            return factory(self.context, name)
        return super().publishTraverse(request, name)


class _FolderTraverser(SimpleComponentTraverser):
    """Names of a folder: an item found by ``lookup`` or a 404 page;
    the folder's default view is the overview."""

    def browserDefault(self, request):
        return RedirectToOverview(self.context, request), ()

    def publishTraverse(self, request, name):
        require_view(self.context)
        found = self.lookup(name)
        if isinstance(found, str):
            # The page answers for the rest of the URL too (.../@@job.json).
            request.setTraversalStack([])
            return NotFoundPage(self.context, request, found, self.advice)
        return found


class JobsTraverser(_FolderTraverser):
    """``/++async++/jobs/<key>``: a job, pending or finished."""

    advice = ('Jobs are listed on the overview, the queue pages and the'
              ' Failed, Retries, Scheduled and Dead pages.')

    def lookup(self, key):
        queues = zope.security.proxy.removeSecurityProxy(
            self.context.__parent__)
        found = find_job(queues._p_jar, key)
        if isinstance(found, str):
            return found
        return located(found, self.context, key)


class QueuesFolderTraverser(_FolderTraverser):
    """``/++async++/queues/<queue>``: a queue by URL segment."""

    advice = 'The overview lists every queue with a link to its page.'

    def lookup(self, segment):
        try:
            name = segment_to_name(segment)
        except ValueError as e:
            return str(e) + '.'
        queues = zope.security.proxy.removeSecurityProxy(
            self.context.__parent__)
        if name not in queues:
            return 'There is no queue %r in this database.' % (
                format.truncate(name, ECHO_LIMIT),)
        return located(queues[name], self.context, segment)


class QueueTraverser(SimpleComponentTraverser):
    """A queue: ``dispatchers``, then views."""

    def publishTraverse(self, request, name):
        if name == 'dispatchers':
            return DispatchersFolder(self.context, name)
        return super().publishTraverse(request, name)


class DispatchersTraverser(_FolderTraverser):
    """``.../dispatchers/<uuid>``: a dispatcher's record in the queue."""

    advice = ('The overview and the queue page list the dispatchers of'
              ' each queue.')

    def lookup(self, uuid):
        queue = zope.security.proxy.removeSecurityProxy(
            self.context.__parent__)
        record = queue.dispatchers.get(uuid) if len(uuid) <= 100 else None
        if record is None:
            return 'No dispatcher %r has ever run in queue %r.' % (
                format.truncate(uuid, ECHO_LIMIT), queue.name)
        return located(record, self.context, uuid)


class DispatcherTraverser(SimpleComponentTraverser):
    """``.../dispatchers/<uuid>/<agent>``: an agent by URL segment; other
    names are views."""

    def publishTraverse(self, request, name):
        record = zope.security.proxy.removeSecurityProxy(self.context)
        try:
            agent_name = segment_to_name(name)
        except ValueError:
            agent_name = None
        if agent_name is not None and agent_name in record:
            require_view(self.context)
            return located(record[agent_name], self.context, name)
        view = zope.component.queryMultiAdapter(
            (self.context, request), name=name)
        if view is not None:
            return view
        require_view(self.context)
        return NotFoundPage(
            self.context, request,
            'Dispatcher %s has no agent %r in this queue.' % (
                record.UUID, format.truncate(name, ECHO_LIMIT)),
            'The dispatcher page lists its agents.')


# -- pages answered by traversal -------------------------------------------

#: Pages returned by traversal are published through a security proxy.
_PAGE_CHECKER = zope.security.checker.NamesChecker(
    ['__call__', 'browserDefault', 'publishTraverse', '__name__',
     '__parent__'])


class RedirectToOverview(zope.publisher.browser.BrowserPage):
    """The folders' default view: the overview lists what they hold."""

    __Security_checker__ = _PAGE_CHECKER

    def __call__(self):
        self.request.response.redirect(page_url(self.request))
        return ''


class ErrorPage(zope.publisher.browser.BrowserPage):
    """A page that answers an error status with what was wrong
    (``problem``) and what to do (``advice``), in the site's layout.
    Views answer bad input with it instead of raising, so hostile
    requests neither log tracebacks nor answer 500."""

    __Security_checker__ = _PAGE_CHECKER
    status = 400
    title = 'Bad request'
    template = ViewPageTemplateFile('templates/error.pt')

    def __init__(self, context, request, problem, advice=''):
        super().__init__(context, request)
        self.problem = format.safe_text(problem, 500)
        self.advice = advice

    def publishTraverse(self, request, name):
        return self  # the same answer for whatever follows in the URL

    def __call__(self):
        self.request.response.setStatus(self.status)
        if self.wants_json():
            self.request.response.setHeader(
                'Content-Type', 'application/json')
            return json.dumps({'error': self.title, 'status': self.status,
                               'problem': self.problem,
                               'advice': self.advice})
        return self.template()

    def wants_json(self):
        path = self.request.get('PATH_INFO', '') or ''
        return path.endswith('.json')

    def links(self):
        return [{'title': 'Overview', 'url': page_url(self.request)}]


class NotFoundPage(ErrorPage):
    """ErrorPage answering 404."""

    status = 404
    title = 'Not found'
