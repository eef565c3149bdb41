"""Jobs: a call to make later, stored in the database.

A :class:`Job` holds a picklable callable and its arguments, its status
(:class:`JobStatus`), its result or :class:`~zc.asyncui.failure.Failure`,
its callbacks and its timing.  Status, attempts, result and retry
counters are changed only by ``zc.asyncui.lifecycle``, against its table
of allowed moves; application code creates jobs, puts them in a queue and
reads them.  What a job calls (checking, naming and storing callables,
the argument containers) is ``zc.asyncui.calls``.
"""
import datetime
import enum
import logging
import types

import BTrees.OOBTree
import persistent
import zope.interface
import ZODB.POSException

from zc.asyncui import calls
from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import quota
from zc.asyncui import utils
from zc.asyncui.calls import check_storable  # also used by queue and agent
from zc.asyncui.failure import Failure

logger = logging.getLogger(__name__)


class JobStatus(str, enum.Enum):
    """The status of a job; it only moves forward (see IJob)."""

    NEW = 'NEW'
    PENDING = 'PENDING'
    ASSIGNED = 'ASSIGNED'
    ACTIVE = 'ACTIVE'
    CALLBACKS = 'CALLBACKS'
    COMPLETED = 'COMPLETED'

    def __str__(self):
        return self.value


NEW, PENDING, ASSIGNED, ACTIVE, CALLBACKS, COMPLETED = (
    s.value for s in JobStatus)


def describe(job):
    """How every log line names a job: ``job 0x1f5 (mytasks.greet)``.
    Computed now: log records must not keep jobs, whose connection may be
    closed when a handler formats them.  Never raises."""
    try:
        key = job.key or '(unsaved)'
    except Exception:
        key = '?'
    try:
        call = calls.repr_callable(job.callable)
    except Exception:  # a broken callable must not break logging
        call = '?'
    return 'job %s (%s)' % (key, call)


def _check_deadline(begin_after, begin_by):
    """Refuse a begin_by that cannot be added to begin_after."""
    if begin_by is None:
        return
    try:
        (begin_after + begin_by).timestamp()
    except (OverflowError, ValueError):
        raise errors.ConfigurationError(
            'begin_by %s is too long: begin_after (%s) + begin_by is past'
            ' the largest date Python can hold. Use None for no limit.'
            % (begin_by, begin_after.isoformat())) from None


def _check_log_level(value):
    """A logging level as an int (names such as 'WARNING' accepted), or
    None."""
    if value is None:
        return None
    if isinstance(value, str):
        level = logging.getLevelName(value.upper())
        if isinstance(level, int):
            return level
    elif isinstance(value, int) and not isinstance(value, bool) and \
            value >= 0:
        return value
    raise errors.ConfigurationError(
        'failure_log_level must be a logging level such as logging.ERROR'
        ' (40) or its name \'ERROR\', or None; not %r' % (value,))


def _dt(ts):
    return None if ts is None else datetime.datetime.fromtimestamp(
        ts, utils.UTC)


def _time_property(name, doc):
    return property(lambda self: _dt(getattr(self, name)), doc=doc)


ATTEMPT_FIELDS = ('start', 'end', 'dispatcher', 'agent', 'outcome')


