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

An application that keeps its queues in a database of their own
(docs/tips.rst) names the databases of its multi-database
(``databases=('main', 'async'), queue_database='async'``): the layer
opens a FileStorage for each, the test databases stack a DemoStorage on
each, and the dispatcher runs on the test's queue database.

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
    ``queue_names`` are installed in the layer database, or in the
    database ``queue_database`` of a multi-database of ``databases``
    (names, the application's database first; ``('main',
    queue_database)`` when only ``queue_database`` is given).

    During a test: ``db`` is the test database, ``dispatcher`` its
    dispatcher; ``make_wsgi_app()``, ``getRootFolder()`` and
    ``getJob(key)`` use them; ``databases`` maps each name to its test
    database (``{}`` without a multi-database).  Between tests they are
    None (and ``{}``), and ``base_db`` (the layer database, the
    application's of ``base_databases``) is read-only by convention.
    """

    def __init__(self, config_file, package=None, name=None,
                 dispatcher_settings=None, queue_names=('',),
                 databases=None, queue_database=None):
        self.config_file = config_file
        self.package = package
        self.__name__ = name or 'FunctionalLayer(%s)' % (
            os.path.basename(config_file))
        self.__bases__ = ()
        self.dispatcher_settings = dict(
            TEST_DISPATCHER_SETTINGS if dispatcher_settings is None
            else dispatcher_settings)
        self.queue_names = tuple(queue_names)
        self.database_names = _database_names(databases, queue_database)
        self.queue_database = queue_database
        self.base_db = self.db = self.dispatcher = None
        self.base_databases, self.databases = {}, {}
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
            self.base_db = self._open(lambda name: (
                ZODB.FileStorage.FileStorage(os.path.join(
                    self._tmpdir, '%s.fs' % (name or 'Data')))),
                self.base_databases)
            # zope.app.appsetup's subscriber creates the root folder.
            zope.event.notify(zope.processlifetime.DatabaseOpened(
                self.base_db))
            # A dispatcher started by the configuration (the asyncui
            # ``dispatcher`` directive) is bound to the layer database,
            # which tests never write to: stop it; each test gets the
            # configured one started on its own database.
            self._configured_dispatcher = bool(
                _stop_dispatchers_of(self.base_db))
            zc.asyncui.install(self.base_db, names=self.queue_names,
                               database=self.queue_database)
        except BaseException:
            self.tearDown()
            raise

    def tearDown(self):
        """Close and delete the layer database; clean the registry."""
        if self.db is not None:
            self.testTearDown()
        if self.base_db is not None:
            _stop_dispatchers_of(self.base_db)
            _close(self.base_db, self.base_databases)
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
        self.db = self._open(lambda name: ZODB.DemoStorage.DemoStorage(
            name='%s test' % self.__name__,
            base=self._base_of(name).storage, close_base_on_close=False),
            self.databases)
        try:
            self.dispatcher = self._start_dispatcher()
        except BaseException:
            _stop_dispatchers_of(self.db)
            _close(self.db, self.databases)
            self.db = None
            raise

    def _open(self, make_storage, databases):
        """The application's database on ``make_storage(name)``; with
        ``database_names``, of a multi-database filling ``databases``."""
        if not self.database_names:
            return ZODB.DB(make_storage(None))
        for name in self.database_names:
            ZODB.DB(make_storage(name), databases=databases,
                    database_name=name)
        return databases[self.database_names[0]]

    def _base_of(self, name):
        return self.base_databases[name] if name else self.base_db

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
        # The queues' database (the test database without a
        # multi-database).
        return dispatcher.start(zc.asyncui.getQueueDatabase(self.db),
                                **settings)

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
            _close(self.db, self.databases)
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


def _database_names(databases, queue_database):
    """The database names of a layer's multi-database (an empty tuple for
    a single database), checked."""
    if databases is None:
        return () if queue_database is None else ('main', queue_database)
    names = tuple(databases)
    if len(set(names)) != len(names) or not names:
        raise ValueError('databases must be distinct names, the'
                         " application's first, not %r" % (databases,))
    if queue_database is not None and queue_database not in names:
        raise ValueError('queue_database %r is not one of databases %r'
                         % (queue_database, names))
    return names


def _close(db, databases):
    """Close ``db`` and every database of its multi-database
    (``databases``, emptied)."""
    for each in {id(d): d for d in [db, *databases.values()]}.values():
        each.close()
    databases.clear()


def _dispatchers_of(db):
    """The running dispatchers of ``db`` or of a database of its
    multi-database."""
    databases = [db, *db.databases.values()]
    with dispatcher._registry_lock:
        return [d for d in dispatcher._registry.values()
                if any(d.db is each for each in databases)
                and not d.stopped]


def _stop_dispatchers_of(db):
    """Stop the dispatchers of ``db``'s (multi-)database (also forgotten
    by zc.asyncui.config); how many there were."""
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
