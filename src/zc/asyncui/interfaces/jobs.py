"""The contracts of jobs and their results: IJob, and IFailure, the
record of an exception a job raised.

Layer: contracts.  Part of ``zc.asyncui.interfaces``, which re-exports
every name: import them from there.  Each interface sets ``__module__``
to that public module, so its identifier (``zc.asyncui.interfaces.IJob``:
error messages, ZCML, and pickles of registrations stored in a database)
does not depend on the file it is written in.
"""
from zope.interface import Attribute
from zope.interface import Interface


class IFailure(Interface):
    """A picklable record of an exception: never the live exception.

    Invariant: always picklable and small (locals are captured as short
    reprs, and only when asked for).
    """
    __module__ = 'zc.asyncui.interfaces'

    type_name = Attribute("Dotted name of the exception class.")
    message = Attribute("``str()`` of the exception.")
    mro_names = Attribute("Dotted names of the exception's classes, "
                          "most derived first.")

    def getTraceback(detail='default'):
        """The traceback as text.

        ``'brief'``: one line, ``Type: message``; ``'default'``: the
        formatted traceback; ``'verbose'``: with the captured locals of
        each frame (when they were captured).  Raises ValueError for any
        other value.
        """

    def check(*exception_types):
        """The first of ``exception_types`` (classes or dotted names) that
        the recorded exception is an instance of, or None."""

    # The zc.twist/Twisted Failure calls that zc.async callbacks make.

    type = Attribute("The exception class, imported by its dotted name; "
                     "``zc.asyncui.failure.UnavailableException`` when it "
                     "cannot be imported in this process.")
    value = Attribute("The exception, rebuilt from its recorded class, "
                      "arguments and attributes (a new object each time); "
                      "an ``UnavailableException`` saying why when the "
                      "class cannot be imported here or the arguments "
                      "were not plain values.")

    def trap(*exception_types):
        """As ``check``, but when nothing matches raise ``value`` (as
        ``raiseException`` does) instead of returning None."""

    def getErrorMessage():
        """The recorded message (``str()`` of the exception)."""

    def raiseException():
        """Raise ``value``.  The original traceback is gone (only its
        text was recorded); on Python 3.11+ that text is added to the
        exception as a note."""

    def printTraceback(file=None, elideFrameworkCode=False,
                       detail='default'):
        """Write ``getTraceback(detail)`` to ``file`` (default:
        ``sys.stderr``).  ``elideFrameworkCode`` is accepted and
        ignored."""

    def printBriefTraceback(file=None, elideFrameworkCode=False):
        """Write ``getTraceback('brief')`` and a newline to ``file``."""

    def printDetailedTraceback(file=None, elideFrameworkCode=False):
        """Write ``getTraceback('verbose')`` to ``file``."""


