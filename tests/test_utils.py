"""Unit tests of zc.asyncui.utils."""
import datetime
import logging

import pytest
import transaction
import ZODB.POSException
import ZODB.utils

from zc.asyncui import testing
from zc.asyncui import utils

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class NoOffset(datetime.tzinfo):
    """A tzinfo that does not know its offset (so the datetime is naive)."""

    def utcoffset(self, dt):
        return None


class Flaky:
    """A transaction body that raises the given errors, then returns."""

    def __init__(self, *errors, result='done'):
        self.errors = list(errors)
        self.calls = 0
        self.result = result

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


class Sleeps(list):
    """Records the backoffs instead of sleeping."""

    def __call__(self, seconds):
        self.append(seconds)


# -- clock --------------------------------------------------------------------

def test_now_is_aware_utc():
    assert utils.now().tzinfo is UTC


def test_now_with_fake_clock():
    with testing.FakeClock(T0) as clock:
        assert utils.now() == T0
        clock.advance(seconds=5)
        assert utils.now() == T0 + datetime.timedelta(seconds=5)
    assert utils.now() != T0 + datetime.timedelta(seconds=5)


def test_timestamp():
    assert utils.timestamp(T0) == T0.timestamp()


# -- keys ---------------------------------------------------------------------

def test_oid_key():
    assert utils.oid_key(ZODB.utils.p64(0x3a1f)) == '0x3a1f'
    assert utils.oid_key(ZODB.utils.z64) == '0x0'


@pytest.mark.parametrize('key', ['0x3a1f', '0X3A1F', ' 0x3a1f\n', '14879',
                                 14879])
def test_key_to_oid(key):
    assert utils.key_to_oid(key) == ZODB.utils.p64(0x3a1f)


def test_key_to_oid_round_trip():
    for number in (0, 1, 255, 2 ** 40 + 7, 2 ** 64 - 1):
        oid = ZODB.utils.p64(number)
        assert utils.key_to_oid(utils.oid_key(oid)) == oid


@pytest.mark.parametrize('key', ['', 'zzz', '0x', '0xg1', '3a1f', '-1',
                                 '0x' + 'f' * 17, None])
def test_key_to_oid_wo_valid_key(key):
    with pytest.raises(ValueError) as info:
        utils.key_to_oid(key)
    assert 'is not a job key: use the hex oid shown in listings' in str(
        info.value)


# -- check_aware --------------------------------------------------------------

def test_check_aware_converts_to_utc():
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    value = utils.check_aware(datetime.datetime(2026, 1, 1, 14, tzinfo=plus2),
                              'when')
    assert value == T0
    assert value.tzinfo is UTC


def test_check_aware_wo_timezone():
    with pytest.raises(ValueError) as info:
        utils.check_aware(datetime.datetime(2026, 1, 1), 'begin_after')
    message = str(info.value)
    assert message.startswith('begin_after must be timezone-aware')
    assert '2026-01-01T00:00:00' in message
    assert 'datetime.datetime.now(datetime.timezone.utc)' in message


def test_check_aware_wo_offset():
    with pytest.raises(ValueError, match='timezone-aware'):
        utils.check_aware(datetime.datetime(2026, 1, 1, tzinfo=NoOffset()),
                          'when')


@pytest.mark.parametrize('value', [datetime.date(2026, 1, 1), '2026-01-01',
                                   0, None])
def test_check_aware_wo_datetime(value):
    with pytest.raises(TypeError, match='when must be a datetime'):
        utils.check_aware(value, 'when')


# -- error kinds --------------------------------------------------------------

def test_is_transient_and_is_conflict():
    conflict = ZODB.POSException.ConflictError()
    assert utils.is_transient(conflict) and utils.is_conflict(conflict)
    import ZEO.Exceptions
    disconnected = ZEO.Exceptions.ClientDisconnected()
    assert utils.is_transient(disconnected)
    assert not utils.is_conflict(disconnected)
    assert not utils.is_transient(ValueError())


def test_backoff_seconds_bounded():
    for attempt in (1, 5, 50):
        for _ in range(20):
            assert 0 <= utils.backoff_seconds(attempt, cap=2.0) <= 2.0
    assert utils.backoff_seconds(1, base=0.0) == 0


def test_conflict_counter():
    counter = utils.ConflictCounter()
    counter.add()
    counter.add(3)
    assert counter.count == 4


# -- retry_transaction --------------------------------------------------------

def test_retry_transaction_commits_and_returns():
    tm = transaction.TransactionManager()
    body = Flaky()
    assert utils.retry_transaction(tm, body, 'test') == 'done'
    assert body.calls == 1


