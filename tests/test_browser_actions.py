"""The action pages (zc.asyncui.browser.actions) with zope.testbrowser:
GET confirms, POST acts with the form's CSRF token and says what it did;
hostile input answers a 4xx page and changes nothing."""
import datetime

import pytest
import transaction

import zc.asyncui
from zc.asyncui import utils
from zc.asyncui.browser import actions
from zc.asyncui.browser import csrf
from zc.asyncui.browser import operations
from zc.asyncui.browser import wsgi
from zc.asyncui.job import JobStatus

import actionfixtures as fx
from actionfixtures import BASE, browser, status

functional = pytest.fixture(fx.testing.functional_fixture(fx.layer))


@pytest.fixture
def made(functional):
    # The test's dispatcher would recover the dead dispatcher's job at
    # once: stopped, it leaves the objects as populate makes them.
    functional.dispatcher.stop(10.0)
    return fx.populate(functional)


def job(layer, key):
    return layer.getJob(key)


def confirm_and_submit(b, url):
    """Open the action's confirmation page and press its button."""
    b.open(url)
    assert status(b) == 200, b.contents
    assert 'confirm-form' in b.contents
    b.getForm(id='confirm-form').submit()
    return b


# -- single job actions ------------------------------------------------------

def test_cancel_pending_job(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.job_url(made['pending']) + '/@@cancel')
    assert status(b) == 200
    assert 'was cancelled before it started' in b.contents
    assert b.getLink(id='back').url == fx.job_url(made['pending'])
    cancelled = job(functional, made['pending'])
    assert cancelled.status == JobStatus.COMPLETED
    assert 'JobCancelledError' in repr(cancelled.result)


def test_confirmation_page_changes_nothing(functional, made):
    b = browser(functional)
    b.open(fx.job_url(made['pending']) + '/@@cancel')
    assert status(b) == 200
    assert 'Cancel job %s' % made['pending'] in b.contents
    assert 'jobs.add' in b.contents
    assert job(functional, made['pending']).status == JobStatus.PENDING


def test_run_scheduled_job_now(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.job_url(made['scheduled']) + '/@@run-now')
    assert 'is due now' in b.contents
    scheduled = job(functional, made['scheduled'])
    assert scheduled.begin_after <= utils.now()
    assert scheduled.status == JobStatus.PENDING


def test_retry_now_a_job_waiting_for_its_retry(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.job_url(made['retrying']) + '/@@retry-now')
    assert 'is due now' in b.contents
    assert job(functional, made['retrying']).begin_after <= utils.now()


def test_retry_now_refuses_a_job_that_never_ran(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.job_url(made['scheduled']) + '/@@retry-now')
    assert status(b) == 409
    assert 'has not run yet' in b.contents
    assert 'run now' in b.contents


def test_requeue_failed_job(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.job_url(made['failed']) + '/@@requeue')
    assert status(b) == 200
    assert 'for attempt 2' in b.contents
    requeued = job(functional, made['failed'])
    assert requeued.status == JobStatus.PENDING
    assert requeued in requeued.queue


def test_requeue_refuses_succeeded_job(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.job_url(made['succeeded']) + '/@@requeue')
    assert status(b) == 409
    assert 'cannot be retried' in b.contents
    assert job(functional, made['succeeded']).result == 11


def test_remove_pending_job(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.job_url(made['pending']) + '/@@remove')
    assert 'it will not run' in b.contents
    removed = job(functional, made['pending'])
    assert removed.status == JobStatus.NEW
    assert len(zc.asyncui.getQueue(functional.getRootFolder())) == 2


def test_remove_refuses_claimed_job(functional, made):
    assert job(functional, made['held']).status == JobStatus.ASSIGNED
    b = confirm_and_submit(browser(functional),
                           fx.job_url(made['held']) + '/@@remove')
    assert status(b) == 409
    assert 'already claimed' in b.contents


