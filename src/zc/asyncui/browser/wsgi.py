"""The WSGI application of the standalone server.

zope.publisher decodes ``Authorization: Basic ...`` without guarding
against malformed values: an unencoded ``admin:secret``, bad base64 or a
value without a colon raise inside the publisher and answer 500 with a
logged traceback.  ``BasicAuthGuard`` answers those requests itself with
401 and the same Basic challenge as Zope's, before the publisher sees
them.  Likewise a path that is not UTF-8 once percent-decoded
(``/%ff``) makes zope.publisher raise UnicodeDecodeError (500): the
guard answers it with 400.
"""
import base64
import binascii

import zope.app.wsgi

#: The realm of zope.publisher's own Basic challenge.
REALM = 'Zope'
CHALLENGE = 'basic realm="%s"' % REALM


def malformed_basic_credentials(header):
    """Why the Authorization header ``header`` is malformed Basic
    credentials, or None (well-formed, absent, or another scheme)."""
    scheme, _, credentials = header.strip().partition(' ')
    if scheme.lower() != 'basic':
        return None
    try:
        decoded = base64.b64decode(credentials.strip().encode('ascii'),
                                   validate=True)
        decoded.decode('utf-8')
    except (binascii.Error, UnicodeError, ValueError):
        return ('the Basic credentials are not base64 of LOGIN:PASSWORD'
                ' in UTF-8')
    if b':' not in decoded:
        return 'the Basic credentials have no ":" between login and password'
    return None


def malformed_path(path_info):
    """Why the WSGI ``PATH_INFO`` (bytes decoded as latin-1, as WSGI
    servers give it) is unusable, or None."""
    raw = path_info if isinstance(path_info, bytes) else path_info.encode(
        'latin-1', 'replace')
    try:
        raw.decode('utf-8')
    except UnicodeDecodeError:
        return 'the path is not UTF-8 once percent-decoded'
    return None


class BasicAuthGuard:
    """WSGI middleware: a request with malformed Basic credentials gets
    401 with a Basic challenge, one with a path that is not UTF-8 gets
    400; every other request goes to ``app``."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        problem = malformed_path(environ.get('PATH_INFO', ''))
        if problem is not None:
            body = ('400 Bad Request: %s; write names in URLs as UTF-8'
                    ' (percent-encoded).\n' % problem).encode('utf-8')
            start_response('400 Bad Request', [
                ('Content-Type', 'text/plain; charset=utf-8'),
                ('Content-Length', str(len(body)))])
            return [body]
        problem = malformed_basic_credentials(
            environ.get('HTTP_AUTHORIZATION', ''))
        if problem is None:
            return self.app(environ, start_response)
        body = ('401 Unauthorized: %s; send "Authorization: Basic" followed'
                ' by base64("LOGIN:PASSWORD").\n' % problem).encode('utf-8')
        start_response('401 Unauthorized', [
            ('Content-Type', 'text/plain; charset=utf-8'),
            ('Content-Length', str(len(body))),
            ('WWW-Authenticate', CHALLENGE)])
        return [body]


def make_app(db, handle_errors=True):
    """The site's WSGI application on ``db`` (whose root folder exists:
    see zc.asyncui.cli.site.bootstrap), guarded by BasicAuthGuard."""
    app = zope.app.wsgi.WSGIPublisherApplication(
        db, handle_errors=handle_errors)
    return BasicAuthGuard(app)
