"""The request context of jobs (zc.asyncui.jobcontext and
zc.asyncui.requestcontext): a job put inside a request runs with the
request's site and principal, and both are gone after its commit."""
import logging

import pytest
import transaction
import zope.authentication.interfaces
import zope.component
import zope.component.hooks
import zope.component.testing
import zope.security.management
from zope.interface.verify import verifyObject
from zope.principalregistry.principalregistry import principalRegistry
from zope.site.folder import rootFolder
from zope.site.site import LocalSiteManager

import zc.asyncui
from zc.asyncui import interfaces
from zc.asyncui import jobcontext
from zc.asyncui import requestcontext
from zc.asyncui import testing
from zc.asyncui.job import Job

import contextjobs

NOTHING = (None, None, None)


@pytest.fixture
def components():
    """A clean global registry with the request-context hook and the
    principal registry (with alice and bob) as IAuthentication."""
    zope.component.testing.setUp()
    zope.component.hooks.setHooks()  # as a Zope application does
    zope.component.provideUtility(
        principalRegistry, zope.authentication.interfaces.IAuthentication)
    principalRegistry.definePrincipal('zope.alice', 'Alice', login='alice')
    principalRegistry.definePrincipal('zope.bob', 'Bob', login='bob')
    zope.component.provideUtility(requestcontext.RequestContext(),
                                  interfaces.IJobContext,
                                  name='zc.asyncui.request')
    yield
    zope.security.management.endInteraction()
    zope.component.hooks.setSite(None)
    zope.component.hooks.resetHooks()
    zope.component.testing.tearDown()


@pytest.fixture
def site(conn, components):
    """A real site: a zope.site root folder with a LocalSiteManager and a
    local IGreeting utility, committed in ``conn``'s database."""
    folder = rootFolder()
    conn.root()['Application'] = folder
    folder.__name__ = 'app'
    manager = LocalSiteManager(folder)
    folder.setSiteManager(manager)
    greeting = contextjobs.Greeting('hello from the site')
    manager['default']['greeting'] = greeting
    manager.registerUtility(greeting, contextjobs.IGreeting)
    conn.transaction_manager.commit()
    return folder


def in_request(site, principal_id):
    """What zope.app.publication does while publishing: set the site and
    an interaction for the principal."""
    zope.component.hooks.setSite(site)
    zope.security.management.newInteraction(requestcontext.Participation(
        principalRegistry.getPrincipal(principal_id)))


def end_request():
    zope.security.management.endInteraction()
    zope.component.hooks.setSite(None)


def put_in_request(conn, site, principal_id, *job_args):
    in_request(site, principal_id)
    try:
        job = zc.asyncui.getQueue(conn).put(Job(*job_args))
        conn.transaction_manager.commit()
    finally:
        end_request()
    return job


def test_hooks_provide_IJobContext():
    verifyObject(interfaces.IJobContext, jobcontext.JobContext())
    verifyObject(interfaces.IJobContext, requestcontext.RequestContext())
    assert jobcontext.JobContext().restore(None) is None


def test_put_in_request_runs_with_site_and_principal(conn, site, db):
    job = put_in_request(conn, site, 'zope.alice', contextjobs.context_seen)
    assert job.annotations[requestcontext.PRINCIPAL_KEY] == 'zope.alice'
    assert job.annotations[requestcontext.SITE_KEY] is site
    with testing.dispatcher_running(db, main_agent_size=1):
        assert testing.wait_for_result(job) == (
            'app', 'hello from the site', ['zope.alice'])
        # The same worker thread (one agent of size 1) then runs a job put
        # outside a request: the site and interaction were torn down.
        plain = zc.asyncui.getQueue(conn).put(contextjobs.context_seen)
        conn.transaction_manager.commit()
        assert testing.wait_for_result(plain) == NOTHING


def test_put_outside_request_captures_nothing(conn, site):
    job = zc.asyncui.getQueue(conn).put(contextjobs.context_seen)
    conn.transaction_manager.commit()
    assert list(job.annotations) == []
    testing.run_jobs(conn)
    assert job.result == NOTHING


def test_callbacks_run_in_the_context_of_their_job(conn, site, db):
    job = put_in_request(conn, site, 'zope.bob', contextjobs.context_seen)
    callback = job.addCallback(Job(contextjobs.context_seen_then))
    conn.transaction_manager.commit()
    with testing.dispatcher_running(db, main_agent_size=1):
        testing.wait_for_result(job)
        seen = ('app', 'hello from the site', ['zope.bob'])
        assert callback.result == (seen, seen)


