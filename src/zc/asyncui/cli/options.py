"""Option values of the command line: argparse types that refuse bad
input in one line, and the dispatcher settings ``run`` offers.

The dispatcher settings are one table, ``DISPATCHER_SETTINGS``: the
option, the keyword of ``zc.asyncui.dispatcher.start`` it sets, its
type, default and help.  ``run`` adds its options and builds the
keywords from it, so a setting is written once here.  The keywords are
the names of the same settings in the engine's table of settings, from
which this one can be derived (keeping the option ``--agent-size``).
"""
import argparse
import collections
import math

from zc.asyncui.job import JobStatus

#: The longest wait or interval accepted, in seconds (a year): longer
#: ones overflow timers and dates, and are typing mistakes anyway.
MAX_SECONDS = 365 * 24 * 3600.0
#: The furthest ``put --in`` reaches (a hundred years).
MAX_DELAY_SECONDS = 100 * MAX_SECONDS
#: The most worker threads one agent may have.
MAX_AGENT_SIZE = 1000
STATUSES = ', '.join(s.value for s in JobStatus)


def seconds(minimum=0.0, inclusive=False, maximum=MAX_SECONDS):
    """An argparse type: a finite number of seconds above ``minimum``
    (or equal to it when ``inclusive``) and at most ``maximum``."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        low_ok = value >= minimum if inclusive else value > minimum
        if not (math.isfinite(value) and low_ok and value <= maximum):
            raise argparse.ArgumentTypeError(
                'expected a number of seconds %s %.15g and at most %.15g,'
                ' not %r' % ('>=' if inclusive else '>', minimum, maximum,
                             text))
        return value
    parse.__name__ = 'seconds'
    return parse


def whole_number(minimum=0, maximum=None):
    """An argparse type: an integer from ``minimum`` to ``maximum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (
                maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(
                'expected a whole number %s, not %r' % (
                    '>= %d' % minimum if maximum is None
                    else 'from %d to %d' % (minimum, maximum), text))
        return value
    parse.__name__ = 'whole number'
    return parse


def status(text):
    """An argparse type: a JobStatus name, in any case."""
    try:
        return JobStatus(text.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            '%r is not a job status; choose one of %s'
            % (text, STATUSES)) from None


Setting = collections.namedtuple(
    'Setting', 'option keyword metavar type default help')

DISPATCHER_SETTINGS = (
    Setting('--poll-interval', 'poll_interval', 'SECONDS', seconds(), 5.0,
            'seconds between two polls of the queues for due jobs'),
    Setting('--ping-interval', 'ping_interval', 'SECONDS', seconds(), 30.0,
            'seconds between two pings that tell other dispatchers this'
            ' one is alive'),
    Setting('--ping-death-interval', 'ping_death_interval', 'SECONDS',
            seconds(), 60.0, 'seconds of silence after which other dispatchers'
            ' consider this one dead and recover its jobs; must be longer'
            ' than the ping interval'),
    Setting('--agent-size', 'main_agent_size', 'N',
            whole_number(0, MAX_AGENT_SIZE), 3,
            'worker threads of the agent "main" in each queue, that is how'
            ' many jobs run at once (0 adds no agent)'),
)


def add_dispatcher_options(parser):
    """Add an option for each of DISPATCHER_SETTINGS to ``parser``."""
    group = parser.add_argument_group('dispatcher settings')
    for setting in DISPATCHER_SETTINGS:
        group.add_argument(
            setting.option, dest=setting.keyword, type=setting.type,
            default=setting.default,
            metavar=setting.metavar,
            help='%s (default %g)' % (setting.help, setting.default))


def dispatcher_keywords(args):
    """The keywords of ``dispatcher.start`` that ``args`` sets."""
    return {s.keyword: getattr(args, s.keyword) for s in DISPATCHER_SETTINGS}
