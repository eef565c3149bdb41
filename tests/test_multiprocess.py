"""Many worker processes on a real ZEO server (issue 3, "Many processes"),
and on RelStorage with PostgreSQL (issue 11).

Every test serves a fresh FileStorage with ``zc-asyncui zeo`` and runs
real ``zc-asyncui run --zeo`` worker subprocesses with short intervals
(poll 0.2 s, ping 0.5 s, dead after 2 s of silence).  The tests of
exactly-once execution and of recovery run a second time on a fresh
PostgreSQL database of a throwaway cluster, with ``zc-asyncui run --db
postgres://...`` workers (skipped when PostgreSQL is not installed; see
tests/pgcluster.py).  The jobs and their
callbacks (``mpjobs``) count themselves in a ledger in their own
transactions, so the ledger shows whether any job was lost or had its
effects applied twice.

Each process logs to a file in the test's tmp_path; the logs are printed
at teardown, which pytest shows only when a test fails.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import transaction
import ZEO.ClientStorage
import ZODB

import mpjobs
import zc.asyncui
from zc.asyncui import dburi
from zc.asyncui import testing
from zc.asyncui.job import ACTIVE, COMPLETED, Job

pytestmark = pytest.mark.multiprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(os.path.dirname(sys.executable), 'zc-asyncui')
POLL, PING, DEATH = 0.2, 0.5, 2.0
#: Scheduling slack on a loaded 2-CPU CI machine, on top of what the
#: protocol needs.
SLACK = 1.5
START_SECONDS = 60.0
DRAIN_SECONDS = 90.0
#: Polls ``predicate`` until it returns something true; transient
#: database errors count as "not yet".
wait_until = testing.wait_until


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.2):
            return True
    except OSError:
        return False


# -- processes ---------------------------------------------------------------

class Process:
    """A subprocess whose stdout and stderr go to a log file."""

    def __init__(self, argv, log_path, cwd):
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [HERE] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                      if p])
        self.log_path = log_path
        with open(log_path, 'ab') as log:
            self.popen = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=cwd, stdin=subprocess.DEVNULL)
        self.pid = self.popen.pid

    @property
    def alive(self):
        return self.popen.poll() is None

    def kill(self):
        """kill -9, and reap it."""
        if self.alive:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def terminate(self, timeout=20.0):
        """SIGTERM (a clean stop); SIGKILL if it does not stop in time."""
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.popen.returncode

    def output(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')


class ZeoServer:
    """``zc-asyncui zeo`` on a fixed port, so it can come back there."""

    def __init__(self, directory, cluster):
        self.directory = directory
        self.cluster = cluster
        self.port = free_port()
        self.address = '127.0.0.1:%d' % self.port
        self.process = None
        self.starts = 0

    def start(self):
        self.starts += 1
        self.process = self.cluster.spawn(
            [CLI, 'zeo', '--address', self.address, '--path',
             os.path.join(self.directory, 'Data.fs')],
            'zeo-%d.log' % self.starts)
        wait_until(lambda: port_open(self.port) or not self.process.alive,
                   START_SECONDS, 'the ZEO server on %s' % self.address)
        assert self.process.alive, self.process.output()

    def stop(self, signum=signal.SIGTERM):
        if signum == signal.SIGKILL:
            self.process.kill()
        else:
            self.process.terminate()
        wait_until(lambda: not port_open(self.port), 10,
                   'the ZEO server to close its port')


class Worker:
    """One ``zc-asyncui run --zeo`` (or ``--db URI``) process,
    restartable with the same instance file."""

    def __init__(self, cluster, name, death):
        self.cluster = cluster
        self.name = name
        self.death = death
        self.uuid = str(uuid.uuid4())
        self.uuid_file = os.path.join(cluster.directory, 'uuid-%s.txt' % name)
        with open(self.uuid_file, 'w') as f:
            f.write(self.uuid + '\n')
        self.process = None
        self.starts = 0

    def start(self):
        self.starts += 1
        self.process = self.cluster.spawn(
            [CLI, 'run'] + self.cluster.database_args() + [
             '--uuid-file', self.uuid_file, '--poll-interval', str(POLL), '--ping-interval',
             str(PING), '--ping-death-interval', str(self.death),
             '--agent-size', '3', '--stop-timeout', '5',
             # No monitor: the default port may be taken by another test
             # run on the machine (a warning that fails quiet restarts).
             '--monitor-port', '0'],
            'worker-%s-%d.log' % (self.name, self.starts))
        return self

    def kill(self):
        self.process.kill()
        return time.time()


# -- the cluster: a server, workers, and a client for the test ----------------

class Cluster:
    """A ZEO server (or, given ``uri``, the database every process opens
    itself), worker processes and this test's own client."""

    def __init__(self, directory, uri=None):
        self.directory = directory
        self.processes = []
        self.workers = []
        self.calls_file = os.path.join(directory, 'calls.txt')
        self.jobs = []
        self.db = None
        self.uri = uri
        self.zeo = None if uri else ZeoServer(directory, self)
        try:
            if uri:
                self.db = dburi.parse(uri).open()
            else:
                self.zeo.start()
                self.db = ZODB.DB(ZEO.ClientStorage.ClientStorage(
                    ('127.0.0.1', self.zeo.port), wait_timeout=30))
            self.tm = transaction.TransactionManager()
            self.conn = self.db.open(self.tm)
            zc.asyncui.install(self.db)
            self.write(lambda conn: mpjobs.ledger(conn))
        except BaseException:
            self.close()
            raise

    def database_args(self):
        """The options of ``zc-asyncui run`` that name the database."""
        if self.uri:
            return ['--db', self.uri]
        return ['--zeo', self.zeo.address]

    def spawn(self, argv, log_name):
        process = Process(argv, os.path.join(self.directory, log_name),
                          self.directory)
        self.processes.append(process)
        return process

    # transactions of the test's own connection

    def read(self, func):
        self.tm.begin()
        try:
            return func(self.conn)
        finally:
            self.tm.abort()

    def write(self, func, attempts=20):
        for n, attempt in enumerate(self.tm.attempts(attempts)):
            if n:
                # A conflict (on RelStorage, a row lock a worker's commit
                # holds: it fails at once) is retried after a pause, not
                # 20 times within the same commit of the other side.
                time.sleep(min(0.05 * n, 0.5))
            with attempt:
                result = func(self.conn)
        return result

    # workers

    def worker(self, name, death=DEATH):
        worker = Worker(self, name, death)
        self.workers.append(worker)
        return worker

    def start(self, worker):
        """Start (or restart) ``worker`` and wait until it has activated
        itself in the queue."""
        worker.start()
        process = worker.process

        def activated(conn):
            assert process.alive, 'worker %s exited:\n%s' % (
                worker.name, process.output())
            record = self.record(conn, worker.uuid)
            return (record is not None and record.activated is not None
                    and record.pid == process.pid)
        wait_until(lambda: self.read(activated), START_SECONDS,
                   'worker %s to activate' % worker.name)
        return worker

    @staticmethod
    def record(conn, uuid):
        return zc.asyncui.getQueue(conn).getDispatcherAgents(uuid)

    def held(self, uuid, status=None):
        """Oids of the jobs that dispatcher ``uuid`` holds (only those in
        ``status``, if given)."""
        def held(conn):
            record = self.record(conn, uuid)
            if record is None:
                return []
            return [job._p_oid for agent in record.values() for job in agent
                    if status is None or job._status == status]
        return self.read(held)

    # jobs

    def put(self, tags, seconds=0.0):
        """Put one job per tag, each with a callback, in one transaction."""
        def put(conn):
            mpjobs.ledger(conn).prepare(tags)
            return [put_job(conn, tag, seconds, self.calls_file)
                    for tag in tags]
        oids = [job._p_oid for job in self.write(put)]
        self.jobs.extend(oids)
        return oids

    def wait_done(self, count, timeout=DRAIN_SECONDS):
        """Wait until ``count`` jobs and their callbacks have committed
        their effects and every job put is COMPLETED."""
        def counts(conn):
            book = mpjobs.ledger(conn)
            return book.run_count(), book.callback_count()

        def done():
            if self.read(counts) < (count, count):
                return False
            return self.read(lambda conn: all(
                conn.get(oid)._status == COMPLETED for oid in self.jobs))
        try:
            wait_until(done, timeout, '%d jobs and callbacks' % count,
                       interval=0.2)
        except AssertionError:
            raise AssertionError('%s; ledger counts (jobs, callbacks): %s'
                                 % (sys.exc_info()[1], self.read(counts)))

    def check_exactly_once(self, tags):
        """Every job and callback completed, and committed its effects
        exactly once; nothing is left in the queue."""
        def check(conn):
            book = mpjobs.ledger(conn)
            twice = {t: n for t, n in book.runs.items() if n != 1}
            cb_twice = {t: n for t, n in book.callbacks.items() if n != 1}
            assert not twice, 'job effects not applied once: %s' % twice
            assert not cb_twice, 'callbacks not run once: %s' % cb_twice
            assert sorted(book.runs.keys()) == sorted(tags)
            assert book.run_count() == book.callback_count() == len(tags)
            for oid in self.jobs:
                job = conn.get(oid)
                assert job._status == COMPLETED, (job, job.status)
                assert job.result == job.args[0], (job, job.result)
                for callback in job.callbacks:
                    assert callback._status == COMPLETED, callback
                    assert callback.result == job.args[0], callback.result
            assert len(zc.asyncui.getQueue(conn)) == 0
        self.read(check)

    def calls(self):
        """How many times each job was called (attempts, kills included)."""
        counts = {}
        if os.path.exists(self.calls_file):
            with open(self.calls_file) as f:
                for line in f:
                    what, tag, _ = line.split()
                    if what == 'job':
                        counts[tag] = counts.get(tag, 0) + 1
        return counts

    def check_logs(self, allowed=()):
        """No process logged at CRITICAL, except from the loggers named
        in ``allowed`` (prefixes)."""
        for process in self.processes:
            for line in process.output().splitlines():
                words = line.split(None, 4)
                if len(words) > 3 and words[2] == 'CRITICAL':
                    assert words[3].startswith(tuple(allowed)), (
                        process.log_path, line)

    def close(self):
        """Stop every process (workers first, then ZEO), close this
        client, and print the logs (pytest shows them if the test failed)."""
        try:
            server = self.zeo.process if self.zeo else None
            for process in reversed(self.processes):
                if process is not server:
                    process.terminate()
            for process in self.processes:  # ZEO, and anything left
                process.terminate()
            if self.db is not None:
                self.tm.abort()
                self.conn.close()
                self.db.close()
        finally:
            for process in self.processes:
                process.kill()  # no-op for those that stopped
                print('=' * 20, process.log_path, 'exit status',
                      process.popen.returncode)
                print(process.output()[-30000:])


