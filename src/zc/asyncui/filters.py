"""Built-in filters: picklable predicates ``(job) -> bool`` for agents
and queues; and built-in choosers ``(agent, jobs) -> job``.

A filter must be side-effect free and ignore agent capacity, so that
views and the monitor can ask "what would this agent take" safely.  Any
module-level function works as a filter; these classes cover the common
cases and describe themselves for views and logs.
"""
import fnmatch
import types

import zope.interface

from zc.asyncui import errors
from zc.asyncui import interfaces


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


# -- named built-ins (registered by name in configure.zcml) ----------------

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
