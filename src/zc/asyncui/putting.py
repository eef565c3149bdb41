"""Checks of Queue.put (zc.asyncui.queue): what a put is asked is
checked, and the job's options set, before the queue changes.

Layer: model.
"""
from zc.asyncui import errors
from zc.asyncui import quota
from zc.asyncui import queuekeys as keys
from zc.asyncui.job import NEW
from zc.asyncui.job import check_storable


def check_putable(queue, job, priority, quota_names):
    """Check what ``queue.put`` is asked before it changes anything but
    the job's quota names; return the queue's connection."""
    if job._status != NEW:
        job._require('be put in a queue', NEW)
    keys.check_priority(priority)
    names = quota.check_names(
        job.quota_names if quota_names is None else quota_names,
        queue.quotas if queue.quotas is not None else ())
    if names != job.quota_names:
        job.quota_names = names
    if queue._p_jar is None:
        raise errors.NotInDatabaseError(
            'Queue %r is not stored in a database yet: put jobs in a'
            ' queue found with zc.asyncui.getQueue(connection).'
            % queue.name)
    return queue._p_jar


def set_options(job, now, begin_after, begin_by, priority,
                retry_policy_factory, failure_log_level):
    """Give the job the options ``put`` was called with, once its
    arguments and retry policy factory are known to be storable."""
    check_storable((job.args, job.kwargs), 'the arguments of %r', job)
    factory = (job.retry_policy_factory if retry_policy_factory is None
               else retry_policy_factory)
    check_storable(factory, 'the retry policy factory of %r', job)
    if begin_after is not None:
        job.begin_after = begin_after
    elif job._begin_after_ts is None:
        job.begin_after = now
    if begin_by is not None:
        job.begin_by = begin_by
    if priority:
        job.priority = priority
    if retry_policy_factory is not None:
        job.retry_policy_factory = retry_policy_factory
    if failure_log_level is not None:
        job.failure_log_level = failure_log_level


def check_filter(queue, job):
    """Raise FilterRefusedError when the queue's filter refuses the
    job (asked once its options, such as priority, are set)."""
    if queue.filter is None or queue.filter(job):
        return
    raise errors.FilterRefusedError(
        'Queue %r refuses %r: its filter %r does not accept it. Put it'
        ' in another queue, or use zc.asyncui.getQueues(conn).put(job),'
        ' which routes each job to the first queue that accepts it.'
        % (queue.name, job, queue.filter), queue.name, queue.filter)
