"""Make the screenshots of docs/browser.rst and docs/zmi.rst with Chromium.

    .venv/bin/python tools/screenshots.py [--out docs/screenshots]

It serves the standalone site (as tests/test_browser_chromium.py does:
waitress on a free loopback port, a FileStorage in a temporary
directory, a dispatcher), puts a few jobs -- some that succeed, one that
fails, one scheduled for later -- and saves a PNG of each page; then it
serves the Rotterdam ZMI test application (tests/zmiftesting.zcml) and
saves the overview as a ZMI management screen.  Needs Debian's chromium
and chromium-driver, and the test extra (selenium).
"""
import argparse
import datetime
import logging
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tests'))

import transaction  # noqa: E402

import zc.asyncui  # noqa: E402
from zc.asyncui import demo  # noqa: E402
from zc.asyncui import testing  # noqa: E402
from zc.asyncui import utils  # noqa: E402
from zc.asyncui.cli import serve  # noqa: E402

import browserfixtures  # noqa: E402

#: A screenshot over this size is too big for the docs.
MAX_BYTES = 200 * 1024
WINDOW_SIZE = (1000, 700)


def put_demo_jobs(site):
    """Jobs of zc.asyncui.demo (as ``serve --demo`` puts) for the pages
    to show; the key of the failed job."""
    for a in range(3):
        site.wait_until_completed(site.put(demo.add, a, 40))
    failed = site.put(demo.fail, 'the customer has no address')
    site.wait_until_completed(failed)
    site.wait_until_recorded(failed)
    site.put(demo.flaky, 9, retry_policy_factory=demo.FLAKY_RETRY)
    later = utils.now() + datetime.timedelta(hours=1)
    site.put(demo.add, 1, 1, begin_after=later)
    return failed


def shoot(driver, url, path, height=WINDOW_SIZE[1]):
    driver.set_window_size(WINDOW_SIZE[0], height)
    driver.get(url)
    driver.save_screenshot(path)
    size = os.path.getsize(path)
    print('%s  %6.1f KB  %s' % (path, size / 1024.0, url))
    if size > MAX_BYTES:
        print('  too big for the docs (over %d KB): make the window'
              ' smaller' % (MAX_BYTES // 1024), file=sys.stderr)
    return size <= MAX_BYTES


def standalone_pages(site, failed):
    """(file name, path, window height) of each page of the standalone
    site."""
    dispatcher = '/++async++/queues/~/dispatchers/%s' % site.dispatcher.UUID
    return [
        ('overview.png', '/++async++/', 820),
        ('failed.png', '/++async++/@@failed', 420),
        ('job.png', '/++async++/jobs/' + failed, 1200),
        ('queue.png', '/++async++/queues/~?status=scheduled', 760),
        ('dispatcher.png', dispatcher, 700),
        ('agent.png', dispatcher + '/main', 700),
        ('agent-edit.png', dispatcher + '/main/@@edit.html', 480),
        ('log.png', '/++async++/@@log', 600),
    ]


def shoot_standalone(out):
    directory = tempfile.mkdtemp(prefix='zc.asyncui-screenshots-')
    site = browserfixtures.Site(directory).start()
    ok = True
    try:
        failed = put_demo_jobs(site)
        driver = browserfixtures.chromium(WINDOW_SIZE)
        try:
            for name, path, height in standalone_pages(site, failed):
                ok &= shoot(driver, site.url + path, os.path.join(out, name),
                            height)
        finally:
            driver.quit()
    finally:
        site.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return ok


def shoot_zmi(out):
    layer = testing.FunctionalLayer(
        os.path.join(ROOT, 'tests', 'zmiftesting.zcml'), name='screenshots')
    layer.setUp()
    ok = True
    try:
        layer.testSetUp()
        tm = transaction.TransactionManager()
        conn = layer.db.open(tm)
        with tm:
            key = zc.asyncui.getQueue(conn).put(
                zc.asyncui.Job(demo.fail)).key
        conn.close()
        testing.wait_for_result(layer.getJob(key))
        base = '/++skin++Rotterdam/++async++'
        agent = '%s/queues/~/dispatchers/%s/main' % (base,
                                                     layer.dispatcher.UUID)
        http, url = browserfixtures.serve_http(layer.make_wsgi_app())
        driver = browserfixtures.chromium(WINDOW_SIZE,
                                          authorization='Basic mgr:mgrpw')
        try:
            for name, path, height in [
                    ('zmi-overview.png', base + '/', 600),
                    ('zmi-job.png', '%s/jobs/%s' % (base, key), 800),
                    ('zmi-agent-edit.png', agent + '/@@edit.html', 540)]:
                ok &= shoot(driver, url + path, os.path.join(out, name),
                            height)
        finally:
            driver.quit()
            serve.stop_http(http)
    finally:
        layer.tearDown()
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=os.path.join(ROOT, 'docs',
                                                      'screenshots'),
                        help='where to write the PNG files')
    args = parser.parse_args(argv)
    problem = browserfixtures.missing_browser()
    if problem:
        parser.error(problem)
    os.makedirs(args.out, exist_ok=True)
    # The failing job fails on purpose: no traceback on the terminal
    # (the log page's buffer still gets the records).
    logging.getLogger().addHandler(logging.NullHandler())
    ok = shoot_standalone(args.out)
    ok &= shoot_zmi(args.out)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
