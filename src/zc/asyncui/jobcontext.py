"""Job context hooks: carry context from ``put`` to the job's call.

A hook is an ``IJobContext`` registered as a named zope.component utility
(by ZCML ``<utility provides="zc.asyncui.interfaces.IJobContext" .../>``
or ``zope.component.provideUtility``).  The engine calls:

- ``capture(job)`` for every hook, by name order, in ``IQueue.put``;
- ``restore(job)`` for every hook before the job (or a callback) is
  called in a worker, and the undo callables they return, in reverse
  order, after the job's finishing commit.

With no hook registered (the default) nothing happens.  The Zope request
context (site and principal) is one such hook, in
``zc.asyncui.requestcontext``.
"""
import logging

import zope.component
import zope.interface

from zc.asyncui import interfaces

logger = logging.getLogger(__name__)


@zope.interface.implementer(interfaces.IJobContext)
class JobContext:
    """A hook that carries nothing: subclass it and override what you
    need."""

    def capture(self, job):
        """See IJobContext.capture."""

    def restore(self, job):
        """See IJobContext.restore."""
        return None


def hooks():
    """The registered hooks, as (name, hook) pairs sorted by name."""
    return sorted(zope.component.getUtilitiesFor(interfaces.IJobContext),
                  key=lambda pair: pair[0])


def capture(job):
    """Let every hook capture its context into ``job``."""
    for _, hook in hooks():
        hook.capture(job)


def captured(job, key, default=None):
    """``job.annotations[key]``, or that of the nearest parent that has it:
    a callback runs in the context of the job it was added to."""
    while job is not None:
        if key in job.annotations:
            return job.annotations[key]
        job = job.parent
    return default


class Restored:
    """The contexts restored for one job in one thread: ``enter()`` (at
    most once; an exception leaves nothing restored) and ``exit()``."""

    def __init__(self, job):
        self.job = job
        self.undos = None

    def enter(self):
        if self.undos is not None:
            return
        undos = []
        try:
            for name, hook in hooks():
                undo = hook.restore(self.job)
                if undo is not None:
                    undos.append((name, undo))
        except BaseException:
            _undo_all(self.job, undos)
            raise
        self.undos = undos

    def exit(self):
        undos, self.undos = self.undos or [], None
        _undo_all(self.job, undos)


def _undo_all(job, undos):
    for name, undo in reversed(undos):
        try:
            undo()
        except Exception:
            logger.exception('job context %r: undoing the context of job %s'
                             ' failed', name, job.key)
