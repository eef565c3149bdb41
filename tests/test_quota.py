"""Unit tests of zc.asyncui.quota: queue.quotas, Job.quota_names, claims
that respect quotas, releases, and the conflict rule that keeps a quota
strict across dispatchers (issue 8)."""
import datetime

import pytest
import transaction
import ZODB.POSException
import zope.interface.verify

import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import filters
from zc.asyncui import interfaces
from zc.asyncui import lifecycle
from zc.asyncui import quota as quota_module
from zc.asyncui import testing
from zc.asyncui import utils
from zc.asyncui.agent import Agent
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus

import jobs
import quotajobs

UUID = '00000000-0000-0000-0000-00000000beef'


def _put(queue, *tags, **kw):
    return [queue.put(Job(jobs.record, tag), **kw) for tag in tags]


def _finish(job, result=None):
    """What a worker does: start the job, store its result."""
    lifecycle.start(job, UUID, 'main')
    lifecycle.set_result(job, result, utils.now())


def _only(tag):
    return lambda job: job.args[0] == tag


# -- the Quotas mapping ------------------------------------------------------

def test_quotas_create_get_iterate(queue):
    assert len(queue.quotas) == 0
    catalog = queue.quotas.create('catalog')
    mail = queue.quotas.create('mail', size=3)
    assert (catalog.name, catalog.size) == ('catalog', 1)
    assert mail.size == 3
    assert queue.quotas['catalog'] is catalog
    assert queue.quotas.get('nope') is None
    assert list(queue.quotas) == ['catalog', 'mail']
    assert len(queue.quotas) == 2 and 'mail' in queue.quotas
    assert queue.quotas.items() == [('catalog', catalog), ('mail', mail)]
    assert repr(catalog) == "<Quota 'catalog' 0 of 1>"


def test_quotas_verify(queue):
    zope.interface.verify.verifyObject(interfaces.IQuotas, queue.quotas)
    zope.interface.verify.verifyObject(
        interfaces.IQuota, queue.quotas.create('catalog'))


def test_quotas_unknown_name_lists_quotas(queue):
    queue.quotas.create('catalog')
    with pytest.raises(errors.QuotaNotFoundError,
                       match=r"no quota named 'mail'.*its quotas: 'catalog'"
                       r".*quotas.create"):
        queue.quotas['mail']


def test_quotas_create_duplicate(queue):
    queue.quotas.create('catalog')
    with pytest.raises(ValueError, match=r"already exists.*resize"):
        queue.quotas.create('catalog', size=2)


@pytest.mark.parametrize('name', ['', None, b'catalog', 3])
def test_quotas_create_bad_name(queue, name):
    with pytest.raises(ValueError, match='non-empty string'):
        queue.quotas.create(name)


@pytest.mark.parametrize('size', [0, -1, True, 1.5, '2', None])
def test_quotas_bad_size(queue, size):
    with pytest.raises(ValueError, match='at least 1'):
        queue.quotas.create('catalog', size=size)
    catalog = queue.quotas.get('catalog') or queue.quotas.create('catalog')
    with pytest.raises(ValueError, match='at least 1'):
        catalog.resize(size)
    assert catalog.size == 1


def test_quotas_remove(queue):
    queue.quotas.create('catalog')
    queue.quotas.remove('catalog')
    assert 'catalog' not in queue.quotas
    queue.quotas.create('mail')
    del queue.quotas['mail']
    with pytest.raises(errors.QuotaNotFoundError):
        queue.quotas.remove('mail')


def test_quotas_remove_while_held(queue):
    queue.quotas.create('catalog')
    _put(queue, 'a', quota_names=('catalog',))
    queue.claim()
    with pytest.raises(ValueError, match='still holds 1 running jobs'):
        queue.quotas.remove('catalog')


# -- Job.quota_names and put -------------------------------------------------

