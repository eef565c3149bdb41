"""``zc-asyncui serve``: the standalone Zope server.

It reads the site ZCML and defines the admin (zc.asyncui.cli.site),
opens the database the way ``zc-asyncui run`` does (var/Data.fs through
an embedded ZEO server on var/zeo.sock, or an external ZEO server with
--zeo), creates the root folder, starts the dispatcher, optionally the
demo trickle, and serves the site with waitress until Ctrl-C or SIGTERM;
then it closes all of it in reverse order, the database last.  It keeps
the recent records of the zc.asyncui loggers in memory for the log page,
and with ``--metrics-loopback`` serves ``/++async++/@@metrics`` without
credentials to scrapers on this machine.
"""
import logging
import os
import threading

import waitress

from zc.asyncui import config
from zc.asyncui import demo
from zc.asyncui.browser import wsgi
from zc.asyncui.cli import monitor
from zc.asyncui.cli import run
from zc.asyncui.cli import server
from zc.asyncui.cli import site

logger = logging.getLogger(__name__)

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 8080
DEFAULT_MONITOR_PORT = monitor.DEFAULT_PORT
DEFAULT_VAR = 'var'
#: waitress limits: larger requests are refused (431 and 413).
MAX_REQUEST_HEADER_BYTES = 64 * 1024
MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024
HTTP_THREADS = 4
HTTP_STOP_SECONDS = 10.0


def serve_command(args):
    """``zc-asyncui serve``."""
    return run.run_until_signal('serve', lambda stack: _start(args, stack))


def _start(args, stack):
    password = site.admin_password(args.var)
    # At once: a generated password must be seen even if startup fails.
    print(password.announcement(), flush=True)
    site.configure(args.zcml, password.password)
    # The log page's records; at the level the command logs at (the
    # site ZCML's asyncui:logbuffer, if any, is replaced).
    config.installLogBuffer(level=args.log_level)
    if args.metrics_loopback:
        config.setMetricsAccess(loopback_without_credentials=True)
    db, where = run.open_database(args, stack)
    # Before the site's ZCML installs the queues at bootstrap: in a
    # multi-database they go where --async-database says.
    run.install_queues(args, db)
    site.bootstrap(db)
    # Bound before anything starts, so that a port in use fails at once.
    http = bind_http(wsgi.make_app(db), args.host, args.port)
    stack.callback(stop_http, http)
    srv = monitor.start_monitor(  # closes after the dispatcher
        args, server.queue_database(db, args.async_database), stack)
    d = run.start_dispatcher(args, db, stack,
                             start=config.startDispatcher)
    if args.demo:
        trickle = demo.Trickle(db).start()
        stack.callback(trickle.stop)
    http.thread.start()
    host, port = http.server.effective_host, http.server.effective_port
    logger.info(
        'zc-asyncui serve ready: http://%s:%s/++async++/ (login admin);'
        ' dispatcher %s on %s; %s; %s; pid %d: stop with'
        ' Ctrl-C or kill -TERM %d', host, port, d.UUID, where,
        'demo jobs flowing' if args.demo else 'no demo jobs',
        run.monitor_text(srv), os.getpid(), os.getpid())


class _HTTP:
    """A waitress server running in its own thread."""

    def __init__(self, server):
        self.server = server
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name='zc-asyncui serve http')

    def _run(self):
        try:
            self.server.run()
        except (OSError, ValueError):
            # stop_http closes the sockets from another thread, so the
            # loop's select() can find a descriptor closed under it:
            # expected then, and the loop is over anyway.
            if not self.stopping.is_set():
                raise


def bind_http(app, host, port):
    """A waitress server for ``app`` bound to host:port (port 0: a free
    port), whose thread serves once started; an _HTTP for stop_http.
    Raises CommandError when the address cannot be used."""
    if not server.is_loopback((host, port)):
        logger.warning(
            'zc-asyncui serve: serving plain HTTP on %s: Basic credentials'
            ' cross the network unencrypted; put a TLS proxy in front, or'
            ' keep --host on loopback', server.format_address((host, port)))
    try:
        srv = waitress.create_server(
            app, host=host, port=port, threads=HTTP_THREADS,
            max_request_header_size=MAX_REQUEST_HEADER_BYTES,
            max_request_body_size=MAX_REQUEST_BODY_BYTES,
            ident='zc.asyncui', clear_untrusted_proxy_headers=True)
    except (OSError, ValueError) as e:  # ValueError: an unknown host
        raise server.CommandError(
            'cannot serve HTTP on %s: %s; choose another --host or --port'
            ' (or stop what uses it)' % (server.format_address((host, port)),
                                         e)
        ) from None
    return _HTTP(srv)


def stop_http(http):
    """Close the listening socket and the open channels, then stop the
    request threads (as webtest's StopableWSGIServer does)."""
    srv = http.server
    http.stopping.set()
    while srv._map:
        for channel in list(srv._map.values()):
            if channel is srv:
                srv.close()  # the listening socket
            else:
                channel.handle_close()
    srv.task_dispatcher.shutdown(timeout=HTTP_STOP_SECONDS)
    if http.thread.is_alive():
        http.thread.join(HTTP_STOP_SECONDS)
