"""The contracts of zc.asyncui.

Each interface states its invariants, what its methods raise, whether
they commit (library code never commits unless its name says so) and which
thread may call them.  Implementations say "See IQueue.put." and add only
implementation notes.

Layers
------

Each module imports only modules of its own layer (without cycles) and
of the layers above it in this list; tests/test_layers.py enforces it,
imports inside functions included::

    1. contracts         interfaces, errors, events, utils, settings
           |
    2. persistent model  job, failure, queue, queues, queuekeys, queueroot,
           |             agent, quota, composite, workpile, periodic,
           |             dispatcheragents, filters, retry, recovery, local,
           |             jobcontext (and the package ``zc.asyncui``, their API)
    3. thread runtime    dispatcher, polling, dispatcherstate, liveness,
           |             worker, jobrun, execution, callbacks,
           |             instanceuuid
    4. configuration     config, patterns, testing, inline (run_jobs),
           |             ftesting, requestcontext
           |
    5. front-ends        the command line (main, server, tools; moving
                         to zc.asyncui.cli), monitor/, browser/, ZCML

So the persistent model can be loaded, read and changed (by views, the
monitor, a script) without any thread machinery, and no engine module
knows about a front-end.  A lower layer that must reach a higher one
offers a hook the higher one fills in, never an import.
"""
from zope.interface import Attribute
from zope.interface import Interface
from zope.interface import Invalid
from zope.interface import invariant

#: The key of the ``Queues`` mapping in the database root.
KEY = 'zc.asyncui'


