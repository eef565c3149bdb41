"""Option values of the command line: argparse types that refuse bad
input in one line, and the dispatcher settings ``run`` offers.

The dispatcher settings come from the engine's one table,
``zc.asyncui.settings``: each option's default, help, parsing and
validation are its Setting's, so a default or a check is written once.
The command line keeps only its own spelling of one option
(``--agent-size`` for ``main_agent_size``).
"""
import argparse
import math

from zc.asyncui import errors
from zc.asyncui import settings
from zc.asyncui.job import JobStatus

#: The longest wait accepted, in seconds: the engine's longest interval.
MAX_SECONDS = settings.MAX_SECONDS
#: The furthest ``put --in`` reaches (a hundred years).
MAX_DELAY_SECONDS = 100 * MAX_SECONDS
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


#: The dispatcher settings ``run`` offers, from the engine's table.
DISPATCHER_SETTINGS = tuple(settings.get('dispatcher', name) for name in (
    'poll_interval', 'ping_interval', 'ping_death_interval',
    'main_agent_size', 'group_commit_seconds'))

#: Options the command line spells its own way.
OPTION_NAMES = {'main_agent_size': '--agent-size'}


def option_of(setting):
    """The command-line option of a Setting."""
    return OPTION_NAMES.get(setting.name, setting.option)


def setting_type(setting):
    """An argparse type that reads and checks a value as ``setting``
    does (Setting.parse), refusing bad text in one line."""
    def parse(text):
        try:
            return setting.parse(text)
        except errors.ConfigurationError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = setting.name
    return parse


def add_dispatcher_options(parser):
    """Add an option for each of DISPATCHER_SETTINGS to ``parser``."""
    group = parser.add_argument_group('dispatcher settings')
    for setting in DISPATCHER_SETTINGS:
        group.add_argument(
            option_of(setting), dest=setting.name,
            type=setting_type(setting), default=setting.default,
            metavar='SECONDS' if setting.unit == 'seconds' else 'N',
            help='%s (default %s%s)' % (
                setting.help.rstrip('.'), setting.default,
                '' if setting.unit is None else ' ' + setting.unit))


def dispatcher_keywords(args):
    """The keywords of ``dispatcher.start`` that ``args`` sets."""
    return {s.name: getattr(args, s.name) for s in DISPATCHER_SETTINGS}


def check_dispatcher_options(args):
    """Check the rules that join two dispatcher settings (the ping death
    interval is longer than the ping interval) with the settings table;
    ConfigurationError saying what is wrong."""
    settings.validate('dispatcher', dispatcher_keywords(args))
