"""The read-only pages under /++async++/ (zc.asyncui.browser): the URL
scheme and its traversal, the layout, the overview, queue, job and list
pages with zope.testbrowser on the standalone site (its ZCML read once
for the module, a FileStorage on disk), and hostile input.
"""
import base64
import json

import pytest
import transaction
import zope.publisher.browser
import zope.security.checker
import zope.testbrowser.wsgi
import zope.testing.cleanup

import zc.asyncui
from zc.asyncui import config
from zc.asyncui import lifecycle
from zc.asyncui import testing
from zc.asyncui import utils
from zc.asyncui.browser import format
from zc.asyncui.browser import traversal
from zc.asyncui.browser import wsgi
from zc.asyncui.cli import site
from zc.asyncui.failure import Failure

import jobs

PASSWORD = 'pages secret'
ADMIN = 'Basic ' + base64.b64encode(
    ('admin:' + PASSWORD).encode()).decode()
BASE = 'http://localhost/++async++'


@pytest.fixture(scope='module')
def configured():
    site.configure(site.PROJECT_ZCML, PASSWORD)
    yield
    config.reset()
    zope.testing.cleanup.cleanUp()


@pytest.fixture(scope='module')
def site_db(configured, tmp_path_factory):
    db = testing.file_storage_db(str(tmp_path_factory.mktemp('pages')))
    site.bootstrap(db)
    yield db
    db.close()


@pytest.fixture
def app(site_db):
    return wsgi.make_app(site_db)


def browser(app, authorization=ADMIN):
    b = zope.testbrowser.wsgi.Browser(wsgi_app=app)
    b.handleErrors = True
    b.raiseHttpErrors = False
    if authorization:
        b.addHeader('Authorization', authorization)
    return b


class Unprintable:
    def __repr__(self):
        raise RuntimeError('no repr for you')


def in_db(db, work):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        with tm:
            return work(conn)
    finally:
        conn.close()


def put(db, *args, **kw):
    """Put ``Job(*args)`` in the default queue; its key."""
    return in_db(db, lambda conn: zc.asyncui.getQueue(conn).put(
        zc.asyncui.Job(*args), **kw)).key


def text(b):
    """The page's contents with its whitespace collapsed."""
    return ' '.join(b.contents.split())


def status(b):
    return int(b.headers['status'].split()[0])


# -- names and URLs --------------------------------------------------------

@pytest.mark.parametrize('name, segment', [
    ('', '~'), ('main', 'main'), ('a.b-c_d', 'a.b-c_d'),
    ('with space', '~' + 'with space'.encode().hex()),
    ('a/b', '~' + b'a/b'.hex()), ('..', '~2e2e'), ('~x', '~' + b'~x'.hex()),
    ('été', '~' + 'été'.encode().hex()), ('@@x', '~' + b'@@x'.hex()),
])
def test_name_segment_round_trip(name, segment):
    assert traversal.name_to_segment(name) == segment
    assert traversal.segment_to_name(segment) == name


@pytest.mark.parametrize('segment', ['~zz', '~ff', 'a b', '.x', '+x'])
def test_bad_segment_is_a_value_error(segment):
    with pytest.raises(ValueError, match='name'):
        traversal.segment_to_name(segment)


# -- format ----------------------------------------------------------------

def test_safe_repr_truncates_and_survives_raising_repr():
    assert format.safe_repr('x' * 10, 5).startswith("'xxxx...")
    assert '(' in format.safe_repr('x' * 10, 5)
    text = format.safe_repr(Unprintable())
    assert 'Unprintable' in text
    huge = format.safe_repr(['y' * 10 ** 6] * 3, 300)
    assert len(huge) < 400


def test_safe_repr_of_repr_returning_bytes():
    class Bytes:
        def __repr__(self):
            return b'x'
    assert 'unrepresentable' in format.safe_repr(Bytes()) or \
        'Bytes' in format.safe_repr(Bytes())


@pytest.mark.parametrize('seconds, text', [
    (None, '-'), (0.25, '250 ms'), (4.24, '4.2 s'), (185, '3 min 5 s'),
    (7800, '2 h 10 min'), (3 * 86400 + 4 * 3600, '3 d 4 h'),
])
def test_format_duration(seconds, text):
    assert format.format_duration(seconds) == text


