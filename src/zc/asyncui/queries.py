"""Queries over the whole database, shared by the ``asyncdb`` monitor
command, the shell commands (``zc-asyncui job``, ``status``) and the web
pages: jobs by state and filters (zc.async's asyncdb grammar), one job's
detail, the queues' counts and latency, and the dispatchers.  Finished
jobs come from zc.asyncui.history's indexes.

Reading functions never commit and never write: call them in a
transaction you abort.  Those that describe (``job_detail``,
``queue_summary``, ``dispatcher_rows``, ``status``) return plain data,
ready for ``json.dumps``: dicts, lists, strings, numbers, None; times are
ISO 8601 strings in UTC (``2026-12-01T21:34:19.123456+00:00``), durations
float seconds.  A front-end formats them; it never needs the engine's
objects.

States: pending, assigned, active, callbacks, completed, succeeded,
failed.  Filters: callable (glob on the dotted name; without a dot, on
its last segment), queue, agent (globs), uuid (a dispatcher's UUID),
and the time filters requested_start, start, end, callbacks_completed
whose value is a (since, before) pair of aware datetimes or None.
"""
import fnmatch
import importlib
import itertools
import reprlib

import ZODB.POSException

from zc.asyncui import errors
from zc.asyncui import filters as filters_module
from zc.asyncui import history
from zc.asyncui import pins
from zc.asyncui import queueroot
from zc.asyncui import utils
from zc.asyncui.failure import Failure
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus

LIVE = ('pending', 'assigned', 'active', 'callbacks')
FINISHED = ('completed', 'succeeded', 'failed')
STATES = LIVE + FINISHED
FILTERS = ('callable', 'queue', 'agent', 'uuid', 'requested_start',
           'start', 'end', 'callbacks_completed')
TIMES = {'requested_start': 'begin_after', 'start': 'active_start',
         'end': 'active_end', 'callbacks_completed': 'callbacks_completed'}


def check(states, filters):
    """Raise ConfigurationError for unknown or conflicting states and
    unknown filters."""
    if not states:
        raise errors.ConfigurationError(
            'give at least one state: %s' % ', '.join(STATES))
    for state in states:
        if state not in STATES:
            raise errors.ConfigurationError(
                'unknown state %r; expected one of %s' % (
                    state, ', '.join(STATES)))
    if len([s for s in states if s in FINISHED]) > 1:
        raise errors.ConfigurationError(
            'give at most one of completed, succeeded, failed')
    for name in filters:
        if name not in FILTERS:
            raise errors.ConfigurationError(
                'unknown filter %r; expected one of %s' % (
                    name, ', '.join(FILTERS)))


def _glob_match(pattern, name):
    if pattern is None:
        return True
    return fnmatch.fnmatchcase(name or '', pattern)


def _callable_match(pattern, job):
    if pattern is None:
        return True
    name = filters_module.callable_name(job) or ''
    if '.' not in pattern:
        name = name.rsplit('.', 1)[-1]
    return fnmatch.fnmatchcase(name, pattern)


def _in_range(value, bounds):
    if bounds is None:
        return True
    since, before = bounds
    if value is None:
        return False
    return ((since is None or value > since) and
            (before is None or value < before))


def agent_of(job, holder=None):
    """The name of the agent holding or running ``job``, or None."""
    if holder is not None:
        return holder
    agent = job.agent
    if agent is None:
        attempts = getattr(job, '_attempts', ())
        return attempts[-1][3] if attempts else None
    return getattr(agent, 'name', agent)


def _matches(job, filters, holder=None):
    if not filters:
        return True  # do not load the job
    queue = getattr(job.queue, 'name', '')
    agent_name = agent_of(job, holder)
    if not _glob_match(filters.get('queue'), queue):
        return False
    if 'agent' in filters and (agent_name is None or not _glob_match(
            filters['agent'], str(agent_name))):
        return False
    if 'uuid' in filters and str(dispatcher_of(job) or '') != str(
            filters['uuid']):
        return False
    if not _callable_match(filters.get('callable'), job):
        return False
    return all(_in_range(getattr(job, TIMES[name]), filters[name])
               for name in TIMES if name in filters)


