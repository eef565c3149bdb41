"""The ``async`` monitor command: this process's dispatcher, from memory
only (no database access), with zc.async's tools and arguments.

Each tool is a function ``tool(dispatcher, now, *words)`` returning what
to write (a string raw, anything else as JSON); its docstring is its
help (``async help TOOL``).  Every tool also takes ``uuid:HEX`` to
address another dispatcher of this process.
"""

from zc.asyncui import dispatcher as dispatcher_module
from zc.asyncui import errors
from zc.asyncui import utils
from zc.asyncui.monitor import commands
from zc.asyncui.monitor import encoding
from zc.asyncui.monitor.server import CommandError

DEFAULT_POLLS = 3


def _uuid(d, now):
    """The dispatcher's UUID (raw text)

        async UUID
    """
    return str(d.UUID)


def _utcnow(d, now):
    """The current time, ISO 8601 UTC with a trailing Z

        async utcnow
    """
    return encoding.iso(now)


def _status(d, now):
    """The dispatcher's status

    uuid, status (STOPPED, STARTING, RUNNING or STUCK), poll interval,
    time since last poll and uptime (durations; null when stopped),
    polls, active queues, active jobs and workers:

        async status
    """
    info = d.getStatusInfo()
    seconds = {'poll interval': 'poll_interval', 'ping interval':
               'ping_interval', 'ping death interval': 'ping_death_interval',
               'time since last poll': 'since_last_poll',
               'uptime': 'uptime'}
    result = {name: None if info.get(key) is None else
              encoding.duration(info[key]) for name, key in seconds.items()}
    result.update(uuid=info['uuid'], status=info['status'],
                  polls=info['polls'], workers=info['workers'])
    result['active queues'] = info['active_queues']
    result['active jobs'] = info['active_jobs']
    return result


def _jobs(d, now, *words):
    """Keys of the jobs this process runs or has claimed, right now

    Optional queue:NAME and agent:NAME (exact names; "queue:" alone is the
    queue named ""):

        async jobs
        async jobs queue: agent:main
    """
    args, options = encoding.parse_args(words, (), ('queue', 'agent'))
    return d.getActiveJobs(options.get('queue'), options.get('agent'))


def _job(d, now, *words):
    """What this process remembers of a job (its last 200)

    Its last event, status, thread, queue, agent, started, ended (ISO
    times, or null), failed; an error if the job is not remembered:

        async job 0x3a1f
    """
    args, options = encoding.parse_args(words, ('KEY',))
    if not args:
        raise CommandError('async job KEY: which job? e.g. async job 0x3a1f')
    try:
        key = utils.oid_key(utils.key_to_oid(args[0]))
    except ValueError as e:
        raise CommandError(str(e)) from None
    info = d.getJobInfo(key)
    if info is None:
        raise CommandError('job %s is not among the jobs this process'
                           ' remembers (its last 200); try asyncdb or'
                           ' zc-asyncui jobs' % key)
    for name in ('time', 'started', 'ended'):
        if info.get(name) is not None:
            info[name] = encoding.iso(info[name])
    info['status'] = str(getattr(info['status'], 'value', info['status']))
    return info


def _select_polls(d, now, options, default_count):
    """The remembered polls chosen by at:, before:, since:, count:,
    newest first."""
    if 'at' in options and 'before' in options:
        raise CommandError('give at: or before:, not both')
    polls = list(d.state.polls)  # newest first
    if 'at' in options:
        polls = _from(polls, encoding.parse_time_or_key(
            options['at'], 'at', now), inclusive=True)
    elif 'before' in options:
        polls = _from(polls, encoding.parse_time_or_key(
            options['before'], 'before', now), inclusive=False)
    if 'since' in options:
        since = encoding.parse_time_or_key(options['since'], 'since', now)
        polls = [p for p in polls if _at_or_after(p, since)]
    count = options.get('count')
    if count is not None:
        if not count.isdigit():
            raise CommandError('count:%s is not a whole number' % count)
        return polls[:int(count)]
    return polls if 'since' in options else polls[:default_count]


def _at_or_after(poll, point):
    return (poll['number'] >= point if isinstance(point, int)
            else poll['time'] >= point)


def _from(polls, point, inclusive):
    """The polls at (or before) ``point``, a poll key or a time."""
    def keep(poll):
        value = poll['number'] if isinstance(point, int) else poll['time']
        return value <= point if inclusive else value < point
    return [p for p in polls if keep(p)]


