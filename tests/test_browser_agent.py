"""The agent page, its JSON twin and its edit form (zope.formlib), with
zope.testbrowser."""
import json

import pytest

import zc.asyncui
from zc.asyncui import config
from zc.asyncui import filters
from zc.asyncui import retry

import actionfixtures as fx
from actionfixtures import browser, status

functional = pytest.fixture(fx.testing.functional_fixture(fx.layer))
AGENT = fx.agent_url(fx.DEAD_UUID, 'worker', 'other')


@pytest.fixture
def made(functional):
    functional.dispatcher.stop(10.0)
    return fx.populate(functional)


def agent(layer, queue='other'):
    queues = zc.asyncui.getQueues(layer.getRootFolder())
    return queues[queue].dispatchers[fx.DEAD_UUID]['worker']


def test_agent_page_shows_settings_and_held_jobs(functional, made):
    b = browser(functional)
    b.open(AGENT)
    assert status(b) == 200
    assert b.getLink(made['held']).url == fx.job_url(made['held'])
    assert 'jobs.add(7, 8)' in b.contents
    assert '(none: any job)' in b.contents
    assert b.getLink(fx.DEAD_UUID).url == fx.dispatcher_url(fx.DEAD_UUID,
                                                            'other')


def test_agent_page_lists_recent_completions(functional, made):
    queue_agent = agent(functional, '')
    failed = queue_agent._p_jar.get(fx.utils.key_to_oid(made['failed']))
    queue_agent.recordCompletions([failed])
    fx.transaction.commit()
    b = browser(functional)
    b.open(fx.agent_url(fx.DEAD_UUID, 'worker'))
    assert 'failed' in b.contents
    assert b.getLink(made['failed']).url == fx.job_url(made['failed'])


def test_agent_json(functional, made):
    b = browser(functional, login=fx.VIEWER)
    b.open(AGENT + '/@@agent.json')
    assert status(b) == 200
    data = json.loads(b.contents)
    assert data['name'] == 'worker' and data['size'] == 1
    assert data['held_count'] == 1 and data['active'] is True
    assert data['held'][0]['key'] == made['held']


def test_deactivate_from_the_agent_page(functional, made):
    b = browser(functional)
    b.open(AGENT)
    b.getForm(id='action-0').submit()
    assert status(b) == 200
    assert 'is inactive' in b.contents
    b.getLink(id='back').click()
    assert 'inactive' in b.contents
    assert not agent(functional).active
    b.getForm(id='action-0').submit()     # now: Activate
    assert 'claims jobs again' in b.contents


def test_edit_form_changes_size_filter_chooser_policy(functional, made):
    b = browser(functional)
    b.open(AGENT)
    b.getLink(id='edit').click()
    assert status(b) == 200
    b.getControl('Size').value = '5'
    b.getControl('Filter').value = ['urgent']
    b.getControl('Chooser').displayValue = ['highest_priority']
    b.getControl('Retry policy').displayValue = ['NeverRetry']
    b.getControl('Save').click()
    assert status(b) == 200
    assert 'Saved: size 1 -&gt; 5' in b.contents
    edited = agent(functional)
    assert edited.size == 5
    assert edited.filter is filters.urgent
    assert edited.chooser is filters.highest_priority
    assert edited.retry_policy_factory is retry.NeverRetry
    b.open(AGENT)
    assert 'urgent' in b.contents and 'NeverRetry' in b.contents


def test_edit_form_without_changes(functional, made):
    b = browser(functional)
    b.open(AGENT + '/@@edit.html')
    b.getControl('Save').click()
    assert 'Nothing changed.' in b.contents


def test_edit_form_keeps_an_unnamed_filter(functional, made):
    edited = agent(functional)
    edited.filter = filters.CallablesFilter('jobs.add')
    fx.transaction.commit()
    b = browser(functional)
    b.open(AGENT + '/@@edit.html')
    assert b.getControl('Filter').displayValue == ['(keep current)']
    b.getControl('Size').value = '2'
    b.getControl('Save').click()
    edited = agent(functional)
    assert edited.size == 2
    assert isinstance(edited.filter, filters.CallablesFilter)
    b.getControl('Filter').displayValue = ['(none)']
    b.getControl('Save').click()
    assert agent(functional).filter is None


@pytest.mark.parametrize('size, problem', [
    ('-1', 'too small'), ('lots', 'Invalid integer'), ('', 'Required'),
    ('99999999', 'too big'),
])
def test_edit_form_bad_size_is_refused(functional, made, size, problem):
    b = browser(functional)
    b.open(AGENT + '/@@edit.html')
    b.getControl('Size').value = size
    b.getControl('Save').click()
    assert status(b) == 200
    assert 'nothing was saved' in b.contents
    assert problem.lower() in b.contents.lower()
    assert agent(functional).size == 1


def test_edit_form_forged_post_is_403(functional, made):
    b = browser(functional)
    b.addHeader('Cookie', '__csrftoken__=mine')
    b.post(AGENT + '/@@edit.html',
           'agent.size=9&agent.filter=_none_&agent.actions.save=Save'
           '&__csrftoken__=forged')
    assert status(b) == 403
    assert 'Nothing was saved' in b.contents
    assert agent(functional).size == 1


def test_edit_form_unknown_choice_is_refused(functional, made):
    b = browser(functional)
    b.open(AGENT + '/@@edit.html')
    token = b.getControl(name='__csrftoken__').value
    b.post(AGENT + '/@@edit.html',
           'agent.size=2&agent.filter=evil&agent.filter-empty-marker=1'
           '&agent.chooser=_none_&agent.retry_policy_factory=_none_'
           '&agent.actions.save=Save&__csrftoken__=' + token)
    assert status(b) == 200
    assert 'nothing was saved' in b.contents
    assert agent(functional).size == 1


def test_viewer_cannot_edit(functional, made):
    b = browser(functional, login=fx.VIEWER)
    b.open(AGENT + '/@@edit.html')
    assert status(b) in (401, 403)


def test_form_offers_registered_names(functional, made):
    config.registerFilter('only_adds', filters.CallablesFilter('jobs.add'))
    b = browser(functional)
    b.open(AGENT + '/@@edit.html')
    assert 'only_adds' in b.getControl('Filter').displayOptions
    assert 'urgent' in b.getControl('Filter').displayOptions


def test_form_names_with_spaces_and_markup_are_distinct(functional, made):
    config.registerFilter('a b', filters.urgent)
    config.registerFilter('a_b', filters.not_urgent)
    config.registerFilter('<b>x</b>', filters.bulk)
    b = browser(functional)
    b.open(AGENT + '/@@edit.html')
    assert status(b) == 200
    options = b.getControl('Filter').displayOptions
    assert {'a b', 'a_b', '<b>x</b>'} <= set(options)
    assert '<b>x</b>' not in b.contents       # escaped
    b.getControl('Filter').displayValue = ['<b>x</b>']
    b.getControl('Save').click()
    assert agent(functional).filter is filters.bulk
