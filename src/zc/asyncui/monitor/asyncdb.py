"""The ``asyncdb`` monitor command: the whole database, read from a
fresh connection, so it works in a process with no dispatcher.

Tools take states (pending, assigned, active, callbacks, completed,
succeeded, failed) and filters: callable:GLOB, queue:GLOB, agent:GLOB,
uuid:UUID (uuid:THIS is this process's dispatcher), and the time
filters requested_start:, start:, end:, callbacks_completed: valued
sinceINTERVAL, beforeINTERVAL or both comma-separated (end:since1H,
start:since2H,before1H); since:1H is short for end:since1H.  The query
logic is zc.asyncui.queries (shared with the shell commands).
"""
import fnmatch

import transaction

from zc.asyncui import dispatcher as dispatcher_module
from zc.asyncui import errors
from zc.asyncui import history
from zc.asyncui import queries
from zc.asyncui import queueroot
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.monitor import commands
from zc.asyncui.monitor import encoding
from zc.asyncui.monitor.server import CommandError

FILTER_NAMES = queries.FILTERS + ('since',)
DISPLAYS = ('default', 'repr', 'details')
DETAILS = ('brief', 'default', 'verbose')


def _bounds(name, text, now):
    """(since, before) datetimes of ``sinceX``/``beforeX`` parts."""
    since = before = None
    for part in (text or '').split(','):
        low = part.lower()
        if low.startswith('since'):
            since = now - encoding.parse_interval(part[5:], name)
        elif low.startswith('before'):
            before = now - encoding.parse_interval(part[6:], name)
        else:
            raise CommandError(
                '%s:%s: write %s:sinceINTERVAL, %s:beforeINTERVAL or both'
                ' comma-separated, such as %s:since1H or'
                ' %s:since2H,before1H' % (name, text, name, name, name, name))
    return since, before


def _query(words, now, extra=()):
    """(states, filters, extra options) of ``words``."""
    states, options = encoding.parse_args(
        words, ('STATE',) * len(queries.STATES),
        FILTER_NAMES + tuple(extra))
    for state in states:
        if state not in queries.STATES:
            raise CommandError('unknown state %r; expected one of %s' % (
                state, ', '.join(queries.STATES)))
    if not states:
        raise CommandError('give at least one state: %s'
                           % ', '.join(queries.STATES))
    if len([s for s in states if s in queries.FINISHED]) > 1:
        raise CommandError('give at most one of completed, succeeded,'
                           ' failed')
    filters, rest = {}, {}
    for name, value in options.items():
        if name in extra:
            rest[name] = value
        elif name == 'since':
            if 'end' in options:
                raise CommandError('give since: or end:, not both')
            filters['end'] = (now - encoding.parse_interval(value, name),
                              None)
        elif name in queries.TIMES:
            filters[name] = _bounds(name, value, now)
        elif name == 'uuid' and value == 'THIS':
            d = dispatcher_module.get()
            if d is None:
                raise CommandError('uuid:THIS: no dispatcher runs in this'
                                   ' process; give its UUID')
            filters['uuid'] = str(d.UUID)
        else:
            filters[name] = value
    return states, filters, rest


def _count_option(rest):
    text = rest.get('count', '10')
    if not text.isdigit():
        raise CommandError('count:%s is not a whole number (0 for all)'
                           % text)
    return int(text) or None


def _display(rest):
    display = rest.get('display', 'default')
    if display not in DISPLAYS:
        raise CommandError('display:%s: expected one of %s' % (
            display, ', '.join(DISPLAYS)))
    return display


def _show(job, display, now):
    if display == 'repr':
        return repr(job)
    if display == 'details':
        return summary(job, now)
    return job.key