def _state(job):
    status = job.status
    if status == JobStatus.COMPLETED:
        return 'failed' if isinstance(job.result, Failure) else 'succeeded'
    return str(status).lower()


def _live(conn, states, filters):
    queues = queueroot.getQueues(conn)
    chosen = [queues[name] for name in sorted(queues)]
    if 'pending' in states:
        by_agents = 'agent' in filters or 'uuid' in filters
        rest = {k: v for k, v in filters.items()
                if k not in ('agent', 'uuid')}
        for queue in chosen:
            if not by_agents:
                yield from ((job, None, filters) for job in queue)
                continue
            # A pending job matches agent:/uuid: when one of the matching
            # agents would accept it (zc.async's meaning).
            accepts = [pins.claim_filter(agent.filter, queue, record.UUID)
                       for uuid, record in queue.dispatchers.items()
                       if str(uuid) == str(filters.get('uuid', uuid))
                       for name, agent in record.items()
                       if _glob_match(filters.get('agent'), name)]
            if not accepts:
                continue
            yield from ((job, None, rest) for job in queue
                        if any(a is None or a(job) for a in accepts))
    wanted = set(states) - {'pending'}
    if wanted:
        for queue in chosen:
            for record in queue.dispatchers.values():
                for name, agent in record.items():
                    yield from ((job, name, filters) for job in agent
                                if _state(job) in wanted)


def _finished(conn, state, filters):
    for job, fields, rest in _history_entries(conn, state, filters):
        yield job, None, rest


def _history_entries(conn, state, filters):
    # (job, its history index fields, the filters left to check) of the
    # finished jobs in ``state``, newest first.
    since = before = None
    if 'end' in filters:
        since, before = filters['end']
    queue = filters.get('queue')
    exact_queue = queue if queue is not None and not any(
        c in queue for c in '*?[') else None
    status = None if state == 'completed' else state
    # What the indexes answered need not be checked again (nor the
    # job loaded to check it).
    rest = {name: value for name, value in filters.items()
            if name != 'end' and not (name == 'queue' and exact_queue)}
    for key, shard in history._iter(conn, status, exact_queue, None, since,
                                    before, None, None):
        job, fields = shard.entries[key]
        yield job, fields, rest


def select(conn, states, filters=None, count=None):
    """The jobs in ``states`` matching ``filters`` (a dict, see the
    module docstring): pending, then held, then finished newest first;
    at most ``count`` (None: all)."""
    filters = dict(filters or {})
    check(states, filters)
    live = [s for s in states if s in LIVE]
    finished = [s for s in states if s in FINISHED]
    streams = []
    if live:
        streams.append(_live(conn, live, filters))
    if finished:
        streams.append(_finished(conn, finished[0], filters))
    seen = set()
    if not live:   # the history holds each job once: no need to dedupe
        return itertools.islice((job for job, holder, rest in streams[0]
                                 if _matches(job, rest, holder)), count)
    found = (job for job, holder, rest in itertools.chain(*streams)
             if _matches(job, rest, holder))
    unique = (seen.add(job.key) or job for job in found
              if job.key not in seen)
    return itertools.islice(unique, count)


def count(conn, states, filters=None):
    """How many jobs ``select`` would give."""
    return sum(1 for _ in select(conn, states, filters))


def dispatcher_of(job):
    """The UUID of the dispatcher of the job's last attempt, or None."""
    attempts = getattr(job, '_attempts', ())
    return attempts[-1][2] if attempts else None


def state_of(job):
    """The lower-case state word of a job (incl. new, succeeded,
    failed)."""
    return _state(job)


# -- one job ------------------------------------------------------------------

#: The job annotation that keeps a callable's name as the user typed it
#: (``zc-asyncui put os.getpid``), shown instead of ``posix.getpid``.
NAME_ANNOTATION = 'zc.asyncui.cli.name'
#: Modules whose functions live in an implementation module.
_PUBLIC_MODULES = {'posix': 'os', 'nt': 'os', 'posixpath': 'os.path',
                   'ntpath': 'os.path'}
