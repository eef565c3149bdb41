"""The world a test runs in: a clock for zc.asyncui timestamps that
moves only when told, and a database on a FileStorage in a directory.

Layer: configuration (part of ``zc.asyncui.testing``, which re-exports
every public name: import them from there).
"""
import datetime
import os

import ZODB
import ZODB.FileStorage

from zc.asyncui import utils

class FakeClock:
    """A clock for zc.asyncui timestamps that moves only when told.

    Use as a context manager: ``with FakeClock(start) as clock:
    clock.advance(seconds=5)``.
    """

    def __init__(self, start=None):
        self.current = start or datetime.datetime(
            2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)

    def __call__(self):
        return self.current

    def advance(self, **timedelta_kwargs):
        self.current += datetime.timedelta(**timedelta_kwargs)
        return self.current

    def __enter__(self):
        self._saved = utils._now_hook
        utils._now_hook = self
        return self

    def __exit__(self, *exc):
        utils._now_hook = self._saved


def file_storage_db(directory, name='Data.fs', **db_kw):
    """A ``ZODB.DB`` on a FileStorage at ``directory/name``."""
    storage = ZODB.FileStorage.FileStorage(os.path.join(directory, name))
    return ZODB.DB(storage, **db_kw)