def summary(job, now):
    """The job summary object (zc.async's keys, plus key and parent: the
    key of the job whose callback this is, or null)."""
    result = job.result
    failed = isinstance(result, Failure)
    start, end = job.active_start, job.active_end
    begin = job.begin_after
    queue = job.queue
    agent = job.agent
    return {
        'key': job.key, 'repr': repr(job),
        'args': [repr(a) for a in getattr(job, 'args', ())],
        'kwargs': {k: repr(v) for k, v in
                   dict(getattr(job, 'kwargs', {}) or {}).items()},
        'begin after': begin, 'active start': start, 'active end': end,
        'initial callbacks end': job.callbacks_completed,
        'wait': None if begin is None else (start or now) - begin,
        'active': None if start is None else (end or now) - start,
        'status': queries.state_of(job), 'failed': failed,
        'result': (result.getTraceback('brief') if failed
                   else None if result is None else repr(result)),
        'quota names': list(getattr(job, 'quota_names', ()) or ()),
        'agent': getattr(agent, 'name', agent),
        'dispatcher': queries.dispatcher_of(job),
        'queue': getattr(queue, 'name', None),
        'callbacks': [c.key for c in (job.callbacks or ())],
        'parent': None if job.parent is None else job.parent.key,
    }


def _job_of(conn, words, tool):
    args, options = encoding.parse_args(words, ('KEY',))
    if not args:
        raise CommandError('asyncdb %s KEY: which job? e.g. asyncdb %s'
                           ' 0x3a1f' % (tool, tool))
    try:
        return queries.find_job(conn, args[0])
    except errors.JobNotFoundError as e:
        raise CommandError('%s; list some with "asyncdb jobs pending'
                           ' completed"' % e) from None


# -- the tools ------------------------------------------------------------

def _uuids(conn, now, *words):
    """UUIDs of the activated dispatchers

        asyncdb UUIDs
    """
    encoding.parse_args(words)
    found = set()
    for queue in _queues(conn):
        for uuid, record in queue.dispatchers.items():
            if record.activated is not None:
                found.add(str(uuid))
    return sorted(found)


def _queues(conn):
    queues = queueroot.getQueues(conn)
    return [queues[name] for name in sorted(queues)]


def _status(conn, now, *words):
    """Queues, their pending counts and their dispatchers

    For each queue: len (pending jobs) and its activated dispatchers with
    last ping, since ping, dead, ping intervals and agents (size, len,
    filter).  Optional queue:GLOB, agent:GLOB, uuid:UUID:

        asyncdb status
        asyncdb status queue:mail*
    """
    args, options = encoding.parse_args(words, (),
                                        ('queue', 'agent', 'uuid'))
    result = {}
    for queue in _queues(conn):
        if not fnmatch.fnmatchcase(queue.name, options.get('queue', '*')):
            continue
        dispatchers = {}
        for uuid, record in queue.dispatchers.items():
            if record.activated is None or (
                    'uuid' in options and str(uuid) != options['uuid']):
                continue
            agents = {name: {'size': agent.size, 'len': len(agent),
                             'filter': None if agent.filter is None
                             else repr(agent.filter)}
                      for name, agent in record.items()
                      if fnmatch.fnmatchcase(name,
                                             options.get('agent', '*'))}
            dispatchers[str(uuid)] = {
                'last ping': record.last_ping,
                'since ping': None if record.last_ping is None
                else now - record.last_ping,
                'dead': record.isDead(now),
                'ping interval': record.ping_interval,
                'ping death interval': record.ping_death_interval,
                'agents': agents}
        result[queue.name] = {'len': len(queue), 'dispatchers': dispatchers}
    return result


def _count(conn, now, *words):
    """How many jobs are in the STATES and match the filters

        asyncdb count pending
        asyncdb count failed since:1H
        asyncdb count completed queue:mail callable:send*
    """
    states, filters, rest = _query(words, now)
    return queries.count(conn, states, filters)


def _jobs(conn, now, *words):
    """The jobs in the STATES matching the filters

    display:default (keys), display:repr or display:details (summaries);
    count:N (default 10, 0 for all).  Pending first, then held, then
    finished, newest first:

        asyncdb jobs pending
        asyncdb jobs failed since:1H display:details count:0
    """
    states, filters, rest = _query(words, now, ('display', 'count'))
    display = _display(rest)
    return [_show(job, display, now) for job in
            queries.select(conn, states, filters, _count_option(rest))]


def _job(conn, now, *words):
    """The summary of one job

        asyncdb job 0x3a1f
    """
    return summary(_job_of(conn, words, 'job'), now)


