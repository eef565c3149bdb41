"""``/++async++/@@metrics``: zc.asyncui's metrics in the Prometheus text
format (zc.asyncui.metrics).

The page is registered with zc.asyncui.View, what it needs, but checks
that permission itself (its class's security checker lets the publisher
call it): a principal with zc.asyncui.View reads it; so does an
anonymous request from this machine when ``zc.asyncui.config.
setMetricsAccess(loopback_without_credentials=True)`` (the
``asyncui:metrics`` directive, ``zc-asyncui serve --metrics-loopback``)
and the request carries no proxy header.  Everyone else gets
Unauthorized: the publisher's 401 with a Basic challenge, so a scraper
with credentials gets in.
"""
import ipaddress

import zope.publisher.browser
import zope.security
import zope.security.checker
import zope.security.interfaces
import zope.security.proxy

from zc.asyncui import config
from zc.asyncui import metrics

PERMISSION = 'zc.asyncui.View'
#: Request headers that say a proxy forwarded the request: its client is
#: then not this machine, whatever the address of the connection.
PROXY_HEADERS = ('HTTP_X_FORWARDED_FOR', 'HTTP_FORWARDED', 'HTTP_X_REAL_IP',
                 'HTTP_X_FORWARDED_HOST')


def is_loopback_request(request):
    """True when the request's client address is a loopback address and
    no proxy header says it was forwarded."""
    if any(request.get(name) for name in PROXY_HEADERS):
        return False
    address = (request.get('REMOTE_ADDR') or '').strip()
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False   # missing, or a host name


class Metrics(zope.publisher.browser.BrowserPage):
    """The exposition text of the database's metrics."""

    # The publisher proxies the page with this checker rather than the
    # one its registration defines (zc.asyncui.View on __call__), so that
    # ``allowed`` can also admit a configured loopback scrape.
    __Security_checker__ = zope.security.checker.NamesChecker(
        ['__call__', 'browserDefault', 'publishTraverse', '__name__',
         '__parent__'])

    def allowed(self):
        if zope.security.checkPermission(PERMISSION, self.context):
            return True
        return (config.getMetricsAccess()['loopback_without_credentials']
                and is_loopback_request(self.request))

    def __call__(self):
        if not self.allowed():
            raise zope.security.interfaces.Unauthorized(
                self.context, '@@metrics', PERMISSION)
        # Access was checked above; the engine's objects have no security
        # declarations of their own.
        queues = zope.security.proxy.removeSecurityProxy(self.context)
        text = metrics.render(metrics.collect(queues))
        self.request.response.setHeader('Content-Type',
                                        metrics.CONTENT_TYPE)
        self.request.response.setHeader('Cache-Control', 'no-store')
        return text