@zope.interface.implementer(interfaces.IJob)
class Job(persistent.Persistent):
    """See IJob.

    Implementation notes: every commit of a job pickles its state, so the
    state is kept small -- attributes that are usually empty live on the
    class as defaults, times are stored as float timestamps (exposed as
    aware datetimes), and attempts as tuples.  A claimed job is not
    written at all: the claiming agent's BTree records it, and ``status``
    derives ASSIGNED from "PENDING but no longer in its queue".
    """

    # class-level defaults: not stored until set
    _callable_name = None
    _result = None
    _begin_after_ts = None
    _begin_by = None
    priority = 0
    _quota_names = ()
    _queue = None
    _arrival = None
    _agent = None
    _parent = None
    _callbacks = ()
    _attempts = ()
    retry_counts = {}
    _retry_policy_factory = None
    _failure_log_level = None
    _put_ts = None
    _collapse_key = None  # see zc.asyncui.collapse
    _start_ts = None
    _end_ts = None
    _callbacks_ts = None
    waiting_on = None
    _on_start = None  # called when it starts (zc.asyncui.periodic)
    _cancel_requested = False
    #: The UUID string of the one dispatcher allowed to call this job (see
    #: zc.asyncui.pins; set by broadcast), or None.
    pinned_to = None
    _v_calling = False  # True while __call__ runs (per connection)

    def __init__(self, callable, *args, **kwargs):
        self._status = NEW
        self.callable = callable
        self.args = calls.JobArgs(args, self)
        self.kwargs = calls.JobKwargs(kwargs, self)
        self.annotations = BTrees.OOBTree.OOBTree()

    # -- identity and status ------------------------------------------

    @property
    def key(self):
        """See IJob.key."""
        oid = self._p_oid
        return None if oid is None else utils.oid_key(oid)

    @property
    def status(self):
        """See IJob.status."""
        status = self._status
        if status == PENDING and self._queue is not None and \
                self not in self._queue:
            status = ASSIGNED
        return JobStatus(status)

    @property
    def result(self):
        """See IJob.result."""
        return self._result

    @property
    def failed(self):
        """True when the result is a Failure."""
        return isinstance(self._result, Failure)

    @property
    def queue(self):
        return self._queue

    @property
    def agent(self):
        """The agent running the job (set when it starts), or None."""
        return self._agent

    @property
    def parent(self):
        return self._parent

    @property
    def callbacks(self):
        return self._callbacks

    @property
    def attempts(self):
        """See IJob.attempts."""
        return tuple(dict(zip(ATTEMPT_FIELDS, (
            _dt(a[0]), _dt(a[1]), a[2], a[3], a[4]))) for a in self._attempts)

    put_time = _time_property('_put_ts', 'When the job was put.')
    active_start = _time_property('_start_ts', 'Start of the last attempt.')
    active_end = _time_property('_end_ts', 'When the call finished.')
    callbacks_completed = _time_property('_callbacks_ts',
                                         'When the callbacks were all done.')

    def _require(self, action, *statuses):
        if self._status not in statuses:
            raise errors.BadStatusError(
                'Job %s cannot %s: its status is %s, expected %s.'
                % (self.key or repr(self), action, self._status,
                   ' or '.join(statuses)),
                self.key, self._status, statuses)

    # -- the call -----------------------------------------------------

    @property
    def callable(self):
        """See IJob.callable."""
        if self._callable_name is None:
            return self._callable_root
        return getattr(self._callable_root, self._callable_name)

    @callable.setter
    def callable(self, value):
        self._require('change its callable', NEW)
        calls.check_callable(value)
        if (isinstance(value, types.MethodType)
                and isinstance(value.__self__, persistent.Persistent)):
            # Store the object and the name, so the method is looked up on
            # the current state of the object when the job runs.
            self._callable_root = value.__self__
            self._callable_name = value.__name__
        else:
            self._callable_root = value
            self.__dict__.pop('_callable_name', None)

    def __call__(self, *args, **kwargs):
        """See IJob.__call__."""
        self._require('be called', NEW, ACTIVE)
        if self._v_calling:
            # The worker calls an ACTIVE job, so status cannot tell this
            # apart; without it a job calling itself recurses until
            # RecursionError.  (zc.async raised BadStatusError too.)
            raise errors.BadStatusError(
                'Job %s called itself while its call was running: a job is'
                ' called once per attempt. Call its callable instead, or'
                ' put a new Job.' % (self.key or repr(self)),
                self.key, self._status, (NEW, ACTIVE))
        broken = calls.broken_class(self._callable_root)
        if broken is not None:
            raise calls.import_error(broken)
        effective_kwargs = dict(self.kwargs)
        effective_kwargs.update(kwargs)
        self._v_calling = True
        try:
            return self.callable(*(tuple(self.args) + args),
                                 **effective_kwargs)
        finally:
            self._v_calling = False

    def __getstate__(self):
        state = super().__getstate__()
        root = state.get('_callable_root')
        if calls.is_broken(root):
            state = dict(state, _callable_root=calls.GlobalReference(root))
        # args and kwargs are stored as a plain list and dict: the record
        # stays as small as it was, and readable without this module.
        args, kwargs = state.get('args'), state.get('kwargs')
        if type(args) is calls.JobArgs or type(kwargs) is calls.JobKwargs:
            state = dict(state, args=list(args), kwargs=dict(kwargs))
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__['args'] = calls.JobArgs(self.__dict__.get('args', ()), self)
        self.__dict__['kwargs'] = calls.JobKwargs(
            self.__dict__.get('kwargs', {}), self)

    # -- scheduling attributes -----------------------------------------

    @property
    def begin_after(self):
        return _dt(self._begin_after_ts)

    @begin_after.setter
    def begin_after(self, value):
        self._require('change begin_after', NEW)
        if value is not None:
            value = utils.check_aware(value, 'begin_after')
            _check_deadline(value, self._begin_by)
        self._begin_after_ts = None if value is None else value.timestamp()

    @property
    def quota_names(self):
        """See IJob.quota_names."""
        return self._quota_names

    @quota_names.setter
    def quota_names(self, value):
        self._require('change its quota_names', NEW)
        self._quota_names = quota.check_names(value)

    @property
    def begin_by(self):
        return self._begin_by

    @begin_by.setter
    def begin_by(self, value):
        self._require('change begin_by', NEW, PENDING)
        if value is not None:
            if not isinstance(value, datetime.timedelta):
                raise TypeError('begin_by must be a datetime.timedelta or'
                                ' None, not %r' % (value,))
            if value < datetime.timedelta(0):
                raise ValueError('begin_by must not be negative, got %s'
                                 % (value,))
            _check_deadline(self.begin_after or utils.now(), value)
        self._begin_by = value

    # -- policies -----------------------------------------------------

    @property
    def retry_policy_factory(self):
        """See IJob.retry_policy_factory."""
        return self._retry_policy_factory

    @retry_policy_factory.setter
    def retry_policy_factory(self, value):
        # A string names a zope.component adapter (job -> IRetryPolicy),
        # looked up when the policy is needed (zc.asyncui.retry).
        if value is not None and not callable(value) and \
                not isinstance(value, str):
            raise errors.ConfigurationError(
                'retry_policy_factory of job %s must be callable (job) ->'
                ' retry policy, such as zc.asyncui.RetryCommonFourTimes or'
                ' zc.asyncui.RetryPolicy(...), the name of an IRetryPolicy'
                ' adapter, or None; not %r'
                % (self.key or '(unsaved)', value))
        self._retry_policy_factory = value

    @property
    def failure_log_level(self):
        """See IJob.failure_log_level."""
        return self._failure_log_level

    @failure_log_level.setter
    def failure_log_level(self, value):
        self._failure_log_level = _check_log_level(value)

    @property
    def deadline(self):
        """``begin_after + begin_by``, or None when there is no limit."""
        if self._begin_by is None or self._begin_after_ts is None:
            return None
        return self.begin_after + self._begin_by

    # -- callbacks ----------------------------------------------------

    def addCallback(self, callback, failure_log_level=None,
                    retry_policy_factory=None):
        """See IJob.addCallback."""
        if isinstance(callback, Job):
            callback._require('become a callback', NEW)
            job = callback
        else:
            job = Job(callback)
        check_storable((job.args, job.kwargs, retry_policy_factory),
                       'the arguments or retry policy factory of %r', job)
        job._parent = self
        job._queue = self._queue
        if failure_log_level is not None:
            job.failure_log_level = failure_log_level
        if retry_policy_factory is not None:
            job.retry_policy_factory = retry_policy_factory
        if self._p_jar is not None and job._p_jar is None:
            self._p_jar.add(job)
        self._callbacks += (job,)
        if self._status == COMPLETED:
            self._queue_late_callback(job)
        return job

    def addCallbacks(self, success=None, failure=None,
                     failure_log_level=None, retry_policy_factory=None):
        """See IJob.addCallbacks.

        A Job given as a side is the callback job itself ("chaining
        jobs"): the router returns it, so it runs as a real job with the
        result appended to its arguments, its callbacks run when it
        completes, and the router finishes with its result.
        """
        for func in (success, failure):
            if isinstance(func, Job):
                func._require('become a callback', NEW)
            elif func is not None:
                calls.check_callable(func)
        router = self.addCallback(
            Job(success_or_failure, success, failure),
            failure_log_level, retry_policy_factory)
        for func in (success, failure):
            if isinstance(func, Job):
                func._parent = self
                func._queue = self._queue
        return router

    def _queue_late_callback(self, job):
        # The parent is done: the callback runs like any queued job; the
        # worker appends the parent's result when it calls it.
        if self._queue is None:
            raise errors.BadStatusError(
                'Job %s is COMPLETED and was never put in a queue, so its'
                ' new callback has nowhere to run. Call the callback'
                ' directly with job.result instead.' % self.key,
                self.key, self._status, ())
        self._queue.put(job)

    # -- cancellation -------------------------------------------------

    @property
    def cancel_requested(self):
        """See IJob.cancel_requested."""
        return self._cancel_requested

    def cancel(self):
        """See IJob.cancel."""
        status = self.status
        if status not in (PENDING, ASSIGNED, ACTIVE) or self._queue is None:
            raise errors.BadStatusError(
                'Job %s cannot be cancelled: its status is %s. Only a job in'
                ' a queue (PENDING, ASSIGNED) or running (ACTIVE) can be: %s'
                % (self.key or '(unsaved)', status,
                   _NOT_CANCELLABLE.get(status, 'it has no queue.')),
                self.key, status, (PENDING, ASSIGNED, ACTIVE))
        # The queue does it: it imports lifecycle, which imports this.
        self._queue.cancel(self)

    # -- conflict resolution ------------------------------------------

    def _p_resolveConflict(self, old, committed, new):
        """Merge concurrent changes that touch different attributes, and
        concurrent callback additions.

        This lets ``addCallback`` (from any transaction) commit while a
        worker finishes the job, without re-running the job.  If the
        merge would leave a COMPLETED job with a callback that never ran,
        the merged status is CALLBACKS: the worker checks after its commit
        and runs it.
        """
        try:
            return _merge_states(old, committed, new)
        except ZODB.POSException.ConflictError:
            raise
        except Exception:
            raise ZODB.POSException.ConflictError()

    def __repr__(self):
        try:
            call = calls.repr_callable(self.callable)
        except Exception:
            call = '?'
        return '<%s %s %s>' % (
            type(self).__name__, self.key or '(unsaved)', call)


