"""Small shared helpers: the clock, job keys, and the transaction retry
loop that every committing path in zc.asyncui goes through."""
import datetime
import logging
import random
import time

import transaction.interfaces
import ZODB.POSException
import ZODB.utils

logger = logging.getLogger(__name__)

UTC = datetime.timezone.utc

#: Replaceable by ``zc.asyncui.testing.FakeClock``; always aware UTC.
_now_hook = None


def now():
    """The current time as an aware UTC datetime."""
    if _now_hook is not None:
        return _now_hook()
    return datetime.datetime.now(UTC)


def timestamp(dt):
    """Seconds since the epoch of an aware datetime (a float)."""
    return dt.timestamp()


def oid_key(oid):
    """The printable key of an oid: ``0x3a1f``."""
    return '0x%x' % ZODB.utils.u64(oid)


def key_to_oid(key):
    """The oid of a printable key: hex with its ``0x`` prefix (``0x3a1f``)
    or decimal (``14879``).

    Raises ValueError with a hint for anything else.
    """
    text = str(key).strip()
    try:
        if text.lower().startswith('0x'):
            number = int(text, 16)
        else:
            number = int(text)
        return ZODB.utils.p64(number)  # ValueError out of 0..2**64-1
    except ValueError:
        raise ValueError(
            '%r is not a job key: use the hex oid shown in listings, such'
            ' as 0x3a1f' % (key,)) from None


def check_aware(value, name):
    """Return an aware UTC datetime or raise a ValueError that explains."""
    if not isinstance(value, datetime.datetime):
        raise TypeError('%s must be a datetime, not %r' % (name, value))
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            '%s must be timezone-aware, got the naive %s: use for example'
            ' datetime.datetime.now(datetime.timezone.utc) + delta'
            % (name, value.isoformat()))
    return value.astimezone(UTC)


def is_transient(exc):
    """True for errors that a new transaction may not meet again."""
    return isinstance(exc, transaction.interfaces.TransientError)


def is_conflict(exc):
    return isinstance(exc, ZODB.POSException.ConflictError)


def backoff_seconds(attempt, base=0.01, cap=5.0):
    """Exponential backoff with full jitter for the ``attempt``-th retry."""
    return random.uniform(0, min(cap, base * (2 ** min(attempt, 20))))


class ConflictCounter:
    """Thread-safe count of ConflictErrors met by one component, for the
    monitor and benchmarks."""

    def __init__(self):
        self.count = 0

    def add(self, n=1):
        self.count += n  # int += is atomic enough under the GIL for stats


conflicts = ConflictCounter()


def retry_transaction(tm, func, description, attempts=None,
                      stop=None, sleep=time.sleep):
    """Run ``func()`` in a fresh transaction of ``tm`` and commit, retrying
    transient errors (conflicts, ZEO disconnects) with jittered backoff.

    ``attempts`` None means until it commits or ``stop()`` is true (used
    for bookkeeping that must not be lost); otherwise the last transient
    error is re-raised after that many attempts.  Non-transient errors
    abort and propagate at once.  Returns what ``func`` returned.
    """
    attempt = 0
    while True:
        attempt += 1
        tm.begin()
        try:
            result = func()
            tm.commit()
            return result
        except Exception as e:
            tm.abort()
            explain_commit_error(description, e)
            if not is_transient(e):
                raise
            if is_conflict(e):
                conflicts.add()
            if attempts is not None and attempt >= attempts:
                raise
            if stop is not None and stop():
                raise
            level = logging.WARNING if attempt % 10 == 0 else logging.DEBUG
            logger.log(level, '%s: %d consecutive transient errors, last %s;'
                       ' retrying', description, attempt, e)
            sleep(backoff_seconds(attempt, cap=5.0 if is_conflict(e)
                                  else 30.0))


def is_disconnect(exc):
    """True for ZEO's ClientDisconnected (the storage is unreachable)."""
    return any(c.__module__ == 'ZEO.Exceptions'
               and c.__name__ == 'ClientDisconnected'
               for c in type(exc).__mro__)


def explain_commit_error(description, exc):
    """Log, next to the ``transaction`` package's CRITICAL "A storage
    error occurred during the second phase of the two-phase commit" that
    a ZEO disconnect during a commit causes, what it means here."""
    if is_disconnect(exc):
        logger.warning(
            '%s: the storage server became unreachable during the commit'
            ' (ZEO ClientDisconnected). If the transaction package logged'
            ' CRITICAL "A storage error occurred during the second phase"'
            ' just before, it is this disconnect: with one ZODB storage in'
            ' the transaction nothing is half-written (the server recorded'
            ' the transaction or not), and zc.asyncui goes on from a fresh'
            ' snapshot once the server is back.', description)


class NamedMapping:
    """The reading half of a persistent mapping by name whose items are in
    the BTree ``self._data`` (Queues, Quotas): names sorted, lists rather
    than views, so callers may change the mapping while they iterate."""

    def get(self, name, default=None):
        return self._data.get(name, default)

    def __contains__(self, name):
        return name in self._data

    def __iter__(self):
        return iter(list(self._data.keys()))

    def __len__(self):
        return len(self._data)

    def keys(self):
        return list(self._data.keys())

    def values(self):
        return list(self._data.values())

    def items(self):
        return list(self._data.items())
