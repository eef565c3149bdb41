"""zc.asyncui's pages as ZMI management screens: an application on the
Rotterdam skin (tests/zmiftesting.zcml) shows them with Rotterdam's
chrome and a ``zmi_views`` tab per page; the same application without
``++skin++Rotterdam`` shows them in zc.asyncui's own layout.
"""
import json
import os
import re

import pytest
import transaction
import zope.browsermenu.field
import zope.browsermenu.metaconfigure
import zope.configuration.config
import zope.configuration.exceptions
import zope.configuration.xmlconfig
import zope.testbrowser.wsgi

import zc.asyncui
from zc.asyncui import testing

import jobs
import testbrowsers

HERE = os.path.dirname(os.path.abspath(__file__))
ROTTERDAM = 'http://localhost/++skin++Rotterdam'
STANDALONE = 'http://localhost'

layer = testing.FunctionalLayer(os.path.join(HERE, 'zmiftesting.zcml'),
                                name='zmiftesting')
functional = pytest.fixture(testing.functional_fixture(layer))


def browser(layer, login='mgr:mgrpw'):
    return testbrowsers.browser_for(layer, login, handle_errors=False)


def tabs(b):
    """The ZMI tabs of the page in ``b``: {title: link}."""
    html = b.contents
    if 'class="itemViews"' not in html:
        return {}
    start = html.index('class="itemViews"')
    block = html[start:html.index('</div>', start)]
    return dict((title.strip(), url) for url, title in re.findall(
        r'<a href="([^"]*)"[^>]*>\s*([^<]*?)\s*</a>', block))


def test_site_root_has_an_async_tab(functional):
    b = browser(functional)
    b.open(ROTTERDAM + '/@@index.html')
    assert tabs(b)['Async'] == ROTTERDAM + '/++async++/'




def test_overview_through_rotterdam_has_its_tab_and_chrome(functional):
    b = browser(functional)
    b.open(ROTTERDAM + '/++async++/')
    assert b.headers['status'] == '200 Ok'
    assert tabs(b)['Overview'] == ROTTERDAM + '/++async++/@@index.html'
    assert 'class="selected">Overview</a>' in b.contents
    assert 'id="async-nav"' not in b.contents  # the standalone layout's
    # Rotterdam's chrome: its style sheet, breadcrumbs and user box
    assert 'zope3_tablelayout.css' in b.contents
    assert 'id="breadcrumbs"' in b.contents
    assert 'Manager' in b.contents
    # the page itself
    assert '<table id="queues"' in b.contents
    assert '<title>zc.asyncui</title>' in b.contents


def test_overview_tab_leads_to_the_overview(functional):
    b = browser(functional)
    b.open(ROTTERDAM + '/@@index.html')
    b.getLink('Async').click()
    assert b.url == ROTTERDAM + '/++async++/'
    b.getLink('Overview').click()
    assert b.headers['status'] == '200 Ok'
    assert '<table id="queues"' in b.contents


def test_overview_through_the_standalone_layout(functional):
    b = browser(functional)
    b.open(STANDALONE + '/++async++/')
    assert b.headers['status'] == '200 Ok'
    assert tabs(b) == {}
    assert 'zope3_tablelayout.css' not in b.contents
    assert 'id="async-nav"' in b.contents
    assert '<table id="queues"' in b.contents


def put_failing_job(layer):
    queue = zc.asyncui.getQueue(layer.getRootFolder())
    job = queue.put(zc.asyncui.Job(jobs.fail, 'zmi <b>boom</b>'))
    transaction.commit()
    testing.wait_for_result(job, timeout=30)
    return job.key


def test_every_overview_tab_leads_to_a_page(functional):
    b = browser(functional)
    b.open(ROTTERDAM + '/++async++/')
    found = tabs(b)
    assert set(found) == {'Overview', 'Failed', 'Retries', 'Scheduled',
                          'Dead', 'Log', 'Metrics'}
    for title, url in sorted(found.items()):
        b.open(url)
        assert b.headers['status'] == '200 Ok', (title, url)
        if b.headers['Content-Type'].startswith('text/html'):
            assert 'class="selected">%s</a>' % title in b.contents
            assert 'zope3_tablelayout.css' in b.contents


@pytest.mark.parametrize('title', ['Queue', 'Dispatcher', 'Agent'])
def test_object_pages_through_the_standalone_layout(functional, title):
    wait_for_activation(functional)
    url = object_pages(functional)[title].replace(ROTTERDAM, STANDALONE)
    b = browser(functional)
    b.open(url)
    assert b.headers['status'] == '200 Ok', url
    assert tabs(b) == {}
    assert 'id="async-nav"' in b.contents
    assert 'zope3_tablelayout.css' not in b.contents


def test_job_through_rotterdam(functional):
    key = put_failing_job(functional)
    b = browser(functional)
    b.open(ROTTERDAM + '/++async++/jobs/' + key)
    assert b.headers['status'] == '200 Ok'
    job_url = ROTTERDAM + '/++async++/jobs/' + key
    assert tabs(b) == {'Job': job_url + '/@@index.html'}
    assert 'class="selected">Job</a>' in b.contents
    assert 'zope3_tablelayout.css' in b.contents
    assert '<pre id="traceback">' in b.contents
    assert 'zmi &lt;b&gt;boom&lt;/b&gt;' in b.contents
    assert 'zmi <b>boom</b>' not in b.contents