class IFailure(Interface):
    """A picklable record of an exception: never the live exception.

    Invariant: always picklable and small (locals are captured as short
    reprs, and only when asked for).
    """

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
    """

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


class IFilter(Interface):
    """A side-effect free predicate ``(job) -> bool``.

    Filters decide which jobs an agent claims or a queue accepts.  They
    must not look at agent capacity or change anything, so that views and
    the monitor can ask "what would this agent take" safely.
    """

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

    def __call__(agent, jobs):
        """One of ``jobs``, or None."""


class IAgent(Interface):
    """Claims jobs from one queue for one dispatcher.

    Invariants: runs at most ``size`` jobs at once (and holds claimed jobs
    not yet started, when prefetching); its held-jobs tree is the one
    record of which jobs it holds; removing a job is idempotent.

    Threads: the held-jobs tree and the completion record are written by
    its dispatcher's poll thread (claims, and completions recorded in
    batches) in the common case, so that worker threads finishing jobs do
    not conflict.  A worker thread writes them when a job leaves the agent
    another way: its retry policy retries it later, it waits for a job it
    returned, it completes after its callbacks, or the worker finds it
    lost (recovery).  Recovery by another dispatcher, or by ``stop()``,
    writes them in that thread.
    """

    name = Attribute("Name, unique within the dispatcher's agents.")
    queue = Attribute("The IQueue it claims from (None until added to a "
                      "dispatcher record in a queue).")
    dispatcher_record = Attribute("The IDispatcherAgents it belongs to, or "
                                  "None.")
    size = Attribute("Maximum number of jobs run at once.")
    filter = Attribute("IFilter or None (accept every job).")
    chooser = Attribute("Callable ``(agent, jobs) -> job`` picking among "
                        "eligible jobs, or None (first in claim order).")
    retry_policy_factory = Attribute("Default policy factory for jobs this "
                                     "agent runs, or None.")
    completed = Attribute("Recent completions, newest first (bounded by "
                          "``completed_max_count`` and "
                          "``completed_max_age``).")
    active = Attribute("False between ``deactivate()`` and "
                       "``activate()``: the agent claims nothing.")

    def deactivate():
        """Stop this agent from claiming jobs until ``activate()``; the
        jobs it holds still run.  Unlike a size of 0 it keeps the size,
        and the dispatcher keeps its worker threads.  Notifies
        AgentDeactivated.  Returns False (and notifies nothing) if it was
        already inactive, else True."""

    def activate():
        """Let a deactivated agent claim jobs again.  Notifies
        AgentActivated.  Returns False (and notifies nothing) if it was
        active, else True."""

    def claimJob(now=None):
        """Claim one job from the queue into this agent, or return None."""

    def claimJobs(count, now=None):
        """Claim up to ``count`` jobs in one pass; returns them."""

    def remove(job):
        """Stop holding ``job``; a no-op (logged at DEBUG) if not held.
        Neither loads nor changes the job."""

    def jobCompleted(job):
        """Stop holding a completed job and add it to the completion
        record; idempotent."""

    def recordCompletions(jobs, end_times=None):
        """Add completed jobs to the completion record; ``end_times``
        (timestamps, one per job) spare loading them."""

    def recentCompletions(limit=None):
        """Completed jobs, newest first, at most ``limit``."""

    def pruneCompleted(now=None):
        """Drop completion records beyond the count and age limits;
        returns how many."""

    def heldOids():
        """The oids of the held jobs, without loading them."""

    def __len__():
        """Number of held jobs."""

    def __iter__():
        """Held jobs."""


class IDispatcherAgents(Interface):
    """The persistent record of one dispatcher (process) in one queue.

    It is also the mapping of that dispatcher's agents in the queue
    (agent name -> IAgent).

    Invariants: ``activated`` is set by exactly one live process; a
    record is dead when neither ``last_ping`` nor ``activated`` is newer
    than ``ping_death_interval``.  Nothing here commits.
    """

    UUID = Attribute("The dispatcher's UUID (string).")
    queue = Attribute("The IQueue this record is in.")
    activated = Attribute("Aware datetime of activation, or None.")
    last_ping = Attribute("Aware datetime of the latest ping, or None.")
    ping_interval = Attribute(
        "Seconds (float) between pings, as every interval; setting a"
        " timedelta stores its seconds.")
    ping_death_interval = Attribute(
        "Seconds (float) of silence that mean dead; setting a timedelta"
        " stores its seconds.")
    dead = Attribute("True when the record is activated but silent.")
    host = Attribute("Host name of the process that activated it, or None.")
    pid = Attribute("Process id of the process that activated it, or None.")
    process_token = Attribute("Random token of the activating process (tells "
                              "a restart of the same instance from another "
                              "live process), or None when inactive.")

    def lastSeen():
        """The latest of ``last_ping`` and ``activated``, or None."""

    def isDead(now=None):
        """True when activated and not seen for ``ping_death_interval``."""

    def livenessState(now=None):
        """'inactive' (not activated), 'dead' (activated but silent for
        ``ping_death_interval``) or 'alive'."""

    def activate(host, pid, token, now=None):
        """Mark the record active for this process (and pinged now);
        notifies DispatcherActivated."""

    def deactivate(reason, now=None):
        """Release every job its agents hold (zc.asyncui.recovery: to the
        queue, or to their retry policy if started) and mark the record
        inactive; notifies DispatcherDeactivated.  Returns a dict of
        counts by outcome ('requeued', 'retry', 'aborted' ...)."""

    def ping(now=None):
        """Record a ping if ``ping_interval`` has passed since the last;
        True if it wrote."""

    def __setitem__(name, agent):
        """Add an agent; raises TypeError if it is not an IAgent, and
        ConfigurationError if the name is taken."""

    def __getitem__(name):
        """The agent ``name``; raises KeyError."""

    def __delitem__(name):
        """Remove agent ``name``; raises ConfigurationError while it holds
        jobs (set its size to 0 and wait)."""

    def get(name, default=None):
        """The agent ``name``, or ``default``."""

    def __contains__(name):
        """True when an agent is called ``name``."""

    def __iter__():
        """Agent names, sorted."""

    def __len__():
        """Number of agents."""

    def keys():
        """List of agent names, sorted."""

    def values():
        """List of agents, by name."""

    def items():
        """List of (name, agent) pairs, by name."""


class IRetryPolicy(Interface):
    """Decides what happens when a job's call, its commit, or its process
    fails.

    Each method returns True (retry now), False (give up), or a timedelta
    or aware datetime (put the job back in its queue to begin after that;
    a worker never sleeps through a backoff).  Counters live on the job
    (``job.retry_counts``) so they survive interruptions.
    """

    def jobError(failure):
        """The call raised; ``failure`` is an IFailure."""

    def commitError(failure):
        """Committing the job's transaction raised."""

    def interrupted():
        """The process running the job died or stopped mid-call."""