_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


def find_job(conn, key):
    """The job of ``key`` (``0x3a1f`` or decimal) in ``conn``'s database,
    whatever its state: pending, held, or finished -- the history keeps
    finished jobs (and so their keys) for its retention, after their
    agent forgot them.  ConfigurationError for a key that is not one,
    JobNotFoundError for a key that names no job."""
    try:
        oid = utils.key_to_oid(key)
    except ValueError as e:
        raise errors.ConfigurationError(str(e)) from None
    try:
        job = conn.get(oid)
        job._p_activate()
    except (ZODB.POSException.POSKeyError, KeyError):
        raise errors.JobNotFoundError(
            'no job %s in this database (never put, packed away, or a key'
            ' of another database)' % key, key) from None
    if not isinstance(job, Job):
        raise errors.JobNotFoundError('%s is not a job but a %s' % (
            key, type(job).__name__), key)
    return job


def call_name(job):
    """The dotted name of the job's callable, as a user would write it:
    the name it was put with, else the public module that offers it
    (``os.getpid``, not ``posix.getpid``)."""
    name = job.annotations.get(NAME_ANNOTATION)
    if name is not None:
        return name
    func = job.callable
    module = getattr(func, '__module__', None)
    qualname = getattr(func, '__qualname__', None)
    if qualname is None or isinstance(func, Job):
        return repr(func)
    if not module or module == 'builtins':
        return qualname
    return '%s.%s' % (_public_module(module, qualname, func), qualname)


def _public_module(module, qualname, func):
    """``module``, or the public module that offers the same function
    (``operator`` for ``_operator``, ``os`` for ``posix``)."""
    public = _PUBLIC_MODULES.get(module, module.lstrip('_'))
    if public == module or not public:
        return module
    try:
        offered = importlib.import_module(public)
        for attr in qualname.split('.'):
            offered = getattr(offered, attr)
    except Exception:  # not importable here, or not offered there
        return module
    return public if offered is func else module


def describe_call(job):
    """``name(args)`` for the job's call (reprs shortened), or the job's
    repr when its callable or arguments cannot be loaded here."""
    try:
        args = [_short.repr(a) for a in job.args] + [
            '%s=%s' % (k, _short.repr(v)) for k, v in job.kwargs.items()]
        return '%s(%s)' % (call_name(job), ', '.join(args))
    except Exception:  # a callable or argument that cannot be loaded here
        return repr(job)


def iso(when):
    """An aware datetime as ISO 8601 text, None as None."""
    return None if when is None else when.isoformat()


def _type_name(cls):
    if isinstance(cls, str):
        return cls
    return '%s.%s' % (getattr(cls, '__module__', '?'),
                      getattr(cls, '__qualname__', cls))


