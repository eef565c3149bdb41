"""Database URIs: which ZODB database to open, spelled as zodburi spells
it, so one option (``zc-asyncui ... --db URI``) names any storage.

- ``file://PATH`` -- a FileStorage (``file:///srv/Data.fs``, or
  ``file://var/Data.fs`` relative to the current directory);
- ``zeo://HOST:PORT`` or ``zeo:///PATH/TO/SOCKET`` -- a ZEO server;
- ``postgres://USER@HOST:PORT/DBNAME?keep_history=false`` -- RelStorage
  on PostgreSQL (installed by ``pip install 'zc.asyncui[postgresql]'``);
  RelStorage's resolver always puts host and port into the DSN, so a Unix
  socket is reached through ``zconfig://`` instead;
- ``zconfig:///PATH/TO/FILE#NAME`` -- a ``<zodb>`` or storage section of
  a ZConfig file (any storage, with any of its options);
- and any scheme another installed package registers with zodburi.

A ``zconfig:///PATH/TO/FILE`` without ``#NAME`` whose file has several
``<zodb NAME>`` sections is a ZODB multi-database (``MultiDatabaseURI``):
all of them are opened together, the first is the application's, and
``--async-database NAME`` names the one holding the queues.

Database keywords (``database_name``, ``connection_cache_size``, ...) may
follow any URI's ``?`` (or, for ``zconfig://``, come from its ``<zodb>``
section).  ``file://`` and ``zeo://`` are the command line's own
``--path`` and ``--zeo`` written as URIs: the command line opens and
serves those itself (an embedded ZEO server, waiting for a server), so
they take no storage options; write those in a ``zconfig://`` file.

Everything else is a *shared* storage: several processes open it at once
(RelStorage), so the command line opens it directly in each process.
This module only parses and opens; it never commits.
"""
import importlib.metadata
import os
import time
import urllib.parse

import transaction.interfaces
import ZConfig
import ZODB
import ZODB.config
import zodburi

from zc.asyncui import errors
from zc.asyncui import utils

#: ``DatabaseURI.kind``: a FileStorage path, a ZEO address, or anything
#: else, opened directly by every process (RelStorage, zconfig://, ...).
FILE, ZEO, SHARED = 'file', 'zeo', 'shared'
#: What the messages offer as examples.
EXAMPLES = ('file://var/Data.fs, zeo://127.0.0.1:8100, zeo:///PATH/zeo.sock,'
            ' postgres://USER@127.0.0.1:5432/DBNAME?keep_history=false or'
            ' zconfig:///PATH/db.conf')
#: Schemes RelStorage adds to zodburi, and what installs each.
RELSTORAGE_SCHEMES = {
    'postgres': "pip install 'zc.asyncui[postgresql]' (RelStorage and"
                ' psycopg2-binary)',
    'mysql': 'pip install RelStorage mysqlclient',
    'sqlite': 'pip install RelStorage',
    'oracle': 'pip install RelStorage cx_Oracle',
}
#: How often opening retries the creation of the root object, which two
#: processes opening a new database at once may both attempt.
OPEN_ATTEMPTS = 5


class DatabaseURI:
    """A parsed database URI (see the module docstring); ``parse`` makes
    them.

    ``kind`` is FILE (``path``), ZEO (``address``: (host, port) or a
    socket path) or SHARED; ``db_kw`` holds the keywords of ZODB.DB the
    URI gave (only those it gave); ``safe`` is the text with any password
    hidden, for logs and messages.
    """

    def __init__(self, text, factory, db_kw, kind, path=None, address=None):
        self.text = text
        self.factory = factory
        self.db_kw = db_kw
        self.kind = kind
        self.path = path
        self.address = address

    @property
    def scheme(self):
        return scheme_of(self.text)

    @property
    def safe(self):
        return hide_password(self.text)

    def __repr__(self):
        return '<DatabaseURI %s>' % self.safe

    def openStorage(self):
        """Open the storage the URI names (no database)."""
        return self.factory()

    def open(self, **db_kw):
        """A ZODB.DB on a new storage from the URI, with the URI's
        database keywords updated by ``db_kw``.  Retries the creation of
        the root object when another process creates it at the same
        time; the storage is closed if the database cannot be made."""
        keywords = dict(self.db_kw, **db_kw)
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            storage = self.openStorage()
            try:
                return ZODB.DB(storage, **keywords)
            except transaction.interfaces.TransientError:
                storage.close()
                if attempt == OPEN_ATTEMPTS:
                    raise
                time.sleep(utils.backoff_seconds(attempt))
            except BaseException:
                storage.close()
                raise


