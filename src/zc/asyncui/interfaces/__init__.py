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

Where each contract is written
------------------------------

One module of this package per subject; this package re-exports every
name, and each interface's ``__module__`` is ``zc.asyncui.interfaces``,
so ``zc.asyncui.interfaces.IJob`` is its one name (in code, ZCML, error
messages and stored registrations) wherever its text lives.  All of
them are in layer 1, contracts:

    jobs         IJob, IFailure
    queues       IQueues, IQueue, IQuotas, IQuota, KEY
    agents       IDispatcherAgents, IAgent
    dispatcher   IDispatcher, IJobRunner
    events       the lifecycle events (I*Event, I*Activated ...)
    extensions   what applications plug in: IFilter, IChooser,
                 IRetryPolicy, IJobContext, IMonitorPlugin
    patterns     IComposite, IWorkPile, ISchedule
"""
# Jobs and their results
from zc.asyncui.interfaces.jobs import IFailure
from zc.asyncui.interfaces.jobs import IJob

# Queues, their quotas, and where they live in the database
from zc.asyncui.interfaces.queues import KEY
from zc.asyncui.interfaces.queues import IQueue
from zc.asyncui.interfaces.queues import IQueues
from zc.asyncui.interfaces.queues import IQuota
from zc.asyncui.interfaces.queues import IQuotas

# Dispatchers' records in queues, and their agents
from zc.asyncui.interfaces.agents import IAgent
from zc.asyncui.interfaces.agents import IDispatcherAgents

# The per-process runtime
from zc.asyncui.interfaces.dispatcher import IDispatcher
from zc.asyncui.interfaces.dispatcher import IJobRunner

# Lifecycle events
from zc.asyncui.interfaces.events import IAgentActivated
from zc.asyncui.interfaces.events import IAgentDeactivated
from zc.asyncui.interfaces.events import IAgentEvent
from zc.asyncui.interfaces.events import IDispatcherActivated
from zc.asyncui.interfaces.events import IDispatcherDeactivated
from zc.asyncui.interfaces.events import IDispatcherEvent
from zc.asyncui.interfaces.events import IJobCompleted
from zc.asyncui.interfaces.events import IJobEvent
from zc.asyncui.interfaces.events import IJobFailed
from zc.asyncui.interfaces.events import IQueueEvent
from zc.asyncui.interfaces.events import IQueuePaused
from zc.asyncui.interfaces.events import IQueueResumed

# Extension points
from zc.asyncui.interfaces.extensions import IChooser
from zc.asyncui.interfaces.extensions import IFilter
from zc.asyncui.interfaces.extensions import IJobContext
from zc.asyncui.interfaces.extensions import IMonitorPlugin
from zc.asyncui.interfaces.extensions import IRetryPolicy

# Work patterns
from zc.asyncui.interfaces.patterns import IComposite
from zc.asyncui.interfaces.patterns import ISchedule
from zc.asyncui.interfaces.patterns import IWorkPile

__all__ = [
    # jobs
    'IFailure', 'IJob',
    # queues
    'KEY', 'IQueue', 'IQueues', 'IQuota', 'IQuotas',
    # agents
    'IAgent', 'IDispatcherAgents',
    # runtime
    'IDispatcher', 'IJobRunner',
    # events
    'IAgentActivated', 'IAgentDeactivated', 'IAgentEvent',
    'IDispatcherActivated', 'IDispatcherDeactivated', 'IDispatcherEvent',
    'IJobCompleted', 'IJobEvent', 'IJobFailed', 'IQueueEvent',
    'IQueuePaused', 'IQueueResumed',
    # extension points
    'IChooser', 'IFilter', 'IJobContext', 'IMonitorPlugin', 'IRetryPolicy',
    # patterns
    'IComposite', 'ISchedule', 'IWorkPile',
]