def test_cancel_completed_job_is_refused(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.job_url(made['failed']) + '/@@cancel')
    assert status(b) == 409
    assert 'COMPLETED (failed)' in b.contents


def test_came_from_is_the_back_link_when_local(functional, made):
    b = browser(functional)
    url = fx.job_url(made['pending']) + '/@@cancel?came_from=%2F%2B%2Basync%2B%2B%2F'
    confirm_and_submit(b, url)
    assert b.getLink(id='back').url == 'http://localhost/++async++/'


def test_came_from_elsewhere_is_ignored(functional, made):
    b = browser(functional)
    url = (fx.job_url(made['pending'])
           + '/@@cancel?came_from=http%3A%2F%2Fevil.example%2F')
    confirm_and_submit(b, url)
    assert b.getLink(id='back').url == fx.job_url(made['pending'])


# -- bulk --------------------------------------------------------------------

def test_bulk_cancel_by_keys_reports_each_job(functional, made):
    b = browser(functional)
    b.open(BASE + '/@@jobs-action?action=cancel&key=%s&key=%s&key=0xfffff'
           % (made['pending'], made['failed']))
    assert status(b) == 200
    assert 'Cancel 3 jobs' in b.contents
    b.getForm(id='confirm-form').submit()
    assert status(b) == 200
    assert 'Job %s was cancelled' % made['pending'] in b.contents
    assert 'There is no job 0xfffff' in b.contents
    assert 'COMPLETED (failed)' in b.contents
    assert job(functional, made['pending']).status == JobStatus.COMPLETED


def test_bulk_on_a_queue_takes_only_its_jobs(functional, made):
    b = browser(functional)
    b.open(fx.queue_url('other') + '/@@jobs-action?action=run-now&key=%s'
           % made['scheduled'])
    b.getForm(id='confirm-form').submit()
    assert "is not a job of queue 'other'" in b.contents
    assert job(functional, made['scheduled']).begin_after > utils.now()


def test_bulk_requeue(functional, made):
    b = browser(functional)
    b.open(fx.queue_url('') + '/@@jobs-action?action=requeue&key=%s'
           % made['failed'])
    b.getForm(id='confirm-form').submit()
    assert 'for attempt 2' in b.contents


# -- queues, agents, dispatchers ---------------------------------------------

def test_pause_and_resume_queue(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.queue_url('') + '/@@pause')
    assert "Queue '' is paused" in b.contents
    assert zc.asyncui.getQueue(functional.getRootFolder()).paused
    b.open(BASE + '/')
    assert '(paused)' in b.contents          # the overview says so
    b = confirm_and_submit(browser(functional),
                           fx.queue_url('') + '/@@pause')
    assert status(b) == 409 and 'already paused' in b.contents
    confirm_and_submit(b, fx.queue_url('') + '/@@resume')
    assert "Queue '' is resumed" in b.contents
    transaction.begin()
    assert not zc.asyncui.getQueue(functional.getRootFolder()).paused


def test_deactivate_and_activate_agent(functional, made):
    url = fx.agent_url(fx.DEAD_UUID, 'worker')
    b = confirm_and_submit(browser(functional), url + '/@@deactivate')
    assert "Agent 'worker' of dispatcher %s is inactive" % fx.DEAD_UUID \
        in b.contents
    queue = zc.asyncui.getQueue(functional.getRootFolder())
    assert not queue.dispatchers[fx.DEAD_UUID]['worker'].active
    confirm_and_submit(b, url + '/@@activate')
    assert 'claims jobs again' in b.contents


def test_deactivate_dead_dispatcher_recovers_its_jobs(functional, made):
    b = confirm_and_submit(browser(functional),
                           fx.dispatcher_url(fx.DEAD_UUID) + '/@@deactivate')
    assert status(b) == 200
    assert "deactivated in queue 'other'" in b.contents
    assert "deactivated in queue ''" in b.contents
    held = job(functional, made['held'])
    assert held.status == JobStatus.PENDING and held in held.queue
    queues = zc.asyncui.getQueues(functional.getRootFolder())
    assert queues['other'].dispatchers[fx.DEAD_UUID].activated is None


