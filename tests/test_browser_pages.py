"""The read-only pages under /++async++/ (zc.asyncui.browser): the URL
scheme and its traversal, the layout, the overview, queue, job and list
pages with zope.testbrowser on the standalone site (its ZCML read once
for the module, a FileStorage on disk), and hostile input.
"""
import base64
import json

import pytest
import transaction
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
    def work(conn):
        job = zc.asyncui.getQueue(conn).put(zc.asyncui.Job(*args), **kw)
        conn.add(job)
        transaction.get  # noqa
        return job
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        with tm:
            job = work(conn)
        return job.key
    finally:
        conn.close()


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
    now = utils.now()
    import datetime
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
    nav = [link.text for link in b.getControl  # noqa
           ] if False else None
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
