"""The contracts of queues: IQueues (the mapping in the database root,
under KEY), IQueue, and the quotas of a queue (IQuotas, IQuota).

Layer: contracts.  Part of ``zc.asyncui.interfaces``, which re-exports
every name: import them from there.  Each interface sets ``__module__``
to that public module, so its identifier (``zc.asyncui.interfaces.IJob``:
error messages, ZCML, and pickles of registrations stored in a database)
does not depend on the file it is written in.
"""
from zope.interface import Attribute
from zope.interface import Interface

#: The key of the ``Queues`` mapping in the database root.
KEY = 'zc.asyncui'


class IQueue(Interface):
    """A named queue of pending jobs.

    Invariants:

    - iteration order is claim order: due jobs by priority (highest
      first) then arrival; then future jobs by begin_after;
    - ``len(queue)`` is the number of pending jobs;
    - a job is in at most one queue and then has status PENDING (or
      CALLBACKS, when a recovered job waits for its callbacks to resume);
    - a ``put`` never conflicts with another ``put``, nor with
      ``claim`` unless several producers meet a full inbox (see
      zc.asyncui.queue).

    Claim order is strict priority, then FIFO: among the jobs that may
    start now, a higher ``priority`` is claimed first; among equal
    priorities, the earlier arrival (the later of put time and
    ``begin_after``), then the job's oid.  Priorities never change while
    a job waits, so a job is passed only by jobs of a *higher* priority:
    jobs of its own or a lower priority put after it never pass it, and
    it never moves back.  It therefore starts as soon as no higher
    priority job is due, whatever the load of its own level; to give low
    priorities a guaranteed share under sustained urgent load, give them
    an agent of their own (filter ``not_urgent``).  A job skipped because
    an agent's filter refuses it, or one of its quotas is full, keeps its
    place and is taken first when that changes.

    Quotas (``quotas``, IQuotas): a job with ``quota_names`` is claimed
    only while each named quota holds fewer jobs than its size, across
    every dispatcher (never over-subscribed: see zc.asyncui.quota); it is
    in the quotas from its claim until its result is stored or it goes
    back to the queue.

    Nothing here commits.
    """
    __module__ = 'zc.asyncui.interfaces'

    name = Attribute("The queue's name ('' is the default queue).")
    dispatchers = Attribute("Mapping UUID string -> IDispatcherAgents.")
    filter = Attribute("None, or an IFilter deciding which jobs "
                       "``Queues.put`` routes here.")
    quotas = Attribute("The queue's IQuotas (name -> IQuota).")
    paused = Attribute("True between ``pause()`` and ``resume()``: no job "
                       "is claimed from the queue (puts still work).")

    def pause():
        """Stop claims from this queue, in every dispatcher, until
        ``resume()``: ``claim``, ``claimMany`` and agents' claims return
        nothing and ``hasDue`` is False (expired jobs wait too).  Jobs
        already claimed or running are not touched, nor callbacks, which
        their parent's worker runs without a claim; puts still work.
        Notifies QueuePaused.  Returns False (and notifies nothing) if
        it was already paused, else True.  Writes only the queue object,
        which claims and puts do not write, so it conflicts with
        neither."""

    def resume():
        """Allow claims again after ``pause()``; the dispatchers of this
        process poll once the transaction commits.  Notifies
        QueueResumed.  Returns False (and notifies nothing) if it was
        not paused, else True."""

    def put(item, begin_after=None, begin_by=None, priority=0,
            retry_policy_factory=None, failure_log_level=None,
            collapse_key=None, quota_names=None):
        """Queue ``item`` (a Job, or a callable to wrap in one) and return
        the Job.  ``quota_names`` (a tuple) sets the job's quota_names;
        each must be a quota of this queue (QuotaNotFoundError, listing
        them, otherwise).

        With a ``collapse_key`` (a non-empty string), if a job put in this
        queue with the same key has not started yet, that job is returned
        and ``item`` is not queued; once it starts, a put with the key
        adds a new job.  Two transactions putting the same key at once:
        one commit conflicts and, retried, gets the other's job (see
        zc.asyncui.collapse).

        Raises FilterRefusedError when the queue's ``filter`` does not
        accept the job (asked once ``priority`` etc. are set).

        Raises UnpicklableCallableError (lambdas, nested functions, methods
        of non-persistent objects ...), BadStatusError (the job is not
        NEW), ValueError (naive datetime, negative begin_by, priority out
        of range), TypeError (begin_after not a datetime, begin_by not a
        timedelta, priority not an int) and NotInDatabaseError (the queue
        is not in a database).
        """

    def claim(filter=None, now=None):
        """Remove and return the first due job that ``filter`` accepts (or
        None).  Jobs whose ``begin_by`` has passed are returned whatever
        the filter: the worker records their timeout."""

    def claimMany(count, filter=None, now=None):
        """Like ``claim``, for up to ``count`` jobs in one pass; returns
        them in claim order."""

    def hasDue(now=None):
        """True when some job may start now (cheap: no filter is asked)."""

    def putBack(job):
        """Return a claimed but unstarted (or recovered) job to its old
        place in this queue.  A job in CALLBACKS keeps that status: the
        worker that claims it resumes its callbacks."""

    def reschedule(job, begin_after):
        """Put a job back to begin after the aware datetime
        ``begin_after`` (a retry policy's delay)."""

    def retry(job):
        """Put a failed job of this queue (COMPLETED with a Failure, no
        callbacks) back as PENDING, due now, for a new attempt; its
        earlier attempts are kept (``zc-asyncui retry``).  ValueError for
        a job of another queue; BadStatusError for any other job."""

    def getDispatcherAgents(uuid, create=False):
        """The IDispatcherAgents record of dispatcher ``uuid`` in this
        queue, created when ``create`` is true; else None if missing."""

    def pull(job):
        """Cancel a pending job: remove it and set its status back to NEW.
        Raises LookupError if the job is not in this queue."""

    def cancel(job):
        """What ``job.cancel()`` does for a job of this queue (see
        IJob.cancel): a pending job is removed and COMPLETED with a
        JobCancelledError failure, its callbacks put in this queue; a
        claimed or running one gets ``cancel_requested``.  Call
        ``job.cancel()``, which checks the job's status first."""

    def remove(job):
        """Remove a pending job, leaving its status to the caller.
        Raises LookupError if the job is not in this queue."""

    def __len__():
        """Number of pending jobs."""

    def __iter__():
        """Pending jobs in claim order."""

    def __contains__(job):
        """True when ``job`` is pending in this queue."""

    def scheduled(now=None, reverse=False):
        """The pending jobs that may not start before a time after
        ``now`` (default: the clock), soonest first (``reverse``: latest
        first); lazy, for pages that list them."""

    def countScheduled(now=None):
        """How many pending jobs may not start before a time after
        ``now``; ``len(queue) - countScheduled()`` are due.  Counts keys:
        loads no job."""

    def oldestDue(now=None):
        """When the next job to be claimed became due (its arrival, or
        the begin_after of a due job not yet moved to the due jobs),
        an aware datetime; None when no job is due.  ``now - oldestDue()``
        is the queue's latency (how long its head has waited)."""


