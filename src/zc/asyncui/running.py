"""The dispatchers running in this process, by UUID: found with
``get``, woken with ``wake``, stopped with ``stop_all`` (registered with
atexit when the first one starts).  zc.asyncui.dispatcher.start registers
each; zc.asyncui.dispatcher gives these functions their public names.

Layer: thread runtime.
"""
import atexit
import logging
import threading
import uuid as uuidlib

from zc.asyncui import errors
from zc.asyncui.queue import add_put_hook

logger = logging.getLogger('zc.asyncui.dispatcher')

_registry = {}
_registry_lock = threading.Lock()


def register(dispatcher):
    with _registry_lock:
        running = _registry.get(dispatcher.UUID)
        if running is not None and not running.stopped:
            raise errors.DispatcherError(
                'A dispatcher with UUID %s already runs in this process;'
                ' use zc.asyncui.dispatcher.get() to reach it, or stop it'
                ' first.' % dispatcher.UUID)
        _registry[dispatcher.UUID] = dispatcher
        _stop_at_exit()


def unregister(dispatcher):
    with _registry_lock:
        if _registry.get(dispatcher.UUID) is dispatcher:
            del _registry[dispatcher.UUID]


def get(uuid=None):
    """The running dispatcher with ``uuid``; without one, the only
    dispatcher of this process (None if there is none)."""
    with _registry_lock:
        live = {k: d for k, d in _registry.items() if not d.stopped}
    if uuid is not None:
        if not isinstance(uuid, uuidlib.UUID):
            uuid = uuidlib.UUID(str(uuid))
        return live.get(uuid)
    if len(live) > 1:
        raise errors.DispatcherError(
            'This process runs %d dispatchers (%s): pass the uuid you want.'
            % (len(live), ', '.join(str(u) for u in live)))
    return next(iter(live.values()), None)


def wake(db):
    """Make the dispatchers of ``db`` in this process poll now."""
    with _registry_lock:
        dispatchers = list(_registry.values())
    for dispatcher in dispatchers:
        if dispatcher.db is db:
            dispatcher.wake()


def stop_all(timeout=30.0):
    """Stop every dispatcher of this process (registered with atexit)."""
    with _registry_lock:
        dispatchers = list(_registry.values())
    for dispatcher in dispatchers:
        if dispatcher.stopped:
            continue
        try:
            dispatcher.stop(timeout)
        except Exception:
            # One dispatcher's failure does not keep the others running.
            logger.exception('dispatcher %s: stop failed; its jobs are'
                             ' recovered after its ping death interval',
                             dispatcher.UUID)


_atexit_registered = False


def _stop_at_exit():
    # Registered by the first start(), not at import: importing the module
    # has no side effects.
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(stop_all, 5.0)
        _atexit_registered = True
    # Likewise the wake-up after this process's puts (the queue module,
    # in a lower layer, does not import this one).
    add_put_hook(wake)
