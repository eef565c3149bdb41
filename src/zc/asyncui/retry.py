"""Retry policies: what to do when a job's call, commit or process fails.

A policy answers True (retry now), False (give up) or a timedelta or
aware datetime (put the job back in its queue to begin after that).  Its
counters start from ``job.retry_counts`` and the worker writes them back
in the job's next committed transaction, so they survive aborts and
interruptions.

Which policy applies, first match wins:

1. the job's ``retry_policy_factory`` (set directly, by ``Queue.put`` or
   by ``addCallback``);
2. the ``retry_policy_factory`` of the agent running the job;
3. the dispatcher's process-wide default for jobs or for callbacks;
4. a zope.component adapter from the job to IRetryPolicy, when one is
   registered: the unnamed one for jobs, the one named ``'callback'``
   for callbacks (zc.async's process-wide defaults);
5. ``RetryCommonFourTimes`` for jobs, ``RetryCommonForever`` for
   callbacks.

A factory may also be a string, as in zc.async: the name of an adapter
from the job to IRetryPolicy (see :class:`AdapterPolicy`).
"""
import datetime
import logging
import random

import zope.component
import zope.interface

from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import utils
from zc.asyncui.job import describe

logger = logging.getLogger(__name__)

CLIENT_DISCONNECTED = 'ZEO.Exceptions.ClientDisconnected'
TRANSIENT = 'transaction.interfaces.TransientError'
CANNOT_IMPORT = 'zc.asyncui.errors.CallableImportError'


class _Policy:
    """Counter keeping shared by the built-in policies."""

    def __init__(self, job):
        self.job = job
        self.counts = dict(job.retry_counts or {})

    def _bump(self, name):
        self.counts[name] = self.counts.get(name, 0) + 1
        return self.counts[name]

    def _disconnected_delay(self):
        # ZEO gone: retry until it returns, 5 s more each time, at most 60.
        n = self._bump('disconnected')
        return datetime.timedelta(seconds=min(60, 5 * n))

    def _import_delay(self, limit):
        # The callable cannot be imported here: perhaps another process,
        # or this one after a deployment, can.  Back off: 5 s, 10 s, 20 s
        # ... at most 5 minutes; give up after ``limit`` attempts.
        n = self._bump('cannot_import')
        if limit is not None and n >= limit:
            return False
        return datetime.timedelta(seconds=min(300, 5 * 2 ** min(n - 1, 6)))

    def _interrupted(self, limit):
        n = self._bump('interrupted')
        return limit is None or n < limit


@zope.interface.implementer(interfaces.IRetryPolicy)
class RetryCommonFourTimes(_Policy):
    """The default for jobs: transient database errors (ConflictError and
    friends) are retried four times (five attempts); ZEO disconnects are
    retried with a growing delay until the database returns; a callable
    the worker cannot import is retried after 5, 10, 20 and 40 s, then
    fails with CallableImportError; an interrupted job is retried nine
    times (ten attempts), then fails with AbortedError; any other error
    is final."""

    transient_limit = 5
    interruption_limit = 10
    import_limit = 5

    def jobError(self, failure):
        """See IRetryPolicy.jobError."""
        if failure.check(CLIENT_DISCONNECTED):
            return self._disconnected_delay()
        if failure.check(CANNOT_IMPORT):
            return self._import_delay(self.import_limit)
        if failure.check(TRANSIENT):
            return self._bump('transient') < self.transient_limit
        return False

    commitError = jobError

    def interrupted(self):
        """See IRetryPolicy.interrupted."""
        return self._interrupted(self.interruption_limit)


@zope.interface.implementer(interfaces.IRetryPolicy)
class RetryCommonForever(_Policy):
    """The default for callbacks (a lost callback is lost data): transient
    errors, interruptions and a callable that cannot be imported (every 5
    minutes at most) are retried without limit, as are errors at
    commit (logged at CRITICAL on the first and every fifth); an error
    raised by the callback itself is final."""

    def jobError(self, failure):
        """See IRetryPolicy.jobError."""
        if failure.check(CLIENT_DISCONNECTED):
            return self._disconnected_delay()
        if failure.check(CANNOT_IMPORT):
            return self._import_delay(None)
        if failure.check(TRANSIENT):
            self._bump('transient')
            return True
        return False

    def commitError(self, failure):
        """See IRetryPolicy.commitError."""
        if failure.check(TRANSIENT):
            return self.jobError(failure)
        n = self._bump('commit_error')
        if n == 1 or n % 5 == 0:
            logger.critical(
                '%s: commit failed %d times with %s; retrying'
                ' forever because losing a callback loses data. Fix the'
                ' cause, or set a different retry_policy_factory.',
                describe(self.job), n, failure.getTraceback('brief'))
        return datetime.timedelta(seconds=min(60, n - 1))

    def interrupted(self):
        """See IRetryPolicy.interrupted."""
        return self._interrupted(None)


