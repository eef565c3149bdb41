"""A throwaway PostgreSQL cluster for tests and benchmarks (issue 11).

``PostgresCluster().start()`` makes a cluster in a new temporary
directory with ``initdb``, as an unprivileged user (initdb refuses to run
as root: as root the files go to the ``postgres`` user, else ``nobody``),
starts it with ``pg_ctl`` on a free TCP port of 127.0.0.1 (RelStorage's
``postgres://`` URIs cannot name a Unix socket) with trust
authentication, and ``createDatabase()`` gives a ``postgres://`` URI of
a new, empty database.  ``stop()`` stops the server and removes the
directory.

``unavailable()`` says why no cluster can be made here (no PostgreSQL
binaries, RelStorage or psycopg2 missing), or None.  Tests turn that into
a skip with ``skip_unless_available``, which fails instead when the
environment variable ZC_ASYNCUI_REQUIRE_POSTGRES is 1 (as .ci/run sets
it), so that CI never skips them silently.
"""
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

REQUIRE_VARIABLE = 'ZC_ASYNCUI_REQUIRE_POSTGRES'
#: Where Debian's packages put the binaries; PG_BINDIR overrides.
BINDIR_PATTERN = '/usr/lib/postgresql/*/bin'
SUPERUSER = 'postgres'
START_SECONDS = 60
INSTALL_HINT = ('install PostgreSQL (Debian: apt-get install -y postgresql)'
                ' and zc.asyncui[postgresql], or set PG_BINDIR to the'
                ' directory of initdb and pg_ctl')


def find_bindir():
    """The directory of initdb and pg_ctl, or None."""
    candidates = [os.environ.get('PG_BINDIR')]
    initdb = shutil.which('initdb')
    if initdb:
        candidates.append(os.path.dirname(os.path.realpath(initdb)))
    candidates += sorted(glob.glob(BINDIR_PATTERN), key=_version, reverse=True)
    for directory in candidates:
        if directory and all(os.access(os.path.join(directory, name), os.X_OK)
                             for name in ('initdb', 'pg_ctl', 'postgres')):
            return directory
    return None


def _version(path):
    number = os.path.basename(os.path.dirname(path))
    return int(number) if number.isdigit() else 0


def unavailable():
    """Why no throwaway cluster can be made here, or None."""
    try:
        import psycopg2  # noqa: F401
        import relstorage  # noqa: F401
    except ImportError as e:
        return 'RelStorage on PostgreSQL is not installed (%s); %s' % (
            e, INSTALL_HINT)
    if find_bindir() is None:
        return 'no PostgreSQL server binaries found; ' + INSTALL_HINT
    return None


def skip_unless_available():
    """pytest.skip (pytest.fail under ZC_ASYNCUI_REQUIRE_POSTGRES=1)
    when no cluster can be made."""
    import pytest
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get(REQUIRE_VARIABLE) == '1':
        pytest.fail('%s=1 but %s' % (REQUIRE_VARIABLE, reason),
                    pytrace=False)
    pytest.skip('PostgreSQL tests skipped: %s' % reason)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class PostgresCluster:
    """A PostgreSQL server of its own, in a temporary directory."""

    def __init__(self, bindir=None, settings=()):
        self.bindir = bindir or find_bindir()
        #: Extra server settings, e.g. ('max_connections=300',).
        self.settings = ('max_connections=300',) + tuple(settings)
        self.directory = None
        self.port = None
        self._names = itertools.count(1)
        self._user = None

    @property
    def data(self):
        return os.path.join(self.directory, 'data')

    @property
    def log(self):
        return os.path.join(self.directory, 'server.log')

    def start(self):
        """initdb and start; returns self."""
        self.directory = tempfile.mkdtemp(prefix='zc-asyncui-pg-')
        self._user = _unprivileged_user()
        if self._user is not None:
            os.chown(self.directory, self._user.pw_uid, self._user.pw_gid)
        self.port = free_port()
        try:
            self._run('initdb', '-D', self.data, '-U', SUPERUSER, '-A',
                      'trust', '-E', 'UTF8', '--no-sync')
            options = ' '.join(
                ['-k', self.directory, '-p', str(self.port), '-c',
                 'listen_addresses=127.0.0.1'] +
                [word for s in self.settings for word in ('-c', s)])
            self._run('pg_ctl', '-D', self.data, '-l', self.log, '-o',
                      options, '-w', '-t', str(START_SECONDS), 'start')
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self, program, *args):
        kw = {}
        if self._user is not None:
            kw = dict(user=self._user.pw_uid, group=self._user.pw_gid,
                      extra_groups=[])
        env = dict(os.environ, LC_ALL='C', HOME=self.directory)
        result = subprocess.run(
            [os.path.join(self.bindir, program)] + list(args), env=env,
            cwd=self.directory, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
        if result.returncode:
            raise RuntimeError('%s failed (exit %d): %s%s' % (
                program, result.returncode,
                result.stdout.decode('utf-8', 'replace'), self._log_tail()))
        return result

    def _log_tail(self):
        try:
            with open(self.log, 'rb') as f:
                return '\nserver log:\n' + f.read()[-3000:].decode(
                    'utf-8', 'replace')
        except OSError:
            return ''

    def uri(self, name, keep_history=False):
        """The postgres:// URI of the database ``name``."""
        return 'postgres://%s@127.0.0.1:%d/%s?keep_history=%s' % (
            SUPERUSER, self.port, name, 'true' if keep_history else 'false')

    def createDatabase(self, name=None, keep_history=False):
        """Create a new empty database; return its postgres:// URI."""
        import psycopg2
        name = name or 'zc_asyncui_%d' % next(self._names)
        conn = psycopg2.connect(host='127.0.0.1', port=self.port,
                                user=SUPERUSER, dbname='postgres')
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute('CREATE DATABASE %s' % name)
        finally:
            conn.close()
        return self.uri(name, keep_history)

    def stop(self):
        """Stop the server (at once) and remove its directory."""
        if self.directory is None:
            return
        try:
            if os.path.exists(os.path.join(self.data, 'postmaster.pid')):
                self._run('pg_ctl', '-D', self.data, '-m', 'immediate', '-w',
                          'stop')
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def _unprivileged_user():
    """The user that runs the server: None (this one) unless root."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, 'nobody'):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError('running as root, and neither a postgres nor a'
                       ' nobody user exists to run PostgreSQL as')
