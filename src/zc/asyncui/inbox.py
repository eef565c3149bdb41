"""The in-memory inbox of one agent's worker threads: the oids of the jobs
the dispatcher claimed for it, waiting for a worker (zc.asyncui.worker).

Layer: thread runtime.
"""
import collections
import threading


class Inbox:
    """The claimed-but-unstarted job oids of one agent, shared by its
    worker threads."""

    def __init__(self):
        self._items = collections.deque()
        self._cond = threading.Condition()

    def put_many(self, oids):
        with self._cond:
            self._items.extend(oids)
            self._cond.notify(len(oids))
            self._low_signalled = False

    def put_front(self, oid):
        with self._cond:
            self._items.appendleft(oid)
            self._cond.notify()

    def get(self, timeout):
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            item = self._items.popleft() if self._items else None
        if item is not None:  # an idle timeout is not a reason to poll
            self._check_low()
        return item

    def get_nowait(self):
        with self._cond:
            item = self._items.popleft() if self._items else None
        if item is not None:
            self._check_low()
        return item

    #: Called (without the lock) when the inbox runs low, so the
    #: dispatcher claims more before the workers go idle.
    on_low = None
    low_water = 1
    _low_signalled = False

    def _check_low(self):
        # Once per episode: the flag is reset when the inbox is refilled.
        length = len(self._items)
        if self.on_low is not None and (length == 0 or (
                not self._low_signalled and length <= self.low_water)):
            self._low_signalled = True
            self.on_low()

    def __len__(self):
        return len(self._items)

    def wake_all(self):
        with self._cond:
            self._cond.notify_all()
