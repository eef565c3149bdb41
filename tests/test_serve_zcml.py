"""The site configuration read by another start-up than ``zc-asyncui
serve``: without the feature zc-asyncui-serve, its dispatcher directive
starts the dispatcher when the database is opened with its root.

A module of its own: the site ZCML is read once per process (pitfall
P14), so this test cleans the global registries before and after.
"""
import re

import transaction
import webtest
import zope.testing.cleanup

import zc.asyncui
from zc.asyncui import config
from zc.asyncui import demo
from zc.asyncui import dispatcher
from zc.asyncui import testing
from zc.asyncui.browser import wsgi
from zc.asyncui.cli import site


def test_site_zcml_without_serve_starts_the_dispatcher(tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)  # the directive's var/instance_uuid.txt
    zope.testing.cleanup.cleanUp()
    db = testing.file_storage_db(str(tmp_path))
    try:
        site.configure(site.PROJECT_ZCML, 'pw', serve=False)
        site.bootstrap(db)
        started = dispatcher.get()
        assert started is not None and started.db is db
        assert (tmp_path / 'var' / 'instance_uuid.txt').exists()
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        with tm:
            job = zc.asyncui.getQueue(conn).put(zc.asyncui.Job(demo.add,
                                                               2, 3))
        assert testing.wait_for_result(job) == 5
        conn.close()
        page = webtest.TestApp(wsgi.make_app(db)).get(
            '/++async++/', headers={'Authorization': 'Basic YWRtaW46cHc='})
        assert re.search(r'main \(\d/3\)', page.text)  # the ZCML's agent
    finally:
        config.reset()
        zope.testing.cleanup.cleanUp()
        db.close()
