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