@zope.interface.implementer(interfaces.IRetryPolicy)
class NeverRetry(_Policy):
    """For non-transactional work (sending mail, calling a web service):
    every error is final and an interrupted job fails with AbortedError."""

    def jobError(self, failure):
        return False

    commitError = jobError

    def interrupted(self):
        self._bump('interrupted')  # counted, so the failure can say so
        return False


def exponential_backoff(attempt, base=1.0, factor=2.0, maximum=300.0,
                        jitter=0.25):
    """Seconds to wait before retry number ``attempt`` (1-based)."""
    delay = min(maximum, base * factor ** (attempt - 1))
    return delay * (1 + random.uniform(-jitter, jitter))


class RetryPolicy:
    """A configurable policy for application errors (zc.async had none).

    ``RetryPolicy(max_attempts=3, retry_on=(IOError,), give_up_on=(...),
    backoff=exponential_backoff, max_total_time=timedelta(hours=1))``
    returns a factory (call it with a job to get the policy).  Errors in
    ``give_up_on`` are final; errors in ``retry_on`` are retried after
    ``backoff(attempt)`` seconds (the job goes back to its queue) until
    ``max_attempts`` attempts or ``max_total_time`` since the first
    attempt.  Transient database errors are handled as by
    RetryCommonFourTimes.  Types may be classes or dotted names.
    """

    def __init__(self, max_attempts=3, retry_on=(Exception,), give_up_on=(),
                 backoff=exponential_backoff, max_total_time=None,
                 max_interruptions=10):
        if isinstance(max_attempts, bool) or not isinstance(
                max_attempts, int) or max_attempts < 1:
            raise ValueError('max_attempts must be an int >= 1, not %r'
                             % (max_attempts,))
        self.max_attempts = max_attempts
        self.retry_on = tuple(retry_on)
        self.give_up_on = tuple(give_up_on)
        self.backoff = backoff
        self.max_total_time = max_total_time
        self.max_interruptions = max_interruptions

    def __call__(self, job):
        return _ConfiguredPolicy(job, self)

    def __repr__(self):
        return 'RetryPolicy(max_attempts=%d)' % self.max_attempts


@zope.interface.implementer(interfaces.IRetryPolicy)
class _ConfiguredPolicy(RetryCommonFourTimes):

    def __init__(self, job, config):
        super().__init__(job)
        self.config = config
        self.interruption_limit = config.max_interruptions

    def jobError(self, failure):
        if failure.check(TRANSIENT):
            return super().jobError(failure)
        config = self.config
        if failure.check(*config.give_up_on) or not failure.check(
                *config.retry_on):
            return False
        n = self._bump('error')
        if n >= config.max_attempts:
            return False
        if config.max_total_time is not None and self.job.attempts:
            first = self.job.attempts[0].get('start')
            if first and utils.now() - first > config.max_total_time:
                return False
        return datetime.timedelta(seconds=config.backoff(n))


CALLBACK_ADAPTER = 'callback'


class AdapterPolicy:
    """A policy factory that asks zope.component: the adapter from the
    job to IRetryPolicy named ``name`` (``''``: the unnamed one).

    ``job.retry_policy_factory = 'mail'`` is short for
    ``AdapterPolicy('mail')``.  The adapter is looked up each time a
    policy is needed, in the registry of the current site, so a job does
    not depend on registrations made when it was put.  A name with no
    adapter is an error listing the names registered, logged at ERROR by
    ``policy_for``, and the next policy in line decides.
    """

    def __init__(self, name=''):
        if not isinstance(name, str):
            raise errors.ConfigurationError(
                'AdapterPolicy needs the name (a string) of an adapter'
                ' from the job to IRetryPolicy, not %r' % (name,))
        self.name = name

    def __call__(self, job):
        policy = zope.component.queryAdapter(
            job, interfaces.IRetryPolicy, name=self.name)
        if policy is None:
            known = sorted(repr(n) for n in adapter_names(job))
            raise errors.ConfigurationError(
                'No retry policy adapter named %r for %s; registered'
                ' names: %s. Register one (zope.component.provideAdapter('
                'factory, (IJob,), IRetryPolicy, name=%r)) or fix the name.'
                % (self.name, describe(job), ', '.join(known) or 'none',
                   self.name))
        return policy

    def __eq__(self, other):
        if not isinstance(other, AdapterPolicy):
            return NotImplemented
        return self.name == other.name

    def __hash__(self):
        return hash((AdapterPolicy, self.name))

    def __repr__(self):
        return 'AdapterPolicy(%r)' % self.name


