"""The functional test layer for Zope applications that put jobs.

``FunctionalLayer(config_file)`` loads a site ZCML (``ftesting.zcml``),
opens a layer database on a FileStorage and bootstraps it (root folder,
queues).  For each test it stacks a ``DemoStorage`` on the layer's
storage and starts a dispatcher *on that test database*: the dispatcher
sees exactly what the test and its browser requests see, and the layer's
database is unchanged after the test.  (zc.async's layer started its
dispatcher once, on the layer's database, while tests wrote to their
DemoStorage: the dispatcher never saw their jobs.)  The dispatcher is the
configuration's (``asyncui:dispatcher``), moved from the layer database
to each test's, or else one with short intervals.

Two thin forms over the one implementation, and no layer inheritance:

- zope.testrunner style: the layer object itself (``setUp``,
  ``tearDown``, ``testSetUp``, ``testTearDown``);
- pytest: ``functional_fixture(layer)`` returns a fixture function (wrap
  it in ``pytest.fixture``) that sets the layer up on first use, tears it
  down at the end of the session, and gives each test a fresh test
  database and dispatcher.
"""
import os
import shutil
import tempfile
import uuid

import transaction
import ZODB
import ZODB.DemoStorage
import ZODB.FileStorage
import zope.app.wsgi
import zope.app.wsgi.testlayer
import zope.component.hooks
import zope.component.testing
import zope.configuration.xmlconfig
import zope.event
import zope.processlifetime
import zope.security.management
from zope.app.publication.zopepublication import ZopePublication

import zc.asyncui
from zc.asyncui import config
from zc.asyncui import dispatcher
from zc.asyncui import interfaces
from zc.asyncui import utils

#: Dispatcher settings for tests: short intervals, so jobs start at once.
TEST_DISPATCHER_SETTINGS = dict(poll_interval=0.05, ping_interval=1.0,
                                ping_death_interval=10.0, main_agent_size=3)