class MultiDatabaseURI(DatabaseURI):
    """A ``zconfig://`` file of several ``<zodb NAME>`` sections: one
    ZODB multi-database; ``names`` in the file's order (the first is the
    application's database, whose DB ``open`` returns)."""

    def __init__(self, text, factories):
        super().__init__(text, None, {}, SHARED)
        self.factories = factories
        self.names = [_section_name(f) for f in factories]

    def openStorage(self):
        raise errors.ConfigurationError(
            '%s describes a multi-database (%s): serve each storage with a'
            ' ZEO server of its own (or one runzeo with a storage section'
            ' each) and give the workers a zconfig file of <zeoclient>'
            ' sections' % (self.safe, ', '.join(map(repr, self.names))))

    def open(self, **db_kw):
        """The first database of a new multi-database of every section;
        what was opened is closed again if one cannot be.  Database
        options belong in the ``<zodb>`` sections, not in ``db_kw``."""
        if db_kw:
            raise errors.ConfigurationError(
                '%s: set %s in its <zodb> sections' % (
                    self.safe, ', '.join(sorted(db_kw))))
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            databases = {}
            try:
                for factory in self.factories:
                    factory.open(databases)
                return databases[self.names[0]]
            except transaction.interfaces.TransientError:
                close_all(databases)
                if attempt == OPEN_ATTEMPTS:
                    raise
                time.sleep(utils.backoff_seconds(attempt))
            except BaseException:
                close_all(databases)
                raise


def _section_name(factory):
    return factory.config.database_name or factory.name or ''


def close_all(db_or_databases):
    """Close ``db`` and every other database of its multi-database (or
    every database of a {name: DB} mapping)."""
    databases = getattr(db_or_databases, 'databases', db_or_databases)
    for db in {id(d): d for d in list(databases.values())}.values():
        db.close()


def _multidb(text):
    """A MultiDatabaseURI for a ``zconfig://`` file without ``#NAME``
    that has several ``<zodb>`` sections, else None (zodburi then reads
    the URI)."""
    if scheme_of(text) != 'zconfig' or '#' in text:
        return None
    path = text.split('://', 1)[1].partition('?')[0]
    try:
        config, _ = ZConfig.loadConfig(ZODB.config.getDbSchema(), path)
    except Exception:
        return None  # not such a file: zodburi says what is wrong
    factories = list(getattr(config, 'database', None) or ())
    if len(factories) < 2:
        return None
    uri = MultiDatabaseURI(text, factories)
    if '' in uri.names or len(set(uri.names)) != len(uri.names):
        raise errors.ConfigurationError(
            '%s: the <zodb> sections of a multi-database need distinct'
            ' names (<zodb main>, <zodb async>), not %s'
            % (uri.safe, ', '.join(repr(n) for n in uri.names)))
    return uri


def scheme_of(text):
    return text.partition('://')[0].lower()


