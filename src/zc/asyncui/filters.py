"""Built-in filters: picklable predicates ``(job) -> bool`` for agents
and queues; and built-in choosers ``(agent, jobs) -> job``.

A filter must be side-effect free and ignore agent capacity, so that
views and the monitor can ask "what would this agent take" safely.  Any
module-level function works as a filter; these classes cover the common
cases and describe themselves for views and logs.
"""
import datetime
import fnmatch
import types

import zope.interface

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import utils

#: The job annotation holding a job's tags (a tuple of strings), set with
#: ``tag(job, ...)`` and read by TagFilter.
TAGS = 'zc.asyncui.tags'


def callable_name(job):
    """The dotted name of a job's callable: ``module.function`` or
    ``module.Class.method`` (for a method of a persistent object)."""
    func = job.callable
    if isinstance(func, types.MethodType):
        owner = func.__self__
        cls = owner if isinstance(owner, type) else type(owner)
        return '%s.%s.%s' % (cls.__module__, cls.__qualname__, func.__name__)
    module = getattr(func, '__module__', None) or ''
    name = getattr(func, '__qualname__', None) or type(func).__qualname__
    return '%s.%s' % (module, name) if module else name


@zope.interface.implementer(interfaces.IFilter)
class CallablesFilter:
    """Accepts jobs whose callable's dotted name matches one of the glob
    ``patterns`` (``'myapp.mail.*'``); with ``exclude=True``, accepts the
    others."""

    def __init__(self, *patterns, exclude=False):
        if not patterns or not all(isinstance(p, str) for p in patterns):
            raise errors.ConfigurationError(
                'CallablesFilter needs one or more glob strings such as'
                ' "myapp.mail.*", got %r' % (patterns,))
        self.patterns = patterns
        self.exclude = exclude

    def __call__(self, job):
        name = callable_name(job)
        matched = any(fnmatch.fnmatchcase(name, p) for p in self.patterns)
        return matched != self.exclude

    def __repr__(self):
        return '%s(%s%s)' % (type(self).__name__,
                             ', '.join(repr(p) for p in self.patterns),
                             ', exclude=True' if self.exclude else '')

    def __eq__(self, other):
        return (type(other) is type(self) and other.patterns == self.patterns
                and other.exclude == self.exclude)

    def __hash__(self):
        return hash((self.patterns, self.exclude))


@zope.interface.implementer(interfaces.IFilter)
class MinimumPriorityFilter:
    """Accepts jobs whose priority is at least ``minimum`` (for an agent
    kept free for urgent work)."""

    def __init__(self, minimum):
        if isinstance(minimum, bool) or not isinstance(minimum, int):
            raise errors.ConfigurationError(
                'MinimumPriorityFilter needs an int, not %r' % (minimum,))
        self.minimum = minimum

    def __call__(self, job):
        return job.priority >= self.minimum

    def __repr__(self):
        return 'MinimumPriorityFilter(%d)' % self.minimum

    def __eq__(self, other):
        return type(other) is type(self) and other.minimum == self.minimum

    def __hash__(self):
        return hash(self.minimum)


def tag(job, *tags):
    """Add ``tags`` (strings) to the job's ``TAGS`` annotation; returns
    the job.  Call before putting it, so that queue filters see them."""
    if not tags or not all(isinstance(t, str) and t for t in tags):
        raise TypeError('tag(job, *tags) takes one or more non-empty'
                        ' strings, such as tag(job, "bulk"); got %r'
                        % (tags,))
    old = tuple(job.annotations.get(TAGS, ()))
    job.annotations[TAGS] = old + tuple(t for t in tags if t not in old)
    return job


@zope.interface.implementer(interfaces.IFilter)
class TagFilter:
    """Accepts jobs tagged (``tag(job, ...)``, the ``TAGS`` annotation)
    with one of ``tags``; with ``exclude=True``, accepts the others."""

    def __init__(self, *tags, exclude=False):
        if not tags or not all(isinstance(t, str) and t for t in tags):
            raise errors.ConfigurationError(
                'TagFilter needs one or more non-empty tag strings such as'
                ' "bulk", got %r' % (tags,))
        self.tags = tags
        self.exclude = exclude

    def __call__(self, job):
        found = job.annotations.get(TAGS, ())
        return any(t in found for t in self.tags) != self.exclude

    def __repr__(self):
        return '%s(%s%s)' % (type(self).__name__,
                             ', '.join(repr(t) for t in self.tags),
                             ', exclude=True' if self.exclude else '')

    def __eq__(self, other):
        return (type(other) is type(self) and other.tags == self.tags
                and other.exclude == self.exclude)

    def __hash__(self):
        return hash((self.tags, self.exclude))