def test_breadcrumbs_lead_to_the_first_tab(functional):
    key = put_failing_job(functional)
    b = browser(functional)
    b.open(ROTTERDAM + '/++async++/jobs/' + key)
    b.getLink('++async++').click()  # Location: [top] / ++async++ / ...
    assert b.url == ROTTERDAM + '/++async++/@@index.html'
    assert 'class="selected">Overview</a>' in b.contents
    b.getLink('[top]').click()
    assert b.url == ROTTERDAM + '/@@index.html'  # the application's tab


def test_job_through_the_standalone_layout(functional):
    key = put_failing_job(functional)
    b = browser(functional)
    b.open(STANDALONE + '/++async++/jobs/' + key)
    assert b.headers['status'] == '200 Ok'
    assert tabs(b) == {}
    assert 'id="async-nav"' in b.contents
    assert '<pre id="traceback">' in b.contents


def wait_for_activation(layer):
    """Until the test's dispatcher has activated in the queue '' (its
    record and agent exist)."""
    def activated():
        transaction.abort()
        queue = zc.asyncui.getQueue(layer.getRootFolder())
        record = queue.getDispatcherAgents(layer.dispatcher.UUID)
        return record is not None and 'main' in record
    testing.wait_until(activated, 30, 'the dispatcher activated')


def object_pages(layer):
    """{tab title: URL} of the page of each kind of object, through
    Rotterdam."""
    base = ROTTERDAM + '/++async++'
    dispatcher = '%s/queues/~/dispatchers/%s' % (base, layer.dispatcher.UUID)
    return {'Queue': base + '/queues/~', 'Dispatcher': dispatcher,
            'Agent': dispatcher + '/main'}


@pytest.mark.parametrize('title', ['Queue', 'Dispatcher', 'Agent'])
def test_object_pages_through_rotterdam(functional, title):
    wait_for_activation(functional)
    url = object_pages(functional)[title]
    b = browser(functional)
    b.open(url)
    assert b.headers['status'] == '200 Ok', url
    found = tabs(b)
    assert found[title] == url + '/@@index.html'
    assert 'class="selected">%s</a>' % title in b.contents
    assert 'zope3_tablelayout.css' in b.contents
    assert 'id="async-nav"' not in b.contents
    for tab, link in found.items():  # every tab leads to a page
        b.open(link)
        assert b.headers['status'] == '200 Ok', (tab, link)
        assert 'class="selected">%s</a>' % tab in b.contents


def test_a_viewer_gets_no_edit_tab(functional):
    wait_for_activation(functional)
    b = browser(functional, login='viewer:viewerpw')
    b.open(object_pages(functional)['Agent'])
    assert b.headers['status'] == '200 Ok'
    assert 'Agent' in tabs(b) and 'Edit' not in tabs(b)


def test_agent_edit_form_through_rotterdam(functional):
    wait_for_activation(functional)
    agent = object_pages(functional)['Agent']
    b = browser(functional)
    b.open(agent)
    b.getLink('Edit').click()
    assert b.url == agent + '/@@edit.html'
    assert 'class="selected">Edit</a>' in b.contents
    assert 'zope3_tablelayout.css' in b.contents
    b.getControl(name='agent.size').value = '5'
    b.getControl(name='agent.actions.save').click()
    assert b.headers['status'] == '200 Ok'
    assert 'zope3_tablelayout.css' in b.contents
    b.open(agent + '/@@agent.json')
    assert json.loads(b.contents)['size'] == 5


def test_anonymous_is_challenged_through_rotterdam(functional):
    b = browser(functional, login=None)
    b.handleErrors = True
    b.open(ROTTERDAM + '/++async++/')
    assert b.headers['status'].startswith('401')
    assert 'WWW-Authenticate' in b.headers


def test_no_async_tab_without_the_view_permission(functional):
    b = browser(functional, login='user:userpw')
    b.open(ROTTERDAM + '/@@index.html')
    assert b.headers['status'] == '200 Ok'
    assert 'Application' in tabs(b)
    assert 'Async' not in tabs(b)


def test_zmi_zcml_without_the_menus_names_them(monkeypatch):
    # Parsed only (execute=False): the layer's registry stays as it is.
    # A declared menu stays importable from zope.app.menus and registered
    # as a utility (zmiftesting.zcml's are, once the layer has run):
    # hide both, as in an application that never declared it.
    monkeypatch.delattr(zope.browsermenu.metaconfigure.menus, 'zmi_views',
                        raising=False)
    monkeypatch.setattr(zope.browsermenu.field, 'queryUtility',
                        lambda *args, **kw: None)
    context = zope.configuration.config.ConfigurationMachine()
    zope.configuration.xmlconfig.registerCommonDirectives(context)
    with pytest.raises(zope.configuration.exceptions.ConfigurationError,
                       match="Couldn't import zmi_views"):
        zope.configuration.xmlconfig.string(
            '<configure xmlns="http://namespaces.zope.org/zope">'
            '<include package="zc.asyncui.browser" file="zmi.zcml" />'
            '</configure>', context=context, execute=False)


@pytest.mark.parametrize('path, status', [
    ('/++async++/jobs/0xdeadbeef', '404'),
    ('/++async++/jobs/not-a-key', '404'),
    ('/++async++/queues/nosuchqueue', '404'),
    ('/++async++/@@failed?size=-1', '400'),
])
def test_bad_urls_through_rotterdam(functional, path, status):
    b = browser(functional)
    b.handleErrors = True
    b.open(ROTTERDAM + path)
    assert b.headers['status'].startswith(status), b.headers['status']
    assert 'zope3_tablelayout.css' in b.contents