class IQuota(Interface):
    """A limit on how many jobs naming it run at once, in one queue.

    Invariants:

    - ``len(quota) <= size`` whenever jobs are added (a resize below the
      current count only stops new jobs until enough finish);
    - two transactions that each add a job to the quota conflict (its
      conflict resolution refuses two additions), so no interleaving of
      dispatchers over-subscribes it; removals merge with anything.

    Nothing here commits.
    """
    __module__ = 'zc.asyncui.interfaces'

    name = Attribute("The quota's name.")
    size = Attribute("How many jobs may hold it at once (an int >= 1).")
    full = Attribute("True when it holds ``size`` jobs or more.")

    def resize(size):
        """Change the size.  Raises ValueError unless an int >= 1."""

    def add(job):
        """Record that ``job`` holds it (idempotent).  Raises ValueError
        when full.  Used by claims."""

    def release(job):
        """Forget ``job`` (idempotent)."""

    def __len__():
        """Number of jobs holding it."""

    def __iter__():
        """The jobs holding it."""

    def __contains__(job):
        """True when ``job`` holds it."""


class IQuotas(Interface):
    """A queue's quotas: name -> IQuota."""
    __module__ = 'zc.asyncui.interfaces'

    def create(name, size=1):
        """Add and return a new quota.  Raises ValueError for an existing
        name, a name that is not a non-empty string, or a bad size."""

    def __getitem__(name):
        """The quota; raises QuotaNotFoundError listing the quotas."""

    def get(name, default=None):
        """The quota or ``default``."""

    def remove(name):
        """Remove a quota (also ``del quotas[name]``).  Raises
        QuotaNotFoundError, or ValueError while jobs hold it.  Pending
        jobs that still name it are no longer limited by it."""

    def __len__():
        """Number of quotas."""

    def __iter__():
        """Quota names, sorted."""

    def __contains__(name):
        """True when a quota of that name exists."""


class IQueues(Interface):
    """The mapping ``root[KEY]``: queue name -> IQueue.

    Queue names are strings; the default queue is ''.  Nothing here
    commits.

    Routing order (``put``, ``route``): defined, never dict order -- the
    named queues that have a filter, sorted by name, then the default
    queue '' last; a job goes to the first whose filter accepts it.

    In a multi-database the mapping may live in a database of its own
    (``zc.asyncui.install(db, database='async')``), referred to from the
    roots of the databases named in ``linked_databases``.
    """
    __module__ = 'zc.asyncui.interfaces'

    linked_databases = Attribute(
        "Sorted tuple of the names of the other databases of the"
        " multi-database whose root refers to these queues (their objects"
        " are the jobs' callables and arguments); () when the queues live"
        " in the application's own database.  A dispatcher refuses to"
        " start in a process that did not open them all.")

    def put(item, **kw):
        """Put ``item`` in ``route(job)``, with the keyword arguments of
        IQueue.put; raises QueueNotFoundError if no queue accepts it."""

    def routingOrder():
        """The queues ``route`` asks, in order: the queues other than ''
        that have a filter, by name; then the default queue '' (last,
        with or without a filter).  Named queues without a filter are
        not in it: only jobs put in them by name go there."""

    def route(job):
        """The first queue of ``routingOrder()`` whose filter accepts
        ``job`` (the default queue '' without filter accepts every job);
        raises QueueNotFoundError naming the filters that refused it."""

    def __getitem__(name):
        """The queue ``name``; raises QueueNotFoundError (a LookupError)
        naming the installed queues."""

    def __setitem__(name, queue):
        """Add ``queue`` (an IQueue) as ``name``; raises TypeError for a
        name that is not a string or a value that is not a queue."""

    def __delitem__(name):
        """Remove queue ``name``; raises ValueError while it has pending
        jobs."""

    def get(name, default=None):
        """The queue ``name``, or ``default``."""

    def __contains__(name):
        """True when a queue is called ``name``."""

    def __iter__():
        """Queue names, sorted."""

    def __len__():
        """Number of queues."""

    def keys():
        """List of queue names, sorted."""

    def values():
        """List of queues, by name."""

    def items():
        """List of (name, queue) pairs, by name."""