def _traceback(conn, now, *words):
    """The traceback of a failed job (null if it did not fail)

    detail:brief, detail:default or detail:verbose:

        asyncdb traceback 0x3a1f
        asyncdb traceback 0x3a1f detail:verbose
    """
    positional = [w for w in words if ':' not in w]
    named = [w for w in words if ':' in w]
    args, options = encoding.parse_args(named, (), ('detail',))
    detail = options.get('detail', 'default')
    if detail not in DETAILS:
        raise CommandError('detail:%s: expected one of %s' % (
            detail, ', '.join(DETAILS)))
    job = _job_of(conn, positional, 'traceback')
    result = job.result
    if not isinstance(result, Failure):
        return None
    return result.getTraceback(detail)


def _nextpending(conn, now, *words):
    """The summary of the next pending job, or null

        asyncdb nextpending queue:mail
    """
    states, filters, rest = _query(('pending',) + words, now)
    for name in ('start', 'end', 'callbacks_completed'):
        if name in filters:
            raise CommandError('nextpending: %s: does not apply to'
                               ' pending jobs' % name)
    for job in queries.select(conn, ['pending'], filters, 1):
        return summary(job, now)
    return None


def _lastcompleted(conn, now, *words):
    """The summary of the most recently completed job, or null

        asyncdb lastcompleted callable:send*
    """
    states, filters, rest = _query(('completed',) + words, now)
    for job in queries.select(conn, ['completed'], filters, 1):
        return summary(job, now)
    return None


def _jobstats(conn, now, *words):
    """Counts by state and the longest and shortest waits and runs

    Counts pending, assigned, active, callbacks, succeeded, failed (of
    the STATES given); longest/shortest wait (start, or now, minus
    begin after) and active (end, or now, minus start), each null or
    [duration, job per display:]:

        asyncdb jobstats pending assigned active failed since:1H
    """
    states, filters, rest = _query(words, now, ('display',))
    display = _display(rest)
    counts = {name: 0 for name in ('pending', 'assigned', 'active',
                                   'callbacks', 'succeeded', 'failed')}
    extremes = {}

    def note(kind, value, job):
        if value is None:
            return
        longest, shortest = ('longest ' + kind), ('shortest ' + kind)
        if longest not in extremes or value > extremes[longest][0]:
            extremes[longest] = (value, job)
        if shortest not in extremes or value < extremes[shortest][0]:
            extremes[shortest] = (value, job)

    for job in queries.select(conn, states, filters):
        counts[queries.state_of(job)] += 1
        begin, start, end = job.begin_after, job.active_start, job.active_end
        if begin is not None:
            note('wait', (start or now) - begin, job)
        if start is not None:
            note('active', (end or now) - start, job)
    for kind in ('wait', 'active'):
        for which in ('longest ', 'shortest '):
            found = extremes.get(which + kind)
            counts[which + kind] = None if found is None else [
                found[0], _show(found[1], display, now)]
    return counts


def _dispatchers(conn, now, *words):
    """Every dispatcher recorded in the queues, with what it holds

    For each UUID: state (alive, dead: no ping within its ping death
    interval, or inactive), host, pid, activated, last ping, since ping,
    dead, held (how many jobs its agents hold) and per queue its state
    and agents (size, filter, jobs: [key, status] held, the ACTIVE ones
    of a dead dispatcher flagged "recovery retries it").  Optional
    uuid:UUID:

        asyncdb dispatchers
        asyncdb dispatchers uuid:6f1c4a...
    """
    args, options = encoding.parse_args(words, (), ('uuid',))
    result = {}
    for row in queries.dispatcher_rows(conn, now):
        uuid = row['uuid']
        if 'uuid' in options and uuid != options['uuid']:
            continue
        record = _record(conn, row)
        info = result.setdefault(uuid, {
            'state': 'inactive', 'host': record.host, 'pid': record.pid,
            'activated': record.activated, 'last ping': record.last_ping,
            'since ping': None, 'dead': False, 'held': 0, 'queues': {}})
        _merge_liveness(info, record, row['state'], now)
        info['held'] += len(row['jobs'])
        info['queues'][row['queue']] = {'state': row['state'], 'agents': {
            agent['name']: {
                'size': agent['size'], 'filter': agent['filter'],
                'jobs': [[job['key'], job['status']] + (
                    ['dead dispatcher: recovery retries it']
                    if job['dead_dispatcher'] else [])
                    for job in row['jobs'] if job['agent'] == agent['name']]}
            for agent in row['agents']}}
    return result


