"""One table of the dispatcher's and the agents' settings.

Each setting has a name, a default, a unit, a validator and a help text,
written here once (as huey keeps its consumer options in one table).
``zc.asyncui.dispatcher.start``, ``Dispatcher`` and ``Agent`` take their
defaults from this table and check their arguments with it; the command
line and the ZCML directives derive their options and fields from it::

    for setting in DISPATCHER_SETTINGS:
        setting.name, setting.default, setting.unit, setting.help
        setting.option          # '--poll-interval'
        setting.validate(value)  # the normalised value, or
                                 # ConfigurationError saying what is wrong
        setting.parse('0.5')     # the same, from text

The unit of every interval is the second: ``poll_interval``,
``ping_interval`` and ``ping_death_interval`` are float seconds in the
Python API, on the command line, in ``getStatusInfo()`` and on the
persistent ``DispatcherAgents`` record alike.  A ``datetime.timedelta``
is accepted wherever seconds are and converted.  Durations that are
naturally long (``completed_max_age``) are timedeltas, the unit being
in the type.

Layer: contracts (imports only ``errors``).
"""
import datetime
import difflib
import math
import os
import uuid as uuidlib

from zc.asyncui import errors


class Setting:
    """One setting: ``name``, ``default``, ``unit`` (None when the type
    says it), ``help`` (one sentence, plain text) and ``validate``."""

    def __init__(self, name, default, check, help, unit=None, label=None):
        self.name = name
        #: How error messages name it ('agent size').
        self.label = label or name
        self.default = default
        self.unit = unit
        self.help = help
        self._check = check

    @property
    def option(self):
        """The command-line spelling: ``--poll-interval``."""
        return '--' + self.name.replace('_', '-')

    def validate(self, value):
        """Return ``value`` normalised (seconds as a float, ...); raise
        ConfigurationError naming the setting if it is not acceptable."""
        return self._check(self.label, value)

    def parse(self, text):
        """The value of ``text`` as written on a command line or in a
        configuration file ('5', '0.5', 'none', 'true'), validated.
        Callables cannot be given as text: ConfigurationError."""
        parser = _PARSERS.get(self._check)
        if parser is None:
            raise errors.ConfigurationError(
                '%s cannot be given as text: set it from Python'
                % self.label)
        try:
            value = parser(text.strip())
        except ValueError:
            raise errors.ConfigurationError(
                '%s must be %s, not %r' % (
                    self.label, _EXPECTED[self._check], text)) from None
        return self.validate(value)

    def __repr__(self):
        return '<Setting %s=%r>' % (self.name, self.default)


# -- validators: check(name, value) -> normalised value ------------------

def _refuse(name, value, expected):
    raise errors.ConfigurationError(
        '%s must be %s, not %r' % (name, expected, value))


#: The longest interval accepted, in seconds (a year): longer ones
#: overflow timers (``threading.Event.wait``) and dates, and are typing
#: mistakes anyway.
MAX_SECONDS = 365 * 24 * 3600.0
#: The most worker threads one agent may have: each is a thread and a
#: database connection.
MAX_WORKER_THREADS = 1000


def seconds(name, value):
    """A finite number of seconds > 0 and at most MAX_SECONDS (or such a
    timedelta)."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _refuse(name, value, 'a number of seconds (or a timedelta)')
    if not math.isfinite(value):
        _refuse(name, value, 'a finite number of seconds')
    if value <= 0:
        _refuse(name, value, '> 0 seconds')
    if value > MAX_SECONDS:
        _refuse(name, value, 'at most %.15g seconds (a year)' % MAX_SECONDS)
    return float(value)


def seconds_or_off(name, value):
    """A finite number of seconds >= 0 and at most MAX_SECONDS (or such
    a timedelta); 0 turns off what it bounds."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value == 0:
            return 0.0
        if value < 0:
            _refuse(name, value, '>= 0 seconds (0 turns it off)')
    return seconds(name, value)


