"""Jobs for tests/test_grouping.py: each notes its call in this process
(``CALLS``, by job key) and its tag in the database (``root['log']``, a
write in the job's transaction), then does what its name says."""
import collections
import threading

import persistent
import transaction
import ZODB.POSException

from zc.asyncui import local

#: Calls made in this process, by job key (the attempts must match).
CALLS = collections.Counter()
_lock = threading.Lock()
_done_once = set()
#: Set by a test to let ``wait_for_release`` return.
release = threading.Event()
#: How many jobs the worker held uncommitted when each tag was called.
HELD = {}


class Log(persistent.Persistent):
    """The tags of the calls whose transaction committed."""

    def __init__(self):
        self.tags = ()


def reset(conn):
    CALLS.clear()
    HELD.clear()
    COMMITTED.clear()
    _done_once.clear()
    release.clear()
    del LAST[:]
    conn.root()['log'] = Log()


def _note(tag):
    job = local.getJob()
    group = getattr(threading.current_thread(), 'group', None)
    with _lock:
        CALLS[job.key] += 1
        HELD.setdefault(tag, len(group) if group is not None else 0)
    log = job._p_jar.root()['log']
    log.tags += (tag,)


def _first(tag):
    with _lock:
        first = tag not in _done_once
        _done_once.add(tag)
    return first


def tally(tag):
    _note(tag)
    return tag


#: tag -> (status, number of attempts) of the job as committed, seen from
#: another connection while ``tally_checking_start`` runs.
COMMITTED = {}


def tally_checking_start(tag):
    """tally, noting how the database sees this job during its call: a
    process killed now must find it ACTIVE (recovery then records the
    call as an interrupted attempt), never PENDING."""
    job = local.getJob()
    tm = transaction.TransactionManager()
    conn = job._p_jar.db().open(tm)
    try:
        seen = conn.get(job._p_oid)
        COMMITTED[tag] = (seen._status, len(seen._attempts))
    finally:
        tm.abort()
        conn.close()
    _note(tag)
    return tag


def tally_own(tag):
    """tally, writing the job's own annotations instead of the log."""
    job = local.getJob()
    group = getattr(threading.current_thread(), 'group', None)
    with _lock:
        CALLS[job.key] += 1
        HELD.setdefault(tag, len(group) if group is not None else 0)
    job.annotations['tag'] = tag
    return tag


def fail_after_write(tag):
    _note(tag)
    raise ValueError(tag)


def conflict_once_after_write(tag):
    _note(tag)
    if _first(tag):
        raise ZODB.POSException.ConflictError()
    return tag


def commit_itself(tag):
    _note(tag)
    transaction.commit()
    return tag


def abort_itself(tag):
    _note(tag)
    transaction.abort()
    return tag


class _ConflictAtVote:
    """A data manager whose vote raises ConflictError: the commit of the
    transaction it joined fails as a real write conflict would."""

    transaction_manager = None

    def abort(self, txn):
        pass

    def tpc_begin(self, txn):
        pass

    def commit(self, txn):
        pass

    def tpc_vote(self, txn):
        raise ZODB.POSException.ConflictError(
            'test: the grouped commit conflicts')

    def tpc_finish(self, txn):
        pass

    def tpc_abort(self, txn):
        pass

    def sortKey(self):
        return 'zzz-groupjobs-conflict'


class _Savepoint:
    def rollback(self):
        pass


class _ConflictAtVoteWithSavepoints(_ConflictAtVote):

    def savepoint(self):
        return _Savepoint()


def conflict_at_commit_once(tag):
    _note(tag)
    if _first(tag):
        transaction.get().join(_ConflictAtVoteWithSavepoints())
    return tag


def conflict_at_commit_once_no_savepoints(tag):
    """The same with a data manager that cannot take savepoints: the
    held jobs are committed before the next call."""
    _note(tag)
    if _first(tag):
        transaction.get().join(_ConflictAtVote())
    return tag


def wait_for_release(tag):
    _note(tag)
    if not release.wait(30):
        raise RuntimeError('never released')
    return tag


def add_suffix(result):
    """A callback."""
    return '%s+cb' % (result,)


# -- jobs that write nothing but their own record (held without a savepoint,
# see Group._keep_held) ---------------------------------------------------

#: The job ``count_only`` ran last (in the worker's connection: the job
#: it holds), for the jobs below that change it (when there is one).
LAST = []


def count_only(tag):
    """Note the call in this process only: the job's transaction changes
    nothing but its own record."""
    job = local.getJob()
    group = getattr(threading.current_thread(), 'group', None)
    with _lock:
        CALLS[job.key] += 1
        HELD.setdefault(tag, len(group) if group is not None else 0)
    LAST[:] = [job]
    return tag


def change_held_then_fail(tag):
    """Change the record of the held job ``count_only`` ran last (an
    attribute), then raise."""
    _note(tag)
    if LAST and _first(tag):
        LAST[0].failure_log_level = 10
        raise ValueError(tag)
    return tag


def change_held_args_then_fail(tag):
    """Change the arguments of the held job ``count_only`` ran last in
    place, then raise."""
    _note(tag)
    if LAST and _first(tag):
        LAST[0].args.append('changed')
        raise ValueError(tag)
    return tag


def commit_held_record_elsewhere_then_fail(tag):
    """Another transaction changes the record of the held job
    ``count_only`` ran last (and commits); then this call raises."""
    _note(tag)
    if LAST and _first(tag):
        held = LAST[0]
        tm = transaction.TransactionManager()
        conn = held._p_jar.db().open(tm)
        try:
            conn.get(held._p_oid).failure_log_level = 10
            tm.commit()
        finally:
            conn.close()
        raise ValueError(tag)
    return tag


def count_only_dict(tag):
    """count_only, returning a dict (a value a call could change in
    place: its job is held with a savepoint)."""
    count_only(tag)
    return {'tag': tag}