#: The liveness a dispatcher shows when its queues disagree: the best.
_LIVENESS_ORDER = ('inactive', 'dead', 'alive')


def _record(conn, row):
    return queueroot.getQueues(conn)[row['queue']].dispatchers[row['uuid']]


def _merge_liveness(info, record, state, now):
    if _LIVENESS_ORDER.index(state) > _LIVENESS_ORDER.index(info['state']):
        info['state'] = state
    info['dead'] = info['state'] == 'dead'
    for name, value in (('activated', record.activated),
                        ('last ping', record.last_ping)):
        if value is not None and (info[name] is None or value > info[name]):
            info[name] = value
    if info['last ping'] is not None:
        info['since ping'] = now - info['last ping']


def _counters(conn, now, *words):
    """The history's per-minute counters, summed over a time window

    put, started, succeeded, failed and retried, read from the history's counters (no job loaded), over whole minutes
    since:INTERVAL (default 1H) and before:INTERVAL ago; queue:NAME and
    callable:GLOB (the dotted name) narrow them.  The failure rate of
    the last hour is failed / (succeeded + failed):

        asyncdb counters
        asyncdb counters since:15M queue:mail
        asyncdb counters since:1D callable:myapp.*
    """
    args, options = encoding.parse_args(
        words, (), ('since', 'before', 'queue', 'callable'))
    since = now - encoding.parse_interval(options.get('since', '1H'),
                                          'since')
    before = None if 'before' not in options else (
        now - encoding.parse_interval(options['before'], 'before'))
    return history.counts(conn, since=since, before=before,
                          queue=options.get('queue'),
                          callable=options.get('callable'))


def _jobsummary(conn, now, *words):
    """How many jobs per state, in all and per callable (or by:GROUP)

    STATES are optional (default: all; completed counts as succeeded
    and failed); the filters as for count; by:callable (default),
    by:queue, by:agent, by:dispatcher or by:failure (the exception
    type).  Finished jobs are counted from the history's indexes:

        asyncdb jobsummary
        asyncdb jobsummary pending active failed since:1H by:queue
        asyncdb jobsummary failed since:1D by:failure
    """
    if not [w for w in words if ':' not in w]:
        words = queries.LIVE + ('completed',) + words
    states, filters, rest = _query(words, now, ('by',))
    return queries.summarize(conn, states, filters,
                             rest.get('by', 'callable'))


TOOLS = {'jobstats': _jobstats, 'dispatchers': _dispatchers,
         'jobsummary': _jobsummary, 'counters': _counters,
         'UUIDs': _uuids, 'status': _status, 'count': _count,
         'jobs': _jobs, 'job': _job, 'traceback': _traceback,
         'nextpending': _nextpending, 'lastcompleted': _lastcompleted}


def _help(tool_name=None):
    return commands.tool_help(
        'asyncdb', TOOLS, tool_name,
        ['States: ' + ', '.join(queries.STATES),
         'Filters: ' + ', '.join(n + ':' for n in FILTER_NAMES)])


def asyncdb(connection, tool_name='help', *args):
    """Look at the whole database: jobs, queues, dispatchers

    asyncdb help            the tools, states and filters
    asyncdb help TOOL       a tool's help
    asyncdb TOOL ARGS...    e.g. asyncdb count failed since:1H

    Reads a fresh connection; needs no dispatcher in this process.
    Structured answers are JSON.
    """
    if tool_name == 'help':
        if len(args) > 1:
            raise CommandError('asyncdb help [TOOL]: one tool at most')
        return encoding.write(connection, _help(*args))
    tool = TOOLS.get(tool_name)
    if tool is None:
        raise CommandError('unknown asyncdb tool %r; try "asyncdb help"'
                           % tool_name)
    db = commands._database(connection)
    tm = transaction.TransactionManager()
    primary, conn = queueroot.openConnection(db, tm)
    try:
        try:
            value = tool(conn, utils.now(), *args)
        except errors.ConfigurationError as e:
            raise CommandError(str(e)) from None
        encoding.write(connection, value)
    finally:
        tm.abort()
        primary.close()
