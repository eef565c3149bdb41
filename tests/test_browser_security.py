"""Every registered browser view of zc.asyncui, found through the
component registry (so pages added later are covered without touching
this file): anonymous requests are challenged (401); the View-only
principal of ftesting.zcml ("viewer") sees the zc.asyncui.View pages and
is refused (403) every zc.asyncui.Manage page, by GET and by POST
with a valid CSRF token, and nothing changes; a manager reaches every
page.  No request answers 500.
"""
import pytest
import zope.component
import zope.interface
from zope.publisher.interfaces.browser import IBrowserRequest
from zope.security.checker import CheckerPublic
from zope.security.checker import getCheckerForInstancesOf

import zc.asyncui
from zc.asyncui import interfaces
from zc.asyncui.browser import csrf
from zc.asyncui.job import JobStatus
from zope.site.interfaces import IRootFolder

import actionfixtures as fx
from actionfixtures import browser, status

functional = pytest.fixture(fx.testing.functional_fixture(fx.layer))

VIEW, MANAGE = 'zc.asyncui.View', 'zc.asyncui.Manage'
#: Views anyone may open: the layout's macros (no data).
PUBLIC = {'standard_macros'}
#: Where a view registered for each interface is opened: a function of
#: the objects fx.populate made.
URLS = {
    interfaces.IQueues: lambda made: fx.BASE,
    interfaces.IQueue: lambda made: fx.queue_url(''),
    interfaces.IJob: lambda made: fx.job_url(made['pending']),
    interfaces.IDispatcherAgents: lambda made: fx.dispatcher_url(
        fx.DEAD_UUID),
    interfaces.IAgent: lambda made: fx.agent_url(fx.DEAD_UUID, 'worker'),
    IRootFolder: lambda made: 'http://localhost',
}


def _is_ours(factory):
    return any(getattr(cls, '__module__', '').startswith('zc.asyncui')
               for cls in getattr(factory, '__mro__', (factory,)))


def registered_views():
    """(interface, name, permission) of every browser view whose class is
    zc.asyncui's, in the global registry."""
    found = []
    registry = zope.component.getGlobalSiteManager()
    for reg in registry.registeredAdapters():
        if len(reg.required) != 2 or \
                reg.provided is not zope.interface.Interface:
            continue
        if not reg.required[1].isOrExtends(IBrowserRequest):
            continue
        if not _is_ours(reg.factory):
            continue
        checker = getCheckerForInstancesOf(reg.factory)
        permission = checker.get_permissions.get('__call__') if checker \
            else None
        found.append((reg.required[0], reg.name, permission))
    return sorted(found, key=lambda v: (v[0].__identifier__, v[1]))


@pytest.fixture
def made(functional):
    functional.dispatcher.stop(10.0)
    return fx.populate(functional)


@pytest.fixture
def views(functional):
    return registered_views()


def url_of(iface, name, made):
    for known, url in URLS.items():
        if iface.isOrExtends(known):
            return '%s/@@%s' % (url(made), name)
    raise AssertionError(
        'The view %r is registered for %s, which this test cannot reach:'
        ' add a URL for it to URLS in %s.' % (name, iface.__identifier__,
                                              __file__))


def test_the_walk_finds_the_pages_and_actions(views):
    names = {(iface, name) for iface, name, _ in views}
    assert (interfaces.IQueues, 'index.html') in names
    assert (interfaces.IJob, 'cancel') in names
    assert (interfaces.IDispatcherAgents, 'deactivate') in names
    manage = [v for v in views if v[2] == MANAGE]
    assert len(manage) >= 12


def test_every_view_is_protected(views):
    for iface, name, permission in views:
        if name in PUBLIC:
            assert permission is CheckerPublic
            continue
        assert permission in (VIEW, MANAGE), (
            'view %r of %s needs %r: zc.asyncui pages need %s or %s'
            % (name, iface.__identifier__, permission, VIEW, MANAGE))


def test_anonymous_is_challenged_everywhere(functional, made, views):
    b = browser(functional, login=None)
    for iface, name, permission in views:
        if name in PUBLIC:
            continue
        url = url_of(iface, name, made)
        b.open(url)
        assert status(b) == 401, (url, status(b))
        assert 'basic' in b.headers.get('WWW-Authenticate', '').lower()


def test_viewer_sees_pages_and_cannot_act(functional, made, views):
    b = browser(functional, login=fx.VIEWER)
    for iface, name, permission in views:
        if name in PUBLIC:
            continue
        url = url_of(iface, name, made)
        b.open(url)
        if permission == VIEW:
            assert status(b) not in (401, 403, 500), (url, status(b))
        else:
            assert status(b) == 403, (url, status(b))


def test_viewer_posts_are_refused_and_change_nothing(functional, made,
                                                     views):
    for iface, name, permission in views:
        if permission != MANAGE:
            continue
        url = url_of(iface, name, made)
        b = browser(functional, login=fx.VIEWER)
        b.addHeader('Cookie', '%s=tok' % csrf.COOKIE)
        b.post(url, 'action=cancel&key=%s&%s=tok' % (made['pending'],
                                                      csrf.FIELD))
        assert status(b) == 403, (url, status(b))
    queues = zc.asyncui.getQueues(fx.layer.getRootFolder())
    assert fx.layer.getJob(made['pending']).status == JobStatus.PENDING
    assert not queues[''].paused
    assert queues[''].dispatchers[fx.DEAD_UUID].activated is not None
    assert queues[''].dispatchers[fx.DEAD_UUID]['worker'].active


def test_anonymous_posts_are_challenged(functional, made, views):
    for iface, name, permission in views:
        if permission != MANAGE:
            continue
        url = url_of(iface, name, made)
        b = browser(functional, login=None)
        b.addHeader('Cookie', '%s=tok' % csrf.COOKIE)
        b.post(url, 'action=cancel&key=%s&%s=tok' % (made['pending'],
                                                      csrf.FIELD))
        assert status(b) == 401, (url, status(b))
    assert fx.layer.getJob(made['pending']).status == JobStatus.PENDING


def test_user_without_permissions_is_refused_everywhere(functional, made,
                                                        views):
    b = browser(functional, login=fx.USER)
    for iface, name, permission in views:
        if name in PUBLIC:
            continue
        b.open(url_of(iface, name, made))
        assert status(b) in (401, 403)


def test_manager_reaches_every_page(functional, made, views):
    b = browser(functional)
    for iface, name, permission in views:
        if name in PUBLIC:
            continue
        url = url_of(iface, name, made)
        b.open(url)
        assert status(b) not in (401, 403, 500), (url, status(b))
