"""Lifecycle events, notified through ``zope.event``.

See docs/events.rst for the table of when each fires and in which thread.
"""
import logging

import zope.event
import zope.interface

from zc.asyncui import interfaces

logger = logging.getLogger(__name__)


def notify(event):
    """Notify subscribers; a failing subscriber is logged at ERROR and
    never changes the job's outcome or stops the dispatcher."""
    try:
        zope.event.notify(event)
    except Exception:
        subject = getattr(event.object, 'key', None) or repr(event.object)
        logger.error('a subscriber of %s failed for %s; the event\'s'
                     ' outcome stands. Fix the subscriber (traceback'
                     ' below).', type(event).__name__, subject,
                     exc_info=True)


@zope.interface.implementer(interfaces.IJobCompleted)
class JobCompleted:
    """See IJobCompleted."""

    def __init__(self, job):
        self.object = job


@zope.interface.implementer(interfaces.IJobFailed)
class JobFailed(JobCompleted):
    """See IJobFailed."""


class _DispatcherEvent:

    def __init__(self, record):
        self.object = record


@zope.interface.implementer(interfaces.IDispatcherActivated)
class DispatcherActivated(_DispatcherEvent):
    """See IDispatcherActivated."""


# Not a subclass of DispatcherActivated: it would provide
# IDispatcherActivated, and handlers of activations would get it too.
@zope.interface.implementer(interfaces.IDispatcherDeactivated)
class DispatcherDeactivated(_DispatcherEvent):
    """See IDispatcherDeactivated."""


class _ObjectEvent:

    def __init__(self, obj):
        self.object = obj


@zope.interface.implementer(interfaces.IQueuePaused)
class QueuePaused(_ObjectEvent):
    """See IQueuePaused."""


@zope.interface.implementer(interfaces.IQueueResumed)
class QueueResumed(_ObjectEvent):
    """See IQueueResumed."""


@zope.interface.implementer(interfaces.IAgentActivated)
class AgentActivated(_ObjectEvent):
    """See IAgentActivated."""


@zope.interface.implementer(interfaces.IAgentDeactivated)
class AgentDeactivated(_ObjectEvent):
    """See IAgentDeactivated."""
