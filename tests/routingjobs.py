"""Job callables and processors for the routing tests (collapse keys,
WorkPile, queue filters)."""
import time

import mpjobs
from zc.asyncui import local


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


def count_items(items):
    """A WorkPile processor for the multi-process test: count each item
    (a tag) in the mpjobs ledger, in the job's own transaction, then take
    a moment, so that a kill -9 can land while it holds items."""
    book = local.getJob()._p_jar.root()[mpjobs.LEDGER]
    for tag in items:
        book.runs[tag] += 1
    book.run_count.change(len(items))
    time.sleep(0.3)
    return len(items)