def test_quota_names_default_and_set_while_new(queue):
    queue.quotas.create('catalog')
    job = Job(jobs.record, 'a')
    assert job.quota_names == ()
    job.quota_names = ['catalog']
    assert job.quota_names == ('catalog',)
    queue.put(job)
    assert job.quota_names == ('catalog',)
    with pytest.raises(errors.BadStatusError, match='quota_names'):
        job.quota_names = ()


@pytest.mark.parametrize('names, error', [
    ('catalog', r"not the string 'catalog': write quota_names=\('catalog',\)"),
    ((1,), 'non-empty strings'), (('',), 'non-empty strings')])
def test_quota_names_bad_values(names, error):
    with pytest.raises(TypeError, match=error):
        Job(jobs.noop).quota_names = names


def test_put_with_quota_names(queue):
    queue.quotas.create('catalog')
    queue.quotas.create('mail')
    job, = _put(queue, 'a', quota_names=('catalog', 'mail'))
    assert job.quota_names == ('catalog', 'mail')


def test_put_with_unknown_quota_lists_quotas(queue):
    queue.quotas.create('catalog')
    job = Job(jobs.record, 'a')
    with pytest.raises(errors.QuotaNotFoundError,
                       match=r"no quota named 'mial' in this queue; its"
                       r" quotas: 'catalog'"):
        queue.put(job, quota_names=('mial',))
    # Nothing changed: the job can be put once the mistake is fixed.
    assert job.status is JobStatus.NEW and job.quota_names == ()
    assert len(queue) == 0
    job.quota_names = ('nope',)
    with pytest.raises(errors.QuotaNotFoundError, match='none|catalog'):
        queue.put(job)
    queue.put(job, quota_names=('catalog',))


# -- claiming ----------------------------------------------------------------

def test_full_quota_is_skipped_not_blocking(queue):
    queue.quotas.create('catalog')
    a, b = _put(queue, 'a', 'b', quota_names=('catalog',))
    c, = _put(queue, 'c')
    assert queue.claim() is a
    assert list(queue.quotas['catalog']) == [a]
    # b waits (and says so); c, behind it, is not held up.
    assert queue.claim() is c
    assert queue.claim() is None
    assert list(queue) == [b]
    assert b.annotations[quota_module.WAITING_ANNOTATION] == ('catalog',)
    # a finishes: b is next, and no longer says it waits.
    _finish(a)
    assert len(queue.quotas['catalog']) == 0
    assert queue.claim() is b
    assert quota_module.WAITING_ANNOTATION not in b.annotations
    assert b in queue.quotas['catalog']


def test_skipped_job_keeps_its_place(queue):
    queue.quotas.create('catalog')
    a, b = _put(queue, 'a', 'b', quota_names=('catalog',))
    later = _put(queue, 'c', 'd')
    assert queue.claimMany(10) == [a] + later
    _finish(a)
    _put(queue, 'e')
    assert queue.claim() is b  # before e, put after it


def test_claimMany_counts_its_own_batch(queue):
    queue.quotas.create('mail', size=2)
    got = _put(queue, 'a', 'b', 'c', quota_names=('mail',))
    assert queue.claimMany(10) == got[:2]
    assert len(queue.quotas['mail']) == 2 and queue.quotas['mail'].full


def test_every_named_quota_must_have_room(queue):
    queue.quotas.create('catalog')
    queue.quotas.create('mail', size=5)
    a, = _put(queue, 'a', quota_names=('catalog',))
    b, = _put(queue, 'b', quota_names=('mail', 'catalog'))
    assert queue.claimMany(10) == [a]
    assert b.annotations[quota_module.WAITING_ANNOTATION] == ('catalog',)
    assert len(queue.quotas['mail']) == 0  # b took no part of any quota


def test_resize_makes_room(queue):
    quota = queue.quotas.create('catalog')
    _put(queue, 'a', 'b', quota_names=('catalog',))
    assert len(queue.claimMany(10)) == 1
    quota.resize(2)
    assert len(queue.claimMany(10)) == 1
    quota.resize(1)  # below its count: nothing new until it drains
    assert quota.full and len(quota) == 2


