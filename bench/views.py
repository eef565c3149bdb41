"""Page benchmark: how long each page under /++async++/ takes to render
with 100,000 completed jobs (in the history, one in ten failed) and
10,000 pending ones (one in ten scheduled), on a FileStorage.

The pages are requested through the standalone site's WSGI application
(its ZCML, its security, its templates), in process; the time printed is
the median of the warm requests and, in parentheses, the first (cold)
one.  Target: every page under 300 ms.

Usage: python bench/views.py [--completed 100000] [--pending 10000]
"""
import argparse
import base64
import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time

import webtest

import zc.asyncui
from zc.asyncui import utils
from zc.asyncui.agent import Agent
from zc.asyncui.cli import site
from zc.asyncui.browser import wsgi

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchjobs  # noqa: E402
import history as history_bench  # noqa: E402

PASSWORD = 'bench'
AUTH = {'Authorization': 'Basic ' + base64.b64encode(
    ('admin:' + PASSWORD).encode()).decode()}
TARGET_MS = 300


def add_pending(conn, tm, n, now):
    """``n`` pending jobs in the default queue (one in ten scheduled in
    the next hours), moved to the claim trees as a dispatcher's poll
    would, and one live dispatcher record with an agent."""
    queue = zc.asyncui.getQueue(conn)
    for i in range(n):
        later = now + datetime.timedelta(minutes=i) if i % 10 == 0 else None
        queue.put(zc.asyncui.Job(benchjobs.noop, i), begin_after=later)
        if i % 1000 == 999:
            tm.commit()
    queue.claimMany(0)  # drains the inbox
    record = queue.getDispatcherAgents('bench-dispatcher', create=True)
    record.activate('bench-host', os.getpid(), 'token', now=now)
    record['main'] = Agent(size=3)
    tm.commit()


def pages(failed_key):
    queue = '/++async++/queues/~'
    return [
        ('overview', '/++async++/'),
        ('overview.json', '/++async++/@@overview.json'),
        ('queue: pending, oldest', queue),
        ('queue: pending, newest', queue + '?order=newest'),
        ('queue: pending, page 100', queue + '?start=5000'),
        ('queue: scheduled', queue + '?status=scheduled'),
        ('queue: failed', queue + '?status=failed'),
        ('queue: succeeded', queue + '?status=succeeded'),
        ('queue: callable filter (scan)', queue + '?callable=nomatch'),
        ('queue.json', queue + '/@@queue.json'),
        ('failed', '/++async++/@@failed'),
        ('failed, error type (index)', '/++async++/@@failed?error=ValueError'),
        ('failed, page 20', '/++async++/@@failed?start=1000'),
        ('retries (scan)', '/++async++/@@retries'),
        ('scheduled', '/++async++/@@scheduled'),
        ('dead (scan)', '/++async++/@@dead'),
        ('job', '/++async++/jobs/' + failed_key),
        ('job.json', '/++async++/jobs/%s/@@job.json' % failed_key),
        ('404 page', '/++async++/jobs/0xdeadbeefdead'),
        ('dispatcher', queue + '/dispatchers/bench-dispatcher'),
        ('agent', queue + '/dispatchers/bench-dispatcher/main'),
        ('agent.json', queue + '/dispatchers/bench-dispatcher/main'
         '/@@agent.json'),
        ('agent edit form', queue + '/dispatchers/bench-dispatcher/main'
         '/@@edit.html'),
        ('action confirm: requeue a job',
         '/++async++/jobs/%s/@@requeue' % failed_key),
        ('bulk confirm: 1000 pending', queue
         + '/@@jobs-action?action=cancel&select=1'),
        ('bulk confirm: failed list', '/++async++/@@jobs-action'
         '?action=requeue&select=1&kind=failed'),
    ]


def timed(app, url, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = app.get(url, headers=AUTH, expect_errors=True)
        times.append(time.perf_counter() - started)
        assert response.status_int in (200, 404), (url, response.status)
    return times[0], statistics.median(times[1:])


def time_bulk_cancel(app):
    """One POST that cancels the first 1,000 pending jobs (one
    transaction); returns its time in seconds."""
    app.set_cookie('__csrftoken__', 'bench')
    started = time.perf_counter()
    response = app.post('/++async++/queues/~/@@jobs-action', {
        'action': 'cancel', 'select': '1', 'status': 'pending',
        '__csrftoken__': 'bench'}, headers=AUTH)
    elapsed = time.perf_counter() - started
    assert response.text.count('was cancelled before it started') == 1000
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--completed', type=int, default=100000)
    parser.add_argument('--pending', type=int, default=10000)
    parser.add_argument('--repeat', type=int, default=6)
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix='zc-asyncui-views-')
    try:
        site.configure(site.PROJECT_ZCML, PASSWORD)
        now = utils.now()
        started = time.monotonic()
        db, conn, tm = history_bench.build(
            os.path.join(base, 'Data.fs'), args.completed, now)
        add_pending(conn, tm, args.pending, now)
        failed_key = zc.asyncui.history.query(
            conn, status='failed', count=1)[0].key
        conn.close()
        site.bootstrap(db)
        print('built %d completed and %d pending jobs in %.0f s'
              % (args.completed, args.pending, time.monotonic() - started))
        app = webtest.TestApp(wsgi.make_app(db))
        slow = []
        for name, url in pages(failed_key):
            cold, warm = timed(app, url, args.repeat)
            flag = '' if warm * 1000 < TARGET_MS else '  > %d ms' % TARGET_MS
            if flag:
                slow.append(name)
            print('%-32s %7.1f ms  (first %7.1f ms)%s'
                  % (name, warm * 1000, cold * 1000, flag))
        print('all pages under %d ms' % TARGET_MS if not slow else
              'over %d ms: %s' % (TARGET_MS, ', '.join(slow)))
        # Last: it changes the database.
        print('bulk cancel of 1000 pending jobs (POST, one commit):'
              ' %.0f ms' % (time_bulk_cancel(app) * 1000))
        db.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