class FunctionalLayer:
    """A functional test layer; see the module docstring.

    ``config_file`` is the site ZCML (a path, or a name in ``package``).
    ``dispatcher_settings`` are passed to ``zc.asyncui.dispatcher.start``
    for each test's dispatcher (TEST_DISPATCHER_SETTINGS by default)
    when the configuration starts none (an ``asyncui:dispatcher``
    directive starts one on the layer database as it opens: the layer
    stops it and has the configuration start it on each test database).
    ``queue_names`` are installed in the layer database.

    During a test: ``db`` is the test database, ``dispatcher`` its
    dispatcher; ``make_wsgi_app()``, ``getRootFolder()`` and
    ``getJob(key)`` use them.  Between tests both are None, and
    ``base_db`` (the layer database) is read-only by convention.
    """

    def __init__(self, config_file, package=None, name=None,
                 dispatcher_settings=None, queue_names=('',)):
        self.config_file = config_file
        self.package = package
        self.__name__ = name or 'FunctionalLayer(%s)' % (
            os.path.basename(config_file))
        self.__bases__ = ()
        self.dispatcher_settings = dict(
            TEST_DISPATCHER_SETTINGS if dispatcher_settings is None
            else dispatcher_settings)
        self.queue_names = tuple(queue_names)
        self.base_db = self.db = self.dispatcher = None
        self._tmpdir = None
        self._connections = []
        self._configured_dispatcher = False

    # -- zope.testrunner protocol -------------------------------------

    def setUp(self):
        """Load the ZCML into a clean global registry, open and bootstrap
        the layer database."""
        if self.base_db is not None:
            raise RuntimeError('%s is already set up' % self.__name__)
        zope.component.testing.setUp()
        zope.component.hooks.setHooks()
        try:
            zope.configuration.xmlconfig.file(self.config_file,
                                              package=self.package)
            self._tmpdir = tempfile.mkdtemp(prefix='zc.asyncui-ftest-')
            storage = ZODB.FileStorage.FileStorage(
                os.path.join(self._tmpdir, 'Data.fs'))
            self.base_db = ZODB.DB(storage)
            # zope.app.appsetup's subscriber creates the root folder.
            zope.event.notify(zope.processlifetime.DatabaseOpened(
                self.base_db))
            # A dispatcher started by the configuration (the asyncui
            # ``dispatcher`` directive) is bound to the layer database,
            # which tests never write to: stop it; each test gets the
            # configured one started on its own database.
            self._configured_dispatcher = bool(
                _stop_dispatchers_of(self.base_db))
            zc.asyncui.install(self.base_db, names=self.queue_names)
        except BaseException:
            self.tearDown()
            raise

    def tearDown(self):
        """Close and delete the layer database; clean the registry."""
        if self.db is not None:
            self.testTearDown()
        if self.base_db is not None:
            _stop_dispatchers_of(self.base_db)
            self.base_db.close()
            self.base_db = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        zope.component.hooks.resetHooks()
        zope.component.testing.tearDown()

    def testSetUp(self):
        """A test database (DemoStorage on the layer's storage) and a
        dispatcher running on it."""
        if self.base_db is None:
            raise RuntimeError('%s is not set up: call setUp() first'
                               % self.__name__)
        storage = ZODB.DemoStorage.DemoStorage(
            name='%s test' % self.__name__, base=self.base_db.storage,
            close_base_on_close=False)
        self.db = ZODB.DB(storage)
        try:
            self.dispatcher = self._start_dispatcher()
        except BaseException:
            _stop_dispatchers_of(self.db)
            self.db.close()
            self.db = None
            raise

    def _start_dispatcher(self):
        if self._configured_dispatcher:
            # What the database opening did for the layer database, it now
            # does for the test database: the asyncui directives' queues,
            # agents and dispatcher, with their settings.
            zope.event.notify(zope.processlifetime.DatabaseOpenedWithRoot(
                self.db))
            started = _dispatchers_of(self.db)
            if len(started) != 1:
                raise RuntimeError(
                    '%s: the configuration started %d dispatchers for the'
                    ' test database, expected one.' % (self.__name__,
                                                       len(started)))
            return started[0]
        settings = dict(self.dispatcher_settings)
        settings.setdefault('uuid', uuid.uuid4())
        return dispatcher.start(self.db, **settings)

    def testTearDown(self):
        """Stop the test's dispatcher, close the test database (its
        changes are gone) and clear the thread's site and interaction."""
        transaction.abort()
        zope.security.management.endInteraction()
        zope.component.hooks.setSite(None)
        if self.db is not None:
            _stop_dispatchers_of(self.db)
        self.dispatcher = None
        for conn in self._connections:
            conn.transaction_manager.abort()
            conn.close()
        self._connections = []
        if self.db is not None:
            self.db.close()
            self.db = None

    # -- what tests use -----------------------------------------------

    def _test_db(self):
        if self.db is None:
            raise RuntimeError('No test database: %s.testSetUp() has not'
                               ' run (use it inside a test).' % self.__name__)
        return self.db

    def make_wsgi_app(self, handle_errors=True):
        """The WSGI application on the test database, for
        ``zope.testbrowser.wsgi.Browser(wsgi_app=...)`` or WebTest.  It
        accepts ``Authorization: Basic login:password`` unencoded."""
        return zope.app.wsgi.testlayer.AuthorizationMiddleware(
            zope.app.wsgi.WSGIPublisherApplication(
                self._test_db(), handle_errors=handle_errors))

    def getRootFolder(self):
        """The root folder, in a connection of the test database that uses
        the thread's transaction manager (closed after the test)."""
        conn = self._test_db().open()
        self._connections.append(conn)
        return conn.root()[ZopePublication.root_name]

    def getJob(self, key):
        """The job with ``key`` (``job.key``, e.g. a view's answer), in a
        connection like getRootFolder's."""
        conn = self.getRootFolder()._p_jar
        conn.transaction_manager.begin()
        # The queues may live in another database of a multi-database.
        queues = conn.root().get(interfaces.KEY)
        jar = getattr(queues, '_p_jar', None) or conn
        return jar.get(utils.key_to_oid(key))


def _dispatchers_of(db):
    with dispatcher._registry_lock:
        return [d for d in dispatcher._registry.values()
                if d.db is db and not d.stopped]


def _stop_dispatchers_of(db):
    """Stop the dispatchers of ``db`` (also forgotten by zc.asyncui.config);
    how many there were."""
    found = _dispatchers_of(db)
    config.stopDispatcher(db, 10.0)
    for running in found:
        if not running.stopped:
            running.stop(10.0)
    return len(found)


def functional_fixture(layer):
    """A pytest fixture function for ``layer``; use it as
    ``functional = pytest.fixture(functional_fixture(layer))``.

    The layer is set up when a test first asks for the fixture and torn
    down at the end of that test's module (so that the next module finds
    a clean component registry); each test gets ``testSetUp`` before and
    ``testTearDown`` after, and receives the layer.
    """
    def fixture(request):
        if layer.base_db is None:
            layer.setUp()
            _module_node(request).addfinalizer(layer.tearDown)
        layer.testSetUp()
        try:
            yield layer
        finally:
            layer.testTearDown()
    fixture.__name__ = 'functional_fixture'
    return fixture


def _module_node(request):
    # The pytest node of the test's module (without importing pytest:
    # this module must import without it).
    for node in request.node.listchain():
        if getattr(node, 'obj', None) is request.module:
            return node
    return request.node.session