def test_format_age_and_time():
    import datetime
    now = utils.now()
    assert format.format_age(now - datetime.timedelta(seconds=3), now) == \
        '3.0 s ago'
    assert format.format_age(now + datetime.timedelta(seconds=3), now) == \
        'in 3.0 s'
    assert format.format_time(None) == '-'
    assert format.format_time(now).endswith(' UTC')


# -- traversal -------------------------------------------------------------

def test_layout_has_the_navigation(app):
    b = browser(app)
    b.open(BASE + '/')
    assert status(b) == 200
    for title in ('Overview', 'Failed', 'Retries', 'Scheduled', 'Dead',
                  'Log', 'Metrics'):
        assert b.getLink(title).url.startswith(BASE)


def test_job_page(app, site_db):
    key = put(site_db, jobs.add, 1, 2)
    b = browser(app)
    b.open(BASE + '/jobs/' + key)
    assert status(b) == 200
    assert key in b.contents
    assert 'jobs.add' in b.contents
    b.open(BASE + '/jobs/%s/@@job.json' % key)
    assert status(b) == 200
    data = json.loads(b.contents)
    assert data['key'] == key
    assert data['status'] == 'PENDING'
    assert data['args'] == ['1', '2']


@pytest.mark.parametrize('key, message', [
    ('0xffffffff', 'There is no job 0xffffffff'),
    ('nonsense', 'is not a job key'),
    ('0xZZ', 'is not a job key'),
    ('0x' + 'f' * 5000, 'is not a job key'),
    ('0x0', 'is not a job but a'),
])
def test_unknown_or_malformed_job_key_is_404_page(app, key, message):
    b = browser(app)
    b.open(BASE + '/jobs/' + key)
    assert status(b) == 404
    assert message in b.contents
    assert 'Overview' in b.contents
    assert len(b.contents) < 20000
    b.open(BASE + '/jobs/' + key + '/@@job.json')
    assert status(b) == 404
    assert message in json.loads(b.contents)['problem']


def test_anonymous_is_challenged_for_any_key(app):
    b = browser(app, None)
    b.open(BASE + '/jobs/0xffffffff')
    assert status(b) == 401
    b.open(BASE + '/jobs/nonsense')
    assert status(b) == 401


def test_folders_redirect_to_the_overview(app):
    b = browser(app)
    b.open(BASE + '/jobs')
    assert b.url.rstrip('/') == BASE
    b.open(BASE + '/queues/')
    assert b.url.rstrip('/') == BASE


def test_unknown_queue_and_dispatcher_are_404_pages(app):
    b = browser(app)
    b.open(BASE + '/queues/nosuchqueue')
    assert status(b) == 404
    assert "no queue 'nosuchqueue'" in b.contents
    b.open(BASE + '/queues/~zz')
    assert status(b) == 404
    b.open(BASE + '/queues/~/dispatchers/nouuid')
    assert status(b) == 404
    assert "No dispatcher 'nouuid'" in b.contents


# -- the queue page --------------------------------------------------------

def test_queue_page_lists_pending_and_scheduled(app, site_db):
    import datetime
    keys = [put(site_db, jobs.record, 'q%d' % n) for n in range(3)]
    later = put(site_db, jobs.record, 'later',
                begin_after=utils.now() + datetime.timedelta(hours=1))
    b = browser(app)
    b.open(BASE + '/queues/~')
    assert status(b) == 200
    assert "Queue ''" in b.contents
    for key in keys:
        assert key in b.contents
    assert later not in b.contents
    b.getLink('scheduled').click()
    assert later in b.contents
    assert keys[0] not in b.contents
    b.open(BASE + '/queues/~/@@queue.json?status=pending&size=1&order=newest')
    data = json.loads(b.contents)
    assert data['counts']['scheduled'] >= 1
    assert len(data['jobs']) == 1
    assert data['more']


def test_queue_page_filters(app, site_db):
    key = put(site_db, jobs.add, 40, 2)
    b = browser(app)
    b.open(BASE + '/queues/~')
    b.getControl('Callable').value = 'add'
    b.getControl('Arguments contain').value = '40'
    b.getControl('Filter').click()
    assert status(b) == 200
    assert key in b.contents
    b.open(BASE + '/queues/~?callable=nomatch')
    assert key not in b.contents
    assert 'No jobs.' in b.contents


