"""The dispatcher page and its JSON twin, with zope.testbrowser: a dead
dispatcher of another process, and the test's live dispatcher (in this
process: its recent polls and what each claimed)."""
import json

import pytest
import transaction

import zc.asyncui
from zc.asyncui import testing
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus

import actionfixtures as fx
import jobs
from actionfixtures import browser, status

functional = pytest.fixture(testing.functional_fixture(fx.layer))


@pytest.fixture
def made(functional):
    functional.dispatcher.stop(10.0)
    return fx.populate(functional)


def test_dead_dispatcher_page(functional, made):
    b = browser(functional, login=fx.VIEWER)
    b.open(fx.dispatcher_url(fx.DEAD_UUID))
    assert status(b) == 200
    assert 'deadhost' in b.contents and '4242' in b.contents
    assert 'This dispatcher is dead' in b.contents
    assert 'polls-elsewhere' in b.contents   # not in this process
    assert b.getLink('worker', index=1).url == fx.agent_url(
        fx.DEAD_UUID, 'worker', 'other')


def test_recover_from_the_dispatcher_page(functional, made):
    b = browser(functional)
    b.open(fx.dispatcher_url(fx.DEAD_UUID, 'other'))
    b.getForm(id='deactivate-form').submit()
    assert status(b) == 200
    assert '1 not started yet, back in their queue' in b.contents
    held = functional.getJob(made['held'])
    assert held.status == JobStatus.PENDING
    b.getLink(id='back').click()
    assert 'This dispatcher is dead' not in b.contents
    assert 'inactive' in b.contents


def test_dispatcher_json(functional, made):
    b = browser(functional, login=fx.VIEWER)
    b.open(fx.dispatcher_url(fx.DEAD_UUID) + '/@@dispatcher.json')
    data = json.loads(b.contents)
    assert data['uuid'] == fx.DEAD_UUID and data['dead'] is True
    assert [r['queue'] for r in data['records']] == ['', 'other']
    assert data['records'][1]['agents'][0]['held'] == 1


def test_live_dispatcher_shows_its_polls_and_claims(functional):
    d = functional.dispatcher
    d.addAgent('', 'main', size=1)
    queue = zc.asyncui.getQueue(functional.getRootFolder())
    job = queue.put(Job(jobs.add, 1, 1))
    transaction.commit()
    assert testing.wait_for_result(job) == 2
    b = browser(functional)
    b.open(fx.dispatcher_url(d.uuid_str))
    assert status(b) == 200
    assert 'alive' in b.contents
    assert 'This dispatcher is dead' not in b.contents
    assert b.getLink(job.key).url == fx.job_url(job.key)
    b.open(fx.dispatcher_url(d.uuid_str) + '/@@dispatcher.json')
    data = json.loads(b.contents)
    assert data['in_this_process'] is True
    assert any(c['jobs'] and c['jobs'][0]['key'] == job.key
               for p in data['polls'] for c in p['claims'])


def test_unknown_dispatcher_is_404(functional):
    b = browser(functional)
    b.open(fx.dispatcher_url('not-a-uuid'))
    assert status(b) == 404
    b.open(fx.dispatcher_url('x' * 5000))
    assert status(b) == 404