def test_removed_quota_no_longer_limits(queue):
    queue.quotas.create('catalog')
    _put(queue, 'a', 'b', quota_names=('catalog',))
    queue.quotas.remove('catalog')
    assert len(queue.claimMany(10)) == 2


def test_putBack_and_reschedule_release(queue, clock):
    quota = queue.quotas.create('catalog')
    a, b = _put(queue, 'a', 'b', quota_names=('catalog',))
    assert queue.claim() is a
    queue.putBack(a)  # e.g. recovery of a dead dispatcher's claims
    assert len(quota) == 0
    assert queue.claim() is a
    lifecycle.start(a, UUID, 'main')
    queue.reschedule(a, clock() + datetime.timedelta(seconds=60))  # retry
    assert len(quota) == 0
    assert queue.claim() is b


def test_result_releases_even_with_callbacks(queue):
    quota = queue.quotas.create('catalog')
    a, b = _put(queue, 'a', 'b', quota_names=('catalog',))
    a.addCallback(Job(jobs.noop))
    assert queue.claim() is a
    _finish(a)
    assert a.status is JobStatus.CALLBACKS and len(quota) == 0
    # Recovery puts a job in CALLBACKS back: resuming its callbacks does
    # not take the quota again.
    queue.putBack(a)
    assert queue.claimMany(10) == [a, b]
    assert list(quota) == [b]


def test_agent_with_chooser_respects_quotas(queue):
    queue.quotas.create('catalog')
    record = queue.getDispatcherAgents(UUID, create=True)
    record['main'] = agent = Agent(size=5,
                                   chooser=filters.highest_priority)
    a, = _put(queue, 'a', quota_names=('catalog',))
    b, = _put(queue, 'b', quota_names=('catalog',), priority=5)
    c, = _put(queue, 'c')
    assert agent.claimJobs(5) == [b, c]
    assert list(queue) == [a]


def test_run_jobs_runs_every_quota_job(conn):
    queue = zc.asyncui.getQueue(conn)
    queue.quotas.create('catalog')
    got = _put(queue, 'a', 'b', 'c', quota_names=('catalog',))
    conn.transaction_manager.commit()
    assert testing.run_jobs(conn) == 3
    assert [job.status for job in got] == [JobStatus.COMPLETED] * 3
    assert len(queue.quotas['catalog']) == 0


# -- strictness: the conflict rule --------------------------------------------

def _setup(db, size=1, held=0):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    queue = zc.asyncui.getQueue(conn)
    queue.quotas.create('catalog', size=size)
    got = _put(queue, *'abcd', quota_names=('catalog',))
    for job in got[:held]:
        assert queue.claim(filter=_only(job.args[0])) is job
    # Empty the inbox now, so that the claims below write nothing in
    # common but the quota (the inbox would make them conflict anyway).
    queue.claim(filter=jobs.reject_all)
    tm.commit()
    conn.close()
    return [job._p_oid for job in got]


def _claim(tag):
    def claim(conn):
        return zc.asyncui.getQueue(conn).claim(filter=_only(tag))
    return claim


def _complete(oid):
    def complete(conn):
        _finish(conn.get(oid))
    return complete


def test_two_claims_of_one_quota_conflict(db, conn, concurrently):
    # Two dispatchers whose agents take different jobs (different
    # filters) of a size-1 quota, at once: the quota refuses to merge.
    _setup(db)
    with pytest.raises(ZODB.POSException.ConflictError):
        concurrently(_claim('a'), _claim('b'))


def test_two_claims_merge_while_they_fit(db, conn, concurrently):
    _setup(db, size=2)
    concurrently(_claim('a'), _claim('b'))
    conn.sync()
    assert len(zc.asyncui.getQueue(conn).quotas['catalog']) == 2


def test_two_claims_conflict_beyond_the_size(db, conn, concurrently):
    # One held: each claim saw one place left, for itself.
    _setup(db, size=2, held=1)
    with pytest.raises(ZODB.POSException.ConflictError):
        concurrently(_claim('b'), _claim('c'))


