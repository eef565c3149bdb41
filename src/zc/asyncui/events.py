"""Lifecycle events, notified through ``zope.event``.

See docs/events.rst for the table of when each fires and in which thread.
"""
import zope.interface

from zc.asyncui import interfaces


@zope.interface.implementer(interfaces.IJobCompleted)
class JobCompleted:
    """See IJobCompleted."""

    def __init__(self, job):
        self.object = job


@zope.interface.implementer(interfaces.IJobFailed)
class JobFailed(JobCompleted):
    """See IJobFailed."""


@zope.interface.implementer(interfaces.IDispatcherActivated)
class DispatcherActivated:
    """See IDispatcherActivated."""

    def __init__(self, record):
        self.object = record


@zope.interface.implementer(interfaces.IDispatcherDeactivated)
class DispatcherDeactivated(DispatcherActivated):
    """See IDispatcherDeactivated."""