@pytest.mark.parametrize('query, message', [
    ('size=0', 'size=0 is out of range'),
    ('size=abc', 'size=abc is not a whole number'),
    ('start=-1', 'is not a whole number'),
    ('start=99999999999999999999', 'is not a whole number'),
    ('status=bogus', 'status=bogus is not one of'),
    ('order=sideways', 'order=sideways is unknown'),
    ('callable=' + 'x' * 5000, 'the callable filter is 5000 characters'),
    ('size=1&size=2', 'size is given 2 times'),
])
def test_queue_page_bad_parameters_are_400(app, query, message):
    b = browser(app)
    b.open(BASE + '/queues/~?' + query)
    assert status(b) == 400
    assert message in b.contents
    b.open(BASE + '/queues/~/@@queue.json?' + query)
    assert status(b) == 400
    assert message in json.loads(b.contents)['problem']


# -- finished jobs: the Failed, Retries, Scheduled and Dead pages -----------

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(scope='module')
def finished(site_db):
    """Jobs of queue 'lists' run inline and recorded in the history:
    succeeded, failed (with HTML in its message), dead (failed after a
    retry), and one waiting a minute for its retry."""
    from zc.asyncui import RetryPolicy
    from zc.asyncui import history
    zc.asyncui.install(site_db, names=['lists'])
    no_wait = RetryPolicy(max_attempts=2, retry_on=(OSError,),
                          backoff=jobs.no_backoff)
    later = RetryPolicy(max_attempts=3, retry_on=(OSError,),
                        backoff=jobs.one_minute_backoff)
    specs = {'ok': ((jobs.add, 1, 2), {}),
             'failed': ((jobs.fail, HOSTILE), {}),
             'dead': ((jobs.flaky, 'pages-dead', 5),
                      {'retry_policy_factory': no_wait}),
             'retry': ((jobs.flaky, 'pages-retry', 1),
                       {'retry_policy_factory': later})}
    tm = transaction.TransactionManager()
    conn = site_db.open(tm)
    try:
        with tm:
            queue = zc.asyncui.getQueues(conn)['lists']
            made = {name: queue.put(zc.asyncui.Job(*args), **kw)
                    for name, (args, kw) in specs.items()}
        testing.run_jobs(conn, queue_names=['lists'])
        with tm:
            history.record(conn, [j for n, j in made.items()
                                  if n != 'retry'], 'pages-test')
        return {name: job.key for name, job in made.items()}
    finally:
        conn.close()


def test_failed_page(app, finished):
    b = browser(app)
    b.open(BASE + '/')
    b.getLink('Failed').click()
    assert status(b) == 200
    assert finished['failed'] in b.contents
    assert finished['dead'] in b.contents
    assert finished['ok'] not in b.contents
    # the hostile message is shown as text, never as markup
    assert HOSTILE not in b.contents
    assert '&lt;script&gt;' in b.contents
    b.open(BASE + '/@@failed?error=OSError')
    assert finished['dead'] in b.contents
    assert finished['failed'] not in b.contents
    b.open(BASE + '/@@failed.json?callable=fail')
    data = json.loads(b.contents)
    assert [row['key'] for row in data['jobs']] == [finished['failed']]


def test_dead_page(app, finished):
    b = browser(app)
    b.open(BASE + '/@@dead')
    assert status(b) == 200
    assert finished['dead'] in b.contents
    assert finished['failed'] not in b.contents


def test_retries_and_scheduled_pages(app, finished):
    b = browser(app)
    b.open(BASE + '/@@retries')
    assert status(b) == 200
    assert finished['retry'] in b.contents
    assert 'retry later' in b.contents
    b.open(BASE + '/@@scheduled?queue=lists')
    assert finished['retry'] in b.contents
    b.open(BASE + '/@@scheduled.json?queue=nosuchqueue')
    assert json.loads(b.contents)['jobs'] == []


