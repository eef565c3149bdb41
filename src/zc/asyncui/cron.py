"""Five-field cron expressions, as periodic schedules use them.

``Cron('*/15 9-17 * * mon-fri')``: minute, hour, day of month, month and
day of week, each ``*``, a number, a range ``a-b``, a step (``*/n``,
``a-b/n``, ``a/n``), or a comma-separated list of those.  Months and
days of the week may be given by their English three-letter names; day
of week 0 and 7 are both Sunday.  As in classic cron, when both day of
month and day of week are restricted, a day matching either one runs.
Times are UTC: a schedule must mean the same on every machine.
"""
import datetime

from zc.asyncui import utils

#: (name, lowest, highest, names) of each field, in order.
FIELDS = (
    ('minute', 0, 59, ()),
    ('hour', 0, 23, ()),
    ('day of month', 1, 31, ()),
    ('month', 1, 12, ('jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul',
                      'aug', 'sep', 'oct', 'nov', 'dec')),
    ('day of week', 0, 7, ('sun', 'mon', 'tue', 'wed', 'thu', 'fri',
                           'sat')),
)

#: How far ``next_after`` looks: a valid expression such as ``0 0 30 2 *``
#: (30 February) never matches.
SEARCH_DAYS = 366 * 5


class Cron:
    """A parsed cron expression; raises ValueError, saying which field is
    wrong and what is accepted, for a bad one."""

    def __init__(self, expression):
        if not isinstance(expression, str):
            raise ValueError('a cron expression is a string such as'
                             ' "*/5 * * * *", not %r' % (expression,))
        parts = expression.split()
        if len(parts) != 5:
            raise ValueError(
                'cron expression %r has %d fields; it needs 5: minute hour'
                ' day-of-month month day-of-week, e.g. "30 2 * * mon"'
                % (expression, len(parts)))
        self.expression = ' '.join(parts)
        sets = [_parse_field(text, field, expression)
                for text, field in zip(parts, FIELDS)]
        self.minutes, self.hours, self.days, self.months, weekdays = sets
        self.weekdays = frozenset(d % 7 for d in weekdays)  # 7 is Sunday
        self.days_restricted = parts[2] != '*'
        self.weekdays_restricted = parts[4] != '*'

    def __repr__(self):
        return 'Cron(%r)' % self.expression

    def __eq__(self, other):
        return isinstance(other, Cron) and \
            other.expression == self.expression

    def __hash__(self):
        return hash(self.expression)

    def matches_day(self, date):
        """True when the expression runs on ``date`` (a date)."""
        if date.month not in self.months:
            return False
        day_ok = date.day in self.days
        weekday_ok = (date.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok

    def next_after(self, after):
        """The first matching minute strictly after ``after`` (an aware
        datetime), in UTC.  Raises ValueError if none comes within
        SEARCH_DAYS days (an impossible date such as 30 February)."""
        after = utils.check_aware(after, 'after').astimezone(utils.UTC)
        start = after.replace(second=0, microsecond=0) + \
            datetime.timedelta(minutes=1)
        day = start.date()
        for _ in range(SEARCH_DAYS):
            if self.matches_day(day):
                found = self._first_time_on(day, start)
                if found is not None:
                    return found
            day += datetime.timedelta(days=1)
        raise ValueError('cron expression %r never matches (within %d'
                         ' days of %s): check its day and month fields'
                         % (self.expression, SEARCH_DAYS, after.isoformat()))

    def _first_time_on(self, day, start):
        """The first matching time on ``day`` at or after ``start``."""
        for hour in sorted(self.hours):
            for minute in sorted(self.minutes):
                candidate = datetime.datetime(day.year, day.month, day.day,
                                              hour, minute, tzinfo=utils.UTC)
                if candidate >= start:
                    return candidate
        return None


def _parse_field(text, field, expression):
    values = set()
    for item in text.split(','):
        values.update(_parse_item(item, field, expression))
    return frozenset(values)


def _parse_item(item, field, expression):
    name, low, high, names = field
    def bad(why):
        return ValueError(
            'cron expression %r: %s field %r %s; use *, a number %d-%d%s,'
            ' a range a-b, a step */n or a-b/n, or a list of those'
            % (expression, name, item, why, low, high,
               ' or a name (%s)' % ', '.join(names) if names else ''))
    base, slash, step_text = item.partition('/')
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise bad('has a bad step %r (a positive number)' % step_text)
        step = int(step_text)
    if base == '*':
        first, last = low, high
    elif '-' in base:
        first_text, _, last_text = base.partition('-')
        first = _number(first_text, field, bad)
        last = _number(last_text, field, bad)
        if first > last:
            raise bad('is a range that goes backwards')
    else:
        first = _number(base, field, bad)
        last = high if slash else first
    return range(first, last + 1, step)


def _number(text, field, bad):
    name, low, high, names = field
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + (1 if name == 'month' else 0)
    if not text.isdigit():
        raise bad('is not a number')
    value = int(text)
    if not low <= value <= high:
        raise bad('is out of range')
    return value
