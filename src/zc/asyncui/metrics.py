"""zc.asyncui's metrics in the Prometheus text exposition format (0.0.4),
read from one database connection: what ``/++async++/@@metrics`` serves.

::

    families = collect(conn)        # a list of Family, plain data
    text = render(families)         # the exposition text

The job counters are the history's running totals (zc.asyncui.history:
one per queue and callable, never pruned, so they only go up), counted
when a job finishes: a job is counted as put, started, ... when the
history records it, a poll after it finished.  ``dead`` counts the jobs
whose policy gave up (``history.gave_up``).  The
callable label is bounded: each dispatcher's history names at most
``history.TOTAL_CALLABLES`` callables, the first it saw; the others are
counted under ``callable="other"``.  Queue depth and latency are read
from the queues now; dispatcher liveness from their records.  See
docs/operations.rst ("Metrics") for every name.

Layer: configuration (imports the model).
"""
import math

from zc.asyncui import history
from zc.asyncui import queries
from zc.asyncui import queueroot
from zc.asyncui import utils

#: The Content-Type of the text format.
CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
PREFIX = 'zc_asyncui_'

#: The job counters: the history's TOTALS name -> help text.
JOB_COUNTERS = {
    'put': 'Jobs put (counted when they finish).',
    'started': 'Attempts started (a retried job starts again).',
    'succeeded': 'Jobs that finished with a result.',
    'failed': 'Jobs that finished with a failure.',
    'retried': 'Attempts after the first (retries).',
    'dead': 'Jobs that failed after retrying or an interruption (their'
            ' retry policy gave up).',
}


class Family:
    """One metric family: ``name`` (without the prefix), ``kind``
    ('counter', 'gauge' or 'histogram'), ``help`` and ``samples``, a list
    of (name suffix, labels dict, value)."""

    def __init__(self, name, kind, help):
        self.name, self.kind, self.help = PREFIX + name, kind, help
        self.samples = []

    def add(self, value, suffix='', **labels):
        self.samples.append((suffix, labels, value))
        return self


# -- the text format ------------------------------------------------------

def escape_label(value):
    """A label value as the text format writes it between quotes."""
    return str(value).replace('\\', r'\\').replace('\n', r'\n').replace(
        '"', r'\"')


def escape_help(text):
    return text.replace('\\', r'\\').replace('\n', r'\n')


def format_value(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    return repr(float(value))


def _sample_line(name, labels, value):
    if labels:
        name += '{%s}' % ','.join('%s="%s"' % (k, escape_label(v))
                                  for k, v in labels.items())
    return '%s %s' % (name, format_value(value))


def render(families):
    """The exposition text of ``families``: HELP and TYPE, then the
    samples, for each family; ends with a newline."""
    lines = []
    for family in families:
        lines.append('# HELP %s %s' % (family.name, escape_help(family.help)))
        lines.append('# TYPE %s %s' % (family.name, family.kind))
        lines.extend(_sample_line(family.name + suffix, labels, value)
                     for suffix, labels, value in family.samples)
    return '\n'.join(lines) + '\n'


# -- collecting ---------------------------------------------------------------

def collect(conn, now=None):
    """Every family, read through ``conn`` (a ZODB connection of a
    database with installed queues, or an object stored in it, such as
    the Queues mapping) at ``now``."""
    conn = getattr(conn, '_p_jar', None) or conn
    now = now or utils.now()
    queues = queueroot.getQueues(conn)
    return (job_counters(conn) + [job_durations(conn)] +
            queue_gauges(queues, now) + dispatcher_gauges(queues, now) +
            history_gauges(conn))


def history_gauges(conn):
    """The history's size, and the jobs noted for a poll to record."""
    found = history.get(conn)
    return [
        Family('history_jobs', 'gauge',
               'Finished jobs the history keeps now.').add(
                   0 if found is None else len(found)),
        Family('history_noted_jobs', 'gauge',
               'Jobs cancelled before they started that wait for a'
               " dispatcher's poll to record them.").add(
                   0 if found is None else found.notedCount()),
    ]


def job_counters(conn):
    """One counter family per history total, by queue and callable."""
    totals = sorted(history.totals(conn).items())
    families = []
    for name in history.TOTALS:
        family = Family('jobs_%s_total' % name, 'counter',
                        JOB_COUNTERS[name])
        for (queue, callable), values in totals:
            family.add(values[name], queue=queue, callable=callable)
        families.append(family)
    return families


def job_durations(conn):
    """The histogram of job durations (the last attempt's), by queue."""
    family = Family('job_duration_seconds', 'histogram',
                    "How long jobs ran (their last attempt), by queue.")
    for queue, (counts, seconds) in sorted(history.durations(conn).items()):
        cumulative = 0
        for bound, count in zip(history.DURATION_BUCKETS + (math.inf,),
                                counts):
            cumulative += count
            family.add(cumulative, '_bucket', queue=queue,
                       le=format_value(float(bound)))
        family.add(float(seconds), '_sum', queue=queue)
        family.add(cumulative, '_count', queue=queue)
    return family


def queue_gauges(queues, now):
    families = [
        Family('queue_pending_jobs', 'gauge',
               'Jobs waiting in the queue that could start now.'),
        Family('queue_scheduled_jobs', 'gauge',
               'Jobs waiting in the queue for their begin_after time.'),
        Family('queue_active_jobs', 'gauge',
               "Jobs running in the dispatchers' agents."),
        Family('queue_latency_seconds', 'gauge',
               'Age of the oldest job that could start now (0: none'
               ' waits).'),
    ]
    for name in sorted(queues):
        # The counts of zc-asyncui status and the overview, read from the
        # queue's keys: no pending job is loaded.
        row = queries.queue_row(name, queues[name], now)
        values = (row['pending'], row['scheduled'], row['active'],
                  row['latency_seconds'] or 0.0)
        for family, value in zip(families, values):
            family.add(value, queue=name)
    return families


def dispatcher_gauges(queues, now):
    """Liveness of each activated dispatcher (1 alive, 0 dead), its last
    ping, and the number of dispatchers per queue and state."""
    up = Family('dispatcher_up', 'gauge',
                '1 if the dispatcher pings in time, 0 if it is silent'
                ' (dead); stopped dispatchers are not listed.')
    ping = Family('dispatcher_last_ping_timestamp_seconds', 'gauge',
                  "The dispatcher's last ping, in seconds since the epoch.")
    states = Family('dispatchers', 'gauge',
                    'Dispatchers known to the queue, by state (alive,'
                    ' dead, inactive).')
    for name in sorted(queues):
        counted = dict.fromkeys(('alive', 'dead', 'inactive'), 0)
        for uuid, record in sorted(queues[name].dispatchers.items()):
            state = record.livenessState(now)
            counted[state] += 1
            if state == 'inactive':
                continue
            labels = dict(queue=name, dispatcher=str(uuid),
                          host=record.host or '')
            up.add(int(state == 'alive'), **labels)
            if record.last_ping is not None:
                ping.add(record.last_ping.timestamp(), queue=name,
                         dispatcher=str(uuid))
        for state, count in counted.items():
            states.add(count, queue=name, state=state)
    return [up, ping, states]
