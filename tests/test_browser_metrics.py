"""``/++async++/@@metrics`` (zc.asyncui.metrics, zc.asyncui.browser.
metrics): the Prometheus text format, checked with prometheus_client's
own parser; who may read it; one real scrape over HTTP with waitress."""
import base64
import datetime
import json
import math
import os
import urllib.error
import urllib.request

import prometheus_client.parser
import pytest
import transaction
import webtest

import jobs
import testbrowsers
import zc.asyncui
from zc.asyncui import config
from zc.asyncui import history
from zc.asyncui import metrics
from zc.asyncui import testing
from zc.asyncui.browser import wsgi
from zc.asyncui.cli import serve
from zc.asyncui.cli import site

from test_cli import wait_until
from test_serve import basic, env, get, start_serve  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
layer = testing.FunctionalLayer(
    os.path.join(os.path.dirname(HERE), 'ftesting.zcml'),
    name='metrics')
functional = pytest.fixture(testing.functional_fixture(layer))
URL = 'http://localhost/++async++/@@metrics'


@pytest.fixture(autouse=True)
def closed_access():
    yield
    config.setMetricsAccess()   # the default: credentials needed


def parse(text):
    """{(sample name, sorted label items): value}; the parser refuses
    text that breaks the format."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in prometheus_client.parser.text_string_to_metric_families(
                text) for s in family.samples}


def same_type(content_type):
    # zope.publisher writes the parameters without spaces.
    return content_type.replace(' ', '') == metrics.CONTENT_TYPE.replace(
        ' ', '')


def families(text):
    return {f.name: f for f in
            prometheus_client.parser.text_string_to_metric_families(text)}


# -- the text format ------------------------------------------------------

def test_escaping_of_label_values_and_help():
    assert metrics.escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert metrics.escape_help('x\\y\nz') == 'x\\\\y\\nz'


def test_format_value():
    assert metrics.format_value(3) == '3'
    assert metrics.format_value(True) == '1'
    assert metrics.format_value(0.5) == '0.5'
    assert metrics.format_value(math.inf) == '+Inf'
    assert metrics.format_value(math.nan) == 'NaN'


def test_render_parses_with_hostile_label_values():
    family = metrics.Family('jobs_put_total', 'counter', 'Jobs\nput.')
    family.add(2, queue='q"\\\n', callable='<script>')
    text = metrics.render([family])
    assert text.startswith('# HELP zc_asyncui_jobs_put_total Jobs\\nput.\n'
                           '# TYPE zc_asyncui_jobs_put_total counter\n')
    assert text.endswith('\n')
    assert parse(text) == {('zc_asyncui_jobs_put_total', (
        ('callable', '<script>'), ('queue', 'q"\\\n'))): 2.0}


def test_collect_on_an_empty_database(conn):
    text = metrics.render(metrics.collect(conn))
    found = families(text)
    # counters are named *_total, the parser strips it from the family
    assert found['zc_asyncui_jobs_failed'].type == 'counter'
    assert found['zc_asyncui_job_duration_seconds'].type == 'histogram'
    assert parse(text)[('zc_asyncui_queue_pending_jobs',
                        (('queue', ''),))] == 0
    assert parse(text)[('zc_asyncui_history_jobs', ())] == 0
    assert parse(text)[('zc_asyncui_history_noted_jobs', ())] == 0


def test_queue_depth_scheduled_and_latency(conn):
    queue = zc.asyncui.getQueue(conn)
    now = zc.asyncui.utils.now()
    with testing.FakeClock(now - datetime.timedelta(seconds=90)):
        queue.put(jobs.noop)
    queue.put(jobs.noop, begin_after=now + datetime.timedelta(hours=1))
    conn.transaction_manager.commit()
    values = parse(metrics.render(metrics.collect(conn, now)))
    q = (('queue', ''),)
    assert values[('zc_asyncui_queue_pending_jobs', q)] == 1
    assert values[('zc_asyncui_queue_scheduled_jobs', q)] == 1
    assert values[('zc_asyncui_queue_latency_seconds', q)] == \
        pytest.approx(90, abs=1)


def test_counters_never_go_down_when_the_history_is_pruned(conn):
    from test_history import T0, MIN, finish
    done = [finish(conn, jobs.add, T0 + i * MIN, failed=i == 0)
            for i in range(3)]
    history.record(conn, done, 'd1')
    conn.transaction_manager.commit()
    before = parse(metrics.render(metrics.collect(conn)))
    history.configure(conn, max_age=datetime.timedelta(minutes=1))
    while history.prune(conn, 'd1', T0 + 60 * MIN):
        pass
    conn.transaction_manager.commit()
    after = parse(metrics.render(metrics.collect(conn)))
    counters = [k for k in before if k[0].startswith('zc_asyncui_jobs_')
                or k[0].startswith('zc_asyncui_job_duration')]
    assert counters and all(after[k] == before[k] for k in counters)
    assert before[('zc_asyncui_jobs_failed_total', (
        ('callable', 'jobs.add'), ('queue', '')))] == 1
    assert after[('zc_asyncui_history_jobs', ())] == 0
    # a job cancelled before it started waits for a poll to record it
    job = zc.asyncui.getQueue(conn).put(jobs.noop)
    conn.transaction_manager.commit()
    job.cancel()
    conn.transaction_manager.commit()
    noted = parse(metrics.render(metrics.collect(conn)))
    assert noted[('zc_asyncui_history_noted_jobs', ())] == 1


# -- the page ---------------------------------------------------------------

def browser_for(login=None):
    return testbrowsers.browser_for(layer, login)


def run_jobs(functional):
    """One job that succeeds and one that fails, finished and recorded by
    the history (a poll after they finish)."""
    conn = functional.getRootFolder()._p_jar
    queue = zc.asyncui.getQueue(conn)
    done = [queue.put(zc.asyncui.Job(jobs.noop, 1)), queue.put(jobs.fail)]
    transaction.commit()
    for job in done:
        testing.wait_for_result(job)

    def recorded():
        transaction.begin()
        return history.count(conn) == 2
    testing.wait_until(recorded, 10, 'the history to record 2 jobs')
    return done


def test_metrics_page_for_a_viewer(functional):
    run_jobs(functional)
    browser = browser_for('mgr:mgrpw')
    browser.open(URL)
    assert browser.headers['status'] == '200 Ok'
    assert same_type(browser.headers['Content-Type'])
    values = parse(browser.contents)
    noop = (('callable', 'jobs.noop'), ('queue', ''))
    fail = (('callable', 'jobs.fail'), ('queue', ''))
    assert values[('zc_asyncui_jobs_succeeded_total', noop)] == 1
    assert values[('zc_asyncui_jobs_put_total', noop)] == 1
    assert values[('zc_asyncui_jobs_failed_total', fail)] == 1
    assert values[('zc_asyncui_jobs_dead_total', fail)] == 0
    q = (('queue', ''),)
    assert values[('zc_asyncui_job_duration_seconds_count', q)] == 2
    assert values[('zc_asyncui_job_duration_seconds_bucket',
                   (('le', '+Inf'), ('queue', '')))] == 2
    uuid = str(functional.dispatcher.UUID)
    up = [v for (name, labels), v in values.items()
          if name == 'zc_asyncui_dispatcher_up'
          and ('dispatcher', uuid) in labels]
    assert up == [1]
    assert values[('zc_asyncui_dispatchers', (('queue', ''),
                                              ('state', 'alive')))] == 1


def test_anonymous_gets_a_basic_challenge(functional):
    browser = browser_for()
    browser.open(URL)
    assert browser.headers['status'].startswith('401')
    assert 'basic' in browser.headers['WWW-Authenticate'].lower()


def test_a_principal_without_view_is_refused(functional):
    browser = browser_for('user:userpw')
    browser.open(URL)
    assert browser.headers['status'].startswith(('401', '403'))
    assert 'zc_asyncui' not in browser.contents


def anonymous_get(remote_addr, **headers):
    app = webtest.TestApp(layer.make_wsgi_app(),
                          extra_environ={'REMOTE_ADDR': remote_addr})
    return app.get('/++async++/@@metrics', headers=headers, status='*')


def test_loopback_without_credentials_only_when_configured(functional):
    assert anonymous_get('127.0.0.1').status_int == 401
    config.setMetricsAccess(loopback_without_credentials=True)
    assert anonymous_get('127.0.0.1').status_int == 200
    assert anonymous_get('::1').status_int == 200
    # another machine, or a request a proxy forwarded
    assert anonymous_get('192.0.2.7').status_int == 401
    assert anonymous_get('127.0.0.1', **{
        'X-Forwarded-For': '192.0.2.7'}).status_int == 401
    assert anonymous_get('127.0.0.1', Forwarded='for=192.0.2.7'
                         ).status_int == 401


def test_metrics_setting_refuses_bad_values():
    with pytest.raises(zc.asyncui.errors.ConfigurationError,
                       match='loopback_without_credentials must be True'):
        config.setMetricsAccess(loopback_without_credentials='yes')


def test_real_scrape_over_http(functional):
    """A real waitress server, as zc-asyncui serve runs it: with Basic
    credentials, and from loopback without them once configured."""
    run_jobs(functional)
    http = serve.bind_http(wsgi.make_app(functional.db), '127.0.0.1', 0)
    http.thread.start()
    try:
        url = 'http://127.0.0.1:%s/++async++/@@metrics' % (
            http.server.effective_port)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        refused.value.close()   # its connection, before the server stops
        request = urllib.request.Request(url, headers={
            'Authorization': 'Basic ' + base64.b64encode(
                b'mgr:mgrpw').decode('ascii')})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert same_type(response.headers['Content-Type'])
            text = response.read().decode('utf-8')
        assert parse(text)[('zc_asyncui_jobs_succeeded_total', (
            ('callable', 'jobs.noop'), ('queue', '')))] == 1
        config.setMetricsAccess(loopback_without_credentials=True)
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert parse(response.read().decode('utf-8'))
    finally:
        serve.stop_http(http)


def test_serve_metrics_loopback_and_log_buffer(tmp_path, env):
    """``zc-asyncui serve --metrics-loopback`` (a real subprocess):
    Prometheus on this machine scrapes without credentials; the log page
    shows the records of the demo jobs' failures from its buffer."""
    env = dict(env, **{site.PASSWORD_VARIABLE: 'secret'})
    process, url = start_serve(tmp_path / 'var', env, '--demo',
                               '--monitor-port', '0', '--metrics-loopback')
    try:
        def failed_demo_job():
            status, headers, body = get(url + '/++async++/@@metrics')
            assert status == 200
            return any(name == 'zc_asyncui_jobs_failed_total' and value
                       for (name, labels), value in parse(
                           body.decode('utf-8')).items())
        wait_until(failed_demo_job, 'a failed demo job counted', timeout=30)
        status, headers, body = get(url + '/++async++/@@log.json')
        assert status == 401     # the log page needs credentials
        status, headers, body = get(url + '/++async++/@@log.json?level=ERROR',
                                    basic('admin', 'secret'))
        data = json.loads(body)
        assert data['buffer'] is True and data['failures']
        assert any('zc.asyncui.demo.fail' in r['message']
                   for r in data['records'])
        assert process.stop() == 0
    finally:
        process.kill()


def test_registered_with_view_like_every_page(functional):
    # What a walk over the registered views sees (the page checks the
    # same permission itself, see Metrics.allowed).
    import zope.component
    from zope.publisher.interfaces.browser import IBrowserRequest
    from zope.security.checker import getCheckerForInstancesOf
    from zc.asyncui import interfaces
    found = [reg for reg in
             zope.component.getGlobalSiteManager().registeredAdapters()
             if reg.name == 'metrics' and len(reg.required) == 2
             and reg.required[0] is interfaces.IQueues
             and reg.required[1].isOrExtends(IBrowserRequest)]
    [reg] = found
    checker = getCheckerForInstancesOf(reg.factory)
    assert checker.get_permissions['__call__'] == 'zc.asyncui.View'
