"""WorkPile: conflict-free appends, one pending job that takes them all.
Conflicts are checked with connections interleaved by hand on a
FileStorage."""
import pytest
import transaction
import ZODB.POSException

import routingjobs
import zc.asyncui
from zc.asyncui import collapse
from zc.asyncui import errors
from zc.asyncui import inline
from zc.asyncui import workpile
from zc.asyncui.patterns import WorkPile


@pytest.fixture
def conns(db):
    """Three connections, each with its own transaction manager, and a
    pile stored at root['pile']."""
    zc.asyncui.install(db)
    opened = [db.open(transaction.TransactionManager()) for _ in range(3)]
    opened[0].root()['pile'] = WorkPile()
    opened[0].transaction_manager.commit()
    for c in opened[1:]:
        c.transaction_manager.begin()
    yield opened
    for c in opened:
        c.transaction_manager.abort()
        c.close()


def _pile(conn):
    return conn.root()['pile']


def test_append_and_take_in_order(conn):
    pile = conn.root()['pile'] = WorkPile()
    for item in ('a', 'b', 'c'):
        pile.append(item)
    assert len(pile) == 3 and list(pile) == ['a', 'b', 'c']
    assert pile.take() == ['a', 'b', 'c']
    assert len(pile) == 0 and pile.take() == []


def test_unstorable_item_is_refused(conn):
    pile = conn.root()['pile'] = WorkPile()
    with pytest.raises(errors.UnpicklableCallableError):
        pile.append(lambda: 1)
    assert len(pile) == 0


def test_ensure_job_needs_a_stored_pile():
    with pytest.raises(errors.NotInDatabaseError, match='not a stored queue'):
        WorkPile().ensureJob(None, routingjobs.collect)


def test_concurrent_appends_do_not_conflict(conns):
    c1, c2, c3 = conns
    for n, c in enumerate(conns):
        _pile(c).append(n)
        _pile(c).append(n + 10)
    for c in conns:
        c.transaction_manager.commit()
    c1.transaction_manager.begin()
    assert sorted(_pile(c1)) == [0, 1, 2, 10, 11, 12]


def test_ensure_job_keeps_one_pending_job(conns):
    c1, c2, _ = conns
    queue = zc.asyncui.getQueue(c1)
    job = _pile(c1).ensureJob(queue, routingjobs.collect)
    assert _pile(c1).ensureJob(queue, routingjobs.collect) is job
    assert job.annotations[workpile.PILE] == _pile(c1).key
    assert job.annotations[collapse.ANNOTATION] == \
        'zc.asyncui.workpile:' + _pile(c1).key
    c1.transaction_manager.commit()
    c2.transaction_manager.begin()
    _pile(c2).append('x')
    again = _pile(c2).ensureJob(zc.asyncui.getQueue(c2), routingjobs.collect)
    assert again._p_oid == job._p_oid
    c2.transaction_manager.commit()
    assert len(zc.asyncui.getQueue(c2)) == 1


def test_appends_with_ensure_job_do_not_conflict(conns):
    c1, c2, c3 = conns
    first = _pile(c1).ensureJob(zc.asyncui.getQueue(c1),
                                routingjobs.collect)
    c1.transaction_manager.commit()
    for c in (c2, c3):
        c.transaction_manager.begin()
    for n, c in enumerate((c2, c3)):
        _pile(c).append(n)
        assert _pile(c).ensureJob(zc.asyncui.getQueue(c),
                                  routingjobs.collect)._p_oid == first._p_oid
    c2.transaction_manager.commit()
    c3.transaction_manager.commit()


def test_draining_job_takes_everything_and_appends_merge(db, conns):
    c1, c2, c3 = conns
    pile = _pile(c1)
    for item in ('a', 'b'):
        pile.append(item)
    job = pile.ensureJob(zc.asyncui.getQueue(c1), routingjobs.collect)
    c1.transaction_manager.commit()
    # c2 appends, not yet committed, while the job runs and commits.
    c2.transaction_manager.begin()
    _pile(c2).append('late')
    assert inline.run_jobs(db) == 1
    c2.transaction_manager.commit()  # no conflict with the drain
    c1.transaction_manager.begin()
    assert job.result == ['a', 'b']
    assert job.annotations[workpile.TAKEN] == 2
    assert list(_pile(c1)) == ['late']
    # The job started: the next ensureJob puts a new one, which takes
    # what was left.
    second = _pile(c1).ensureJob(zc.asyncui.getQueue(c1),
                                 routingjobs.collect)
    assert second is not job
    c1.transaction_manager.commit()
    assert inline.run_jobs(db) == 1
    c1.transaction_manager.begin()
    assert second.result == ['late'] and len(_pile(c1)) == 0