def adapter_names(job):
    """Names of the IRetryPolicy adapters registered for ``job``."""
    registry = zope.component.getSiteManager().adapters
    return [name for name, _ in registry.lookupAll(
        (zope.interface.providedBy(job),), interfaces.IRetryPolicy)]


def _registered_default(job, is_callback):
    """AdapterPolicy of the registered process default for ``job``, or
    None when no such adapter is registered."""
    name = CALLBACK_ADAPTER if is_callback else ''
    registry = zope.component.getSiteManager().adapters
    found = registry.lookup((zope.interface.providedBy(job),),
                            interfaces.IRetryPolicy, name)
    return None if found is None else AdapterPolicy(name)


def _as_factory(factory):
    return AdapterPolicy(factory) if isinstance(factory, str) else factory


def policy_for(job, agent=None, dispatcher=None):
    """The retry policy that applies to ``job`` (see the module doc).

    A factory that raises is logged at ERROR, naming the job, and the
    process default policy applies instead.
    """
    return _first_policy(job, _factories(job, agent, dispatcher))[1]


def checked_policy_for(job, agent=None, dispatcher=None):
    """``policy_for``, with the decisions of a policy that is not built in
    guarded: a policy method that raises is logged once at ERROR, naming
    the job, and the process default policy decides instead.  A broken
    policy must never wedge a job or stop recovery."""
    factories = _factories(job, agent, dispatcher)
    factory, policy = _first_policy(job, factories)
    if factory in _BUILTIN:
        return policy
    defaults = _default_factories(job, dispatcher)
    fallbacks = defaults[defaults.index(factory) + 1:] \
        if factory in defaults else defaults
    return _Guarded(job, policy, fallbacks)


_BUILTIN = (RetryCommonFourTimes, RetryCommonForever)


def _factories(job, agent, dispatcher):
    """The candidate factories, in order: the job's or else the agent's,
    then the process defaults."""
    own = job.retry_policy_factory
    if own is None and agent is not None:
        own = getattr(agent, 'retry_policy_factory', None)
    defaults = _default_factories(job, dispatcher)
    return defaults if own is None else [_as_factory(own)] + defaults


def _default_factories(job, dispatcher):
    """The process default factories, most specific first: the
    dispatcher's (if set), the registered adapter (if any), then the
    built-in one."""
    is_callback = job.parent is not None
    builtin = RetryCommonForever if is_callback else RetryCommonFourTimes
    factory = None
    if dispatcher is not None:
        factory = (dispatcher.callback_retry_policy_factory if is_callback
                   else dispatcher.job_retry_policy_factory)
    candidates = [_as_factory(factory), _registered_default(job, is_callback),
                  builtin]
    return [f for f in candidates if f is not None]


def _first_policy(job, factories):
    """(factory, policy) of the first factory that does not raise; the
    last one is built in and does not."""
    for factory in factories[:-1]:
        try:
            return factory, factory(job)
        except Exception:
            _log_broken(job, 'its retry policy factory %r raised'
                        % (factory,))
    return factories[-1], factories[-1](job)


def _log_broken(job, what):
    logger.error('%s: %s; the default policy decides instead.'
                 ' Fix the policy (traceback below).', describe(job), what,
                 exc_info=True)


class _Guarded:
    """A policy whose failing decisions fall back to the first of
    ``fallbacks`` (factories) that works, for that one decision.  The
    counters are shared, so the job's retry_counts stay one record."""

    def __init__(self, job, policy, fallbacks):
        self.job = job
        self.policy = policy
        self.fallbacks = fallbacks
        self.logged = False
        counts = getattr(policy, 'counts', None)
        self.counts = (counts if isinstance(counts, dict)
                       else dict(job.retry_counts or {}))

    def _ask(self, name, *args):
        try:
            return getattr(self.policy, name)(*args)
        except Exception:
            if not self.logged:
                self.logged = True
                _log_broken(self.job, 'its retry policy %r raised in %s()'
                            % (self.policy, name))
        fallback = _first_policy(self.job, self.fallbacks)[1]
        fallback.counts = self.counts
        return getattr(fallback, name)(*args)

    def jobError(self, failure):
        return self._ask('jobError', failure)

    def commitError(self, failure):
        return self._ask('commitError', failure)

    def interrupted(self):
        return self._ask('interrupted')
