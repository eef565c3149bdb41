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

    def server_pid(self):
        """The process id of the postmaster, or None."""
        try:
            with open(os.path.join(self.data, 'postmaster.pid')) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def cpu_seconds(self):
        """CPU seconds (user + system) the server has used so far: the
        postmaster, its live processes (a backend per client connection,
        the writers) and the ones that ended (the postmaster waited for
        them).  Linux only (/proc); 0.0 elsewhere."""
        pid = self.server_pid()
        if pid is None:
            return 0.0
        total = 0
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            fields = _proc_stat(entry)
            if fields is None:
                continue
            if int(entry) == pid:  # itself and its ended children
                total += sum(int(f) for f in fields[11:15])
            elif int(fields[1]) == pid:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf('SC_CLK_TCK')

    def library_available(self, name):
        """True when the server has the shared library ``name`` (a contrib
        module such as pg_stat_statements)."""
        return os.path.exists(os.path.join(
            os.path.dirname(self.bindir), 'lib', name + '.so'))

    def statement_counts(self, dbname):
        """{normalized statement: (calls, total ms)} of the database
        ``dbname`` since the server started, from pg_stat_statements
        (start the cluster with the setting
        ``shared_preload_libraries=pg_stat_statements``); None without
        it.  The counts are exact and current (no statistics delay)."""
        import psycopg2
        conn = psycopg2.connect(host='127.0.0.1', port=self.port,
                                user=SUPERUSER, dbname='postgres')
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                try:
                    cursor.execute('CREATE EXTENSION IF NOT EXISTS'
                                   ' pg_stat_statements')
                    cursor.execute(
                        'SELECT query, calls, total_exec_time FROM'
                        ' pg_stat_statements s JOIN pg_database d ON'
                        ' d.oid = s.dbid WHERE d.datname = %s', (dbname,))
                except psycopg2.Error:
                    return None
                counts = {}
                for query, calls, ms in cursor.fetchall():
                    old = counts.get(query, (0, 0.0))
                    counts[query] = (old[0] + calls, old[1] + ms)
                return counts
        finally:
            conn.close()

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


def _proc_stat(pid):
    """The fields of /proc/PID/stat after the command (state is [0],
    ppid [1], utime [11], stime [12], cutime [13], cstime [14]), or
    None when the process is gone."""
    try:
        with open('/proc/%s/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None


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
