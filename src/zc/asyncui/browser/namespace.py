"""The ``++async++`` traversal namespace: from the site root to the
Queues mapping of its database.

``/++async++/`` answers with the Queues' default view; the mapping is
returned in a location proxy whose parent is the site root, so the
security policy and absolute URLs see it inside the site.
"""
import zope.location
import zope.security.proxy
import zope.location.interfaces
import zope.traversing.namespace

import zc.asyncui
from zc.asyncui import errors

#: The namespace's name: ``++async++`` in a URL.
NAMESPACE = 'async'


class AsyncNamespace(zope.traversing.namespace.SimpleHandler):
    """Traverses ``++async++`` on the site root to its Queues mapping.

    A database without installed queues is a LocationError (404), not a
    server error.
    """

    def traverse(self, name, ignored):
        try:
            # The site root comes security-proxied from the publisher;
            # its database connection is not a public attribute.
            queues = zc.asyncui.getQueues(
                zope.security.proxy.removeSecurityProxy(self.context))
        except errors.AsyncUIError:
            raise zope.location.interfaces.LocationError(
                self.context, '++%s++' % NAMESPACE) from None
        return zope.location.LocationProxy(
            queues, self.context, '++%s++' % NAMESPACE)
