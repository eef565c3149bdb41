"""The monitor's general commands: ``help``, ``interactive``, ``quit``,
``dbinfo`` and ``zeostatus``.  Each is a plain function whose docstring
is its help (the zc.monitor convention)."""
import inspect
import time

import ZODB.ActivityMonitor
import zope.component

from zc.asyncui import dispatcher
from zc.asyncui.interfaces import IMonitorPlugin
from zc.asyncui.monitor import encoding
from zc.asyncui.monitor.server import CommandError
from zc.asyncui.monitor.server import INTERACTIVE_MARKER
from zc.asyncui.monitor.server import QUIT_MARKER


def help(connection, command_name=None):
    """Get help about the monitor's commands

    By default, lists the commands with their one-line summaries.  With a
    command name, shows that command's full help:

        help
        help async
    """
    if command_name is None:
        connection.write('Supported commands:\n')
        for name, plugin in sorted(zope.component.getUtilitiesFor(
                IMonitorPlugin)):
            summary = (plugin.__doc__ or '').strip().split('\n')[0]
            connection.write('  %s -- %s\n' % (name, summary))
        return
    plugin = zope.component.queryUtility(IMonitorPlugin, command_name)
    if plugin is None:
        raise CommandError('unknown command %r; try "help"' % command_name)
    connection.write('Help for %s:\n\n%s\n' % (
        command_name, _dedent(plugin.__doc__ or '(no help)')))


def _dedent(doc):
    return inspect.cleandoc(doc)


def interactive(connection):
    """Turn on interactive mode: the connection stays open

    Commands are then read until "quit"; an empty line repeats the last
    command.
    """
    connection.write('Interactive mode on.  Use "quit" To exit.\n')
    return INTERACTIVE_MARKER


def quit(connection):
    """Quit the monitor (in interactive mode)"""
    connection.write('Goodbye.\n')
    return QUIT_MARKER


def _database(connection):
    db = getattr(connection, 'db', None)
    if db is None:
        running = dispatcher.get()
        db = running.db if running is not None else None
    if db is None:
        raise CommandError('this monitor serves no database (start it with'
                           ' one, or start a dispatcher)')
    return db


def dbinfo(connection, seconds='300'):
    """Database activity: loads, stores and connections

    Shows the database's name, size and object count, its open
    connections, and the loads and stores of the last SECONDS (default
    300, at most what the activity monitor keeps, one hour):

        dbinfo
        dbinfo 60
    """
    try:
        window = float(seconds)
    except ValueError:
        window = -1
    if not 0 < window <= 3600:
        raise CommandError('dbinfo SECONDS: a number from 1 to 3600, not %r'
                           % seconds)
    db = _database(connection)
    info = {'database': db.database_name, 'size bytes': db.getSize(),
            'objects': len(db.storage) if hasattr(db.storage, '__len__')
            else None,
            'storage': db.getName(),
            'connections': sum(1 for d in db.connectionDebugInfo()),
            'pool size': db.getPoolSize()}
    monitor = db.getActivityMonitor()
    if monitor is None:
        db.setActivityMonitor(_activity_monitor())
        info['activity'] = 'activity monitoring just started; ask again'
    else:
        now = time.time()
        analysis = monitor.getActivityAnalysis(now - window, now, 1)[0]
        info.update(loads=analysis['loads'], stores=analysis['stores'],
                    seconds=window)
    encoding.write(connection, info)


def _activity_monitor():
    return ZODB.ActivityMonitor.ActivityMonitor(history_length=3600)


def zeostatus(connection):
    """The ZEO connection of this process's database

    Whether the client is connected, to which server, and its cache;
    in a process that serves its own FileStorage to ZEO clients
    (``zc-asyncui run``/``serve`` with the embedded server), its
    address and how many clients it serves:

        zeostatus
    """
    storage = _database(connection).storage
    server_status = getattr(storage, 'zeoServerStatus', None)
    if server_status is not None:
        info = server_status()
        info['server'] = _address(info['server'])
        encoding.write(connection, info)
        return
    if not hasattr(storage, 'is_connected'):
        raise CommandError('the database is not a ZEO client (storage %s)'
                           % type(storage).__name__)
    info = {'connected': storage.is_connected(),
            'server': _address(getattr(storage, '_addr', None)),
            'storage': storage.getName()}
    cache = getattr(storage, '_cache', None)
    if cache is not None:
        info['cache objects'] = len(cache)
        info['cache bytes'] = getattr(cache, 'maxsize', None)
    encoding.write(connection, info)


def _address(addr):
    if isinstance(addr, (list, tuple)) and addr and isinstance(
            addr[0], (list, tuple, str)):
        addr = addr[0] if not isinstance(addr[0], str) else addr
    return addr if isinstance(addr, str) or addr is None else ':'.join(
        str(a) for a in addr)


def tool_help(command, tools, tool_name=None, extra=()):
    """The help of a command made of tools (``async``, ``asyncdb``): the
    list of ``tools`` with the first line of each docstring, then the
    ``extra`` lines; or the whole docstring of ``tool_name``."""
    if tool_name is None:
        lines = ['Tools:']
        lines.extend('  %s -- %s' % (name, tools[name].__doc__.strip()
                                     .split('\n')[0])
                     for name in sorted(tools, key=str.lower))
        lines.append('  help -- this list, or "%s help TOOL"' % command)
        lines.extend(extra)
        return '\n'.join(lines)
    tool = tools.get(tool_name)
    if tool is None:
        raise CommandError('unknown %s tool %r; try "%s help"'
                           % (command, tool_name, command))
    return inspect.cleandoc(tool.__doc__)