def count(name, value):
    """An int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _refuse(name, value, 'an int >= 0')
    return value


def threads(name, value):
    """An int from 0 to MAX_WORKER_THREADS: a number of worker threads."""
    if count(name, value) > MAX_WORKER_THREADS:
        _refuse(name, value, 'at most %d worker threads' % MAX_WORKER_THREADS)
    return value


def optional_count(name, value):
    """None or an int >= 0."""
    return None if value is None else count(name, value)


def duration(name, value):
    """A timedelta >= 0."""
    if not isinstance(value, datetime.timedelta) or \
            value < datetime.timedelta(0):
        _refuse(name, value, 'a datetime.timedelta >= 0')
    return value


def flag(name, value):
    if not isinstance(value, bool):
        _refuse(name, value, 'True or False')
    return value


def optional_callable(name, value):
    if value is not None and not callable(value):
        _refuse(name, value, 'callable (or None)')
    return value


def optional_path(name, value):
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        _refuse(name, value, 'a file path (or None)')
    return os.fspath(value)


def optional_uuid(name, value):
    if value is None or isinstance(value, uuidlib.UUID):
        return value
    try:
        return uuidlib.UUID(str(value))
    except ValueError:
        _refuse(name, value, 'a UUID such as %s (or None)' % uuidlib.UUID(
            int=1))


def host(name, value):
    """A host name or address to listen on (a non-empty string)."""
    if not isinstance(value, str) or not value.strip() or ' ' in value:
        _refuse(name, value, "a host name or address such as '127.0.0.1'")
    return value.strip()


def port(name, value):
    """A TCP port, 0 to 65535 (0: any free port)."""
    if isinstance(value, bool) or not isinstance(value, int) or \
            not 0 <= value <= 65535:
        _refuse(name, value, 'a TCP port from 0 to 65535 (0: any free port)')
    return value


_FLAG_WORDS = {'true': True, 'yes': True, 'on': True, '1': True,
               'false': False, 'no': False, 'off': False, '0': False}


def _parse_flag(text):
    try:
        return _FLAG_WORDS[text.lower()]
    except KeyError:
        raise ValueError(text) from None


def _none_or(parse):
    return lambda text: None if text.lower() in ('', 'none') else parse(text)


_PARSERS = {
    seconds: float,
    seconds_or_off: float,
    count: int,
    threads: int,
    optional_count: _none_or(int),
    duration: lambda text: datetime.timedelta(seconds=float(text)),
    flag: _parse_flag,
    optional_path: _none_or(str),
    optional_uuid: _none_or(str),
    host: str,
    port: int,
}

_EXPECTED = {
    seconds: 'a number of seconds',
    seconds_or_off: 'a number of seconds (0: off)',
    count: 'a whole number',
    threads: 'a whole number',
    optional_count: "a whole number or 'none'",
    duration: 'a number of seconds',
    flag: "'true' or 'false'",
    optional_path: 'a file path',
    optional_uuid: 'a UUID',
    host: 'a host name or address',
    port: 'a TCP port number',
}


# -- the tables --------------------------------------------------------------

DISPATCHER_SETTINGS = (
    Setting('poll_interval', 5.0, seconds, unit='seconds', help=(
        'How often the dispatcher polls its queues at the latest; work put'
        ' in the database wakes it sooner.')),
    Setting('ping_interval', 30.0, seconds, unit='seconds', help=(
        'How often the dispatcher records that it is alive in each'
        ' queue.')),
    Setting('ping_death_interval', 60.0, seconds, unit='seconds', help=(
        'How long a dispatcher may be silent before another dispatcher'
        ' declares it dead and recovers its jobs; longer than'
        ' ping_interval by two or three poll intervals.')),
    Setting('main_agent_size', 3, threads, unit='worker threads', help=(
        "Size of the agent named 'main' (no filter) added to each queue"
        ' where the dispatcher has no agent; 0 adds none.')),
    Setting('uuid', None, optional_uuid, help=(
        "This process's instance UUID; by default read from (or written"
        ' to) uuid_file.')),
    Setting('uuid_file', os.path.join('var', 'instance_uuid.txt'),
            optional_path, help=(
                "The file holding this process's instance UUID, created"
                ' if missing; one per process.')),
    Setting('verbose_failures', False, flag, help=(
        "Record the local variables of each frame in a failed job's"
        ' traceback.')),
    Setting('job_retry_policy_factory', None, optional_callable, help=(
        'Called with a job, returns the retry policy of jobs that name'
        ' none; None uses zc.asyncui.retry.RetryCommonFourTimes.')),
    Setting('callback_retry_policy_factory', None, optional_callable, help=(
        'Called with a callback job, returns its retry policy when it'
        ' names none; None uses zc.asyncui.retry.RetryCommonForever.')),
    Setting('group_commit_seconds', 0.005, seconds_or_off, unit='seconds',
            help=(
                'How long a short job that succeeded may wait, finished but'
                ' not yet committed, so that its worker commits several'
                ' jobs at once (one fsync); 0 commits each job on its'
                ' own.')),
)


def _agent(name, *args, **kw):
    return Setting(name, *args, label='agent ' + name, **kw)


AGENT_SETTINGS = (
    _agent('size', 3, threads, unit='worker threads', help=(
        'How many jobs the agent runs at once; 0 pauses it.')),
    _agent('prefetch', None, optional_count, unit='jobs', help=(
        'How many claimed jobs to hold beyond size; None adapts it to how'
        ' long the jobs take (about a quarter second of work per'
        ' worker).')),
    _agent('filter', None, optional_callable, help=(
        'Called with a job, True if the agent may claim it; None claims'
        ' any job.')),
    _agent('chooser', None, optional_callable, help=(
        'Called with the agent and candidate jobs, returns the one to'
        ' claim; None claims in queue order.')),
    _agent('retry_policy_factory', None, optional_callable, help=(
        "Called with a job, returns its retry policy when the job names"
        ' none; None uses the dispatcher default.')),
    _agent('completed_max_count', 1000, count, unit='jobs', help=(
        'How many recently completed jobs the agent lists at most.')),
    _agent('completed_max_age', datetime.timedelta(days=7), duration,
            help='How long the agent lists a completed job at most.'),
)

#: Where the monitor (a line-protocol server, issue 9) listens: loopback
#: by default, since it answers anyone who connects.
MONITOR_SETTINGS = (
    Setting('host', '127.0.0.1', host, label='monitor host', help=(
        'The address the monitor listens on; loopback by default, since'
        ' the monitor asks for no password.')),
    Setting('port', 8081, port, unit='TCP port', label='monitor port',
            help='The TCP port the monitor listens on (0: any free port).'),
)

#: The retention of the durable history of finished jobs (issue 9,
#: zc.asyncui.history): kept on the History object, one per database.
HISTORY_SETTINGS = (
    Setting('max_age', datetime.timedelta(days=7), duration,
            label='history max_age', help=(
                'How long the history keeps a finished job.')),
    Setting('max_count', 100000, count, unit='jobs',
            label='history max_count', help=(
                'How many finished jobs the history keeps at most.')),
)

#: Who may read ``/++async++/@@metrics`` (issue 10): a per-process
#: setting (zc.asyncui.config.setMetricsAccess).
METRICS_SETTINGS = (
    Setting('loopback_without_credentials', False, flag,
            label='metrics loopback_without_credentials', help=(
                'Serve @@metrics without credentials to requests from'
                ' this machine (a loopback address, no proxy headers);'
                ' never set it behind a reverse proxy on the same'
                ' machine.')),
)


def log_level(name, value):
    """A logging level name (DEBUG, INFO, WARNING, ERROR, CRITICAL)."""
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        _refuse(name, value, 'one of %s' % ', '.join(LOG_LEVELS))
    return value.upper()


LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')
_PARSERS[log_level] = str
_EXPECTED[log_level] = 'a logging level name'

#: The in-memory buffer of recent log records of the zc.asyncui loggers
#: that the log page shows (zc.asyncui.logbuffer, issue 10).
LOG_SETTINGS = (
    Setting('size', 1000, count, unit='records', label='log buffer size',
            help='How many recent log records the buffer keeps (0: none).'),
    Setting('level', 'INFO', log_level, label='log buffer level', help=(
        'The least level of the records the buffer keeps.')),
)

_TABLES = {'dispatcher': DISPATCHER_SETTINGS, 'agent': AGENT_SETTINGS,
           'monitor': MONITOR_SETTINGS, 'history': HISTORY_SETTINGS,
           'metrics': METRICS_SETTINGS, 'log': LOG_SETTINGS}


def get(scope, name):
    """The Setting ``name`` of ``scope`` ('dispatcher', 'agent',
    'monitor', 'history', 'metrics' or 'log');
    ConfigurationError with a suggestion for an unknown name."""
    table = {s.name: s for s in _TABLES[scope]}
    setting = table.get(name)
    if setting is None:
        close = difflib.get_close_matches(name, table, n=1)
        raise errors.ConfigurationError(
            '%r is not a %s setting%s; the settings are: %s' % (
                name, scope, ' (did you mean %r?)' % close[0] if close
                else '', ', '.join(table)))
    return setting


def default(scope, name):
    """The default of one setting."""
    return get(scope, name).default


def validate(scope, values):
    """A dict of every setting of ``scope``: ``values`` (a mapping of
    name to value) validated, the others at their defaults.  Also checks
    the rules that join two settings."""
    result = {s.name: s.default for s in _TABLES[scope]}
    for name, value in values.items():
        result[name] = get(scope, name).validate(value)
    if scope == 'dispatcher':
        _check_ping_intervals(result)
    return result


def _check_ping_intervals(values):
    death, ping = values['ping_death_interval'], values['ping_interval']
    if death <= ping:
        raise errors.ConfigurationError(
            'ping_death_interval (%gs) must be longer than ping_interval'
            ' (%gs), by two or three poll intervals' % (death, ping))