def test_retry_transaction_retries_conflict_then_succeeds():
    tm = transaction.TransactionManager()
    body = Flaky(ZODB.POSException.ConflictError(),
                 ZODB.POSException.ConflictError())
    sleeps = Sleeps()
    before = utils.conflicts.count
    assert utils.retry_transaction(tm, body, 'test', sleep=sleeps) == 'done'
    assert body.calls == 3
    assert len(sleeps) == 2
    assert utils.conflicts.count == before + 2


def test_retry_transaction_non_transient_error_at_once():
    tm = transaction.TransactionManager()
    body = Flaky(KeyError('x'))
    sleeps = Sleeps()
    with pytest.raises(KeyError):
        utils.retry_transaction(tm, body, 'test', sleep=sleeps)
    assert body.calls == 1
    assert sleeps == []


def test_retry_transaction_gives_up_after_attempts():
    tm = transaction.TransactionManager()
    body = Flaky(*[ZODB.POSException.ConflictError() for _ in range(10)])
    sleeps = Sleeps()
    with pytest.raises(ZODB.POSException.ConflictError):
        utils.retry_transaction(tm, body, 'test', attempts=3, sleep=sleeps)
    assert body.calls == 3
    assert len(sleeps) == 2


def test_retry_transaction_stops_when_asked():
    tm = transaction.TransactionManager()
    body = Flaky(*[ZODB.POSException.ConflictError() for _ in range(10)])
    with pytest.raises(ZODB.POSException.ConflictError):
        utils.retry_transaction(tm, body, 'test', stop=lambda: True,
                                sleep=Sleeps())
    assert body.calls == 1


def test_retry_transaction_logs_warning_every_tenth(caplog):
    tm = transaction.TransactionManager()
    body = Flaky(*[ZODB.POSException.ConflictError() for _ in range(10)])
    with caplog.at_level(logging.DEBUG, logger='zc.asyncui.utils'):
        utils.retry_transaction(tm, body, 'poll queue x', sleep=Sleeps())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage().startswith(
        'poll queue x: 10 consecutive transient errors')
    assert len(caplog.records) == 10


def test_retry_transaction_aborts_failed_attempt(db):
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        def body():
            conn.root()['x'] = body.calls = getattr(body, 'calls', 0) + 1
            if body.calls == 1:
                raise ZODB.POSException.ConflictError()
        utils.retry_transaction(tm, body, 'test', sleep=Sleeps())
        tm.begin()
        assert conn.root()['x'] == 2
    finally:
        tm.abort()
        conn.close()


def test_retry_transaction_real_commit_conflict(db):
    # Two connections change the same object; the loser retries on a
    # fresh snapshot and commits.
    tm1 = transaction.TransactionManager()
    tm2 = transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    try:
        c1.root()['n'] = 0
        tm1.commit()
        calls = []

        def increment():
            calls.append(1)
            c2.root()['n'] += 1
            if len(calls) == 1:  # another transaction commits meanwhile
                c1.root()['n'] += 10
                tm1.commit()
        utils.retry_transaction(tm2, increment, 'test', sleep=Sleeps())
        assert len(calls) == 2
        tm1.begin()
        assert c1.root()['n'] == 11
    finally:
        tm1.abort()
        tm2.abort()
        c1.close()
        c2.close()


def test_retry_transaction_retries_disconnect_without_counting_conflict():
    import ZEO.Exceptions
    tm = transaction.TransactionManager()
    body = Flaky(ZEO.Exceptions.ClientDisconnected())
    before = utils.conflicts.count
    assert utils.retry_transaction(tm, body, 'test', sleep=Sleeps()) == 'done'
    assert utils.conflicts.count == before


class _DisconnectingTM:
    """A transaction manager whose first commit meets a ZEO disconnect."""

    def __init__(self):
        self.commits = 0

    def begin(self):
        pass

    def abort(self):
        pass

    def commit(self):
        import ZEO.Exceptions
        self.commits += 1
        if self.commits == 1:
            raise ZEO.Exceptions.ClientDisconnected()


def test_retry_transaction_with_disconnect_explains_it(caplog):
    tm = _DisconnectingTM()
    assert utils.retry_transaction(tm, lambda: 'ok', 'save x',
                                   sleep=lambda s: None) == 'ok'
    (line,) = [r.getMessage() for r in caplog.records
               if r.levelname == 'WARNING']
    assert line.startswith('save x: the storage server became unreachable')
    assert 'second phase' in line


def test_named_mapping_reads_its_btree_by_name():
    import BTrees.OOBTree
    mapping = utils.NamedMapping()
    mapping._data = BTrees.OOBTree.OOBTree({'b': 2, 'a': 1})
    assert (list(mapping), mapping.keys(), len(mapping)) == (
        ['a', 'b'], ['a', 'b'], 2)
    assert mapping.values() == [1, 2] and mapping.items()[0] == ('a', 1)
    assert 'a' in mapping and mapping.get('c', 3) == 3
    for name in mapping:  # a snapshot: changing the mapping is allowed
        del mapping._data[name]
    assert len(mapping) == 0