def test_deactivate_live_dispatcher_is_refused(functional):
    uuid = functional.dispatcher.uuid_str
    fx.testing.wait_until(
        lambda: transaction.begin() and uuid in zc.asyncui.getQueue(
            functional.getRootFolder()).dispatchers, 5, 'activation')
    b = confirm_and_submit(browser(functional),
                           fx.dispatcher_url(uuid) + '/@@deactivate')
    assert status(b) == 409
    assert 'is alive' in b.contents and 'Stop its process' in b.contents
    transaction.begin()
    record = zc.asyncui.getQueue(functional.getRootFolder()).dispatchers[uuid]
    assert record.activated is not None


# -- hostile input -------------------------------------------------------------

def post(layer, url, data, login=fx.MANAGER, token='t0k3n', cookie=True):
    b = browser(layer, login)
    if cookie:
        b.addHeader('Cookie', '%s=%s' % (csrf.COOKIE, token))
    b.post(url, data)
    return b


def test_post_without_token_is_403_and_changes_nothing(functional, made):
    b = post(functional, fx.job_url(made['pending']) + '/@@cancel', '',
             cookie=False)
    assert status(b) == 403
    assert 'no CSRF cookie' in b.contents
    assert job(functional, made['pending']).status == JobStatus.PENDING


@pytest.mark.parametrize('body, problem', [
    ('', 'sent no CSRF token'),
    ('__csrftoken__=other', 'does not match'),
])
def test_bad_token_is_403(functional, made, body, problem):
    b = post(functional, fx.job_url(made['pending']) + '/@@cancel', body)
    assert status(b) == 403
    assert problem in b.contents
    assert job(functional, made['pending']).status == JobStatus.PENDING


def test_good_token_by_hand_acts(functional, made):
    b = post(functional, fx.job_url(made['pending']) + '/@@cancel',
             '__csrftoken__=t0k3n')
    assert status(b) == 200
    assert job(functional, made['pending']).status == JobStatus.COMPLETED


def test_formlib_field_name_is_accepted(functional, made):
    b = post(functional, fx.job_url(made['pending']) + '/@@cancel',
             '___csrftoken__=t0k3n')
    assert status(b) == 200


@pytest.mark.parametrize('query, problem', [
    ('', "The field 'action' is missing"),
    ('action=explode&key=0x1', "'explode' is not an action here"),
    ('action=cancel', 'No job is selected'),
    ('action=cancel&key=nonsense', 'is not a job key'),
    ('action=cancel&key=0x' + 'f' * 500, 'is not a job key'),
    ('action=cancel&action=remove&key=0x1', 'sent 2 times'),
    ('action=cancel&key=0x1&evil=1', "Unknown field 'evil'"),
    ('action=' + 'x' * 5000 + '&key=0x1', 'characters'),
    ('action=cancel&' + '&'.join('key=0x%x' % n for n in range(1, 1100)),
     'at most 1000'),
])
def test_bad_bulk_fields_are_400(functional, made, query, problem):
    b = browser(functional)
    b.open(BASE + '/@@jobs-action?' + query)
    assert status(b) == 400, b.contents
    assert problem in b.contents
    assert len(b.contents) < 20000
    b = post(functional, BASE + '/@@jobs-action',
             query + '&__csrftoken__=t0k3n')
    assert status(b) == 400
    assert job(functional, made['pending']).status == JobStatus.PENDING


def test_huge_body_is_413(functional, made):
    body = 'action=cancel&key=%s&__csrftoken__=t0k3n&came_from=%s' % (
        made['pending'], 'x' * (actions.MAX_BODY_BYTES + 10))
    b = post(functional, BASE + '/@@jobs-action', body)
    assert status(b) == 413
    assert 'Act on fewer jobs' in b.contents
    assert job(functional, made['pending']).status == JobStatus.PENDING


