"""The zc-asyncui command line, a front-end of zc.asyncui.

main: the console script's arguments and entry point; options: option
values and the dispatcher settings ``run`` offers; run: the long-running
commands ``run`` and ``zeo``; server: FileStorages and ZEO servers; put
and listing: the tools ``put`` and ``jobs``.  This package imports the
engine; nothing in the engine imports it.
"""