class IJobRunner(Interface):
    """What running a job (zc.asyncui.jobrun, execution, worker) asks
    of the dispatcher it runs under: a place to note what happened to a
    job in this process and to find an agent.  The dispatcher provides
    it, and so does the in-thread runner of ``zc.asyncui.testing``.

    Threads: called by worker threads (or the thread running
    ``run_jobs``); never commits.
    """

    uuid_str = Attribute("The dispatcher's UUID as a string.")
    verbose_failures = Attribute(
        "True to log every failure with its traceback.")
    job_retry_policy_factory = Attribute(
        "The process default retry policy factory for jobs, or None.")
    callback_retry_policy_factory = Attribute(
        "The process default retry policy factory for callbacks, or None.")

    def recordJob(job, event):
        """Remember in memory that ``event`` (a word: started, completed,
        rescheduled...) happened to ``job``; see IDispatcher.getJobInfo."""

    def noteCompletion(agent, job):
        """``job``, held by ``agent``, was committed COMPLETED by a worker:
        the poll thread takes it off the agent in a later poll."""

    def noteFinished(job):
        """``job``, held by no agent (a callback, or a job its agent let
        go when its callbacks completed), was committed COMPLETED by a
        worker: the poll thread records it in the durable history
        (zc.asyncui.history) in a later poll."""

    def findAgent(conn, queue_name, agent_name):
        """This dispatcher's agent ``agent_name`` in queue ``queue_name``,
        as seen by ``conn``, or None if there is none."""


class IDispatcher(IJobRunner):
    """The per-process runner of one database's jobs (not persistent).

    Threads: ``stop`` and the introspection methods may be called from any
    thread; polling and job running happen in the dispatcher's own
    threads.
    """

    UUID = Attribute("This process's UUID (uuid.UUID).")
    activated = Attribute("True while the dispatcher runs.")
    db = Attribute("The ZODB database.")

    def start():
        """Open the poll connection and start the poll thread; called once,
        by ``zc.asyncui.dispatcher.start``, which registers the dispatcher
        first.  Raises DispatcherError if the database cannot be opened;
        a start that fails leaves the dispatcher stopped, with nothing
        open."""

    def stop(timeout=30.0):
        """Stop claiming, wait up to ``timeout`` seconds for running jobs,
        deactivate in every queue (unstarted jobs go back to their queues;
        jobs still running are handed to their retry policy).  Commits."""

    def getStatusInfo():
        """Dict: ``uuid``, ``status`` (RUNNING, STARTING, STUCK,
        STOPPED), ``poll_interval``, ``ping_interval``,
        ``ping_death_interval`` (seconds), ``uptime`` and
        ``since_last_poll`` (seconds or None), ``polls`` (count),
        ``active_queues`` (names), ``active_jobs`` (count) and
        ``workers``: per agent, a dict of queue, agent, size, alive
        threads, ``replaced`` (worker threads that died and were
        replaced) and ``last_death``."""

    def getJobInfo(key):
        """What this process remembers of job ``key`` (a dict: event,
        status, thread, time, failed, started and ended (timestamps or
        None), queue and agent names), or None.  Bounded history."""

    def getActiveJobs(queue_name=None, agent_name=None):
        """Keys of the jobs this process's workers run right now or have
        waiting in their inboxes (claimed, not yet started); only those
        of queue ``queue_name`` and agent ``agent_name`` when given."""

    def wake():
        """Poll now instead of at the next interval."""

    def addAgent(queue_name, name, **options):
        """Make sure this dispatcher has an agent ``name`` in queue
        ``queue_name`` (None: in every queue): ``Agent(**options)``,
        created at the next poll where the dispatcher is active, at
        activation elsewhere; an existing agent keeps its settings.
        ``options`` are checked at once (ConfigurationError).  Any thread;
        writes nothing itself."""


class IJobEvent(Interface):
    """An event about a job."""
    object = Attribute("The job.")