@zope.interface.implementer(interfaces.IFilter)
class PriorityRangeFilter:
    """Accepts jobs whose priority is between ``minimum`` and ``maximum``
    (inclusive; None leaves that side open)."""

    def __init__(self, minimum=None, maximum=None):
        for value in (minimum, maximum):
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, int)):
                raise errors.ConfigurationError(
                    'PriorityRangeFilter takes int bounds (or None), not %r'
                    % (value,))
        if minimum is None and maximum is None:
            raise errors.ConfigurationError(
                'PriorityRangeFilter needs minimum=, maximum= or both;'
                ' without them it would accept every job (use no filter).')
        if None not in (minimum, maximum) and minimum > maximum:
            raise errors.ConfigurationError(
                'PriorityRangeFilter: minimum %d is above maximum %d'
                % (minimum, maximum))
        self.minimum = minimum
        self.maximum = maximum

    def __call__(self, job):
        return ((self.minimum is None or job.priority >= self.minimum) and
                (self.maximum is None or job.priority <= self.maximum))

    def __repr__(self):
        return 'PriorityRangeFilter(minimum=%r, maximum=%r)' % (
            self.minimum, self.maximum)

    def __eq__(self, other):
        return (type(other) is type(self) and other.minimum == self.minimum
                and other.maximum == self.maximum)

    def __hash__(self):
        return hash((self.minimum, self.maximum))


@zope.interface.implementer(interfaces.IFilter)
class QueueTimeFilter:
    """Accepts jobs that have been due for at least ``min_wait`` (a
    timedelta): since they were put, or since their ``begin_after`` if
    later.  With ``max_wait`` too, only those due for less than it (an
    agent for fresh work, another for the backlog).  A job not yet in a
    queue has waited zero."""

    def __init__(self, min_wait=datetime.timedelta(0), max_wait=None):
        for value in (min_wait, max_wait):
            if value is not None and not isinstance(
                    value, datetime.timedelta):
                raise errors.ConfigurationError(
                    'QueueTimeFilter takes timedeltas, such as'
                    ' QueueTimeFilter(timedelta(minutes=5)), not %r'
                    % (value,))
        if min_wait is None or min_wait < datetime.timedelta(0) or (
                max_wait is not None and max_wait <= min_wait):
            raise errors.ConfigurationError(
                'QueueTimeFilter needs 0 <= min_wait < max_wait, got'
                ' min_wait=%r, max_wait=%r' % (min_wait, max_wait))
        self.min_wait = min_wait
        self.max_wait = max_wait

    def __call__(self, job):
        since = max(job._put_ts or 0.0, job._begin_after_ts or 0.0)
        waited = 0.0 if job._put_ts is None else max(
            0.0, utils.now().timestamp() - since)
        if waited < self.min_wait.total_seconds():
            return False
        return self.max_wait is None or waited < self.max_wait.total_seconds()

    def __repr__(self):
        return 'QueueTimeFilter(min_wait=%r, max_wait=%r)' % (
            self.min_wait, self.max_wait)

    def __eq__(self, other):
        return (type(other) is type(self) and
                (other.min_wait, other.max_wait) ==
                (self.min_wait, self.max_wait))

    def __hash__(self):
        return hash((self.min_wait, self.max_wait))


# -- named built-ins (registered by name in configure.zcml) ----------------

#: Jobs tagged "bulk" (``tag(job, 'bulk')``), and the others: a queue or
#: agent for mass work that must not delay interactive work.
bulk = TagFilter('bulk')
not_bulk = TagFilter('bulk', exclude=True)
#: Jobs due for five minutes or more: an agent that takes the backlog.
waited_5_minutes = QueueTimeFilter(datetime.timedelta(minutes=5))
#: Jobs whose callable is in zc.asyncui itself (patterns' own jobs).
asyncui_jobs = CallablesFilter('zc.asyncui.*')


@zope.interface.provider(interfaces.IFilter)
def urgent(job):
    """Accepts jobs of priority > 0 (for an agent kept for urgent work)."""
    return job.priority > 0


@zope.interface.provider(interfaces.IFilter)
def not_urgent(job):
    """Accepts jobs of priority <= 0."""
    return job.priority <= 0


@zope.interface.provider(interfaces.IChooser)
def first_in_queue(agent, jobs):
    """Claims in queue order (what an agent without chooser does)."""
    return jobs[0] if jobs else None


@zope.interface.provider(interfaces.IChooser)
def highest_priority(agent, jobs):
    """Claims the due job of highest priority; the earliest among
    equals."""
    best = None
    for job in jobs:
        if best is None or job.priority > best.priority:
            best = job
    return best
