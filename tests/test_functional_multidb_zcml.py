"""The functional test layer (zc.asyncui.ftesting) on a multi-database
whose site configuration puts the queues in 'async' and starts a
dispatcher (tests/ftestmultidb.zcml): a module of its own, as each layer
loads its configuration into a clean global registry."""
import os

import pytest
import transaction

import zc.asyncui
from zc.asyncui import testing

HERE = os.path.dirname(os.path.abspath(__file__))

configured = testing.FunctionalLayer(
    os.path.join(HERE, 'ftestmultidb.zcml'), name='ftestmultidb',
    databases=('main', 'async'))
functional_configured = pytest.fixture(
    testing.functional_fixture(configured))


def test_configured_dispatcher_moves_to_the_test_queue_database(
        functional_configured):
    # ftestmultidb.zcml installs the queues in 'async' and starts a
    # dispatcher with an agent there; each test gets it on its own.
    layer = functional_configured
    assert layer.dispatcher.db is layer.databases['async']
    job = zc.asyncui.getQueue(layer.getRootFolder(), 'reports').put(
        zc.asyncui.Job(pow, 3, 2))
    transaction.commit()
    assert testing.wait_for_result(job) == 9
    assert job._p_jar.db() is layer.databases['async']