def plain(value):
    """A JSON-friendly rendering of an argument, result or annotation:
    itself when JSON holds it, else its repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return repr(value)


def job_detail(job):
    """Every field of ``job`` as plain data:

    key, status (JobStatus value, 'COMPLETED'), state (asyncdb's word:
    pending ... succeeded, failed), queue (name or None), callable, call
    (``name(args)``), args, kwargs, priority, the times put_time,
    begin_after, active_start, active_end, callbacks_completed,
    cancel_requested, attempts (dicts: start, end, dispatcher, agent,
    outcome), result (None when failed), failure (None, or type,
    message, traceback), parent (the key of the job whose callback this
    is, or None), callbacks (dicts: key, status, call), annotations.
    """
    result = job.result
    failure = isinstance(result, Failure)
    try:
        args = [plain(a) for a in job.args]
        kwargs = {k: plain(v) for k, v in job.kwargs.items()}
    except Exception as e:  # cannot be loaded here
        args, kwargs = '<cannot load: %s>' % e, {}
    parent = job.parent
    return {
        'key': job.key,
        'status': job.status.value,
        'state': state_of(job),
        'queue': getattr(job.queue, 'name', None),
        'callable': call_name(job),
        'call': describe_call(job),
        'args': args,
        'kwargs': kwargs,
        'priority': job.priority,
        'put_time': iso(job.put_time),
        'begin_after': iso(job.begin_after),
        'active_start': iso(job.active_start),
        'active_end': iso(job.active_end),
        'callbacks_completed': iso(job.callbacks_completed),
        'cancel_requested': bool(job.cancel_requested),
        'attempts': [{name: (iso(v) if name in ('start', 'end')
                             else plain(v)) for name, v in a.items()}
                     for a in job.attempts],
        'result': None if failure else plain(result),
        'failure': (None if not failure else {
            'type': _type_name(result.type),
            'message': result.getErrorMessage(),
            'traceback': result.getTraceback()}),
        'parent': None if parent is None else parent.key,
        'callbacks': [{'key': cb.key, 'status': cb.status.value,
                       'call': describe_call(cb)}
                      for cb in job.callbacks],
        'annotations': {str(k): plain(v)
                        for k, v in job.annotations.items()},
    }


# -- queues and dispatchers -------------------------------------------------

def _seconds(delta):
    return round(max(0.0, delta.total_seconds()), 3)


def queue_row(name, queue, now):
    """One queue as plain data: name, pending (due now), scheduled
    (begin_after in the future), active (held by agents and running),
    held (held by agents, any status), dispatchers (how many are
    recorded), latency_seconds (how long the oldest due job has waited
    since it could start; None when none is due), paused (True while no
    job is claimed from it: IQueue.pause)."""
    # Counted from the queue's keys (Queue.countScheduled, oldestDue):
    # no pending job is loaded, so this stays cheap with 100,000 of them.
    scheduled = queue.countScheduled(now)
    due = len(queue) - scheduled
    oldest = queue.oldestDue(now)
    held = [job for record in queue.dispatchers.values()
            for agent in record.values() for job in agent]
    return {'name': name, 'pending': due, 'scheduled': scheduled,
            'active': sum(1 for job in held
                          if job.status == JobStatus.ACTIVE),
            'held': len(held), 'dispatchers': len(queue.dispatchers),
            'latency_seconds': (None if oldest is None
                                else _seconds(now - oldest)),
            'paused': bool(queue.paused)}


def queue_summary(conn, now=None):
    """``queue_row`` of every queue, by name.  NotInstalledError when
    the database has no queues."""
    now = now or utils.now()
    queues = queueroot.getQueues(conn)
    return [queue_row(name, queues[name], now) for name in sorted(queues)]


def dispatcher_row(queue_name, record, now):
    """One dispatcher's record in one queue as plain data: uuid, queue,
    state ('alive', 'dead': no ping within its ping death interval, or
    'inactive'), host, pid, activated, last_ping, since_ping_seconds,
    ping_interval_seconds, ping_death_interval_seconds, agents (dicts:
    name, size, held, filter: its repr or None) and jobs (what its
    agents hold, dicts: key, status, agent, call, dead_dispatcher: True
    for an ACTIVE job of a dead dispatcher, which recovery will retry
    when a live dispatcher notices)."""
    state = record.livenessState(now)
    held, agents = [], []
    for agent_name, agent in sorted(record.items()):
        jobs = list(agent)
        agents.append({'name': agent_name, 'size': agent.size,
                       'held': len(jobs), 'filter': None
                       if agent.filter is None else repr(agent.filter)})
        for job in jobs:
            status = job.status.value
            held.append({'key': job.key, 'status': status,
                         'agent': agent_name, 'call': describe_call(job),
                         'dead_dispatcher': state == 'dead'
                         and status == JobStatus.ACTIVE.value})
    last = record.last_ping
    return {'uuid': str(record.UUID), 'queue': queue_name, 'state': state,
            'host': record.host, 'pid': record.pid,
            'activated': iso(record.activated), 'last_ping': iso(last),
            'since_ping_seconds': None if last is None
            else _seconds(now - last),
            'ping_interval_seconds': record.ping_interval,
            'ping_death_interval_seconds': record.ping_death_interval,
            'agents': agents, 'jobs': held}


def dispatcher_rows(conn, now=None):
    """``dispatcher_row`` of every dispatcher recorded in every queue
    (activated or not), by queue name then UUID: a dispatcher serving
    three queues has three rows."""
    now = now or utils.now()
    queues = queueroot.getQueues(conn)
    return [dispatcher_row(name, record, now)
            for name in sorted(queues)
            for uuid, record in sorted(queues[name].dispatchers.items())]


def history_summary(conn):
    """The history of finished jobs as plain data: jobs (how many it
    keeps now), max_count, max_age_seconds (its retention), noted (jobs
    cancelled before they started that wait for a poll to record them);
    None when the database has no history.  Reads no job."""
    found = history.get(conn)
    if found is None:
        return None
    return {'jobs': len(found), 'max_count': found.max_count,
            'max_age_seconds': found.max_age.total_seconds(),
            'noted': found.notedCount()}


def status(conn, now=None):
    """{'now': ISO time, 'queues': queue_summary, 'dispatchers':
    dispatcher_rows, 'history': history_summary}: what ``zc-asyncui
    status`` and the overview page show."""
    now = now or utils.now()
    return {'now': iso(now), 'queues': queue_summary(conn, now),
            'dispatchers': dispatcher_rows(conn, now),
            'history': history_summary(conn)}


# -- a summary by state ----------------------------------------------------

#: What ``summarize`` can group by.
GROUPS = ('callable', 'queue', 'agent', 'dispatcher', 'failure')
#: The group of a job that has none (no agent yet, no failure).
NO_GROUP = '(none)'


def summarize(conn, states=None, filters=None, by='callable'):
    """How many jobs in ``states`` (default: every state) matching
    ``filters`` there are, per state, in all and per ``by`` group (one
    of GROUPS): {'by': by, 'total': {state: n}, 'groups': {group:
    {state: n}}}.  'completed' counts as 'succeeded' and 'failed'.
    Finished jobs are counted from the history's index entries, without
    loading the jobs, unless a filter or group needs them (agent,
    dispatcher, start: ...)."""
    states = list(states or LIVE + ('completed',))
    filters = dict(filters or {})
    check(states, filters)
    if by not in GROUPS:
        raise errors.ConfigurationError('cannot group by %r; expected one'
                                        ' of %s' % (by, ', '.join(GROUPS)))
    total = {}
    for state in states:
        for word in (('succeeded', 'failed') if state == 'completed'
                     else (state,)):
            total[word] = 0
    groups = {}

    def add(state, group):
        total[state] += 1
        row = groups.setdefault(NO_GROUP if group is None else group, {})
        row[state] = row.get(state, 0) + 1

    live = [s for s in states if s in LIVE]
    if live:
        for job, holder, rest in _live(conn, live, filters):
            if _matches(job, rest, holder):
                add(_state(job), _group_of(job, holder, by))
    finished = [s for s in states if s in FINISHED]
    if finished:
        for job, fields in _finished_entries(conn, finished[0], filters,
                                             by):
            add(fields['status'], fields.get(_FIELDS.get(by)) if job is
                None else _group_of(job, None, by))
    return {'by': by, 'total': total, 'groups': groups}


#: The history index field of a group.
_FIELDS = {'callable': 'callable', 'queue': 'queue',
           'failure': 'failure_type'}


def _finished_entries(conn, state, filters, by):
    # (job or None, index fields) of the finished jobs in ``state``
    # matching ``filters``; the job only when a filter or ``by`` needs it.
    for job, fields, rest in _history_entries(conn, state, filters):
        if not rest and by in _FIELDS:
            yield None, fields
        elif _matches(job, rest):
            yield job, {'status': _state(job)}


def _group_of(job, holder, by):
    if by == 'callable':
        return filters_module.callable_name(job)
    if by == 'queue':
        return getattr(job.queue, 'name', None)
    if by == 'agent':
        name = agent_of(job, holder)
        return None if name is None else str(name)
    if by == 'dispatcher':
        uuid = dispatcher_of(job)
        return None if uuid is None else str(uuid)
    result = job.result
    return result.type_name if isinstance(result, Failure) else None