class IJobCompleted(IJobEvent):
    """A job got its result (value or Failure), inside the transaction
    that stores it: in the worker thread that ran it, or -- for a job
    whose retry policy gave up after an interruption -- in the thread
    that released it (see docs/events.rst).

    A subscriber that raises is logged at ERROR and the event's outcome
    stands; subscribers after it in ``zope.event.subscribers`` are not
    called for that event."""


class IJobFailed(IJobCompleted):
    """A job's result is a Failure."""


class IDispatcherEvent(Interface):
    """An event about a dispatcher.  A subscriber that raises is logged at
    ERROR and the event's outcome stands."""
    object = Attribute("The IDispatcherAgents record.")


class IQueueEvent(Interface):
    """An event about a queue.  A subscriber that raises is logged at
    ERROR and the event's outcome stands."""
    object = Attribute("The IQueue.")


class IQueuePaused(IQueueEvent):
    """A queue was paused (``IQueue.pause``), inside the transaction that
    pauses it, in the thread that called it."""


class IQueueResumed(IQueueEvent):
    """A paused queue was resumed (``IQueue.resume``), inside the
    transaction that resumes it, in the thread that called it."""


class IAgentEvent(Interface):
    """An event about an agent.  A subscriber that raises is logged at
    ERROR and the event's outcome stands."""
    object = Attribute("The IAgent.")


class IAgentActivated(IAgentEvent):
    """A deactivated agent was activated again (``IAgent.activate``),
    inside that transaction, in the thread that called it."""


class IAgentDeactivated(IAgentEvent):
    """An agent was deactivated (``IAgent.deactivate``), inside that
    transaction, in the thread that called it."""


class IDispatcherActivated(IDispatcherEvent):
    """A dispatcher activated itself in a queue (poll thread, inside the
    activation transaction)."""


class IDispatcherDeactivated(IDispatcherEvent):
    """A dispatcher record was deactivated (its own stop, or found dead by
    another dispatcher), inside the deactivation transaction."""


class IJobContext(Interface):
    """Carries context from the code that puts a job to the code that
    runs it (the site and the principal of a request, a tenant, a
    locale...).  Registered as a named utility; see
    ``zc.asyncui.jobcontext``.  ``zc.asyncui.jobcontext.JobContext`` is
    the no-op base class.

    Invariant: a job put where ``capture`` finds nothing to carry runs
    exactly as if no hook were registered.
    """

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


class IComposite(Interface):
    """The persistent state of one parallel or serial job (made by
    ``zc.asyncui.patterns.parallel``, ``serial`` or ``broadcast``;
    zc.asyncui.composite.Composite): the outer job calls ``run``, each
    component's callback calls ``componentDone``, the postprocess job
    calls ``finish``.

    Invariants (``validateInvariants`` checks the counting ones):

    - ``kind`` is 'parallel' or 'serial'; ``components`` only grows;
    - ``finished_count <= len(components)`` and
      ``put_count <= len(components)``: a component is put once and its
      callback counts it once;
    - serial: ``put_count <= finished_count + 1`` (one component at a
      time, in order);
    - the postprocess runs once, after every component finished (each
      writer writes the composite, so concurrent finishes conflict and
      one retries), and a finished component is never run again.

    Nothing here commits: each method runs in the transaction of the job
    that calls it (a worker thread).  Not conflict-resolving on purpose.
    """

    kind = Attribute("'parallel' or 'serial'.")
    label = Attribute("The kind shown in annotations ('broadcast' for a "
                      "broadcast, else ``kind``).")
    outer = Attribute("The outer Job, whose callable is ``run``: the job "
                      "to put.")
    components = Attribute("The component Jobs, a tuple, in order.")
    postprocess = Attribute("The Job that calls ``finish``: put parked "
                            "when the outer job runs, released when the "
                            "last component finished.")
    user_postprocess = Attribute("The callable (or Job) given as "
                                 "``postprocess=``, or None.")
    queue = Attribute("The outer job's queue once it ran, else None.")
    finished_count = Attribute("How many components have finished.")
    put_count = Attribute("How many components have been put, in order.")

    def run():
        """The outer job's call: put the components whose turn it is and
        return the postprocess job, which the outer job waits for."""

    def componentDone(result):
        """A component's callback: count it, put the next one (serial) or
        release the postprocess once every component has finished."""

    def finish():
        """The postprocess job's call: the user's postprocess called with
        the component jobs, or the list of their results."""

    def extend(jobs):
        """Add components (NEW Jobs or callables) and return them as a
        list of Jobs; put at once if the outer job runs.  Raises
        BadStatusError once the postprocess has been released, and
        BadStatusError or TypeError for a component that is not a NEW
        Job or a callable."""

    @invariant
    def counts_within_components(composite):
        total = len(composite.components)
        if not (0 <= composite.finished_count <= total
                and 0 <= composite.put_count <= total):
            raise Invalid('finished_count %d and put_count %d must be'
                          ' within 0..%d components'
                          % (composite.finished_count, composite.put_count,
                             total))

    @invariant
    def serial_one_at_a_time(composite):
        if composite.kind not in ('parallel', 'serial'):
            raise Invalid('kind must be parallel or serial, not %r'
                          % (composite.kind,))
        if (composite.kind == 'serial'
                and composite.put_count > composite.finished_count + 1):
            raise Invalid('a serial job put %d components while %d had'
                          ' finished' % (composite.put_count,
                                         composite.finished_count))


