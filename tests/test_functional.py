"""The functional test layer (zc.asyncui.ftesting): a test puts a job
through the application with zope.testbrowser and waits for its result;
the dispatcher works on the test's own DemoStorage database."""
import os

import pytest
import transaction
import zope.component
import zope.testbrowser.wsgi

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import testing
from zc.asyncui.job import Job

import contextjobs
import testbrowsers

HERE = os.path.dirname(os.path.abspath(__file__))

layer = testing.FunctionalLayer(os.path.join(HERE, 'ftestapp.zcml'),
                                name='ftestapp')
functional = pytest.fixture(testing.functional_fixture(layer))


def browser_for(layer, login=None):
    return testbrowsers.browser_for(layer, login)


def add_greeting(layer, text):
    root = layer.getRootFolder()
    manager = root.getSiteManager()
    greeting = contextjobs.Greeting(text)
    manager['default']['greeting'] = greeting
    manager.registerUtility(greeting, contextjobs.IGreeting)
    transaction.commit()


def test_job_put_by_a_request_runs_with_its_site_and_principal(functional):
    add_greeting(functional, 'hello from this test')
    browser = browser_for(functional, 'mgr:mgrpw')
    browser.open('http://localhost/@@put-job.html')
    assert browser.headers['status'] == '200 Ok'
    job = functional.getJob(browser.contents)
    assert testing.wait_for_result(job) == (
        None, 'hello from this test', ['zope.mgr'])


def test_anonymous_cannot_put(functional):
    browser = browser_for(functional)
    browser.open('http://localhost/@@put-job.html')
    assert browser.headers['status'].startswith('401')
    assert len(zc.asyncui.getQueue(functional.getRootFolder())) == 0


def test_dispatcher_works_on_the_test_database(functional):
    # The pitfall of zc.async's layer: here the dispatcher's database is
    # the test's DemoStorage database, not the layer's.
    assert functional.dispatcher.db is functional.db
    assert functional.db.storage.base is functional.base_db.storage
    assert dispatcher.get() is functional.dispatcher
    queue = zc.asyncui.getQueue(functional.getRootFolder())
    job = queue.put(Job(contextjobs.context_seen))
    transaction.commit()
    assert testing.wait_for_result(job) == (None, None, None)


def test_layer_database_unchanged_after_tests(functional):
    base = functional.base_db
    before = base.storage.lastTransaction()
    add_greeting(functional, 'only in this test')
    browser = browser_for(functional, 'mgr:mgrpw')
    browser.open('http://localhost/@@put-job.html')
    testing.wait_for_result(functional.getJob(browser.contents))
    assert base.storage.lastTransaction() == before
    conn = base.open(transaction.TransactionManager())
    try:
        queue = zc.asyncui.getQueue(conn)
        assert len(queue) == 0 and not queue.dispatchers
        root = conn.root()['Application']
        assert 'greeting' not in root.getSiteManager()['default']
    finally:
        conn.close()


def test_each_test_starts_from_the_layer_database(functional):
    # The previous tests' greetings and jobs are gone.
    root = functional.getRootFolder()
    assert 'greeting' not in root.getSiteManager()['default']
    assert zope.component.queryUtility(contextjobs.IGreeting) is None


def test_test_database_closed_between_tests():
    # Outside a test (no fixture): no test database, no dispatcher.
    assert layer.db is None and layer.dispatcher is None
    with pytest.raises(RuntimeError, match='testSetUp'):
        layer.getRootFolder()


def test_layer_torn_down_at_module_end_by_the_fixture():
    # Run last in this module: the fixture tears the layer down when the
    # module ends -- test_functional_zz.py checks the registry is clean.
    assert layer.base_db is not None


def test_layer_misuse_is_explained():
    other = testing.FunctionalLayer(os.path.join(HERE, 'ftestapp.zcml'))
    with pytest.raises(RuntimeError, match='not set up: call setUp'):
        other.testSetUp()
    with pytest.raises(RuntimeError, match='already set up'):
        layer.setUp()


def test_async_overview_shows_the_test_dispatcher(functional):
    # The ++async++ page (zc.asyncui's configure.zcml) and the dispatcher
    # work on the same, per-test, database.
    browser = browser_for(functional, 'mgr:mgrpw')
    testing.run_until_idle(functional.dispatcher)
    browser.open('http://localhost/++async++/')
    assert browser.headers['status'] == '200 Ok'
    assert str(functional.dispatcher.UUID) in browser.contents
    anonymous = browser_for(functional)
    anonymous.open('http://localhost/++async++/')
    assert anonymous.headers['status'].startswith('401')