def test_other_methods_are_refused(functional, made):
    b = browser(functional)
    for method in ('PUT', 'DELETE', 'PATCH'):
        response = b.testapp.request(
            fx.job_url(made['pending']) + '/@@cancel', method=method,
            headers={'Authorization': 'Basic ' + fx.MANAGER},
            expect_errors=True)
        assert 400 <= response.status_int < 500, method
    assert job(functional, made['pending']).status == JobStatus.PENDING


def test_unknown_objects_are_404(functional, made):
    b = browser(functional)
    for url in (fx.job_url('0xfffff') + '/@@cancel',
                fx.queue_url('nope') + '/@@pause',
                fx.dispatcher_url('nope') + '/@@deactivate',
                fx.agent_url(fx.DEAD_UUID, 'nope') + '/@@deactivate'):
        b.open(url)
        assert status(b) == 404, url


# -- operations without a request -------------------------------------------

def test_operations_refuse_without_changing(functional, made):
    succeeded = job(functional, made['succeeded'])
    for name in operations.JOB_ACTIONS:
        done, refused = operations.apply_to_jobs(name, [succeeded])
        assert not done and len(refused) == 1
    assert succeeded.status == JobStatus.COMPLETED and succeeded.result == 11


def test_run_now_refuses_a_due_job(functional, made):
    pending = job(functional, made['pending'])
    with pytest.raises(operations.Refused, match='already due'):
        operations.run_now(pending, utils.now() + datetime.timedelta(
            seconds=1))


# -- bulk on a filtered selection ----------------------------------------------

def test_bulk_on_a_queue_selection_confirms_the_jobs_it_takes(functional,
                                                              made):
    b = browser(functional)
    b.open(fx.queue_url('') + '/@@jobs-action?action=cancel&select=1'
           '&status=pending&callable=add')
    assert status(b) == 200
    assert made['pending'] in b.contents
    assert made['retrying'] not in b.contents     # jobs.fail
    assert "pending queue '' where callable=add" in b.contents
    b.getForm(id='confirm-form').submit()
    assert 'Job %s was cancelled' % made['pending'] in b.contents
    assert job(functional, made['pending']).status == JobStatus.COMPLETED
    assert job(functional, made['retrying']).status == JobStatus.PENDING


def test_bulk_requeue_every_failed_job_of_the_failed_list(functional, made):
    b = browser(functional)
    b.open(BASE + '/@@jobs-action?action=requeue&select=1&kind=failed'
           '&error=ValueError')
    assert status(b) == 200, b.contents
    assert made['failed'] in b.contents
    b.getForm(id='confirm-form').submit()
    assert 'for attempt 2' in b.contents
    assert job(functional, made['failed']).status == JobStatus.PENDING


def test_bulk_selection_posted_directly_acts(functional, made):
    b = post(functional, fx.queue_url('') + '/@@jobs-action',
             'action=run-now&select=1&status=scheduled&__csrftoken__=t0k3n')
    assert status(b) == 200
    assert 'Job %s is due now' % made['scheduled'] in b.contents


@pytest.mark.parametrize('url, problem', [
    (BASE + '/@@jobs-action?action=requeue&select=1&kind=nope',
     'kind=nope is not a list'),
    (BASE + '/@@jobs-action?action=requeue&select=1',
     'kind=None is not a list'),
    (fx.queue_url('') + '/@@jobs-action?action=cancel&select=1&status=x',
     'status=x is not one of'),
    (fx.queue_url('') + '/@@jobs-action?action=cancel&select=1&key=0x1',
     'not both'),
    (fx.queue_url('') + '/@@jobs-action?action=cancel&select=1&callable='
     + 'x' * 300, 'characters long'),
])
def test_bad_selection_is_400(functional, made, url, problem):
    b = browser(functional)
    b.open(url)
    assert status(b) == 400
    assert problem in b.contents


# -- the buttons on the pages ------------------------------------------------

