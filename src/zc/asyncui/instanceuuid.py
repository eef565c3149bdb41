"""The per-process instance UUID, kept in a file.

Each dispatcher process needs its own UUID, stable across restarts so
that a restarted process recognises (and recovers) its own earlier work.
The file is read or created when a dispatcher starts -- never at import
time, and never in a directory nobody chose.
"""
import os
import uuid

from zc.asyncui import settings

DEFAULT_PATH = settings.default('dispatcher', 'uuid_file')

_EXPLANATION = """
This file holds the UUID of one zc.asyncui dispatcher instance (the first
line).  Each process that runs a dispatcher against the same database
needs its own file: two processes sharing a UUID are treated as one, and
zc.asyncui warns about it.  Keep this file across restarts; delete it only
together with the process's deployment.
"""


def get_uuid(path=None):
    """Read the UUID in ``path`` (default var/instance_uuid.txt), creating
    the file (and its directory) with a new UUID if it does not exist.

    Raises ValueError, naming the file, if its first line is not a UUID.
    """
    path = path or DEFAULT_PATH
    try:
        with open(path, encoding='ascii') as f:
            first = f.readline().strip()
    except FileNotFoundError:
        return _create(path)
    try:
        return uuid.UUID(first)
    except ValueError:
        raise ValueError(
            'The instance file %s does not start with a UUID (found %r).'
            ' Delete it to get a new one, or fix its first line.'
            % (path, first[:60])) from None


def _create(path):
    value = uuid.uuid4()
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    # O_EXCL: two processes creating the file at once get the same UUID.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return get_uuid(path)
    with os.fdopen(fd, 'w', encoding='ascii') as f:
        f.write(str(value) + '\n' + _EXPLANATION)
    return value