_NOT_CANCELLABLE = {
    NEW: 'it was never put; just do not put it.',
    CALLBACKS: 'it already has its result; its callbacks are running.',
    COMPLETED: 'it already finished; its result stays.',
}

_MISSING = object()


def _equal(a, b):
    # PersistentReferences to different objects (or to an object and
    # something else) refuse to compare: they are then not equal.
    try:
        return bool(a == b)
    except ValueError:
        return False


def _merge_value(name, o, c, n):
    if _equal(c, o):
        return n, None
    if _equal(n, o) or _equal(c, n):
        return c, None
    if name == '_callbacks':
        # Callbacks are only ever appended: keep both sides' additions.
        o = () if o is _MISSING else o
        if (isinstance(o, tuple) and isinstance(c, tuple)
                and isinstance(n, tuple) and _equal(c[:len(o)], o)
                and _equal(n[:len(o)], o)):
            return c + n[len(o):], 'callbacks'
    raise ZODB.POSException.ConflictError()


def _merge_states(old, committed, new):
    if not (isinstance(old, dict) and isinstance(committed, dict)
            and isinstance(new, dict)):
        raise ZODB.POSException.ConflictError()
    merged = {}
    for name in set(old) | set(committed) | set(new):
        o = old.get(name, _MISSING)
        c = committed.get(name, _MISSING)
        n = new.get(name, _MISSING)
        value, note = _merge_value(name, o, c, n)
        if value is not _MISSING:
            merged[name] = value
    status_old = old.get('_status')
    callbacks_added = (len(merged.get('_callbacks', ()))
                       > len(old.get('_callbacks', ())))
    if (callbacks_added and merged.get('_status') == COMPLETED
            and status_old != COMPLETED):
        # One side completed the job while the other added a callback that
        # the completing side never saw.
        merged['_status'] = CALLBACKS
        merged.pop('_callbacks_ts', None)
    return merged


def success_or_failure(success, failure, result):
    """The callable behind ``addCallbacks``: call the side that matches
    ``result`` (a Failure goes to ``failure``), or pass it through."""
    func = failure if isinstance(result, Failure) else success
    if func is None:
        return result
    if isinstance(func, Job):
        # Run it as a job (see addCallbacks); as a callback of the same
        # parent, it gets the result appended when it runs.
        return func
    return func(result)