class IWorkPile(Interface):
    """A persistent pile of work items that application code appends to
    in its own transactions, and the one pending job that takes them
    (zc.asyncui.workpile.WorkPile).

    Invariants:

    - appends never conflict with each other nor with the job taking the
      items (conflict resolution by item);
    - every item appended by a committed transaction is taken by exactly
      one committed drain: two drains that took the same item conflict;
    - at most one job put by ``ensureJob`` in a queue is pending (not
      started) at a time.

    Nothing here commits.  Any thread, through its own connection.
    """

    key = Attribute("The pile's printable id (its oid), or None.")

    def append(item):
        """Add a picklable ``item``; raises UnpicklableCallableError for
        one that cannot be stored."""

    def take():
        """Remove and return every item, in append order."""

    def ensureJob(queue, processor):
        """Return the pending job of this pile in ``queue``, putting one
        if there is none (a put with a collapse key, see IQueue.put).
        The job takes every item visible when it runs and calls
        ``processor(items)`` in its own transaction; if the processor
        raises, the items stay.  Raises NotInDatabaseError if ``queue``
        is not stored."""

    def __len__():
        """The number of items not taken yet."""

    def __iter__():
        """The items not taken yet, in append order."""


class ISchedule(Interface):
    """A periodic job (``zc.asyncui.periodic.schedule``): a template call,
    a period (``every`` or ``cron``) and a queue.

    Invariants:

    - at most one pending run (``job``) at a time, and exactly one while
      neither paused nor removed (unless putting it failed: see its
      last run's annotation);
    - the run after a run is put in the transaction that starts that
      run (or cancels it before it started), so each period runs at most
      once whatever the number of dispatchers;
    - periods missed while nothing ran are run once, late.

    Nothing here commits.
    """

    name = Attribute("The schedule's name, unique in the database.")
    every = Attribute("The period as a timedelta, or None for cron.")
    cron = Attribute("The cron expression (UTC), or None for every.")
    queue = Attribute("The queue its runs are put in.")
    job = Attribute("The pending run (a Job), or None.")
    last_job = Attribute("The latest run that started, or None.")
    runs = Attribute("How many runs started (or were cancelled).")
    next_run = Attribute("When the pending run may start, or None.")
    paused = Attribute("True between pause() and resume().")
    removed = Attribute("True once replaced or removed.")

    def pause():
        """Take the pending run out of its queue; no run is put until
        resume().  A run already claimed still runs, with no next."""

    def resume():
        """Put the next run, one period after now.  Raises BadStatusError
        for a removed schedule."""

    def next_after(after, period=None):
        """The first period strictly after ``after``."""


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

    def __call__(connection, *args):
        """Run the command, writing its output to ``connection``."""
