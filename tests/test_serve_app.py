"""The standalone site in process: the site ZCML read once for the module,
a FileStorage on disk, and the WSGI application of ``zc-asyncui serve``
driven with WebTest and zope.testbrowser (faster than the subprocess
tests of test_serve.py), plus the pieces of zc.asyncui.cli.site,
zc.asyncui.browser and zc.asyncui.demo one by one.
"""
import base64
import datetime
import logging
import os
import socket
import stat
import urllib.request

import pytest
import transaction
import webtest
import zope.publisher.browser
import zope.testbrowser.wsgi
import zope.site.folder
import zope.testing.cleanup
import zope.traversing.api

import zc.asyncui
from zc.asyncui import config
from zc.asyncui import demo
from zc.asyncui import testing
from zc.asyncui import utils
from zc.asyncui.browser import overview
from zc.asyncui.browser import wsgi
from zc.asyncui.cli import serve
from zc.asyncui.cli import server
from zc.asyncui.cli import site

PASSWORD = 'in-process secret'


def basic(login, password):
    pair = ('%s:%s' % (login, password)).encode('utf-8')
    return 'Basic ' + base64.b64encode(pair).decode('ascii')


ADMIN = basic('admin', PASSWORD)


@pytest.fixture(scope='module')
def configured():
    """The site ZCML read, as ``zc-asyncui serve`` reads it; the global
    registries cleaned up after the module (pitfall P14)."""
    site.configure(site.PROJECT_ZCML, PASSWORD)
    yield
    config.reset()
    zope.testing.cleanup.cleanUp()


@pytest.fixture(scope='module')
def site_db(configured, tmp_path_factory):
    db = testing.file_storage_db(str(tmp_path_factory.mktemp('site')))
    site.bootstrap(db)  # the ZCML's queue "" is installed on the way
    yield db
    db.close()


@pytest.fixture
def app(site_db):
    return webtest.TestApp(wsgi.make_app(site_db))


def put(db, *jobs_args):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        with tm:
            queue = zc.asyncui.getQueue(conn)
            for args in jobs_args:
                queue.put(zc.asyncui.Job(*args))
            count = len(queue)
        return count
    finally:
        conn.close()


# -- the site ------------------------------------------------------------

def test_site_zcml_installs_the_queue_and_declares_the_main_agent(site_db):
    conn = site_db.open()
    try:
        assert list(zc.asyncui.getQueues(conn)) == ['']
        assert 'Application' in conn.root()
    finally:
        conn.close()
    assert ('', 'main', {'size': 3}) in [
        (q, n, {'size': o['size']}) for q, n, o in
        config.getAgentSpecs(site_db)]


def test_anonymous_is_challenged(app):
    response = app.get('/++async++/', status=401)
    assert response.headers['WWW-Authenticate'] == 'basic realm="Zope"'


def test_admin_sees_queues_with_pending_counts(app, site_db):
    pending = put(site_db, (demo.add, 1, 2), (demo.add, 3, 4))
    response = app.get('/++async++/', headers={'Authorization': ADMIN})
    assert response.status_int == 200
    row = response.html.find('table', id='queues').find_all('tr')[1]
    assert row.find('td', class_='queue').text == "'' (default)"
    assert row.find('td', class_='pending').text == str(pending)
    assert 'No dispatcher has run yet.' in response.text


def test_wrong_password_and_unknown_login_are_401(app):
    app.get('/++async++/', headers={'Authorization': basic('admin', 'x')},
            status=401)
    app.get('/++async++/', headers={'Authorization': basic('eve', PASSWORD)},
            status=401)


@pytest.mark.parametrize('authorization', [
    'Basic admin:secret', 'basic ====', 'Basic ' + 'é',
    'Basic ' + base64.b64encode(b'admin').decode(),
])
def test_malformed_credentials_are_401(app, authorization):
    response = app.get('/++async++/',
                       headers={'Authorization': authorization}, status=401)
    assert response.headers['WWW-Authenticate'] == 'basic realm="Zope"'
    assert 'LOGIN:PASSWORD' in response.text or '":"' in response.text


def test_front_page_redirects_to_the_overview(app):
    response = app.get('/', status=302)
    assert response.headers['Location'] == 'http://localhost/++async++/'