def test_job_page_of_a_failed_job(app, finished):
    b = browser(app)
    b.open(BASE + '/jobs/' + finished['failed'])
    assert status(b) == 200
    assert 'Traceback' in b.contents
    assert HOSTILE not in b.contents
    assert '&lt;script&gt;' in b.contents
    b.open(BASE + '/jobs/%s/@@job.json' % finished['dead'])
    data = json.loads(b.contents)
    assert data['state'] == 'failed'
    assert len(data['attempts']) == 2
    assert data['failure']['type'] == 'OSError'


def test_queue_page_lists_finished_jobs(app, finished):
    b = browser(app)
    b.open(BASE + '/queues/lists?status=failed')
    assert finished['failed'] in b.contents
    b.open(BASE + '/queues/lists?status=succeeded')
    assert finished['ok'] in b.contents
    assert finished['failed'] not in b.contents


# -- the overview ----------------------------------------------------------

def test_overview_lists_queues_with_counts_and_links(app, site_db, finished):
    b = browser(app)
    b.open(BASE + '/')
    assert status(b) == 200
    assert b.getLink("'lists'").url == BASE + '/queues/lists'
    assert b.getLink("''").url == BASE + '/queues/~'
    assert 'Last hour, per minute' in b.contents
    assert '<svg' in b.contents
    assert 'pause' in b.contents
    b.getLink('pause').click()
    assert 'Automatic reload is paused' in b.contents
    assert 'http-equiv="refresh"' not in b.contents


def test_overview_json(app, finished):
    b = browser(app)
    b.open(BASE + '/@@overview.json')
    assert status(b) == 200
    assert b.headers['Content-Type'].startswith('application/json')
    data = json.loads(b.contents)
    lists = [q for q in data['queues'] if q['name'] == 'lists'][0]
    assert lists['failed_24h'] == 2
    assert lists['succeeded_24h'] == 1
    assert lists['scheduled'] == 1  # the job waiting for its retry
    hour = data['graphs'][0]
    assert len(hour['points']) == 60
    assert sum(p['failed'] for p in hour['points']) >= 2


@pytest.mark.parametrize('query', ['refresh=-1', 'refresh=x',
                                   'refresh=99999', 'refresh=1&refresh=2'])
def test_overview_bad_refresh_is_400(app, query):
    b = browser(app)
    b.open(BASE + '/?' + query)
    assert status(b) == 400
    assert 'refresh' in b.contents


def test_overview_shows_a_running_dispatcher(site_db, app):
    with testing.dispatcher_running(site_db) as d:
        testing.run_until_idle(d)
        b = browser(app)
        b.open(BASE + '/')
        assert str(d.UUID) in b.contents
        link = b.getLink(str(d.UUID))
        assert link.url.startswith(BASE + '/queues/')
        assert 'alive' in b.contents
        b.open(BASE + '/@@overview.json')
        rows = json.loads(b.contents)['dispatchers']
        assert any(r['state'] == 'alive' and r['uptime_seconds'] is not None
                   for r in rows)


# -- hostile jobs ----------------------------------------------------------

def test_job_whose_repr_raises_or_is_huge(app, site_db):
    raising = put(site_db, jobs.noop, jobs.RaisingRepr())
    huge = put(site_db, jobs.noop, 'x' * (5 * 1024 * 1024))
    b = browser(app)
    b.open(BASE + '/jobs/' + raising)
    assert status(b) == 200
    assert 'RaisingRepr' in b.contents
    b.open(BASE + '/jobs/' + huge)
    assert status(b) == 200
    assert len(b.contents) < 100000
    assert 'more characters' in b.contents
    b.open(BASE + '/jobs/%s/@@job.json' % huge)
    assert len(b.contents) < 100000
    for url in ('/queues/~', '/queues/~?args=xxx', '/@@overview.json'):
        b.open(BASE + url)
        assert status(b) == 200
        assert len(b.contents) < 200000


# -- hostile HTTP through a real waitress server -----------------------------

@pytest.fixture
def served(app):
    from zc.asyncui.cli import serve
    http = serve.bind_http(app, '127.0.0.1', 0)
    http.thread.start()
    try:
        yield 'http://127.0.0.1:%s' % http.server.effective_port
    finally:
        serve.stop_http(http)


