"""Periodic jobs: ``schedule(callable, *args, every=..., cron=...)``.

A ``Schedule`` is a persistent object, kept by name in
``root['zc.asyncui.schedules']``, that always has at most one pending
job: the next run, put with ``begin_after`` at the next period.  The run
after it is put *in the transaction that starts this one*:
``zc.asyncui.lifecycle.start`` calls the job's ``_on_start`` hook, which
is the schedule.  Only one dispatcher can start a given job (the claim
removes it from its queue; two claims conflict), so exactly one run
happens per period whatever the number of dispatchers and processes,
and no separate "beat" process is needed.  If that start transaction
aborts (a conflict, a process killed), the next run was never put
either: the retry or the recovery of this run puts it.

Periods missed while no dispatcher ran are not made up: the late run
happens once, and the next one is the first period after it starts.
Cron schedules are in UTC (zc.asyncui.cron).

Each run shows its schedule in ``job.annotations[ANNOTATION]``: the
schedule's name, its ``every`` or ``cron``, the ``period`` it stands for
and, once it started, the ``next_run`` time and ``next_job`` key.
"""
import datetime
import logging

import BTrees.OOBTree
import persistent
import transaction.interfaces
import zope.interface

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import local
from zc.asyncui import utils
from zc.asyncui.cron import Cron
from zc.asyncui.job import Job

logger = logging.getLogger(__name__)

#: The key of the schedules mapping in the database root.
ROOT_KEY = 'zc.asyncui.schedules'
#: The annotation of every run job.
ANNOTATION = 'zc.asyncui.periodic'


def schedule(callable, *args, every=None, cron=None, queue=None, name=None):
    """Run ``callable(*args)`` every ``every`` (a timedelta) or at the
    times of ``cron`` (a five-field string), in ``queue`` (default: the
    queue of the running job).  ``name`` names the schedule; scheduling
    a name again replaces that schedule (its pending run is taken out).
    The first run is the first period from now.  Returns the Schedule;
    nothing is committed."""
    queue = _queue_or_current(queue)
    if name is not None and (not isinstance(name, str) or not name):
        raise errors.ConfigurationError(
            'a schedule name is a non-empty string, not %r' % (name,))
    spec = _check_spec(every, cron)
    template = Job(callable, *args)  # checks that they can be stored
    schedules = getSchedules(queue._p_jar, create=True)
    new = Schedule(template, spec, queue)
    queue._p_jar.add(new)
    new.name = name or 'schedule-%s' % utils.oid_key(new._p_oid)
    old = schedules.get(new.name)
    if old is not None:
        old._stop()
    schedules[new.name] = new
    new._put_next(utils.now())
    return new


def getSchedules(connection, create=False):
    """The mapping of schedules by name (an OOBTree) of the database of
    ``connection``; None if none was ever made (unless ``create``)."""
    root = connection.root()
    schedules = root.get(ROOT_KEY)
    if schedules is None and create:
        schedules = root[ROOT_KEY] = BTrees.OOBTree.OOBTree()
    return schedules


def getSchedule(connection, name):
    """The schedule named ``name``; raises LookupError naming those that
    exist."""
    schedules = getSchedules(connection) or {}
    try:
        return schedules[name]
    except KeyError:
        raise LookupError('no schedule named %r; schedules: %s'
                          % (name, ', '.join(map(repr, schedules)) or 'none')
                          ) from None


def removeSchedule(connection, name):
    """Remove the schedule ``name`` and take its pending run out of its
    queue (a run already claimed or running finishes, with no next)."""
    schedule = getSchedule(connection, name)
    schedule._stop()
    del getSchedules(connection)[name]
    return schedule


def _queue_or_current(queue):
    if queue is None:
        queue = local.getQueue()
        if queue is None:
            raise errors.ConfigurationError(
                'schedule() needs queue=: outside a running job there is no'
                ' current queue. Pass zc.asyncui.getQueue(connection).')
    if getattr(queue, '_p_jar', None) is None or not hasattr(queue, 'put'):
        raise errors.ConfigurationError(
            'schedule(queue=%r): pass a queue stored in the database, such'
            ' as zc.asyncui.getQueue(connection)' % (queue,))
    return queue


