"""The WSGI application of the standalone server.

zope.publisher decodes ``Authorization: Basic ...`` without guarding
against malformed values: an unencoded ``admin:secret``, bad base64 or a
value without a colon raise inside the publisher and answer 500 with a
logged traceback.  ``BasicAuthGuard`` answers those requests itself with
401 and the same Basic challenge as Zope's, before the publisher sees
them.  Likewise a path that is not UTF-8 once percent-decoded
(``/%ff``) makes zope.publisher raise UnicodeDecodeError (500): the
guard answers it with 400.  ``BodySizeGuard`` answers a request with a
huge body 413 before the publisher parses it, ``FieldNameGuard`` one
whose field names ask the publisher to convert their values
(``?x:int=abc`` would answer 500) 400.
"""
import base64
import binascii
import io
import re
import urllib.parse

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


#: Bytes of a request body the pages accept; the action pages need far
#: less (see zc.asyncui.browser.actions.MAX_BODY_BYTES).
MAX_BODY_BYTES = 1024 * 1024


class BodySizeGuard:
    """WSGI middleware: a request whose declared body is larger than
    ``limit`` bytes answers 413 before the publisher reads and parses it
    (the publisher would hold its form fields in memory)."""

    def __init__(self, app, limit=MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    def __call__(self, environ, start_response):
        try:
            length = int(environ.get('CONTENT_LENGTH') or 0)
        except ValueError:
            length = self.limit + 1   # unreadable: refuse, do not guess
        if length <= self.limit:
            return self.app(environ, start_response)
        body = ('413 Request Entity Too Large: the body has a declared'
                ' length of %r bytes; this site accepts at most %d. Act on'
                ' fewer jobs at once.\n' % (
                    environ.get('CONTENT_LENGTH'), self.limit)
                ).encode('utf-8')
        start_response('413 Request Entity Too Large', [
            ('Content-Type', 'text/plain; charset=utf-8'),
            ('Content-Length', str(len(body))), ('Connection', 'close')])
        return [body]


#: Field names as a multipart body writes them.
_MULTIPART_NAME = re.compile(rb'name="([^"]*)"')


def field_names(environ):
    """The form field names of a request: its query string's, and for a
    POST its body's (read, and put back as ``wsgi.input``; BodySizeGuard
    bounds it)."""
    names = [name for name, _ in urllib.parse.parse_qsl(
        environ.get('QUERY_STRING', ''), keep_blank_values=True,
        encoding='latin-1')]
    if environ.get('REQUEST_METHOD') != 'POST':
        return names
    try:
        length = int(environ.get('CONTENT_LENGTH') or 0)
    except ValueError:
        length = 0
    body = environ['wsgi.input'].read(length) if length > 0 else b''
    environ['wsgi.input'] = io.BytesIO(body)
    kind = environ.get('CONTENT_TYPE', '')
    if kind.startswith('multipart/'):
        names += [n.decode('latin-1') for n in _MULTIPART_NAME.findall(body)]
    else:
        names += [name for name, _ in urllib.parse.parse_qsl(
            body.decode('latin-1'), keep_blank_values=True)]
    return names


class FieldNameGuard:
    """WSGI middleware: a request whose field names carry zope.publisher's
    type converters (``name:int``, ``name:required``, ...) answers 400.
    The publisher converts such fields before any page runs, and answers
    a value it cannot convert (``?x:int=abc``) with a 500 and a logged
    traceback; zc.asyncui's forms use no converter."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        bad = sorted({name for name in field_names(environ) if ':' in name})
        if not bad:
            return self.app(environ, start_response)
        body = ('400 Bad Request: field names with a type converter (%s)'
                ' are not accepted here; send plain names, as the forms'
                ' of these pages do.\n' % ', '.join(
                    repr(name[:40]) for name in bad[:5])).encode('utf-8')
        start_response('400 Bad Request', [
            ('Content-Type', 'text/plain; charset=utf-8'),
            ('Content-Length', str(len(body)))])
        return [body]


def make_app(db, handle_errors=True):
    """The site's WSGI application on ``db`` (whose root folder exists:
    see zc.asyncui.cli.site.bootstrap), guarded by BodySizeGuard,
    BasicAuthGuard and FieldNameGuard."""
    app = zope.app.wsgi.WSGIPublisherApplication(
        db, handle_errors=handle_errors)
    return BodySizeGuard(BasicAuthGuard(FieldNameGuard(app)))
