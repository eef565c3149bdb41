"""Job callables for tests/test_zc_async_parity.py: importable, because
a job stores its callable by reference."""
import transaction

from zc.asyncui import Failure
from zc.asyncui import local

seen = []


def status_of_self():
    """What a running job sees of itself (zc.async: ACTIVE)."""
    return str(local.getJob().status)


def parent_status(result):
    """A callback: the status of its parent while callbacks run
    (zc.async: CALLBACKS), and the result it was given."""
    return str(local.getJob().parent.status), result


def write_root_and_raise(value):
    local.getJob()._p_jar.root()['parity'] = value
    raise ValueError('after writing %r' % (value,))


def write_root_and_return_failure(value):
    local.getJob()._p_jar.root()['parity'] = value
    try:
        raise ValueError('returned, not raised')
    except ValueError:
        return Failure()


def collect(*args):
    seen.append(args)
    return args


def return_outer_status_job(value):
    """Return a job; zc.async: the outer job stays ACTIVE until the inner
    one completes, and its result is the inner job's."""
    from zc.asyncui import Job
    return Job(status_of_parent_job, value)


def status_of_parent_job(value):
    return value * 2


def live_annotation_seen_elsewhere():
    """zc.async's setLiveAnnotation: visible to other connections before
    the job commits."""
    local.setLiveAnnotation('progress', 'halfway')
    return local.getLiveAnnotation('progress', job=local.getJob())


def annotate(name, value):
    local.getJob().annotations[name] = value
    return value


def call_self():
    """zc.async: a job calling itself gets a BadStatusError."""
    return local.getJob()()


def same_job_in_callback(result):
    """zc.async 1.4: local.getJob() is the callback itself."""
    return local.getJob().parent is not None, result


def conflict_n_times(name, n):
    """Raise ConflictError for the first ``n`` calls with this name."""
    import ZODB.POSException
    seen.append(name)
    if seen.count(name) <= n:
        raise ZODB.POSException.ConflictError()
    return seen.count(name)


def commit_inside(value):
    """A job that commits on its own (zc.async allowed it)."""
    local.getJob()._p_jar.root()['committed_inside'] = value
    transaction.commit()
    return value


def trap_value_error(failure):
    """A failure handler in zc.twist style."""
    failure.trap(ValueError)
    return 'trapped %s: %s' % (failure.type.__name__,
                               failure.getErrorMessage())


def add_sibling_callback(result):
    """A callback that adds another callback to its parent while the
    callbacks run (zc.async: it is still run)."""
    local.getJob().parent.addCallback(collect)
    return result


def where_am_i():
    job = local.getJob()
    return (job.key, local.getQueue().name, local.getAgentName(),
            local.getDispatcher() is not None)


class FakeDispatcher:
    """What mark_active needs of a dispatcher: its UUID string."""
    uuid_str = 'parity-dead'


def finish_without_callbacks(job, result):
    """Store ``result`` and leave the job in CALLBACKS, as a process that
    died before running the callbacks does."""
    from zc.asyncui import lifecycle
    from zc.asyncui import utils
    now = utils.now()
    lifecycle.close_attempt(job, now, 'succeeded')
    lifecycle.set_result(job, result, now)


def collect_kw(*args, **kwargs):
    return args, kwargs


def call_parent(result):
    """A callback calling its parent (zc.async: BadStatusError)."""
    return local.getJob().parent()


def return_scheduled_job(hours):
    """Return a job that may start only ``hours`` from now."""
    import datetime
    from zc.asyncui import Job
    from zc.asyncui import utils
    return local.getQueue().put(
        Job(status_of_parent_job, 21),
        begin_after=utils.now() + datetime.timedelta(hours=hours))



clock = None  # a FakeClock a test sets, shared with the jobs it runs


def conflict_after(seconds):
    """Move ``clock`` ``seconds`` on, then raise ConflictError."""
    import ZODB.POSException
    seen.append('conflict_after')
    clock.advance(seconds=seconds)
    raise ZODB.POSException.ConflictError()


class Unpicklable:
    """A result that cannot be stored."""

    def __reduce__(self):
        raise TypeError('cannot pickle this result')


def return_unpicklable(value):
    local.getJob()._p_jar.root()['unpicklable_side_effect'] = value
    return Unpicklable()


def return_failing_job():
    from zc.asyncui import Job
    import jobs
    return Job(jobs.fail, 'inner failed')
