"""Text for the pages: reprs that are bounded and never raise, times,
ages and durations.

Escaping is not done here: templates insert these strings with TAL's
``content``/``replace`` (never ``structure``), which escapes them.  What
is done here is bounding: a job whose repr is megabytes long, or whose
``__repr__`` raises, still renders a page (with a truncated or an
explanatory text), so every view passes user data through ``safe_repr``.
"""
import datetime
import reprlib

from zc.asyncui import utils

#: Characters of a repr shown by default on lists and on the job page.
REPR_LIMIT = 200
LONG_REPR_LIMIT = 5000
ELLIPSIS = '...'
MISSING = '-'

_repr = reprlib.Repr()
# reprlib bounds containers and strings as it goes, so a list of a
# million items is never formatted whole; the final cut bounds the rest.
_repr.maxlevel = 4
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = 20
_repr.maxdict = 20
_repr.maxstring = LONG_REPR_LIMIT
_repr.maxother = LONG_REPR_LIMIT
_repr.maxlong = 200


def truncate(text, limit):
    """``text`` cut to at most ``limit`` characters, marked with '...'
    (and how much was cut) when it was longer."""
    if limit is None or len(text) <= limit:
        return text
    cut = len(text) - limit
    return '%s%s (%d more characters)' % (text[:limit], ELLIPSIS, cut)


def safe_repr(obj, limit=REPR_LIMIT):
    """A repr of ``obj`` of at most ``limit`` characters (plus the note
    that says how much was cut).  A ``__repr__`` that raises gives
    ``<unrepresentable TYPE: ERROR>`` instead of an error page."""
    try:
        text = _repr.repr(obj)
    except Exception as e:
        try:
            name = type(obj).__name__
        except Exception:  # pragma: no cover - a broken metaclass
            name = '?'
        text = '<unrepresentable %s: %s: %s>' % (
            name, type(e).__name__, _short_str(e))
    if not isinstance(text, str):  # a __repr__ returning bytes ...
        text = '<unrepresentable %s: __repr__ returned %s>' % (
            type(obj).__name__, type(text).__name__)
    return truncate(text, limit)


def _short_str(error):
    try:
        return truncate(str(error), 200)
    except Exception:
        return '?'


def safe_text(value, limit=REPR_LIMIT):
    """``str(value)`` bounded like safe_repr (for messages, names)."""
    if isinstance(value, str):
        return truncate(value, limit)
    try:
        return truncate(str(value), limit)
    except Exception:
        return safe_repr(value, limit)


def queue_title(name):
    """How pages name a queue: its repr, and '(default)' for ''."""
    title = safe_repr(name, 100)
    return title + ' (default)' if name == '' else title


def format_time(when):
    """``2026-12-01 21:30:05 UTC`` for an aware datetime; '-' for None."""
    if when is None:
        return MISSING
    return when.astimezone(utils.UTC).strftime('%Y-%m-%d %H:%M:%S UTC')


def iso(when):
    """ISO 8601 text of an aware datetime (JSON twins), or None."""
    return None if when is None else when.astimezone(utils.UTC).isoformat()


def format_duration(seconds):
    """A short human duration: ``850 ms``, ``4.2 s``, ``3 min 5 s``,
    ``2 h 10 min``, ``3 d 4 h``; '-' for None."""
    if seconds is None:
        return MISSING
    if isinstance(seconds, datetime.timedelta):
        seconds = seconds.total_seconds()
    sign = '-' if seconds < 0 else ''
    seconds = abs(seconds)
    if seconds < 1:
        return '%s%d ms' % (sign, round(seconds * 1000))
    if seconds < 60:
        return '%s%.1f s' % (sign, seconds)
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return '%s%d min %d s' % (sign, minutes, secs)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return '%s%d h %d min' % (sign, hours, minutes)
    days, hours = divmod(hours, 24)
    return '%s%d d %d h' % (sign, days, hours)


def format_age(when, now=None):
    """How long ago ``when`` was (``4.2 s ago``) or how far ahead
    (``in 3 min 5 s``); '-' for None."""
    if when is None:
        return MISSING
    delta = ((now or utils.now()) - when).total_seconds()
    if delta >= 0:
        return format_duration(delta) + ' ago'
    return 'in ' + format_duration(-delta)


def seconds_between(start, end):
    """Seconds from ``start`` to ``end`` (datetimes), or None."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
