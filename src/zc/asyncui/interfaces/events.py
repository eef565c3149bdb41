"""The contracts of the lifecycle events (zope.event) about jobs, queues,
agents and dispatchers; docs/events.rst has the table of when each
fires, in which thread and transaction.

Layer: contracts.  Part of ``zc.asyncui.interfaces``, which re-exports
every name: import them from there.  Each interface sets ``__module__``
to that public module, so its identifier (``zc.asyncui.interfaces.IJob``:
error messages, ZCML, and pickles of registrations stored in a database)
does not depend on the file it is written in.
"""
from zope.interface import Attribute
from zope.interface import Interface


class IJobEvent(Interface):
    """An event about a job."""
    __module__ = 'zc.asyncui.interfaces'
    object = Attribute("The job.")


class IJobCompleted(IJobEvent):
    """A job got its result (value or Failure), inside the transaction
    that stores it: in the worker thread that ran it, or -- for a job
    whose retry policy gave up after an interruption -- in the thread
    that released it (see docs/events.rst).

    A subscriber that raises is logged at ERROR and the event's outcome
    stands; subscribers after it in ``zope.event.subscribers`` are not
    called for that event."""
    __module__ = 'zc.asyncui.interfaces'


class IJobFailed(IJobCompleted):
    """A job's result is a Failure."""
    __module__ = 'zc.asyncui.interfaces'


class IDispatcherEvent(Interface):
    """An event about a dispatcher.  A subscriber that raises is logged at
    ERROR and the event's outcome stands."""
    __module__ = 'zc.asyncui.interfaces'
    object = Attribute("The IDispatcherAgents record.")


class IQueueEvent(Interface):
    """An event about a queue.  A subscriber that raises is logged at
    ERROR and the event's outcome stands."""
    __module__ = 'zc.asyncui.interfaces'
    object = Attribute("The IQueue.")


class IQueuePaused(IQueueEvent):
    """A queue was paused (``IQueue.pause``), inside the transaction that
    pauses it, in the thread that called it."""
    __module__ = 'zc.asyncui.interfaces'


class IQueueResumed(IQueueEvent):
    """A paused queue was resumed (``IQueue.resume``), inside the
    transaction that resumes it, in the thread that called it."""
    __module__ = 'zc.asyncui.interfaces'


class IAgentEvent(Interface):
    """An event about an agent.  A subscriber that raises is logged at
    ERROR and the event's outcome stands."""
    __module__ = 'zc.asyncui.interfaces'
    object = Attribute("The IAgent.")


class IAgentActivated(IAgentEvent):
    """A deactivated agent was activated again (``IAgent.activate``),
    inside that transaction, in the thread that called it."""
    __module__ = 'zc.asyncui.interfaces'


class IAgentDeactivated(IAgentEvent):
    """An agent was deactivated (``IAgent.deactivate``), inside that
    transaction, in the thread that called it."""
    __module__ = 'zc.asyncui.interfaces'


class IDispatcherActivated(IDispatcherEvent):
    """A dispatcher activated itself in a queue (poll thread, inside the
    activation transaction)."""
    __module__ = 'zc.asyncui.interfaces'


class IDispatcherDeactivated(IDispatcherEvent):
    """A dispatcher record was deactivated (its own stop, or found dead by
    another dispatcher), inside the deactivation transaction."""
    __module__ = 'zc.asyncui.interfaces'
