"""``/++async++/@@log`` and ``@@log.json`` (zc.asyncui.browser.log) and
the in-memory log buffer under them (zc.asyncui.logbuffer): recent
records of the zc.asyncui loggers, and the job failures the history
keeps in the database (they survive a restart), filtered by level, job
and dispatcher; bad filters answer 400."""
import json
import logging
import os
import uuid

import pytest
import transaction

import jobs
import testbrowsers
import zc.asyncui
from zc.asyncui import config
from zc.asyncui import errors
from zc.asyncui import history
from zc.asyncui import logbuffer
from zc.asyncui import testing
from zc.asyncui.browser import log as logpage

HERE = os.path.dirname(os.path.abspath(__file__))
layer = testing.FunctionalLayer(
    os.path.join(os.path.dirname(HERE), 'ftesting.zcml'), name='log')
functional = pytest.fixture(testing.functional_fixture(layer))
URL = 'http://localhost/++async++/@@log'
UUID = '0b8c2c1e-0d0f-4e53-9d7c-1b2c3d4e5f60'
logger = logging.getLogger('zc.asyncui.tests')


@pytest.fixture
def buffer():
    level = logging.getLogger('zc.asyncui').level
    logging.getLogger('zc.asyncui').setLevel(logging.DEBUG)
    yield config.installLogBuffer(size=5, level='DEBUG')
    logbuffer.uninstall()
    logging.getLogger('zc.asyncui').setLevel(level)


# -- the buffer ---------------------------------------------------------------

def test_buffer_keeps_the_newest_records_as_plain_data(buffer):
    for i in range(7):
        logger.info('record %d', i)
    found = buffer.select()
    assert [r['message'] for r in found] == [
        'record %d' % i for i in (6, 5, 4, 3, 2)]
    assert found[0]['level'] == 'INFO' and found[0]['logger'] == \
        'zc.asyncui.tests'


def test_buffer_finds_jobs_and_dispatchers_named_in_messages(buffer):
    logger.error('dispatcher %s: job %s (x.y) failed', UUID, '0x3f2a')
    logger.warning('job 0x77 was slow')
    logger.debug('poll')
    assert [r['message'] for r in buffer.select(job='0x3f2a')] == [
        'dispatcher %s: job 0x3f2a (x.y) failed' % UUID]
    assert len(buffer.select(dispatcher=UUID)) == 1
    assert [r['level'] for r in buffer.select(level='warning')] == [
        'WARNING', 'ERROR']
    assert len(buffer.select(count=1)) == 1


def test_buffer_keeps_tracebacks_truncated_and_survives_bad_records(
        buffer, monkeypatch):
    monkeypatch.setattr(logbuffer, 'MESSAGE_LIMIT', 10)
    try:
        raise ValueError('boom')
    except ValueError:
        logger.exception('x' * 50)
    record = buffer.select()[0]
    assert record['message'].startswith('x' * 10 + '... (40 more')
    assert 'ValueError: boom' in record['traceback']
    # a record whose arguments do not fit its message: not kept
    buffer.handle(logging.makeLogRecord(dict(
        name='zc.asyncui.tests', msg='%d', args=('x',), levelno=40)))
    assert len(buffer.select()) == 1


def test_buffer_settings_refused_and_reinstalled(buffer):
    with pytest.raises(errors.ConfigurationError, match='log buffer level'):
        config.installLogBuffer(level='LOUD')
    with pytest.raises(errors.ConfigurationError, match='log buffer size'):
        config.installLogBuffer(size=-1)
    logger.info('kept')
    bigger = config.installLogBuffer(size=50)
    assert logbuffer.get() is bigger
    assert [r['message'] for r in bigger.select()] == ['kept']
    assert config.installLogBuffer(size=0) is None
    assert logbuffer.get() is None


def test_records_of_a_running_job_name_it(buffer, db):
    zc.asyncui.install(db)
    with testing.dispatcher_running(db) as dispatcher:
        conn = db.open()
        job = zc.asyncui.getQueue(conn).put(jobs.fail)
        transaction.commit()
        testing.wait_for_result(job)
        key = job.key
        conn.close()
    found = buffer.select(job=key, level='ERROR')
    assert found and str(dispatcher.UUID) in found[0]['dispatchers']


# -- filters ------------------------------------------------------------------

@pytest.mark.parametrize('form, message', [
    ({'level': 'LOUD'}, 'not a level'),
    ({'job': 'abc'}, 'not a job key'),
    ({'dispatcher': 'nope'}, 'not a UUID'),
    ({'count': '0'}, 'not a number from 1'),
    ({'count': 'x' * 200}, 'at most 100'),
    ({'level': ['INFO', 'ERROR']}, 'give level once'),
])
def test_read_filters_refuses(form, message):
    with pytest.raises(logpage.BadFilter, match=message):
        logpage.read_filters(form)


