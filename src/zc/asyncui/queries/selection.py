"""Choosing and counting jobs across the whole database: zc.async's
asyncdb grammar of states and filters, shared by the ``asyncdb`` monitor
command, ``zc-asyncui jobs`` and the job listings of the web pages.
Pending and held jobs are read from the queues and agents; finished jobs
from zc.asyncui.history's indexes.

States: pending, assigned, active, callbacks, completed, succeeded,
failed.  Filters: callable (glob on the dotted name; without a dot, on
its last segment), queue, agent (globs), uuid (a dispatcher's UUID),
and the time filters requested_start, start, end, callbacks_completed
whose value is a (since, before) pair of aware datetimes or None.

Never commits, never writes.  Layer: configuration (part of
``zc.asyncui.queries``, which re-exports every public name).
"""
import fnmatch
import itertools

from zc.asyncui import errors
from zc.asyncui import filters as filters_module
from zc.asyncui import history
from zc.asyncui import pins
from zc.asyncui import queueroot
from zc.asyncui.failure import Failure
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
