"""Queue quotas: named limits on how many jobs that name them run at once,
across every dispatcher of the database.

``queue.quotas`` is a ``Quotas`` mapping of ``Quota`` objects.  A job
whose ``quota_names`` name quotas of its queue is claimed only while each
of them has room; the claim adds the job to each quota, in the
transaction that takes the job out of the queue (so before, and in the
same database state as, its start); the job leaves them when its result
is stored (``lifecycle.set_result``) or when it goes back to its queue
(``Queue.putBack``/``reschedule``: recovery, retries).

Why this is strict: a quota records the oids of the jobs it holds in one
plain attribute of one persistent object.  Two transactions that each add
a job to the same quota both write that object, and its conflict
resolution refuses additions that together exceed the size: one of the
claims gets a ConflictError and is retried on a fresh snapshot, where the
quota is full.  The resolution computes the record as it will be stored,
so the check is against the committed truth, not a snapshot.  Removals
merge with anything (a job finishing never conflicts with another
finishing, nor with a claim), since a removal can only make room.
"""
import BTrees.OOBTree
import persistent
import ZODB.POSException
import zope.interface

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import utils

#: The annotation a job gets while the claim skips it for a full quota:
#: the names of the full quotas (for the monitor and the pages).
WAITING_ANNOTATION = 'zc.asyncui.quota.waiting'


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError('a quota size is an int of at least 1 (how many'
                         ' jobs naming it may run at once), not %r'
                         % (size,))
    return size


@zope.interface.implementer(interfaces.IQuota)
class Quota(persistent.Persistent):
    """See IQuota.

    The state is only ``name``, ``size`` and ``_held`` (a sorted tuple of
    job oids), with no persistent references, so that
    ``_p_resolveConflict`` can compare states directly.
    """

    _held = ()

    def __init__(self, name, size=1):
        self.name = name
        self.size = _check_size(size)

    @property
    def __name__(self):
        return self.name

    def resize(self, size):
        """See IQuota.resize."""
        self.size = _check_size(size)

    @property
    def full(self):
        return len(self._held) >= self.size

    def __len__(self):
        return len(self._held)

    def __contains__(self, job):
        return job._p_oid in self._held

    def heldOids(self):
        return list(self._held)

    def __iter__(self):
        jar = self._p_jar
        return iter([jar.get(oid) for oid in self._held] if jar else [])

    def add(self, job):
        """Record that ``job`` runs under this quota (idempotent).  Raises
        ValueError when the quota is full: check ``full`` first."""
        if job._p_oid in self._held:
            return
        if self.full:
            raise ValueError('quota %r is full (%d of %d): job %s must wait'
                             % (self.name, len(self._held), self.size,
                                job.key))
        self._held = tuple(sorted(self._held + (job._p_oid,)))

    def release(self, job):
        """Forget ``job`` (idempotent: no write when it is not held)."""
        if job._p_oid in self._held:
            self._held = tuple(o for o in self._held if o != job._p_oid)

    def _p_resolveConflict(self, old, committed, new):
        """Merge removals with anything, and additions while the merged
        record fits the size; refuse two additions that together exceed
        it (each claim saw room for its own job only), and concurrent
        changes of anything but the held jobs (two resizes)."""
        for name in set(old) | set(committed) | set(new):
            if name == '_held':
                continue
            o, c, n = (s.get(name) for s in (old, committed, new))
            if c != o and n != o and c != n:
                raise ZODB.POSException.ConflictError()
        o, c, n = (set(s.get('_held', ())) for s in (old, committed, new))
        merged = dict(committed)
        for name, value in new.items():
            if name != '_held' and value != old.get(name):
                merged[name] = value
        held = (o & c & n) | (c - o) | (n - o)
        if (c - o) and (n - o) and len(held) > merged.get('size', 1):
            # Each side saw room for its own job, not for both.
            raise ZODB.POSException.ConflictError()
        merged['_held'] = tuple(sorted(held))
        return merged

    def __repr__(self):
        return '<Quota %r %d of %d>' % (self.name, len(self._held), self.size)