def test_context_of_the_calling_thread_is_put_back(conn, site):
    # run_jobs runs jobs in the test's own thread: the test's own site and
    # interaction are back afterwards.
    job = put_in_request(conn, site, 'zope.alice', contextjobs.context_seen)
    zope.security.management.newInteraction(requestcontext.Participation(
        principalRegistry.getPrincipal('zope.bob')))
    testing.run_jobs(conn)
    assert job.result == ('app', 'hello from the site', ['zope.alice'])
    assert contextjobs.context_seen() == (None, None, ['zope.bob'])


def test_failed_job_still_tears_context_down(conn, site):
    job = put_in_request(conn, site, 'zope.alice',
                         contextjobs.fail_with_context)
    testing.run_jobs(conn)
    assert job.failed
    assert "['zope.alice']" in job.result.message
    assert contextjobs.context_seen() == NOTHING


def test_put_wo_hook_registered_captures_nothing(conn, site):
    zope.component.getGlobalSiteManager().unregisterUtility(
        provided=interfaces.IJobContext, name='zc.asyncui.request')
    job = put_in_request(conn, site, 'zope.alice', contextjobs.context_seen)
    assert list(job.annotations) == []
    testing.run_jobs(conn)
    assert job.result == NOTHING


def test_restore_wo_principal_fails_job(conn, site):
    job = put_in_request(conn, site, 'zope.alice', contextjobs.context_seen)
    principalRegistry._clear()
    testing.run_jobs(conn)
    assert job.failed
    message = job.result.message
    assert "principal 'zope.alice', which no longer exists" in message
    assert 'not run with other rights' in message
    assert contextjobs.context_seen() == NOTHING


def test_put_with_unstored_site_is_refused(conn, components):
    folder = rootFolder()
    folder.setSiteManager(LocalSiteManager(folder))
    zope.component.hooks.setSite(folder)
    with pytest.raises(ValueError, match='not stored in the database'):
        zc.asyncui.getQueue(conn).put(contextjobs.context_seen)


def test_put_with_two_principals_is_refused(conn, components):
    zope.security.management.newInteraction(*(
        requestcontext.Participation(principalRegistry.getPrincipal(p))
        for p in ('zope.alice', 'zope.bob')))
    with pytest.raises(ValueError, match='several principals'):
        zc.asyncui.getQueue(conn).put(contextjobs.context_seen)


def test_interaction_wo_principal_captures_site_only(conn, site):
    zope.component.hooks.setSite(site)
    zope.security.management.newInteraction(
        requestcontext.Participation(None))
    job = zc.asyncui.getQueue(conn).put(contextjobs.context_seen)
    conn.transaction_manager.commit()
    end_request()
    assert list(job.annotations) == [requestcontext.SITE_KEY]
    testing.run_jobs(conn)
    assert job.result == ('app', 'hello from the site', None)


class Recording(jobcontext.JobContext):
    """A hook that records, and fails where told."""

    def __init__(self, log, fail_restore=False, fail_undo=False):
        self.log = log
        self.fail_restore = fail_restore
        self.fail_undo = fail_undo

    def capture(self, job):
        job.annotations['recorded'] = True

    def restore(self, job):
        self.log.append('restore')
        if self.fail_restore:
            raise RuntimeError('no context for you')

        def undo():
            self.log.append('undo')
            if self.fail_undo:
                raise RuntimeError('cannot undo')
        return undo


def test_failing_restore_fails_the_attempt_and_undoes_the_others(
        conn, components):
    log = []
    zope.component.provideUtility(Recording(log), interfaces.IJobContext,
                                  name='a')
    zope.component.provideUtility(Recording(log, fail_restore=True),
                                  interfaces.IJobContext, name='b')
    job = zc.asyncui.getQueue(conn).put(contextjobs.context_seen)
    conn.transaction_manager.commit()
    testing.run_jobs(conn)
    assert job.failed and 'no context for you' in \
        job.result.message
    assert log == ['restore', 'restore', 'undo']


def test_failing_undo_is_logged_and_the_result_stands(conn, components,
                                                     caplog):
    log = []
    zope.component.provideUtility(Recording(log, fail_undo=True),
                                  interfaces.IJobContext, name='bad')
    job = zc.asyncui.getQueue(conn).put(contextjobs.context_seen)
    conn.transaction_manager.commit()
    assert job.annotations['recorded'] is True
    with caplog.at_level(logging.ERROR, 'zc.asyncui.jobcontext'):
        testing.run_jobs(conn)
    assert job.result == NOTHING
    assert log == ['restore', 'undo']
    assert "job context 'bad': undoing the context of job %s failed" \
        % job.key in caplog.text
