"""The contracts of the extension points: what an application plugs in.
Filters and choosers (which job an agent or a queue takes), retry
policies, job contexts (what a job carries from its put to its run)
and monitor commands.

Layer: contracts.  Part of ``zc.asyncui.interfaces``, which re-exports
every name: import them from there.  Each interface sets ``__module__``
to that public module, so its identifier (``zc.asyncui.interfaces.IJob``:
error messages, ZCML, and pickles of registrations stored in a database)
does not depend on the file it is written in.
"""
from zope.interface import Interface


class IFilter(Interface):
    """A side-effect free predicate ``(job) -> bool``.

    Filters decide which jobs an agent claims or a queue accepts.  They
    must not look at agent capacity or change anything, so that views and
    the monitor can ask "what would this agent take" safely.
    """
    __module__ = 'zc.asyncui.interfaces'

    def __call__(job):
        """True if the job is accepted."""


class IChooser(Interface):
    """Picks the job an agent claims next: ``(agent, jobs) -> job``.

    ``jobs`` are the due jobs the agent's filter accepts, in queue order
    (at most a window of them); the chooser returns one of them, or None
    to claim nothing now.  Like a filter it must not change anything.
    Registered by name (a named utility), so configuration and forms can
    offer it.
    """
    __module__ = 'zc.asyncui.interfaces'

    def __call__(agent, jobs):
        """One of ``jobs``, or None."""


class IRetryPolicy(Interface):
    """Decides what happens when a job's call, its commit, or its process
    fails.

    Each method returns True (retry now), False (give up), or a timedelta
    or aware datetime (put the job back in its queue to begin after that;
    a worker never sleeps through a backoff).  Counters live on the job
    (``job.retry_counts``) so they survive interruptions.
    """
    __module__ = 'zc.asyncui.interfaces'

    def jobError(failure):
        """The call raised; ``failure`` is an IFailure."""

    def commitError(failure):
        """Committing the job's transaction raised."""

    def interrupted():
        """The process running the job died or stopped mid-call."""


class IJobContext(Interface):
    """Carries context from the code that puts a job to the code that
    runs it (the site and the principal of a request, a tenant, a
    locale...).  Registered as a named utility; see
    ``zc.asyncui.jobcontext``.  ``zc.asyncui.jobcontext.JobContext`` is
    the no-op base class.

    Invariant: a job put where ``capture`` finds nothing to carry runs
    exactly as if no hook were registered.
    """
    __module__ = 'zc.asyncui.interfaces'

    def capture(job):
        """Called by IQueue.put, in the putting thread and transaction,
        once the job is in the database.  Store what must be carried in
        ``job.annotations`` under keys of one's own (storable values).
        Never commits.  An exception propagates to the caller of put:
        the job is not put."""

    def restore(job):
        """Called in the worker thread (or run_jobs' thread) before the
        job, or one of its callbacks, is called, inside the transaction
        of the call.  Returns None or a callable without arguments that
        undoes what ``restore`` did; it is called after the job's
        finishing commit (or its final abort), and one that raises is
        logged at ERROR.  An exception in ``restore`` is the failure of
        that attempt: the job is never called without its context."""


class IMonitorPlugin(Interface):
    """A command of the monitor (zc.asyncui.monitor), registered as a
    named utility: the name is the command word.

    The zc.monitor convention, unchanged, so an old plugin function
    registers as it is: ``plugin(connection, *args)`` where every arg is
    a string (the whitespace-separated words after the command) and
    ``connection.write(text)`` sends text to the client.  The plugin's
    docstring is its help (``help NAME``; its first line in ``help``).
    It may return ``zc.asyncui.monitor.INTERACTIVE_MARKER`` or
    ``QUIT_MARKER`` to change the connection's mode; anything else keeps
    it.  A plugin that raises gets an ``Error:`` line on its connection
    only.  Called in a thread of the monitor server; it must not commit
    the caller's transaction (open its own connection if it reads the
    database).
    """
    __module__ = 'zc.asyncui.interfaces'

    def __call__(connection, *args):
        """Run the command, writing its output to ``connection``."""