def http_get(url, authorization=ADMIN, timeout=20):
    import urllib.error
    import urllib.request
    request = urllib.request.Request(url, headers={
        'Authorization': authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize('path, expected', [
    ('/++async++/jobs/0xffffffffffff', 404),
    ('/++async++/jobs/%00%ff%fe', 400),
    ('/++async++/jobs/%00', 404),
    ('/++async++/jobs/' + 'a' * 20000, 404),
    ('/++async++/queues/%E2%80%AE%3Cscript%3E', 404),
    ('/++async++/queues/~/dispatchers/' + 'u' * 5000, 404),
    ('/++async++/queues/~?size=' + '9' * 5000, 400),
    ('/++async++/queues/~?callable=' + 'c' * 50000, 400),
    # beyond zc-asyncui serve's header limit: waitress answers itself
    ('/++async++/queues/~?callable=' + 'c' * 100000, 431),
    ('/++async++/queues/~?' + '&'.join('x%d=1' % i for i in range(3000)),
     200),
    ('/++async++/queues/~?%zz=%ff&&==&start=%ff', 400),
    ('/++async++/@@failed?size=1&size=2&size=3', 400),
    ('/++async++/@@failed?error=%ff%fe', 400),
    ('/++async++/@@failed?error=%C3%A9t%C3%A9', 200),
    ('/++async++/?refresh=%ff', 400),
])
def test_hostile_requests_answer_4xx_never_500(served, path, expected):
    code, body = http_get(served + path)
    assert code == expected, body[:500]
    assert len(body) < 100000
    # the server still answers at once: no worker thread is stuck
    code, body = http_get(served + '/++async++/', timeout=10)
    assert code == 200


def test_hostile_anonymous_requests_are_challenged(served):
    for path in ('/++async++/jobs/nonsense', '/++async++/queues/~?size=x',
                 '/++async++/@@failed?start=-1'):
        code, body = http_get(served + path, authorization=None)
        assert code == 401


# -- the job page in detail --------------------------------------------------

def _failure_with_locals():
    secret_local = '<i>local value</i>'  # noqa: F841 (captured)
    try:
        raise KeyError('missing')
    except KeyError as e:
        return Failure(e, capture_locals=True)


def test_job_page_shows_callbacks_annotations_and_locals(app, site_db):
    def work(conn):
        job = zc.asyncui.Job(jobs.add, 1, 2)
        conn.add(job)
        first = job.addCallback(jobs.noop)
        first.addCallback(jobs.record)
        job.annotations['progress'] = 0.5
        lifecycle.put(job)
        lifecycle.start(job, 'pages-test', 'main')
        lifecycle.set_result(job, _failure_with_locals(), utils.now())
        return job.key, first.key
    key, first = in_db(site_db, work)
    b = browser(app)
    b.open(BASE + '/jobs/' + key)
    assert status(b) == 200
    assert '<details id="locals">' in b.contents
    assert 'secret_local' in b.contents
    assert '&lt;i&gt;local value&lt;/i&gt;' in b.contents
    assert 'progress' in b.contents and '0.5' in b.contents
    b.getLink(first).click()
    assert b.url == BASE + '/jobs/' + first
    assert 'Callback of' in b.contents
    data = json.loads(browser_json(app, '/jobs/%s/@@job.json' % key))
    tree = data['callbacks']['nodes']
    assert tree[0]['key'] == first
    assert len(tree[0]['callbacks']['nodes']) == 1
    assert data['failure']['frames'][-1]['locals']
    assert data['annotations'] == [{'name': 'progress', 'value': '0.5'}]


def browser_json(app, path):
    b = browser(app)
    b.open(BASE + path)
    assert b.headers['Content-Type'].startswith('application/json')
    return b.contents


# -- dispatcher and agent URLs (their pages are the management helper's) ---

class _NamePage(zope.publisher.browser.BrowserPage):
    """A stand-in page: the URL and name of what it was reached on."""

    __Security_checker__ = zope.security.checker.NamesChecker(
        ['__call__', 'browserDefault', 'publishTraverse'])

    def __call__(self):
        import zope.security.proxy
        ob = zope.security.proxy.removeSecurityProxy(self.context)
        return '%s %s' % (ob.__class__.__name__, self.request.getURL(1))


@pytest.fixture
def name_pages():
    import zope.component
    from zope.publisher.interfaces.browser import IDefaultBrowserLayer
    from zc.asyncui import interfaces
    gsm = zope.component.getGlobalSiteManager()
    for iface in (interfaces.IDispatcherAgents, interfaces.IAgent):
        gsm.registerAdapter(_NamePage, (iface, IDefaultBrowserLayer),
                            zope.interface.Interface, 'index.html')
    yield
    for iface in (interfaces.IDispatcherAgents, interfaces.IAgent):
        gsm.unregisterAdapter(_NamePage, (iface, IDefaultBrowserLayer),
                              zope.interface.Interface, 'index.html')


def test_dispatcher_and_agent_urls(app, site_db, finished, name_pages):
    from zc.asyncui.agent import Agent

    def work(conn):
        queue = zc.asyncui.getQueues(conn)['lists']
        record = queue.getDispatcherAgents('disp-1', create=True)
        if 'odd name' not in record:
            record['odd name'] = Agent(size=2)
    in_db(site_db, work)
    b = browser(app)
    url = BASE + '/queues/lists/dispatchers/disp-1'
    b.open(url)
    assert status(b) == 200, b.contents
    assert b.contents == 'DispatcherAgents ' + url
    agent_url = url + '/' + traversal.name_to_segment('odd name')
    b.open(agent_url)
    assert b.contents == 'Agent ' + agent_url
    from zope.publisher.browser import TestRequest
    request = TestRequest(environ={'SERVER_URL': 'http://localhost'})
    assert traversal.agent_url(request, 'lists', 'disp-1',
                               'odd name') == agent_url
    b.open(url + '/nosuchagent')
    assert status(b) == 404
    assert "no agent 'nosuchagent'" in b.contents
    b.open(BASE + '/queues/lists/dispatchers/')
    assert b.url.rstrip('/') == BASE


# -- bounded scans ---------------------------------------------------------

def test_page_of_stops_a_filtered_scan_at_its_limits(monkeypatch):
    from zc.asyncui.browser import listing
    selection = listing.parse({'size': '2'}, ('x',), 'x')
    page = listing.page_of(iter(range(10)), selection)
    assert page.jobs == [0, 1] and page.more and not page.truncated
    page = listing.page_of(iter(range(10)), selection, lambda n: n % 2)
    assert page.jobs == [1, 3] and page.more and not page.truncated
    monkeypatch.setattr(listing, 'SCAN_LIMIT', 5)
    page = listing.page_of(iter(range(100)), selection, lambda n: n > 50)
    assert page.jobs == [] and page.truncated and page.scanned == 5
    monkeypatch.setattr(listing, 'SCAN_LIMIT', 10 ** 9)
    monkeypatch.setattr(listing, 'SCAN_SECONDS', -1)  # no time left
    page = listing.page_of(iter(range(10 ** 6)), selection, lambda n: False)
    assert page.truncated and page.scanned < 100


def test_truncated_scan_says_so_and_continues(app, site_db, monkeypatch):
    from zc.asyncui.browser import listing
    in_db(site_db, lambda conn: zc.asyncui.install(conn, names=['scan']))

    def work(conn):
        queue = zc.asyncui.getQueues(conn)['scan']
        queue.put(zc.asyncui.Job(jobs.noop, 'first'))
        return [queue.put(zc.asyncui.Job(jobs.add, n, n)).key
                for n in range(3)]
    keys = in_db(site_db, work)
    monkeypatch.setattr(listing, 'SCAN_LIMIT', 2)
    b = browser(app)
    b.open(BASE + '/queues/scan?callable=add')
    assert status(b) == 200
    assert 'Only jobs 1 to 2 of the list were checked' in text(b)
    assert keys[0] in b.contents and keys[1] not in b.contents
    b.getLink('check the next ones').click()
    assert 'from=2' in b.url
    assert keys[1] in b.contents and keys[2] in b.contents
    assert keys[0] not in b.contents
    assert 'were checked' not in text(b)  # the list ended within limits
    b.open(BASE + '/queues/scan?callable=add&from=x')
    assert status(b) == 400
