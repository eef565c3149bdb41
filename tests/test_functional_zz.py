"""Runs after tests/test_functional.py (file order): the pytest fixture
tore the functional layer down at the end of that module."""
import zope.component

from zc.asyncui import interfaces


def test_registry_clean_after_functional_module():
    import test_functional
    assert test_functional.layer.base_db is None
    assert zope.component.queryUtility(
        interfaces.IJobContext, name='zc.asyncui.request') is None


import os

import transaction

import zc.asyncui
from zc.asyncui import dispatcher
from zc.asyncui import testing

import contextjobs

HERE = os.path.dirname(os.path.abspath(__file__))


def test_testrunner_protocol_with_the_project_ftesting_zcml():
    # zope.testrunner calls these four methods; the project's own
    # ftesting.zcml loads on its own.
    layer = testing.FunctionalLayer(
        os.path.join(os.path.dirname(HERE), 'ftesting.zcml'))
    layer.setUp()
    try:
        layer.testSetUp()
        job = zc.asyncui.getQueue(layer.getRootFolder()).put(
            contextjobs.context_seen)
        transaction.commit()
        assert testing.wait_for_result(job) == (None, None, None)
        first = str(layer.dispatcher.UUID)
        assert first in job.queue.dispatchers
        layer.testTearDown()
        layer.testSetUp()
        # A fresh test database: no trace of the first test's dispatcher.
        queue = zc.asyncui.getQueue(layer.getRootFolder())
        assert first not in queue.dispatchers and len(queue) == 0
        layer.testTearDown()
    finally:
        layer.tearDown()
    assert layer.base_db is None and dispatcher.get() is None


def test_dispatcher_of_the_configuration_runs_on_each_test_database():
    # The asyncui:dispatcher directive starts a dispatcher when the
    # database opens: on the layer database at setUp.  The layer stops it
    # there and has the configuration start it on each test database,
    # with its queues, agents and settings.
    layer = testing.FunctionalLayer('ftestdispatcher.zcml',
                                    package=__import__('ftestapp'))
    layer.setUp()
    try:
        assert dispatcher.get() is None
        for _ in range(2):
            layer.testSetUp()
            d = layer.dispatcher
            assert dispatcher.get() is d and d.db is layer.db
            assert str(d.UUID) == '6e4b0c70-0000-4000-8000-00000000f00d'
            assert d.poll_interval == 0.05
            queue = zc.asyncui.getQueue(layer.getRootFolder(), 'reports')
            job = queue.put(contextjobs.context_seen)
            transaction.commit()
            assert testing.wait_for_result(job) == (None, None, None)
            assert job.agent.name == 'reporter'
            layer.testTearDown()
            assert d.stopped and dispatcher.get() is None
    finally:
        layer.tearDown()
    assert dispatcher.get() is None


def test_layer_with_bad_configuration_leaves_nothing_behind():
    import pytest
    import zope.configuration.exceptions
    layer = testing.FunctionalLayer(os.path.join(HERE, 'no-such.zcml'))
    with pytest.raises((OSError,
                        zope.configuration.exceptions.ConfigurationError)):
        layer.setUp()
    assert layer.base_db is None and layer._tmpdir is None