def test_job_page_buttons_act_and_link_back(functional, made):
    b = browser(functional)
    b.open(fx.job_url(made['failed']))
    assert status(b) == 200
    b.getControl('Requeue').click()
    assert 'for attempt 2' in b.contents
    b.getLink(id='back').click()
    assert b.url == fx.job_url(made['failed'])
    assert 'Requeue' not in b.contents     # pending now: no requeue
    assert b.getControl('Cancel') is not None


def test_scheduled_job_offers_run_now_and_no_retry(functional, made):
    b = browser(functional)
    b.open(fx.job_url(made['scheduled']))
    b.getControl('Run now')
    with pytest.raises(LookupError):
        b.getControl('Retry now')
    b.open(fx.job_url(made['retrying']))
    b.getControl('Retry now').click()
    assert 'is due now' in b.contents


def test_viewer_sees_no_buttons(functional, made):
    b = browser(functional, login=fx.VIEWER)
    b.open(fx.job_url(made['failed']))
    assert status(b) == 200
    assert 'action-buttons' not in b.contents
    b.open(fx.queue_url(''))
    assert 'action-buttons' not in b.contents   # (not paused)


def test_queue_page_pause_button_and_selection_form(functional, made):
    b = browser(functional)
    b.open(fx.queue_url('') + '?status=scheduled')
    b.getControl('Pause queue').click()
    assert "Queue '' is paused" in b.contents
    b.getLink(id='back').click()
    assert 'id="paused"' in b.contents
    viewer = browser(functional, login=fx.VIEWER)
    viewer.open(fx.queue_url(''))
    assert 'id="paused"' in viewer.contents
    assert 'Resume queue' not in viewer.contents
    b.open(fx.queue_url('') + '?status=scheduled&callable=add')
    form = b.getForm(id='selection-form')
    form.getControl(name='action').value = ['run-now']
    form.submit()
    assert made['scheduled'] in b.contents
    assert made['retrying'] not in b.contents
    b.getForm(id='confirm-form').submit()
    assert 'Job %s is due now' % made['scheduled'] in b.contents


def test_failed_list_offers_requeue_of_every_match(functional, made):
    b = browser(functional)
    b.open(BASE + '/@@failed')
    assert status(b) == 200
    b.getForm(id='selection-form').submit()
    assert made['failed'] in b.contents
    b.getForm(id='confirm-form').submit()
    assert 'for attempt 2' in b.contents


# -- the standalone site's body limit ----------------------------------------

def _inner(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'inner']


@pytest.mark.parametrize('length, expected', [
    (None, '200 OK'), ('10', '200 OK'), (str(wsgi.MAX_BODY_BYTES), '200 OK'),
    (str(wsgi.MAX_BODY_BYTES + 1), '413 Request Entity Too Large'),
    ('lots', '413 Request Entity Too Large'),
])
def test_body_size_guard(length, expected):
    seen = []
    environ = {} if length is None else {'CONTENT_LENGTH': length}
    body = wsgi.BodySizeGuard(_inner)(
        environ, lambda status, headers: seen.append(status))
    assert seen == [expected]
    if expected.startswith('413'):
        assert b'at most %d' % wsgi.MAX_BODY_BYTES in b''.join(body)


def test_actions_are_logged_with_their_principal(functional, made, caplog):
    with caplog.at_level('INFO', 'zc.asyncui.browser.actions'):
        confirm_and_submit(browser(functional),
                           fx.job_url(made['pending']) + '/@@cancel')
    record, = [r for r in caplog.records
               if r.name == 'zc.asyncui.browser.actions']
    assert record.getMessage() == (
        'Job %s was cancelled before it started. (by zope.mgr, through the'
        ' web)' % made['pending'])


def test_empty_selection_has_nothing_to_confirm(functional, made):
    b = browser(functional)
    b.open(fx.queue_url('') + '/@@jobs-action?action=cancel&select=1'
           '&callable=nothing.matches')
    assert status(b) == 200
    assert 'No job matches' in b.contents
    assert 'confirm-form' not in b.contents