def test_testbrowser_sees_dispatcher_liveness(site_db):
    now = utils.now()
    tm = transaction.TransactionManager()
    conn = site_db.open(tm)
    with tm:
        queue = zc.asyncui.getQueue(conn)
        alive = queue.getDispatcherAgents('a' * 32, create=True)
        alive.activate('here', 1, 'token-a', now=now)
        dead = queue.getDispatcherAgents('d' * 32, create=True)
        dead.activate('there', 2, 'token-d',
                      now=now - datetime.timedelta(hours=1))
        queue.getDispatcherAgents('f' * 32, create=True)  # never active
    conn.close()
    browser = zope.testbrowser.wsgi.Browser(wsgi_app=wsgi.make_app(site_db))
    browser.addHeader('Authorization', ADMIN)
    browser.open('http://localhost/++async++/')
    assert browser.headers['status'] == '200 Ok'
    states = [s for s in ('alive', 'dead', 'inactive')
              if '<td class="state %s">%s</td>' % (s, s) in browser.contents]
    assert states == ['alive', 'dead', 'inactive']
    assert 'here' in browser.contents and 'there' in browser.contents


def test_namespace_without_queues_is_404(configured, tmp_path):
    db = testing.file_storage_db(str(tmp_path))
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        with tm:  # a site root, but no zc.asyncui
            conn.root()[site.ROOT_FOLDER_NAME] = \
                zope.site.folder.rootFolder()
        conn.close()
        webtest.TestApp(wsgi.make_app(db)).get(
            '/++async++/', headers={'Authorization': ADMIN}, status=404)
    finally:
        db.close()


def test_namespace_traverses_from_python(site_db):
    conn = site_db.open()
    try:
        root_folder = conn.root()[site.ROOT_FOLDER_NAME]
        queues = zope.traversing.api.traverse(root_folder, '++async++')
        assert list(queues) == ['']
        assert queues.__name__ == '++async++'
        assert queues.__parent__ is root_folder
    finally:
        conn.close()


def test_bootstrap_without_the_stack_says_what_is_missing(tmp_path,
                                                         monkeypatch):
    db = testing.file_storage_db(str(tmp_path))
    try:
        monkeypatch.setattr(site.zope.event, 'notify', lambda event: None)
        with pytest.raises(server.CommandError,
                           match='must include zope.component'):
            site.bootstrap(db)
    finally:
        db.close()


# -- the HTTP server ------------------------------------------------------

def test_http_server_serves_in_its_thread_and_stops(app):
    http = serve.bind_http(app.app, '127.0.0.1', 0)
    http.thread.start()
    port = http.server.effective_port
    url = 'http://127.0.0.1:%s/++async++/' % port
    try:
        request = urllib.request.Request(url,
                                         headers={'Authorization': ADMIN})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
    finally:
        serve.stop_http(http)
    assert not http.thread.is_alive()
    with pytest.raises(ConnectionError):
        socket.create_connection(('127.0.0.1', int(port)), 2).close()


def test_http_on_all_interfaces_is_warned_about(app, caplog):
    with caplog.at_level(logging.WARNING):
        http = serve.bind_http(app.app, '0.0.0.0', 0)
    serve.stop_http(http)  # never started: closes the socket only
    assert 'unencrypted' in caplog.text


def test_unknown_host_is_an_error(app):
    with pytest.raises(server.CommandError, match='--host or --port'):
        serve.bind_http(app.app, 'no-such-host.invalid', 0)


# -- the guard against malformed credentials --------------------------------

@pytest.mark.parametrize('header', [
    '', 'Bearer abc', basic('admin', 'pw'), basic('admin', ''),
    basic('admin', 'a:b:c'), 'BASIC ' + base64.b64encode(b'a:b').decode()])
def test_well_formed_or_other_headers_pass(header):
    assert wsgi.malformed_basic_credentials(header) is None


@pytest.mark.parametrize('header, problem', [
    ('Basic admin:secret', 'not base64'),
    ('Basic', 'no ":"'),  # empty credentials decode to b''
    ('Basic ' + base64.b64encode(b'\xff:x').decode(), 'not base64'),
    ('Basic ' + base64.b64encode(b'nocolon').decode(), 'no ":"'),
])
def test_malformed_headers_are_explained(header, problem):
    assert problem in wsgi.malformed_basic_credentials(header)


# -- the admin's password --------------------------------------------------

