"""The agent, dispatcher and action pages as ZMI management screens
(tests/zmiftesting.zcml, the Rotterdam skin): they render in Rotterdam's
chrome with their tabs, and an action acts there too."""
import os

import pytest

import zc.asyncui
from zc.asyncui import testing
from zc.asyncui.job import JobStatus

import actionfixtures as fx
import test_browser_zmi as zmi

HERE = os.path.dirname(os.path.abspath(__file__))
layer = testing.FunctionalLayer(
    os.path.join(HERE, 'zmiftesting.zcml'), name='zmi actions',
    dispatcher_settings=dict(poll_interval=0.05, ping_interval=1.0,
                             ping_death_interval=10.0, main_agent_size=0),
    queue_names=('', 'other'))
functional = pytest.fixture(testing.functional_fixture(layer))
ROTTERDAM = zmi.ROTTERDAM + '/++async++'


@pytest.fixture
def made(functional):
    functional.dispatcher.stop(10.0)
    return fx.populate(functional)


def rotterdam(url):
    return url.replace(fx.BASE, ROTTERDAM)


def test_agent_page_and_edit_form_in_the_zmi(functional, made):
    b = zmi.browser(functional)
    url = rotterdam(fx.agent_url(fx.DEAD_UUID, 'worker', 'other'))
    b.open(url)
    assert b.headers['status'] == '200 Ok'
    assert 'zope3_tablelayout.css' in b.contents
    assert set(zmi.tabs(b)) >= {'Agent', 'Edit'}
    b.getLink('Edit').click()
    assert b.headers['status'] == '200 Ok'
    b.getControl('Size').value = '4'
    b.getControl('Save').click()
    assert 'Saved: size 1 -&gt; 4' in b.contents
    queues = zc.asyncui.getQueues(functional.getRootFolder())
    assert queues['other'].dispatchers[fx.DEAD_UUID]['worker'].size == 4


def test_dispatcher_page_in_the_zmi(functional, made):
    b = zmi.browser(functional)
    b.open(rotterdam(fx.dispatcher_url(fx.DEAD_UUID)))
    assert b.headers['status'] == '200 Ok'
    assert 'Dispatcher' in zmi.tabs(b)
    assert 'deadhost' in b.contents


def test_job_action_in_the_zmi(functional, made):
    b = zmi.browser(functional)
    b.open(rotterdam(fx.job_url(made['pending'])))
    b.getControl('Cancel').click()
    assert b.headers['status'] == '200 Ok'
    assert 'was cancelled before it started' in b.contents
    assert 'zope3_tablelayout.css' in b.contents
    assert functional.getJob(made['pending']).status == JobStatus.COMPLETED
