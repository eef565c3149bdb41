"""Job callables and processors for the routing tests (collapse keys,
WorkPile, queue filters)."""


def collect(items):
    """A WorkPile processor: its result is the items it was given."""
    return list(items)


def explode(items):
    """A WorkPile processor that fails: the items go back to the pile."""
    raise RuntimeError('processor failed on %d items' % len(items))


def is_mail(job):
    """A queue filter: jobs whose callable is named ``send``."""
    return getattr(job.callable, '__name__', None) == 'send'


def send(to):
    return 'sent to %s' % to