def test_password_is_generated_once_with_mode_0600(tmp_path):
    first = site.admin_password(str(tmp_path), environ={})
    path = tmp_path / site.PASSWORD_FILE_NAME
    assert first.created and first.source == str(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert first.password in first.announcement()
    assert 'delete' in first.announcement()  # how to change it
    second = site.admin_password(str(tmp_path), environ={})
    assert second.password == first.password and not second.created
    assert first.password not in second.announcement()


def test_password_from_the_environment_wins(tmp_path):
    found = site.admin_password(
        str(tmp_path), environ={site.PASSWORD_VARIABLE: 'env-pw'})
    assert found.password == 'env-pw' and found.source == 'environment'
    assert 'env-pw' not in found.announcement()
    assert not os.listdir(tmp_path)


def test_empty_environment_password_is_a_usage_error(tmp_path):
    with pytest.raises(server.UsageError, match='set but empty'):
        site.admin_password(str(tmp_path),
                            environ={site.PASSWORD_VARIABLE: ' '})


def test_empty_password_file_is_an_error(tmp_path):
    (tmp_path / site.PASSWORD_FILE_NAME).write_text('\n')
    with pytest.raises(server.CommandError, match='is empty: write'):
        site.admin_password(str(tmp_path), environ={})


def test_readable_password_file_is_warned_about(tmp_path, caplog):
    path = tmp_path / site.PASSWORD_FILE_NAME
    path.write_text('pw\n')
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING):
        assert site.admin_password(str(tmp_path), environ={}).password \
            == 'pw'
    assert 'chmod 600' in caplog.text


def test_unwritable_var_is_an_error(tmp_path):
    with pytest.raises(server.CommandError, match='cannot create'):
        site.admin_password(str(tmp_path / 'missing'), environ={})


# -- the overview's data ---------------------------------------------------

def test_overview_data_lists_queues_and_dispatchers(db):
    zc.asyncui.install(db, names=['', 'reports'])
    info = overview.overview_data(zc.asyncui.getQueues(db.open()),
                                  zope.publisher.browser.TestRequest())
    assert [(q['title'], q['pending']) for q in info['queues']] == [
        ("'' (default)", 0), ("'reports'", 0)]
    assert info['dispatchers'] == []


# -- the demo ----------------------------------------------------------------

def test_demo_trickle_is_bounded_by_pending_jobs(db):
    zc.asyncui.install(db)
    names = [demo.put_one(db, i, max_pending=3) for i in range(5)]
    assert names[:3] == [kind for kind, _ in demo.KINDS[:3]]
    assert names[3:] == [None, None]


def test_every_demo_kind_runs_to_its_end(db, monkeypatch):
    # The same jobs, quicker: a long job of 0.2s, progress in 0.05s steps,
    # a scheduled job due at once, retries after 0.1s.
    zc.asyncui.install(db)
    monkeypatch.setattr(demo.long_job, '__defaults__', (0.2,))
    monkeypatch.setattr(demo.progress, '__defaults__', (10, 0.05))
    monkeypatch.setattr(demo, 'SCHEDULE_SECONDS', 0.5)
    monkeypatch.setattr(demo.retry_after_two_seconds, '__code__',
                        (lambda attempt: 0.1).__code__)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    queue = zc.asyncui.getQueue(conn)
    jobs = [put(queue) for name, put in demo.KINDS]
    tm.commit()
    with testing.dispatcher_running(db):
        results = [testing.wait_for_result(job, timeout=30) for job in jobs]
        callback = jobs[0].callbacks[0]
        assert testing.wait_for_result(callback) == \
            'the job answered %r' % results[0]
    assert 2 <= results[0] <= 198
    assert isinstance(results[1], zc.asyncui.Failure)
    assert 'invoice 42 has no total' in str(results[1])
    assert results[2] == 'answered at attempt 3'
    assert results[3] == 'done 10 steps'
    assert jobs[3].annotations['progress'] == '10/10'
    assert results[4] == 2
    assert results[5] == 'slept 0.2s'
    conn.close()


def test_trickle_thread_puts_and_stops(db):
    zc.asyncui.install(db)
    trickle = demo.Trickle(db, interval_seconds=0.01, max_pending=2).start()
    try:
        testing_wait = utils.now() + datetime.timedelta(seconds=10)
        while trickle.put_count < 2 and utils.now() < testing_wait:
            pass
    finally:
        trickle.stop()
    assert trickle.put_count == 2  # bounded: the queue holds two
    assert not trickle._thread.is_alive()