def _check_spec(every, cron):
    """A timedelta or a Cron, from exactly one of ``every`` and ``cron``."""
    if (every is None) == (cron is None):
        raise errors.ConfigurationError(
            'schedule() needs exactly one of every= (a timedelta, e.g.'
            ' every=datetime.timedelta(minutes=5)) and cron= (e.g.'
            ' cron="*/5 * * * *"); got every=%r, cron=%r' % (every, cron))
    if cron is not None:
        try:
            return Cron(cron)
        except ValueError as e:
            raise errors.ConfigurationError(str(e)) from None
    if not isinstance(every, datetime.timedelta) or \
            every < datetime.timedelta(seconds=1):
        raise errors.ConfigurationError(
            'every= must be a datetime.timedelta of at least one second,'
            ' not %r' % (every,))
    return every


@zope.interface.implementer(interfaces.ISchedule)
class Schedule(persistent.Persistent):
    """See ISchedule.  A periodic job: a template job, a period
    (``every`` or ``cron``), a queue, and the pending run (``job``).

    Changed only in the transactions that start or cancel its runs, or
    that pause, resume, replace or remove it, so that two dispatchers
    starting two runs of one schedule conflict on it (and one retries).
    """

    name = None
    paused = False
    removed = False
    job = None
    last_job = None
    runs = 0

    def __init__(self, template, spec, queue):
        self.template = template
        self.spec = spec
        self.queue = queue

    @property
    def every(self):
        return self.spec if isinstance(self.spec, datetime.timedelta) \
            else None

    @property
    def cron(self):
        return self.spec.expression if isinstance(self.spec, Cron) else None

    @property
    def next_run(self):
        """When the pending run may start, or None (paused, removed)."""
        return None if self.job is None else self.job.begin_after

    def next_after(self, after, period=None):
        """The first period strictly after ``after``; for ``every``,
        periods are ``period`` (the previous one) plus multiples of it."""
        if isinstance(self.spec, Cron):
            return self.spec.next_after(after)
        if period is None:
            return after + self.spec
        late = max((after - period) // self.spec, 0)  # periods missed
        return period + self.spec * (late + 1)

    def describe(self):
        """The annotation's common part."""
        return {'schedule': self.name, 'every': str(self.every)
                if self.every is not None else None, 'cron': self.cron}

    def _put_next(self, now, period=None):
        begin = self.next_after(now, period)
        job = Job(self.template.callable, *self.template.args)
        job._on_start = self
        job.annotations[ANNOTATION] = dict(self.describe(),
                                           period=begin.isoformat())
        self.queue.put(job, begin_after=begin)
        self.job = job
        return job

    def __call__(self, job):
        """The start hook (zc.asyncui.lifecycle): ``job`` starts or was
        cancelled.  Puts the next run if ``job`` is the pending one;
        nothing for a retry's start or a stale run."""
        if job is not self.job:
            return
        self.runs += 1
        self.last_job = job
        self.job = None
        info = dict(job.annotations.get(ANNOTATION, {}))
        if not (self.paused or self.removed):
            info.update(self._put_next_after(job))
        job.annotations[ANNOTATION] = info

    def _put_next_after(self, job):
        """Put the run after ``job``: the annotation it adds to ``job``.
        Only a transient error (a conflict) propagates, for the start to
        be retried: anything else would keep this run from ever starting.
        """
        try:
            nxt = self._put_next(utils.now(), job.begin_after)
        except transaction.interfaces.TransientError:
            raise
        except Exception as e:
            self.job = None
            logger.critical(
                'schedule %r: putting the run after job %s failed, so the'
                ' schedule has no next run; fix the cause and call'
                ' resume() on it (or schedule() it again)', self.name,
                job.key, exc_info=True)
            return {'error': '%s: %s' % (type(e).__name__, e)}
        return {'next_run': nxt.begin_after.isoformat(), 'next_job': nxt.key}

    def pause(self):
        """No more runs until ``resume()``: the pending run is taken out
        of its queue (one already claimed still runs, with no next)."""
        self.paused = True
        self._take_out()

    def resume(self):
        """Runs again, from the first period after now."""
        if self.removed:
            raise errors.BadStatusError(
                'schedule %r was removed or replaced: schedule() it again'
                % self.name)
        if self.paused or self.job is None:
            self.paused = False
            self._take_out()
            self._put_next(utils.now())

    def _stop(self):
        self.removed = True
        self._take_out()

    def _take_out(self):
        job = self.job
        if job is not None and job in job.queue:
            job.queue.pull(job)
            self.job = None

    def __repr__(self):
        return '<Schedule %r %s>' % (self.name, 'every %s' % self.every
                                     if self.every is not None
                                     else 'cron %r' % self.cron)
