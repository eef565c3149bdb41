"""The functional test layer (zc.asyncui.ftesting) on a multi-database:
the application in 'main', its queues in 'async' (issue 11), each with a
FileStorage for the layer and a DemoStorage on it for each test."""
import os

import pytest
import transaction
import zope.testbrowser.wsgi

import zc.asyncui
from zc.asyncui import interfaces
from zc.asyncui import testing

HERE = os.path.dirname(os.path.abspath(__file__))

layer = testing.FunctionalLayer(
    os.path.join(HERE, 'ftestapp.zcml'), name='ftestapp-multidb',
    databases=('main', 'async'), queue_database='async')
functional = pytest.fixture(testing.functional_fixture(layer))

def _put_through_a_request(layer):
    browser = zope.testbrowser.wsgi.Browser(wsgi_app=layer.make_wsgi_app())
    browser.handleErrors = False
    browser.addHeader('Authorization', 'Basic mgr:mgrpw')
    browser.open('http://localhost/@@put-job.html')
    return layer.getJob(browser.contents)


def test_job_put_by_a_request_runs_from_the_queue_database(functional):
    assert sorted(functional.databases) == ['async', 'main']
    assert functional.db is functional.databases['main']
    queue_db = functional.databases['async']
    assert functional.dispatcher.db is queue_db
    assert queue_db.storage.base is functional.base_databases[
        'async'].storage
    job = _put_through_a_request(functional)
    assert job._p_jar.db() is queue_db
    assert testing.wait_for_result(job) == (None, None, ['zope.mgr'])


def test_layer_databases_unchanged_after_tests(functional):
    before = {name: db.storage.lastTransaction()
              for name, db in functional.base_databases.items()}
    root = functional.getRootFolder()
    queue = zc.asyncui.getQueue(root)
    job = queue.put(zc.asyncui.Job(pow, 2, 5))
    transaction.commit()
    assert testing.wait_for_result(job) == 32
    after = {name: db.storage.lastTransaction()
             for name, db in functional.base_databases.items()}
    assert after == before
    conn = functional.base_db.open(transaction.TransactionManager())
    try:
        queues = conn.root()[interfaces.KEY]
        assert queues._p_jar.db().database_name == 'async'
        assert len(queues['']) == 0 and not queues[''].dispatchers
    finally:
        conn.close()


def test_closed_between_tests_and_options_checked():
    assert layer.db is None and layer.databases == {}
    with pytest.raises(ValueError, match="'queues' is not one of"):
        testing.FunctionalLayer('x.zcml', databases=('main', 'async'),
                                queue_database='queues')
    with pytest.raises(ValueError, match='distinct names'):
        testing.FunctionalLayer('x.zcml', databases=('main', 'main'))
