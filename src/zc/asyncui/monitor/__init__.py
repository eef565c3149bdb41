"""The monitor: a line-protocol TCP server (zc.monitor's protocol and
plugin convention, on the standard library) and its commands.

``start(db, host, port)`` serves it (zc.asyncui.monitor.server);
``registerDefaults()`` registers the built-in commands in Python (the
package's configure.zcml does the same in ZCML); ``register(func,
name)`` adds a command, exactly as ``zc.monitor.register`` did.
"""
import zope.component

from zc.asyncui.interfaces import IMonitorPlugin
from zc.asyncui.monitor import asyncdb
from zc.asyncui.monitor import asynctool
from zc.asyncui.monitor import commands
from zc.asyncui.monitor.server import INTERACTIVE_MARKER  # noqa: API
from zc.asyncui.monitor.server import QUIT_MARKER  # noqa: API
from zc.asyncui.monitor.server import CommandError  # noqa: API
from zc.asyncui.monitor.server import start  # noqa: API

#: The built-in commands, by name.
DEFAULT_COMMANDS = {
    'help': commands.help, 'interactive': commands.interactive,
    'quit': commands.quit, 'async': asynctool.async_,
    'asyncdb': asyncdb.asyncdb,
    'dbinfo': commands.dbinfo, 'zeostatus': commands.zeostatus,
}


def register(func, name=None):
    """Register ``func`` as the monitor command ``name`` (default its
    ``__name__``) in the global component registry."""
    zope.component.provideUtility(func, IMonitorPlugin,
                                  name or func.__name__)


def registerDefaults():
    """Register the built-in commands (what configure.zcml does)."""
    for name, func in DEFAULT_COMMANDS.items():
        register(func, name)