def put_job(conn, tag, seconds, calls_file):
    job = zc.asyncui.getQueue(conn).put(
        Job(mpjobs.work, tag, seconds, calls_file))
    job.addCallback(Job(mpjobs.record_callback, calls_file=calls_file))
    return job


def _cluster(directory, uri=None):
    c = Cluster(directory, uri)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(params=['zeo', 'postgres'])
def cluster(request, tmp_path):
    """Workers on a ZEO server, then on RelStorage with PostgreSQL."""
    uri = None
    if request.param == 'postgres':
        uri = request.getfixturevalue('postgres_uri')
    yield from _cluster(str(tmp_path), uri)


@pytest.fixture
def zeo_cluster(tmp_path):
    """Workers on a ZEO server only."""
    yield from _cluster(str(tmp_path))


def tags_for(prefix, count):
    return ['%s-%04d' % (prefix, i) for i in range(count)]


def attempts_of(cluster, uuid):
    """(start, end, outcome) of every attempt made by dispatcher ``uuid``
    on the jobs put so far."""
    def collect(conn):
        found = []
        for oid in cluster.jobs:
            for a in conn.get(oid)._attempts:
                if a[2] == uuid:
                    found.append((a[0], a[1], a[4]))
        return found
    return cluster.read(collect)


# -- the tests ------------------------------------------------------------

