"""Through-the-web pages of zc.asyncui, under ``/++async++/`` on the site
root.

``namespace`` traverses ``++async++`` to the Queues mapping, ``overview``
is the page that answers there, ``wsgi`` builds the WSGI application of
the standalone server (with a guard for malformed credentials).
browser/configure.zcml registers the namespace and the page; the
package's configure.zcml includes it.
"""
