"""``zc-asyncui pack [--days N]``: pack the storage, so that what the
history's retention removed (and every older revision) leaves Data.fs.

Through the socket of a running ``zc-asyncui run`` (or ``--zeo``) the
server packs; otherwise the FileStorage is opened and packed here.  Packing
keeps the revisions of the last N days (default 0: only current ones).
"""
import argparse
import os
import time

from zc.asyncui.cli import server


def pack_command(args):
    """``zc-asyncui pack``."""
    db, where = server.open_tool_database(args)
    if len(getattr(db, 'databases', {})) > 1:
        # A multi-database: only the one holding the queues is packed.
        where = '%s, database %r' % (where, db.database_name)
    try:
        before = _size(args.path) if where == args.path else None
        started = time.monotonic()
        try:
            db.pack(days=args.days)
        except Exception as e:
            raise server.CommandError(
                'packing %s failed: %s: %s' % (
                    where, type(e).__name__, e)) from None
        seconds = time.monotonic() - started
    finally:
        server.close_database(db)
    after = _size(args.path) if before is not None else None
    sizes = (' (%d -> %d bytes)' % (before, after)
             if before is not None and after is not None else '')
    print('packed %s, keeping %g days of history, in %.1fs%s'
          % (where, args.days, seconds, sizes))
    return 0


def _size(path):
    try:
        return os.path.getsize(path)
    except (OSError, TypeError):
        return None


#: The most days of revisions --days keeps: ten years.
MAX_DAYS = 3650


def days(text):
    """The value of --days: a number of days from 0 to MAX_DAYS."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(
            'must be a number of days from 0 to %d, not %r' % (
                MAX_DAYS, text))
    return value