def test_failed_processor_leaves_the_items(db, conn):
    pile = conn.root()['pile'] = WorkPile()
    pile.append('a')
    job = pile.ensureJob(zc.asyncui.getQueue(conn), routingjobs.explode)
    job.retry_policy_factory = zc.asyncui.NeverRetry
    conn.transaction_manager.commit()
    inline.run_jobs(conn)
    assert job.failed and 'failed on 1 items' in str(job.result)
    assert list(pile) == ['a']


def test_ensure_job_racing_a_start_conflicts_then_puts_a_new_job(db, conns):
    c1, c2, _ = conns
    first = _pile(c1).ensureJob(zc.asyncui.getQueue(c1),
                                routingjobs.collect)
    c1.transaction_manager.commit()
    c2.transaction_manager.begin()
    _pile(c2).append('x')
    assert _pile(c2).ensureJob(zc.asyncui.getQueue(c2),
                               routingjobs.collect)._p_oid == first._p_oid
    assert inline.run_jobs(db) == 1  # started (and drained) meanwhile
    with pytest.raises(ZODB.POSException.ConflictError):
        c2.transaction_manager.commit()
    c2.transaction_manager.abort()
    _pile(c2).append('x')
    retried = _pile(c2).ensureJob(zc.asyncui.getQueue(c2),
                                  routingjobs.collect)
    assert retried._p_oid != first._p_oid
    c2.transaction_manager.commit()


def test_resolve_conflict_refuses_other_attribute_changes():
    pile = workpile._Shard()
    old = {'_items': {}}
    with pytest.raises(ZODB.POSException.ConflictError):
        pile._p_resolveConflict(old, {'_items': {}}, {'_items': {}, 'x': 1})
    merged = pile._p_resolveConflict(
        {'_items': {b'1': 'a', b'2': 'b'}},
        {'_items': {b'1': 'a', b'2': 'b', b'3': 'c'}},
        {'_items': {b'2': 'b', b'4': 'd'}})
    assert merged == {'_items': {b'2': 'b', b'3': 'c', b'4': 'd'}}


def test_two_drains_taking_one_item_conflict():
    pile = workpile._Shard()
    with pytest.raises(ZODB.POSException.ConflictError, match='twice'):
        pile._p_resolveConflict({'_items': {b'1': 'a', b'2': 'b'}},
                                {'_items': {b'2': 'b'}},
                                {'_items': {b'2': 'b', b'3': 'c'}})


def test_two_drains_by_hand_one_conflicts(conns):
    c1, c2, _ = conns
    _pile(c1).append('a')
    c1.transaction_manager.commit()
    c2.transaction_manager.begin()
    assert _pile(c1).take() == ['a']
    assert _pile(c2).take() == ['a']
    c1.transaction_manager.commit()
    with pytest.raises(ZODB.POSException.ConflictError):
        c2.transaction_manager.commit()
    c2.transaction_manager.abort()
    assert _pile(c2).take() == []


def test_pileOf_finds_the_pile_of_its_job(conn):
    from zc.asyncui.job import Job
    pile = conn.root()['pile'] = WorkPile()
    pile.append(1)
    job = pile.ensureJob(zc.asyncui.getQueue(conn), routingjobs.collect)
    assert workpile.pileOf(job) is pile and len(workpile.pileOf(job)) == 1
    assert workpile.pileOf(Job(routingjobs.collect, [])) is None
    assert workpile.pileOf(Job(workpile.drain, 'x', None)) is None


def test_workpile_provides_IWorkPile(conn):
    from zc.asyncui import interfaces
    from zope.interface.verify import verifyObject
    pile = conn.root()['pile'] = WorkPile()
    conn.transaction_manager.commit()
    verifyObject(interfaces.IWorkPile, pile)
    assert pile.key.startswith('0x') and 'WorkPile 0x' in repr(pile)
    assert repr(WorkPile()) == '<WorkPile unsaved>'


def test_items_keep_append_order_under_a_frozen_clock(conn, clock):
    # All keys share one timestamp: the per-process count keeps the order
    # (it used to be left to the random bits).
    pile = conn.root()['pile'] = WorkPile()
    for n in range(40):
        pile.append(n)
    assert list(pile) == list(range(40))
    assert pile.take() == list(range(40))
