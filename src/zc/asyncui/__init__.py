"""zc.asyncui: a durable, transactional job queue inside a ZODB database.

The curated public API; see README.txt for the tutorial.  Submodules
with their own public API: ``zc.asyncui.config`` (installQueues,
addAgent, startDispatcher, stopDispatcher: what ZCML configures, from
Python), ``zc.asyncui.dispatcher`` (start, get),
``zc.asyncui.local`` (for running jobs), ``zc.asyncui.testing``,
``zc.asyncui.interfaces`` and ``zc.asyncui.errors``.
"""
# Jobs and their results
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.failure import Failure

# Queues: installing and finding them; agents
from zc.asyncui.queueroot import install
from zc.asyncui.queueroot import getQueue
from zc.asyncui.queueroot import getQueues
from zc.asyncui.queueroot import getQueueDatabase
from zc.asyncui.queue import Queue
from zc.asyncui.queues import Queues
from zc.asyncui.agent import Agent

# Quotas: limits on jobs running at once, across dispatchers (issue 8)
from zc.asyncui.quota import Quota
from zc.asyncui.quota import Quotas

# Filters for agents and queues
from zc.asyncui.filters import CallablesFilter
from zc.asyncui.filters import MinimumPriorityFilter
from zc.asyncui.filters import PriorityRangeFilter
from zc.asyncui.filters import QueueTimeFilter
from zc.asyncui.filters import TagFilter

# Retry policies
from zc.asyncui.retry import NeverRetry
from zc.asyncui.retry import RetryCommonForever
from zc.asyncui.retry import RetryCommonFourTimes
from zc.asyncui.retry import RetryPolicy

# Composite work patterns (also in zc.asyncui.patterns)
from zc.asyncui.composite import broadcast
from zc.asyncui.composite import parallel
from zc.asyncui.composite import serial
from zc.asyncui.periodic import schedule
from zc.asyncui.workpile import WorkPile

# Errors
from zc.asyncui.errors import AsyncUIError
from zc.asyncui.errors import BadStatusError
from zc.asyncui.errors import QuotaNotFoundError
from zc.asyncui.errors import UnpicklableCallableError

__all__ = [
    # jobs
    'Job', 'JobStatus', 'Failure',
    # queues and agents
    'install', 'getQueue', 'getQueues', 'getQueueDatabase', 'Queue',
    'Queues', 'Agent',
    # quotas
    'Quota', 'Quotas',
    # filters
    'CallablesFilter', 'MinimumPriorityFilter', 'PriorityRangeFilter',
    'QueueTimeFilter', 'TagFilter',
    # retry policies
    'NeverRetry', 'RetryCommonForever', 'RetryCommonFourTimes',
    'RetryPolicy',
    # composite work patterns
    'parallel', 'serial', 'broadcast', 'schedule', 'WorkPile',
    # errors
    'AsyncUIError', 'BadStatusError', 'QuotaNotFoundError',
    'UnpicklableCallableError',
]
