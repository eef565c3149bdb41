"""The contracts of the persistent side of claiming: IDispatcherAgents,
the record of one dispatcher in one queue, and the IAgents it holds.

Layer: contracts.  Part of ``zc.asyncui.interfaces``, which re-exports
every name: import them from there.  Each interface sets ``__module__``
to that public module, so its identifier (``zc.asyncui.interfaces.IJob``:
error messages, ZCML, and pickles of registrations stored in a database)
does not depend on the file it is written in.
"""
from zope.interface import Attribute
from zope.interface import Interface


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
    __module__ = 'zc.asyncui.interfaces'

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
    __module__ = 'zc.asyncui.interfaces'

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
