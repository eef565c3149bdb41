"""A real browser on the real standalone site, for
tests/test_browser_chromium.py and tools/screenshots.py.

``Site`` serves the WSGI application of ``zc-asyncui serve`` with
waitress on a free loopback port, on a FileStorage, with a running
dispatcher.  ``chromium()`` starts Debian's headless Chromium through
its chromedriver (Selenium), sending the admin's Basic credentials with
every request.  ``missing_browser()`` says what is missing, if anything.
"""
import base64
import contextlib
import os
import shutil
import time

import transaction
import zope.testing.cleanup

import zc.asyncui
from zc.asyncui import config
from zc.asyncui import history
from zc.asyncui import testing
from zc.asyncui import utils
from zc.asyncui.browser import wsgi
from zc.asyncui.cli import serve
from zc.asyncui.cli import site

try:
    import selenium.webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the test extra is not installed
    selenium = Service = By = WebDriverWait = None

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
#: Set to 1 (as .ci/run does) to make a missing browser a failure.
REQUIRE_VARIABLE = 'ZC_ASYNCUI_REQUIRE_BROWSER'
PASSWORD = 'chromium secret'
ADMIN = 'Basic ' + base64.b64encode(
    ('admin:%s' % PASSWORD).encode('utf-8')).decode('ascii')
WINDOW_SIZE = (1100, 800)
#: Where the tests save screenshots (not in git).
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'test-artifacts')


def missing_browser():
    """What is missing to run Chromium, or None."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER)
               if shutil.which(path) is None]
    if selenium is None:
        missing.append('the Python package selenium (pip install -e'
                       ' ".[test]")')
    if not missing:
        return None
    return ('headless Chromium tests need %s; install them with'
            ' "apt-get install -y chromium chromium-driver" (Debian), or'
            ' set %s=1 to make this a failure (as .ci/run does)'
            % (' and '.join(missing), REQUIRE_VARIABLE))


def browser_required(environ=os.environ):
    return environ.get(REQUIRE_VARIABLE, '') not in ('', '0')


def chromium(window_size=WINDOW_SIZE, authorization=ADMIN):
    """A headless Chromium WebDriver that sends ``authorization`` (the
    admin's Basic credentials by default) with every request, through
    the DevTools protocol: Chromium does not reuse credentials written
    in URLs for the links it follows."""
    options = selenium.webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ('--headless=new', '--no-sandbox',
                     '--disable-dev-shm-usage', '--disable-gpu',
                     '--window-size=%d,%d' % window_size):
        options.add_argument(argument)
    driver = selenium.webdriver.Chrome(
        service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.execute_cdp_cmd('Network.enable', {})
        driver.execute_cdp_cmd('Network.setExtraHTTPHeaders',
                               {'headers': {'Authorization': authorization}})
    except BaseException:
        driver.quit()
        raise
    return driver


def serve_http(app):
    """Serve the WSGI ``app`` with waitress on a free loopback port, as
    ``zc-asyncui serve`` does; (server for serve.stop_http, base URL)."""
    http = serve.bind_http(app, '127.0.0.1', 0)
    http.thread.start()
    return http, 'http://127.0.0.1:%s' % http.server.effective_port


class Site:
    """The standalone site on a FileStorage in ``directory``, served on a
    free loopback port, with a dispatcher; ``url`` is its base URL.
    Reads the project's site ZCML (once per process: pitfall P14)."""

    def __init__(self, directory):
        self.directory = directory
        self.db = self.http = self.dispatcher = None
        self.url = None

    def start(self):
        site.configure(site.PROJECT_ZCML, PASSWORD)
        config.installLogBuffer()  # as zc-asyncui serve does: the log page
        self.db = testing.file_storage_db(self.directory)
        site.bootstrap(self.db)
        self.http, self.url = serve_http(wsgi.make_app(self.db))
        self.dispatcher = config.startDispatcher(
            self.db, poll_interval=0.1, ping_interval=1.0,
            ping_death_interval=30.0,
            uuid_file=os.path.join(self.directory, 'instance_uuid.txt'))
        return self

    def stop(self):
        if self.http is not None:
            serve.stop_http(self.http)
        config.stopDispatcher(self.db, 10.0)
        if self.db is not None:
            self.db.close()
        config.reset()
        zope.testing.cleanup.cleanUp()

    def put(self, *args, **options):
        """Put ``zc.asyncui.Job(*args)`` in the default queue with the
        put ``options`` (begin_after, retry_policy_factory, ...) and
        commit; its key."""
        tm = transaction.TransactionManager()
        conn = self.db.open(tm)
        try:
            with tm:
                queue = zc.asyncui.getQueue(conn)
                job = queue.put(zc.asyncui.Job(*args), **options)
            return job.key
        finally:
            conn.close()

    def wait_until_completed(self, key, timeout=30.0):
        """Wait until the job ``key`` is COMPLETED; its result."""
        deadline = time.monotonic() + timeout
        while True:
            with self.connection() as conn:
                job = conn.get(utils.key_to_oid(key))
                if job.status == zc.asyncui.JobStatus.COMPLETED:
                    return job.result
            if time.monotonic() > deadline:
                raise AssertionError('job %s not completed in %.0fs: %s'
                                     % (key, timeout, job.status))
            time.sleep(0.1)

    def wait_until_recorded(self, key, timeout=30.0):
        """Wait until the finished job ``key`` is in the history (the
        Failed and Dead pages read it): the dispatcher records idle
        completions after a few seconds (worker.COMPLETION_FLUSH_SECONDS).
        """
        deadline = time.monotonic() + timeout
        while True:
            with self.connection() as conn:
                if key in [job.key for job in history.query(conn)]:
                    return
            if time.monotonic() > deadline:
                raise AssertionError('job %s not in the history after %.0fs'
                                     % (key, timeout))
            time.sleep(0.2)

    @contextlib.contextmanager
    def connection(self):
        tm = transaction.TransactionManager()
        conn = self.db.open(tm)
        try:
            tm.begin()
            yield conn
        finally:
            tm.abort()
            conn.close()
