"""The five-field cron parser of periodic schedules (zc.asyncui.cron)."""
import datetime

import pytest

from zc.asyncui.cron import Cron

UTC = datetime.timezone.utc


def at(*args):
    return datetime.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize('expression, after, expected', [
    ('* * * * *', at(2026, 1, 1, 12, 0, 30), at(2026, 1, 1, 12, 1)),
    ('*/15 * * * *', at(2026, 1, 1, 12, 0), at(2026, 1, 1, 12, 15)),
    ('*/15 * * * *', at(2026, 1, 1, 12, 50), at(2026, 1, 1, 13, 0)),
    ('30 2 * * *', at(2026, 1, 1, 3, 0), at(2026, 1, 2, 2, 30)),
    ('0 9-17/4 * * *', at(2026, 1, 1, 10, 0), at(2026, 1, 1, 13, 0)),
    ('5,10 0 1 * *', at(2026, 1, 1, 0, 5), at(2026, 1, 1, 0, 10)),
    ('0 0 1 jan *', at(2026, 1, 1, 0, 0), at(2027, 1, 1, 0, 0)),
    # 2026-01-01 is a Thursday: next Monday is the 5th
    ('0 8 * * mon', at(2026, 1, 1), at(2026, 1, 5, 8, 0)),
    ('0 8 * * 1-5', at(2026, 1, 2, 9), at(2026, 1, 5, 8, 0)),
    ('0 0 * * 7', at(2026, 1, 1), at(2026, 1, 4, 0, 0)),  # Sunday
    ('0 0 * * 0', at(2026, 1, 1), at(2026, 1, 4, 0, 0)),
    # day of month OR day of week when both are restricted
    ('0 0 15 * mon', at(2026, 1, 1), at(2026, 1, 5, 0, 0)),
    ('0 0 29 2 *', at(2026, 3, 1), at(2028, 2, 29, 0, 0)),
    ('10/20 * * * *', at(2026, 1, 1, 12, 0), at(2026, 1, 1, 12, 10)),
])
def test_next_after(expression, after, expected):
    assert Cron(expression).next_after(after) == expected


def test_next_after_other_timezone_is_utc():
    paris = datetime.timezone(datetime.timedelta(hours=1))
    got = Cron('0 12 * * *').next_after(
        datetime.datetime(2026, 1, 1, 12, 30, tzinfo=paris))
    assert got == at(2026, 1, 1, 12, 0)
    assert got.tzinfo == UTC


def test_naive_datetime_refused():
    with pytest.raises(ValueError, match='after'):
        Cron('* * * * *').next_after(datetime.datetime(2026, 1, 1))


def test_never_matching_expression():
    with pytest.raises(ValueError, match='never matches'):
        Cron('0 0 30 2 *').next_after(at(2026, 1, 1))


@pytest.mark.parametrize('expression, message', [
    ('* * * *', 'has 4 fields; it needs 5'),
    ('* * * * * *', 'has 6 fields'),
    ('60 * * * *', "minute field '60' is out of range"),
    ('* 24 * * *', "hour field '24' is out of range"),
    ('* * 0 * *', "day of month field '0' is out of range"),
    ('* * * 13 *', "month field '13' is out of range"),
    ('* * * * 8', "day of week field '8' is out of range"),
    ('*/0 * * * *', 'bad step'),
    ('*/x * * * *', 'bad step'),
    ('5-1 * * * *', 'goes backwards'),
    ('a * * * *', 'is not a number'),
    ('* * * foo *', "or a name (jan, feb"),
    ('1,,2 * * * *', 'is not a number'),
])
def test_bad_expressions(expression, message):
    with pytest.raises(ValueError) as info:
        Cron(expression)
    assert message in str(info.value)
    assert repr(expression) in str(info.value)


def test_not_a_string():
    with pytest.raises(ValueError, match='is a string'):
        Cron(5)


def test_equality_and_repr():
    assert Cron('0  0 * * *') == Cron('0 0 * * *')
    assert hash(Cron('0  0 * * *')) == hash(Cron('0 0 * * *'))
    assert repr(Cron('0 0 * * *')) == "Cron('0 0 * * *')"
