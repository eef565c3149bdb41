"""What a worker thread (zc.asyncui.worker) logs when it could not start
a job, or lost one it ran: one line for what is expected (a database
away or busy, a job that moved on, a database this process did not
open), a traceback and "please report it" for the rest.

Layer: thread runtime.
"""
import logging
import time

from zc.asyncui import errors
from zc.asyncui import polling
from zc.asyncui import utils

# The worker's own logger: these are its messages.
logger = logging.getLogger('zc.asyncui.worker')


def start_failure(thread, oid, error):
    """Log why worker ``thread`` could not start the job of ``oid``."""
    # The job stays with its agent; the next poll hands it to a worker
    # again (polling.claim resubmits held jobs no worker knows about).
    missing = polling.missing_database(error)
    if missing is not None:
        # A claim does not load the job: its worker is the first to
        # meet its references.  Said once per job (it is tried again
        # at every poll).
        first = oid not in thread.workers.unloadable
        thread.workers.unloadable.add(oid)
        logger.log(
            logging.ERROR if first else logging.DEBUG,
            'dispatcher %s: could not start job %s: it refers to'
            ' objects of the database %r, which this process did not'
            ' open; it stays with its agent and is tried again at'
            ' every poll. Open it in the multi-database of every worker'
            ' process (docs/tips.rst, "Queues in their own database").',
            thread.dispatcher.UUID, utils.oid_key(oid), missing)
    elif utils.is_transient(error) or isinstance(error, errors.AsyncUIError):
        # Expected (the database is away or busy, the job moved on):
        # one line; the traceback only helps when debugging.
        logger.warning(
            'dispatcher %s: could not start job %s: %s: %s; it stays'
            ' with its agent and is handed to a worker again at the'
            ' next poll', thread.dispatcher.UUID, utils.oid_key(oid),
            type(error).__name__,
            str(error) or 'the storage is unreachable')
        logger.debug('dispatcher %s: the failure to start job %s',
                     thread.dispatcher.UUID, utils.oid_key(oid),
                     exc_info=True)
    else:
        logger.error(
            'dispatcher %s: could not start job %s; it stays with its'
            ' agent and is handed to a worker again at the next poll.'
            ' This is a bug in zc.asyncui: please report it.',
            thread.dispatcher.UUID, utils.oid_key(oid), exc_info=True)


def lost(thread, oid, error):
    """Log that worker ``thread`` lost the job of ``oid`` to ``error``
    (and, for a database error, pause before going on)."""
    # The job stays ACTIVE in the agent; the next poll hands it to
    # WorkerThread._start again, which treats it as interrupted.
    if utils.is_transient(error):
        logger.warning(
            'dispatcher %s: worker %s lost job %s to a database error'
            ' (%s); it is handed to its retry policy as interrupted at'
            ' the next poll.', thread.dispatcher.UUID, thread.name,
            utils.oid_key(oid), error)
        time.sleep(utils.backoff_seconds(3, cap=1.0))
    else:
        logger.critical(
            'dispatcher %s: worker %s met an unexpected error running'
            ' job %s; it is handed to its retry policy as interrupted at'
            ' the next poll. This is a bug in zc.asyncui: please report'
            ' it.', thread.dispatcher.UUID, thread.name,
            utils.oid_key(oid), exc_info=True)
