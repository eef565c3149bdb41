"""zc.asyncui: a durable, transactional job queue inside a ZODB database.

The curated public API; see README.txt for the tutorial.
"""
# Jobs and their results
from zc.asyncui.job import Job
from zc.asyncui.job import JobStatus
from zc.asyncui.failure import Failure

# Queues: installing and finding them
from zc.asyncui.queue import install
from zc.asyncui.queue import getQueue
from zc.asyncui.queue import getQueues
from zc.asyncui.queue import Queue
from zc.asyncui.queue import Queues
from zc.asyncui.agent import Agent

# Errors
from zc.asyncui.errors import AsyncUIError
from zc.asyncui.errors import BadStatusError
from zc.asyncui.errors import UnpicklableCallableError

__all__ = [
    # jobs
    'Job', 'JobStatus', 'Failure',
    # queues and agents
    'install', 'getQueue', 'getQueues', 'Queue', 'Queues', 'Agent',
    # errors
    'AsyncUIError', 'BadStatusError', 'UnpicklableCallableError',
]
