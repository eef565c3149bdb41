"""The zc.asyncui exception hierarchy.

Every error says what happened, why, and what to do.  Errors that are
expected to go away when the transaction is retried subclass
``transaction.interfaces.TransientError`` so that ``attempts()`` loops and
the retry policies treat them as transient.
"""


class AsyncUIError(Exception):
    """Base class of every error raised by zc.asyncui."""


class UnpicklableCallableError(AsyncUIError, TypeError):
    """Raised by ``Job()`` and ``Queue.put`` when the callable (or one of
    its arguments) cannot be stored in the database.

    A job is pickled into ZODB and called later, maybe in another
    process: pass a module-level function, a method of a persistent
    object, a persistent callable object, or another Job.
    """

    def __init__(self, message, obj=None):
        super().__init__(message)
        self.obj = obj


class BadStatusError(AsyncUIError):
    """Raised when an operation needs the job in another status, for
    example changing ``begin_after`` on a job that is already queued.

    Attributes ``job_key``, ``status`` and ``expected`` say which job,
    what it was and what was needed.
    """

    def __init__(self, message, job_key=None, status=None, expected=()):
        super().__init__(message)
        self.job_key = job_key
        self.status = status
        self.expected = tuple(expected)


class NotInDatabaseError(AsyncUIError):
    """Raised when an object that must be stored in a ZODB database is
    not: add it to a connection (or commit it under a stored object)
    first."""


class QueueNotFoundError(AsyncUIError, LookupError):
    """Raised by ``getQueue`` and ``Queues.put`` when no queue matches.

    Install queues with ``zc.asyncui.install(db, names=...)``.
    """


class QuotaNotFoundError(AsyncUIError, LookupError):
    """Raised by ``queue.quotas[name]`` and by ``put(..., quota_names=)``
    for a quota the queue does not have.  The message lists the queue's
    quotas; create a missing one with ``queue.quotas.create(name)``.
    """


class NotInstalledError(QueueNotFoundError):
    """Raised when the database has no ``root['zc.asyncui']`` mapping.

    Call ``zc.asyncui.install(db)`` once (it is idempotent) before
    putting jobs.
    """


class ReassignedError(AsyncUIError):
    """Raised inside a worker when the job it runs was given to another
    dispatcher (this one was thought dead).  The worker aborts its
    transaction and drops the job; the new owner runs it to completion.
    It is never retried."""


class CallableImportError(AsyncUIError, ImportError):
    """Raised when a job is called in a process that cannot import its
    callable (the process that put the job could).  The worker treats it
    as a failure of the call: the job's retry policy retries it later
    (another process, or this one after a deployment, may import it),
    then fails it.  Install the module where the workers run, or check
    their ``sys.path``."""


class JobCycleError(AsyncUIError):
    """The result (as a Failure) of a job that returned itself, or a job
    that waits on it: a job that returns a job finishes with that job's
    result, so it would wait forever.  Return the value instead."""


class AbortedError(AsyncUIError):
    """The result (as a Failure) of a job whose retry policy gave up after
    its process was interrupted (died or stopped) while running it."""


class JobTimeoutError(AsyncUIError):
    """The result (as a Failure) of a job that did not start before
    ``begin_after + begin_by``.  Its callable is never called; its
    callbacks run."""


class WaitTimeoutError(AsyncUIError, AssertionError):
    """Raised by the ``zc.asyncui.testing`` wait helpers when a job did
    not reach the expected state in time.  The message names the job and
    its last status."""


class ConfigurationError(AsyncUIError, ValueError):
    """Raised for a bad argument to a configuration function (queue,
    agent or dispatcher settings).  The message says which value was
    wrong and what is accepted."""


class DispatcherError(AsyncUIError):
    """Raised for a misuse of the dispatcher API, such as starting two
    dispatchers with the same UUID in one process."""


class FilterRefusedError(AsyncUIError, ValueError):
    """Raised by ``Queue.put`` when the queue's filter does not accept the
    job.  Put the job in another queue, or use ``Queues.put``, which
    routes each job to the first queue whose filter accepts it.
    ``queue_name`` and ``filter`` say which queue and filter refused."""

    def __init__(self, message, queue_name=None, filter=None):
        super().__init__(message)
        self.queue_name = queue_name
        self.filter = filter


class JobCancelledError(AsyncUIError):
    """The result (as a Failure) of a job cancelled with ``Job.cancel()``
    before it started: its callable is never called; its callbacks run
    and see this failure.  A running job that was asked to stop (see
    ``zc.asyncui.local.cancelled()``) may raise it too."""


class JobNotFoundError(AsyncUIError, LookupError):
    """Raised by ``zc.asyncui.queries.find_job`` when a key names no job in
    the database (never existed, packed away after the history let it go,
    or a key of another database) or names an object that is not a job.
    ``key`` is the key asked for; list real keys with ``zc-asyncui jobs``
    or ``asyncdb jobs``."""

    def __init__(self, message, key=None):
        super().__init__(message)
        self.key = key
