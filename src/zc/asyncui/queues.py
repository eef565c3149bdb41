"""Queues: the mapping of named queues in the database root
(``root['zc.asyncui']``), and how ``Queues.put`` routes a job to the first
queue whose filter accepts it (see IQueues.routingOrder).

``zc.asyncui.queue`` still names ``Queues``: databases written before
the class moved here store it under that module.
"""
import BTrees.OOBTree
import persistent
import zope.interface

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import queuekeys as keys
from zc.asyncui import utils
from zc.asyncui.job import Job


@zope.interface.implementer(interfaces.IQueues)
class Queues(utils.NamedMapping, persistent.Persistent):
    """See IQueues: the mapping ``root['zc.asyncui']`` (reading:
    utils.NamedMapping)."""

    #: See IQueues.linked_databases (set by zc.asyncui.install).
    linked_databases = ()

    def __init__(self):
        self._data = BTrees.OOBTree.OOBTree()

    def __setitem__(self, name, queue):
        if not isinstance(name, str):
            raise TypeError('queue names are strings, not %r (%s): write'
                            ' queues[%r] = queue'
                            % (name, type(name).__name__, _as_name(name)))
        if not interfaces.IQueue.providedBy(queue):
            raise TypeError('%r is not a queue (IQueue)' % (queue,))
        queue.name = name
        queue.__parent__ = self
        self._data[name] = queue
        if self._p_jar is not None and queue._p_jar is None:
            self._p_jar.add(queue)  # usable (put) before the commit

    def __getitem__(self, name):
        try:
            return self._data[name]
        except KeyError:
            raise errors.QueueNotFoundError(_unknown_queue(name, self)) \
                from None

    def __delitem__(self, name):
        queue = self[name]
        if len(queue):
            raise ValueError('Queue %r still has %d pending jobs: pull them'
                             ' first.' % (name, len(queue)))
        del self._data[name]

    def put(self, item, **kw):
        """See IQueues.put."""
        job = item if isinstance(item, Job) else Job(item)
        if kw.get('priority'):
            # Set before routing: a filter may look at the priority.
            keys.check_priority(kw['priority'])
            job.priority = kw['priority']
        return self.route(job).put(job, **kw)

    def routingOrder(self):
        """See IQueues.routingOrder."""
        named = [queue for name, queue in self._data.items()
                 if name and queue.filter is not None]
        default = self._data.get('')
        return named + ([] if default is None else [default])

    def route(self, job):
        """See IQueues.route."""
        for queue in self.routingOrder():
            if queue.filter is None or queue.filter(job):
                return queue
        tried = ', '.join('%r (filter %r)' % (q.name, q.filter)
                          for q in self.routingOrder())
        raise errors.QueueNotFoundError(
            'No queue accepts %r: %s, and there is no unfiltered default'
            ' queue named "". Install one with zc.asyncui.install(db,'
            ' names=[""]), or put the job in a queue by name.'
            % (job, ('the filters of ' + tried + ' refuse it') if tried
               else 'no queue has a filter'))


def _as_name(name):
    """The string a bad queue name probably meant (for error messages)."""
    if isinstance(name, bytes):
        return name.decode('utf-8', 'replace')
    return '' if name is None else str(name)


def _unknown_queue(name, queues):
    names = ', '.join(repr(n) for n in queues) or 'none'
    return ('No queue named %r; installed queues: %s. Install it with'
            ' zc.asyncui.install(db, names=[%r]).' % (name, names, name))