def test_two_workers_run_each_job_and_callback_exactly_once(cluster):
    a = cluster.start(cluster.worker('a'))
    b = cluster.start(cluster.worker('b'))
    tags = tags_for('job', 500)
    cluster.put(tags)
    cluster.wait_done(len(tags))
    cluster.check_exactly_once(tags)
    # Both processes took part.
    assert attempts_of(cluster, a.uuid) and attempts_of(cluster, b.uuid)
    cluster.check_logs()


def test_kill_9_survivor_recovers_jobs_of_the_dead_worker(cluster, capsys):
    a = cluster.start(cluster.worker('a'))
    b = cluster.start(cluster.worker('b'))
    all_tags = []
    delays = []
    for round_no, victim in enumerate((a, b, a)):
        tags = tags_for('round%d' % round_no, 80)
        all_tags.extend(tags)
        cluster.put(tags, seconds=0.1)
        delays.append(kill_while_running_and_check_recovery(cluster, victim))
        cluster.start(victim)  # same instance file; its record is inactive
    cluster.wait_done(len(all_tags))
    cluster.check_exactly_once(all_tags)
    # The kills interrupted running jobs, which ran again elsewhere: their
    # first, uncommitted effects never counted (checked above).
    assert any(n > 1 for n in cluster.calls().values())
    cluster.check_logs()
    with capsys.disabled():
        print('\nkill -9 (ping %gs, dead after %gs, poll %gs): the survivor'
              ' took over the dead worker\'s jobs %s s after each kill'
              % (PING, DEATH, POLL, ', '.join('%.2f' % d for d in delays)))