def _poll_info(poll):
    return {'key': poll['number'], 'time': poll['time'],
            'results': poll['queues']}


def _poll(d, now, *words):
    """One poll that claimed jobs (or met an inactive queue)

    The most recent by default; at:KEY (a poll key) or at:INTERVAL (the
    last poll at or before that long ago), or before: likewise:

        async poll
        async poll at:5M
        async poll before:1042
    """
    args, options = encoding.parse_args(words, (), ('at', 'before'))
    polls = _select_polls(d, now, options, 1)
    return _poll_info(polls[0]) if polls else None


def _polls(d, now, *words):
    """Recent polls that claimed jobs, newest first

    The last 3 by default; at: or before: (as for poll) moves the
    start, since:INTERVAL|KEY gives all polls since then (inclusive),
    count:N caps the list:

        async polls
        async polls since:10M count:20
    """
    args, options = encoding.parse_args(
        words, (), ('at', 'before', 'since', 'count'))
    return [_poll_info(p)
            for p in _select_polls(d, now, options, DEFAULT_POLLS)]


def _jobstats(d, now, *words):
    """Counts and extremes of the jobs this process finished recently

    Among the remembered jobs (the last 200) whose last event falls in
    the window (since:INTERVAL, before:INTERVAL; default all), optionally
    of queue:NAME and agent:NAME: started, successful, failed counts and
    the shortest and longest successful and failed jobs (keys), with
    the window's start and end:

        async jobstats
        async jobstats since:1H queue:
    """
    args, options = encoding.parse_args(
        words, (), ('since', 'before', 'queue', 'agent'))
    start = (now - encoding.parse_interval(options['since'], 'since')
             if 'since' in options else None)
    end = (now - encoding.parse_interval(options['before'], 'before')
           if 'before' in options else now)
    infos = [i for i in d.state.recentJobs()
             if _chosen(i, options, start, end)]
    stats = {'statistics start': start, 'statistics end': end,
             'started': sum(1 for i in infos if i['started'] is not None)}
    for label, failed in (('successful', False), ('failed', True)):
        done = sorted((i['ended'] - i['started'], i['key']) for i in infos
                      if i['failed'] is failed and i['event'] == 'completed'
                      and i['started'] is not None and i['ended'])
        stats[label] = len(done)
        stats['shortest ' + label] = done[0][1] if done else None
        stats['longest ' + label] = done[-1][1] if done else None
    return stats


def _chosen(info, options, start, end):
    when = info['time']
    if start is not None and when < start.timestamp():
        return False
    if when >= end.timestamp():
        return False
    return all(options[k] == info.get(k) for k in ('queue', 'agent')
               if k in options)


TOOLS = {'UUID': _uuid, 'utcnow': _utcnow, 'status': _status,
         'jobs': _jobs, 'job': _job, 'poll': _poll, 'polls': _polls,
         'jobstats': _jobstats}


def _help(tool_name=None):
    return commands.tool_help('async', TOOLS, tool_name)


def async_(connection, tool_name='help', *args):
    """Look at this process's dispatcher (from memory)

    async help            the tools
    async help TOOL       a tool's help
    async TOOL ARGS...    e.g. async status, async jobs queue:

    Every tool takes uuid:HEX to address another dispatcher of this
    process.  Structured answers are JSON.
    """
    words = [w for w in args if not w.startswith('uuid:')]
    uuids = [w[5:] for w in args if w.startswith('uuid:')]
    if tool_name == 'help':
        if len(words) > 1:
            raise CommandError('async help [TOOL]: one tool at most')
        return encoding.write(connection, _help(*words))
    tool = TOOLS.get(tool_name)
    if tool is None:
        raise CommandError('unknown async tool %r; try "async help"'
                           % tool_name)
    d = _dispatcher(uuids[-1] if uuids else None)
    encoding.write(connection, tool(d, utils.now(), *words))


def _dispatcher(uuid):
    try:
        d = dispatcher_module.get(uuid)
    except errors.DispatcherError as e:
        raise CommandError(str(e)) from None
    except ValueError:
        raise CommandError('uuid:%s is not a UUID' % uuid) from None
    if d is None:
        raise CommandError('no dispatcher%s runs in this process' % (
            ' with UUID %s' % uuid if uuid else ''))
    return d