class IJob(Interface):
    """A call to make later, stored in the database.

    Invariants:

    - status only moves forward: NEW -> PENDING -> ASSIGNED -> ACTIVE ->
      CALLBACKS -> COMPLETED, except for the named back-moves of
      ``zc.asyncui.lifecycle.TRANSITIONS``: "retry" (ACTIVE -> PENDING,
      also an ASSIGNED job put back) and "pull" (PENDING -> NEW).  Only
      ``zc.asyncui.lifecycle`` changes status, attempts, result and retry
      counts; any other move raises BadStatusError;
    - a job is held by at most one agent (the agent's held-jobs tree is
      the one record of it: a claim does not write the job, so ASSIGNED
      is derived as "PENDING but no longer in its queue"); ``job.agent``
      names the agent that started it;
    - once COMPLETED, ``result`` never changes; it is the callable's
      return value or a Failure;
    - every callback gets the parent's final result exactly once.

    Nothing here commits.
    """
    __module__ = 'zc.asyncui.interfaces'

    key = Attribute("Stable printable id: the oid in hex (``0x3a1f``); "
                    "None until the job is added to a database.")
    status = Attribute("A JobStatus.")
    result = Attribute("Return value, or Failure; None until completed.")
    callable = Attribute("The callable; settable only while NEW.")
    args = Attribute("Positional arguments (a list; changes made in a "
                     "later transaction are stored).")
    kwargs = Attribute("Keyword arguments (a dict; changes made in a "
                       "later transaction are stored).")
    begin_after = Attribute("Aware UTC datetime before which the job does "
                            "not start; settable only while NEW.")
    begin_by = Attribute("timedelta after begin_after by which the job must "
                         "have started, or None for no limit.")
    priority = Attribute("Higher runs first among due jobs (default 0).")
    quota_names = Attribute(
        "Tuple of names of quotas of the job's queue (IQuotas); the job "
        "is claimed only while each has room.  Settable while NEW (or "
        "with ``put(..., quota_names=)``).")
    annotations = Attribute("An OOBTree for application metadata.")
    pinned_to = Attribute(
        "The UUID string of the one dispatcher whose agents may claim the"
        " job (whatever their filters), or None.  Set by broadcast before"
        " the job is put; when that dispatcher is deactivated before the"
        " job finished, the job fails with AbortedError rather than move"
        " (zc.asyncui.pins).")
    queue = Attribute("The queue the job was put in, or None.")
    agent = Attribute("The agent that started the job (set when it "
                      "starts), or None.")
    parent = Attribute("For a callback, the job it is a callback of.")
    callbacks = Attribute("Tuple of callback jobs.")
    attempts = Attribute("Tuple of per-attempt records (dicts with "
                         "``start``, ``end``, ``dispatcher``, ``outcome``).")
    retry_counts = Attribute("Dict of counters kept by retry policies.")
    retry_policy_factory = Attribute(
        "Callable ``(job) -> IRetryPolicy``; or a string, the name of a "
        "zope.component adapter from the job to IRetryPolicy (as in "
        "zc.async); or None for the default.")
    failure_log_level = Attribute("Logging level for a failure, or None "
                                  "(ERROR for jobs, CRITICAL for callbacks).")
    put_time = Attribute("When the job was put in a queue.")
    active_start = Attribute("When the latest attempt started.")
    active_end = Attribute("When the call finished (before callbacks).")
    callbacks_completed = Attribute("When the callbacks were all done.")
    failed = Attribute("True when the result is a Failure.")
    deadline = Attribute("``begin_after + begin_by`` (an aware datetime), "
                         "or None when ``begin_by`` is None.")

    cancel_requested = Attribute(
        "True once ``cancel()`` asked a claimed or running job to stop.")

    def cancel():
        """Cancel the job.  A job waiting in its queue (PENDING, also with
        a later begin_after) is taken out and COMPLETED at once with a
        Failure of JobCancelledError as its result, without a call; its
        callbacks are put in its queue and see that failure.  A claimed
        (ASSIGNED) or running (ACTIVE) job is only asked to stop:
        ``cancel_requested`` becomes True, ``zc.asyncui.local.cancelled()``
        returns True inside it (the job decides when to stop), and it is
        never called again (a retry or a claimed job ends with
        JobCancelledError).  Raises BadStatusError for a NEW, CALLBACKS or
        COMPLETED job.  Does not commit: the caller's commit cancels.
        """

    def addCallback(callback, failure_log_level=None,
                    retry_policy_factory=None):
        """Add a callback: it is called with this job's final result (value
        or Failure) appended to its arguments.  Returns the callback Job.

        Allowed in every status; a callback added to a COMPLETED job is
        put in this job's queue and runs there.  Raises
        UnpicklableCallableError for a callable that cannot be stored.
        """

    def addCallbacks(success=None, failure=None, failure_log_level=None,
                     retry_policy_factory=None):
        """Add one callback that calls ``success(result)`` when the result
        is not a Failure and ``failure(result)`` when it is.  A missing side
        passes the result through.  Returns the callback Job."""

    def __call__(*args, **kwargs):
        """Call the callable with the stored and the given arguments and
        return what it returns.  Does not change the job's status: the
        worker does that.  Raises BadStatusError unless NEW or ACTIVE."""