def test_release_merges_with_a_claim(db, conn, concurrently):
    oids = _setup(db, size=2, held=1)
    concurrently(_complete(oids[0]), _claim('b'))
    conn.sync()
    quota = zc.asyncui.getQueue(conn).quotas['catalog']
    assert quota.heldOids() == [oids[1]]


def test_releases_merge(db, conn, concurrently):
    oids = _setup(db, size=2, held=2)
    concurrently(_complete(oids[0]), _complete(oids[1]))
    conn.sync()
    assert len(zc.asyncui.getQueue(conn).quotas['catalog']) == 0


def test_resize_and_release_merge(db, conn, concurrently):
    oids = _setup(db, size=2, held=1)

    def resize(conn):
        zc.asyncui.getQueue(conn).quotas['catalog'].resize(3)
    concurrently(resize, _complete(oids[0]))
    conn.sync()
    quota = zc.asyncui.getQueue(conn).quotas['catalog']
    assert (quota.size, len(quota)) == (3, 0)


def test_two_resizes_conflict(db, conn, concurrently):
    _setup(db)

    def resize(size):
        return lambda conn: zc.asyncui.getQueue(
            conn).quotas['catalog'].resize(size)
    with pytest.raises(ZODB.POSException.ConflictError):
        concurrently(resize(2), resize(3))


def test_install_adds_quotas_to_queues_of_older_releases(db, conn):
    queue = zc.asyncui.getQueue(conn)
    del queue.quotas  # as stored before issue 8
    conn.transaction_manager.commit()
    assert queue.quotas is None
    with pytest.raises(errors.QuotaNotFoundError, match='its quotas: none'):
        queue.put(Job(jobs.noop), quota_names=('catalog',))
    queue.put(Job(jobs.noop))  # a job without quotas is fine
    assert queue.claim() is not None
    conn.transaction_manager.abort()
    zc.asyncui.install(db)
    conn.sync()
    assert len(queue.quotas) == 0
    queue.quotas.create('catalog')


def test_full_quotas_for_views(queue):
    queue.quotas.create('catalog')
    queue.quotas.create('mail', size=2)
    a, b = _put(queue, 'a', 'b', quota_names=('catalog', 'mail'))
    assert quota_module.full_quotas(queue, b) == []
    queue.claim()
    assert quota_module.full_quotas(queue, b) == ['catalog']


# -- with a dispatcher and its worker threads --------------------------------

def test_dispatcher_threads_respect_a_quota(db, conn, tmp_path):
    del quotajobs.calls[:]
    queue = zc.asyncui.getQueue(conn)
    queue.quotas.create('catalog')
    queue.quotas.create('api', size=2)
    serial = [queue.put(Job(quotajobs.timed_here, 'c%d' % n, 0.05),
                        quota_names=('catalog',)) for n in range(8)]
    pairs = [queue.put(Job(quotajobs.timed_here, 'p%d' % n, 0.1),
                       quota_names=('api',)) for n in range(8)]
    conn.transaction_manager.commit()
    with testing.dispatcher_running(db, main_agent_size=5,
                                    uuid_file=str(tmp_path / 'uuid.txt')):
        for job in serial + pairs:
            testing.wait_for_result(job, timeout=30)
    runs = {prefix: sorted((s, e) for tag, s, e in quotajobs.calls
                           if tag[0] == prefix) for prefix in 'cp'}
    assert len(runs['c']) == len(runs['p']) == 8

    def most_at_once(intervals):
        points = sorted([(s, 1) for s, e in intervals] +
                        [(e, -1) for s, e in intervals])
        level = peak = 0
        for _, change in points:
            level += change
            peak = max(peak, level)
        return peak
    assert most_at_once(runs['c']) == 1
    assert most_at_once(runs['p']) <= 2
    conn.sync()
    assert [len(q) for q in queue.quotas.values()] == [0, 0]
