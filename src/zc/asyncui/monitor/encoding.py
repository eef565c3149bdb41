"""What monitor commands share: their argument grammar, intervals, and
JSON with zc.async's encoding rules.

Arguments: words separated by whitespace; a word with a ``:`` is a named
modifier ``key:value`` (split at the first colon), others are
positional, and positional words come first.  Intervals are
``[nD][nH][nM][nS]`` (case-insensitive, "that long ago"); where a poll
key is allowed a plain integer is one.  Unlike zc.async, text that is
neither is an error, not "now".

JSON: sorted keys, 4-space indent; datetimes ISO 8601 UTC with ``Z``;
durations (timedelta) objects with the non-zero keys among days, hours,
minutes, seconds (all zero: ``{"seconds": 0.0}``; microseconds kept);
jobs as their key; anything else unserialisable as its repr.
"""
import datetime
import json
import re

from zc.asyncui import interfaces
from zc.asyncui.monitor.server import CommandError

_INTERVAL = re.compile(r'(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d*)?)s)?',
                       re.IGNORECASE)


def parse_args(words, positional=(), named=()):
    """(list of positional values, dict of named values) of ``words``;
    raises CommandError for too many positionals, a positional after a
    named one, or an unknown name."""
    args, options = [], {}
    for word in words:
        key, colon, value = word.partition(':')
        if not colon:
            if options:
                raise CommandError('%r: positional arguments come before'
                                   ' named ones (name:value)' % word)
            args.append(word)
            continue
        if key not in named:
            raise CommandError('unknown argument %r; expected %s' % (
                key + ':', ', '.join(n + ':' for n in named) or 'none'))
        options[key] = value
    if len(args) > len(positional):
        raise CommandError('too many arguments: %s; expected %s' % (
            ' '.join(args), ' '.join(positional) or 'none'))
    return args, options


def parse_interval(text, name):
    """A timedelta of ``text`` (``1H30M``, ``2d``, ``45s``); raises
    CommandError naming the argument ``name``."""
    match = _INTERVAL.fullmatch(text or '')
    if not text or match is None:
        raise CommandError(
            '%s:%s is not an interval; write [nD][nH][nM][nS], such as'
            ' %s:1H30M or %s:45S' % (name, text, name, name))
    days, hours, minutes, seconds = (float(g) if g else 0.0
                                     for g in match.groups())
    return datetime.timedelta(days=days, hours=hours, minutes=minutes,
                              seconds=seconds)


def parse_time_or_key(text, name, now):
    """An int (a poll key) for a plain integer, else ``now`` minus the
    interval ``text``."""
    if text.isdigit():
        return int(text)
    return now - parse_interval(text, name)


def duration(delta):
    """The JSON object of a timedelta (or of seconds)."""
    if not isinstance(delta, datetime.timedelta):
        delta = datetime.timedelta(seconds=delta)
    total = delta.total_seconds()
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    result = {k: int(v) for k, v in (('days', days), ('hours', hours),
                                     ('minutes', minutes)) if v}
    if seconds or not result:
        result['seconds'] = round(seconds, 6)
    return result


def iso(value):
    """ISO 8601 UTC with a trailing Z, for an aware datetime or an epoch
    timestamp."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value.isoformat() + 'Z'


class _Encoder(json.JSONEncoder):

    def default(self, obj):
        if isinstance(obj, datetime.datetime):
            return iso(obj)
        if isinstance(obj, datetime.timedelta):
            return duration(obj)
        if interfaces.IJob.providedBy(obj):
            return obj.key
        if isinstance(obj, (set, frozenset, tuple)) or hasattr(
                obj, '__next__'):
            return list(obj)
        return repr(obj)


def dumps(value):
    return json.dumps(value, sort_keys=True, indent=4, cls=_Encoder)


def write(connection, value):
    """Strings raw, anything else as JSON; then a newline."""
    connection.write((value if isinstance(value, str) else dumps(value))
                     + '\n')