def test_read_filters_normalises():
    assert logpage.read_filters({'level': 'error', 'job': '0x3F2A',
                                 'dispatcher': UUID.upper()}) == {
        'level': 'ERROR', 'job': '0x3f2a', 'dispatcher': UUID,
        'count': logpage.DEFAULT_COUNT}


# -- the page ---------------------------------------------------------------

def browser_for(login='mgr:mgrpw'):
    return testbrowsers.browser_for(layer, login)


def fail_one(functional):
    conn = functional.getRootFolder()._p_jar
    job = zc.asyncui.getQueue(conn).put(
        zc.asyncui.Job(jobs.fail, '<script>x</script>'))
    transaction.commit()
    testing.wait_for_result(job)

    def recorded():
        transaction.begin()
        return history.count(conn, status='failed') == 1
    testing.wait_until(recorded, 10, 'the history to record the failure')
    return job


def test_log_page_shows_records_and_stored_failures(functional, buffer):
    job = fail_one(functional)
    browser = browser_for()
    browser.open(URL)
    assert browser.headers['status'] == '200 Ok'
    assert 'job %s (jobs.fail) failed' % job.key in browser.contents
    failures = browser.contents.split('id="failures"')[1]
    assert job.key in failures
    # escaped, never markup
    assert '&lt;script&gt;x&lt;/script&gt;' in failures
    assert '<script>x' not in browser.contents


def test_stored_failures_survive_a_restart(functional):
    # No buffer (a fresh process): the failure still shows, from the
    # database.
    job = fail_one(functional)
    logbuffer.uninstall()
    browser = browser_for()
    browser.open(URL + '?job=' + job.key)
    assert 'keeps no log buffer' in browser.contents
    assert job.key in browser.contents.split('id="failures"')[1]
    data = json.loads(browser_contents(URL + '.json?level=ERROR'))
    assert [f['key'] for f in data['failures']] == [job.key]


def browser_contents(url):
    browser = browser_for()
    browser.open(url)
    return browser.contents


def test_log_json_with_filters(functional, buffer):
    job = fail_one(functional)
    data = json.loads(browser_contents(URL + '.json?job=' + job.key))
    assert data['buffer'] is True
    assert data['filters']['job'] == job.key
    assert all(job.key in r['jobs'] for r in data['records'])
    assert data['records'] and data['failures'][0]['key'] == job.key
    assert data['failures'][0]['error'] == 'ValueError: <script>x</script>'
    # a level above ERROR leaves the stored failures out
    data = json.loads(browser_contents(URL + '.json?level=CRITICAL'))
    assert data['failures'] == [] and data['records'] == []
    # another dispatcher's failures are not this one's
    data = json.loads(browser_contents(
        URL + '.json?dispatcher=' + str(uuid.uuid4())))
    assert data['failures'] == []
    data = json.loads(browser_contents(
        URL + '.json?dispatcher=' + str(functional.dispatcher.UUID)))
    assert [f['key'] for f in data['failures']] == [job.key]


def test_bad_filter_is_a_400_page_that_says_what_to_do(functional):
    browser = browser_for()
    browser.open(URL + '?level=LOUD')
    assert browser.headers['status'].startswith('400')
    assert "level 'LOUD' is not a level: choose one of DEBUG" in \
        browser.contents
    browser.open(URL + '.json?job=%3Cb%3E')
    assert browser.headers['status'].startswith('400')
    answer = json.loads(browser.contents)
    assert answer['status'] == 400 and 'not a job key' in answer['problem']


def test_anonymous_and_user_without_view_are_refused(functional):
    for login in (None, 'user:userpw'):
        for url in (URL, URL + '.json'):
            browser = browser_for(login)
            browser.open(url)
            assert browser.headers['status'].startswith(('401', '403'))


def test_failed_callback_shown_with_its_job(functional):
    conn = functional.getRootFolder()._p_jar
    job = zc.asyncui.getQueue(conn).put(zc.asyncui.Job(jobs.noop, 'x'))
    callback = job.addCallback(jobs.fail)
    transaction.commit()
    testing.wait_for_result(callback)

    def recorded():
        transaction.begin()
        return history.count(conn, status='failed') == 1
    testing.wait_until(recorded, 10, 'the history to record the callback')
    data = json.loads(browser_contents(URL + '.json?job=' + job.key))
    assert [(f['key'], f['parent']) for f in data['failures']] == [
        (callback.key, job.key)]
    browser = browser_for()
    browser.open(URL)
    assert 'callback of' in browser.contents.split('id="failures"')[1]
    # an unknown key or another object's key: no failure, no error
    for key in ('0x7fffffff', '0x0'):
        data = json.loads(browser_contents(URL + '.json?job=' + key))
        assert data['failures'] == []