def kill_while_running_and_check_recovery(cluster, victim):
    wait_until(lambda: cluster.held(victim.uuid, ACTIVE), 30,
               'worker %s to run a job' % victim.name, interval=0.01)
    killed_at = victim.kill()
    wait_until(lambda: cluster.read(
        lambda conn: cluster.record(conn, victim.uuid).activated is None),
        victim.death + 10, 'a survivor to find worker %s dead' % victim.name)
    ends = [end for start, end, outcome in attempts_of(cluster, victim.uuid)
            if str(outcome).startswith('interrupted') and end >= killed_at]
    assert ends, 'no job of worker %s was interrupted' % victim.name
    recovered = min(ends) - killed_at
    # Dead means silent for ``death`` seconds since its last ping (at most
    # one ping interval plus a poll before the kill); a survivor notices
    # at its next poll.
    assert victim.death - PING - POLL - 0.2 <= recovered <= \
        victim.death + 2 * POLL + SLACK, recovered
    assert not cluster.held(victim.uuid)
    return recovered


def test_restarted_worker_recovers_its_own_jobs_quietly(cluster):
    # Alone, and with a death interval long enough for the restart to find
    # its old record still alive: it knows the record is its own dead
    # incarnation (same host, pid gone) and recovers at once.
    death = 60.0
    a = cluster.start(cluster.worker('a', death=death))
    tags = tags_for('job', 30)
    cluster.put(tags, seconds=0.2)
    wait_until(lambda: cluster.held(a.uuid, ACTIVE), 30,
               'worker a to run a job', interval=0.01)
    first = a.process
    a.kill()
    cluster.start(a)  # same instance file
    restarted = a.process
    wait_until(lambda: 'recovered from an unclean shutdown' in
               restarted.output(), 10, 'the restarted worker to recover its'
               ' jobs at once')
    cluster.wait_done(len(tags))
    cluster.check_exactly_once(tags)
    log = restarted.output()
    assert 'is gone' in log
    assert 'will be re-queued' not in log
    warnings = [line for line in log.splitlines() if ' WARNING ' in line]
    assert not warnings, warnings
    assert first.pid != restarted.pid
    cluster.check_logs()


#: CRITICAL lines that a ZEO outage causes outside zc.asyncui: the
#: transaction package when the connection drops during tpc_finish (the
#: commit may or may not have happened: zc.asyncui finds out from the
#: data), and the ZEO client dropping a cache too old to verify.
OUTAGE_CRITICAL = ('txn.', 'ZEO.')


@pytest.mark.parametrize('stop', ['SIGKILL', 'SIGTERM'])
def test_zeo_server_restarted_mid_run_workers_reconnect_and_finish(
        zeo_cluster, stop):
    cluster = zeo_cluster
    cluster.start(cluster.worker('a'))
    cluster.start(cluster.worker('b'))
    tags = tags_for('job', 300)
    cluster.put(tags, seconds=0.02)
    wait_until(lambda: cluster.read(
        lambda conn: mpjobs.ledger(conn).run_count() >= 30), 30,
        'some jobs to run')
    cluster.zeo.stop(getattr(signal, stop))
    time.sleep(3.0)  # the outage itself: what the test is about
    cluster.zeo.start()  # same address, same file
    cluster.wait_done(len(tags), timeout=120)
    cluster.check_exactly_once(tags)
    assert all(w.process.alive for w in cluster.workers)
    cluster.check_logs(allowed=OUTAGE_CRITICAL)


def test_conflict_storm_of_producers_loses_nothing(zeo_cluster, capsys):
    cluster = zeo_cluster
    cluster.start(cluster.worker('a'))
    cluster.start(cluster.worker('b'))
    producers, per_producer = 8, 60
    all_tags = tags_for('job', producers * per_producer)
    cluster.write(lambda conn: mpjobs.ledger(conn).prepare(all_tags))
    conflicts = []
    oids = []
    errors = []
    lock = threading.Lock()

    def produce(n):
        try:
            mine, seen = produce_one_by_one(
                cluster.db, all_tags[n::producers], cluster.calls_file)
            with lock:
                oids.extend(mine)
                conflicts.append(seen)
        except Exception as e:  # reported by the main thread
            errors.append(e)
    threads = [threading.Thread(target=produce, args=(n,))
               for n in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    cluster.jobs.extend(oids)
    assert len(oids) == len(all_tags)
    cluster.wait_done(len(all_tags))
    cluster.check_exactly_once(all_tags)
    cluster.check_logs()
    with capsys.disabled():
        print('\nconflict storm: %d producer threads put %d jobs (one per'
              ' transaction) while 2 workers drained; producers met %d'
              ' ConflictErrors (%s)' % (producers, len(all_tags),
                                        sum(conflicts), conflicts))


def produce_one_by_one(db, tags, calls_file):
    """Put one job per transaction, retrying ConflictErrors with the
    transaction manager's attempts; returns the oids and the number of
    conflicts met."""
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    oids, conflicts = [], 0
    try:
        for tag in tags:
            for tries, attempt in enumerate(tm.attempts(50)):
                with attempt:
                    job = put_job(conn, tag, 0.0, calls_file)
            conflicts += tries
            oids.append(job._p_oid)
    finally:
        tm.abort()
        conn.close()
    return oids, conflicts