@zope.interface.implementer(interfaces.IQuotas)
class Quotas(utils.NamedMapping, persistent.Persistent):
    """See IQuotas: a queue's quotas by name (reading: utils.NamedMapping)."""

    __parent__ = None  # the queue

    def __init__(self):
        self._data = BTrees.OOBTree.OOBTree()

    def create(self, name, size=1):
        """See IQuotas.create."""
        if not isinstance(name, str) or not name:
            raise ValueError('a quota name is a non-empty string, not %r'
                             % (name,))
        if name in self._data:
            raise ValueError('quota %r already exists (size %d): use'
                             ' quotas[%r].resize(size) to change it'
                             % (name, self._data[name].size, name))
        quota = self._data[name] = Quota(name, size)
        jar = self._p_jar or getattr(self.__parent__, '_p_jar', None)
        if jar is not None:
            jar.add(quota)  # iterable (it loads its jobs) before a commit
        return quota

    def __getitem__(self, name):
        try:
            return self._data[name]
        except KeyError:
            raise errors.QuotaNotFoundError(unknown(self, [name])) from None

    def remove(self, name):
        """See IQuotas.remove."""
        quota = self[name]
        if len(quota):
            raise ValueError('quota %r still holds %d running jobs; remove'
                             ' it once they finish' % (name, len(quota)))
        del self._data[name]

    __delitem__ = remove


def unknown(quotas, names):
    missing = [n for n in names if n not in quotas]
    existing = ', '.join(repr(n) for n in quotas) or 'none'
    return ('no quota named %s in this queue; its quotas: %s. Create one'
            ' with queue.quotas.create(name, size=1).'
            % (', '.join(repr(n) for n in missing), existing))


def check_names(names, quotas=None):
    """``names`` as a tuple of quota names; with ``quotas``, every name
    must be one of them (QuotaNotFoundError otherwise)."""
    if isinstance(names, str):
        raise TypeError('quota_names is a tuple of names, not the string'
                        ' %r: write quota_names=(%r,)' % (names, names))
    names = tuple(names or ())
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError('quota names are non-empty strings, not %r'
                            % (name,))
    if quotas is not None and any(n not in quotas for n in names):
        raise errors.QuotaNotFoundError(unknown(quotas, names))
    return names


def _quotas_of(queue, job):
    """The Quota objects a job names in ``queue`` (a name with no quota,
    removed since the put, does not limit the job)."""
    quotas = getattr(queue, 'quotas', None)
    if not job.quota_names or quotas is None:
        return []
    return [q for q in map(quotas.get, job.quota_names) if q is not None]


def full_quotas(queue, job):
    """The names of the quotas of ``job`` that are full in ``queue``."""
    return [q.name for q in _quotas_of(queue, job) if q.full]


def take(queue, job, check_only=False):
    """In the claim's transaction: True and the job added to each of its
    quotas if all have room, else False and the job annotated as waiting
    (written once, not on every skipped claim).  ``check_only``: only
    say whether it could be taken, writing nothing."""
    if job._status != 'PENDING':
        return True  # resumed callbacks: its quotas were left at set_result
    if not job.quota_names:
        # Never annotated as waiting: no need to load its annotations
        # (a claim of a job without quotas loads nothing but the job).
        return True
    quotas = _quotas_of(queue, job)
    full = [q.name for q in quotas if q.full and job not in q]
    if check_only:
        return not full
    if full:
        if tuple(job.annotations.get(WAITING_ANNOTATION, ())) != tuple(full):
            job.annotations[WAITING_ANNOTATION] = tuple(full)
        return False
    for quota in quotas:
        quota.add(job)
    if WAITING_ANNOTATION in job.annotations:
        del job.annotations[WAITING_ANNOTATION]
    return True


def release(job):
    """The job leaves every quota of its queue it is in (no write for a
    job that names none)."""
    if not job.quota_names:
        return
    for quota in _quotas_of(job._queue, job):
        quota.release(job)
