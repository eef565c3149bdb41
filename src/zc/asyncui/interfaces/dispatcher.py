"""The contracts of the per-process runtime: IDispatcher, and IJobRunner,
what running a job asks of the dispatcher it runs under.

Layer: contracts.  Part of ``zc.asyncui.interfaces``, which re-exports
every name: import them from there.  Each interface sets ``__module__``
to that public module, so its identifier (``zc.asyncui.interfaces.IJob``:
error messages, ZCML, and pickles of registrations stored in a database)
does not depend on the file it is written in.
"""
from zope.interface import Attribute
from zope.interface import Interface


class IJobRunner(Interface):
    """What running a job (zc.asyncui.jobrun, execution, worker) asks
    of the dispatcher it runs under: a place to note what happened to a
    job in this process and to find an agent.  The dispatcher provides
    it, and so does the in-thread runner of ``zc.asyncui.testing``.

    Threads: called by worker threads (or the thread running
    ``run_jobs``); never commits.
    """
    __module__ = 'zc.asyncui.interfaces'

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
    __module__ = 'zc.asyncui.interfaces'

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