def hide_password(text):
    """``text`` with the password of a ``scheme://user:password@host``
    URI replaced by ``***``."""
    parts = urllib.parse.urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(':%s@' % parts.password, ':***@', 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def parse(text):
    """The DatabaseURI for ``text``; ConfigurationError saying what is
    wrong and what is accepted."""
    text = (text or '').strip()
    if '://' not in text:
        raise errors.ConfigurationError(
            'expected a database URI such as %s, not %r' % (EXAMPLES, text))
    multi = _multidb(text)
    if multi is not None:
        return multi
    factory, db_kw, given = _resolve(text)
    scheme = scheme_of(text)
    if scheme == 'file':
        return _file_uri(text, factory, db_kw, given)
    if scheme == 'zeo':
        return _zeo_uri(text, factory, db_kw, given)
    return DatabaseURI(text, factory, db_kw, SHARED)


def _resolve(text):
    """(storage factory, database keywords given, query keys) from
    zodburi, with its errors turned into ConfigurationErrors."""
    safe = hide_password(text)
    try:
        # zodburi.resolve_uri fills in its own defaults for the database
        # keywords the URI leaves out (cache_size 10000, ...); without
        # them the command line's DB is the same for --path and file://.
        factory, raw = zodburi._get_uri_factory_and_dbkw(text)
        keywords = zodburi._get_dbkw(dict(raw))
    except zodburi.NoResolverForScheme:
        raise errors.ConfigurationError(_unknown_scheme(text)) from None
    except zodburi.UnknownDatabaseKeywords as e:
        raise errors.ConfigurationError(
            '%s: unknown option(s) %s; the storage options of %s:// and the'
            ' database options (database_name, connection_cache_size, ...)'
            ' are accepted' % (safe, ', '.join(sorted(e.kw)),
                               scheme_of(text))) from None
    except Exception as e:  # a resolver's own complaint, e.g. a bad int
        raise errors.ConfigurationError('%s: cannot read this URI: %s: %s' % (
            safe, type(e).__name__, e)) from None
    names = {zodburi.PARAMETERS[k] for k in raw if k in zodburi.PARAMETERS}
    db_kw = {k: v for k, v in keywords.items() if k in names}
    query = text.partition('?')[2].partition('#')[0]
    given = {k for k, _ in urllib.parse.parse_qsl(query)}
    return factory, db_kw, given - set(zodburi.PARAMETERS)


def _unknown_scheme(text):
    scheme = scheme_of(text)
    if scheme in RELSTORAGE_SCHEMES:
        return ('%s:// needs RelStorage, which is not installed: %s'
                % (scheme, RELSTORAGE_SCHEMES[scheme]))
    known = sorted(ep.name for ep in importlib.metadata.entry_points(
        group='zodburi.resolvers'))
    return ('%s:// is not a database URI scheme known here (installed: %s);'
            ' for example %s' % (scheme, ', '.join(
                s + '://' for s in known), EXAMPLES))


def _no_storage_options(text, given):
    if given:
        raise errors.ConfigurationError(
            '%s: the command line opens %s:// itself and takes no storage'
            ' options (%s) there; write the storage in a ZConfig file and'
            ' pass zconfig:///PATH/TO/FILE' % (
                hide_password(text), scheme_of(text),
                ', '.join(sorted(given))))


def _file_uri(text, factory, db_kw, given):
    _no_storage_options(text, given)
    path = text.split('://', 1)[1].partition('?')[0]
    if not path:
        raise errors.ConfigurationError(
            '%s names no file: write file://var/Data.fs (relative) or'
            ' file:///srv/Data.fs (absolute)' % text)
    return DatabaseURI(text, factory, db_kw, FILE, path=os.path.normpath(path))


def _zeo_uri(text, factory, db_kw, given):
    _no_storage_options(text, given)
    parts = urllib.parse.urlsplit(text.replace('zeo://', 'http://', 1))
    if not parts.netloc:
        if not parts.path:
            raise errors.ConfigurationError(
                '%s names no server: write zeo://HOST:PORT or'
                ' zeo:///PATH/TO/SOCKET' % text)
        address = os.path.normpath(parts.path)
    else:
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None or parts.path not in ('', '/'):
            raise errors.ConfigurationError(
                '%s: write zeo://HOST:PORT (e.g. zeo://127.0.0.1:8100) for'
                ' TCP, or zeo:///PATH/TO/SOCKET (three slashes, an absolute'
                ' path) for a Unix socket' % text)
        address = (parts.hostname or '', port)
    return DatabaseURI(text, factory, db_kw, ZEO, address=address)
