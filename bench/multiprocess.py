"""Many worker processes on one ZEO server (or on RelStorage with
PostgreSQL): drain rate, conflicts, recovery.

Prints, in one run (every figure measured here, on this machine):

- the raw ZEO commit rate of a one-object transaction: one client, and two
  client processes together;
- the aggregate drain rate of N no-op jobs (``benchjobs.noop``) with 1, 2
  and 4 worker processes, each a ``zc-asyncui run --zeo ...`` subprocess
  (or, with ``--runner api``, a subprocess that calls the Python API), all
  against one ZEO server on a fresh FileStorage; its ratio to the raw
  commit rate; conflicts per job (transient retries recorded on the jobs,
  plus the ConflictErrors the worker processes report); CPU per job of
  the workers and of the server (ZEO, or the PostgreSQL cluster's
  processes), the rate the machine's CPUs allow at that cost, the idle
  CPUs (and those waiting for the disk) and the load of other programs
  during the drain -- so that a rate bound by the machine shows as such;
- recovery after ``kill -9`` of a worker that holds jobs: from the kill to
  the last of its jobs finishing elsewhere (ping 0.5 s, death after 2 s,
  poll 0.2 s by default).

The drain clock starts when the transaction that puts all N jobs has
committed (the workers are already up and idle) and stops at the latest
``active_end`` of the jobs, so the driver's own polling does not count.

With ``--db postgres://USER@HOST:PORT/DBNAME?keep_history=false`` the
same figures are measured on RelStorage: every worker is ``zc-asyncui run
--db URI`` and the raw rate is that of one-object commits to the same
database.  THE DATABASE IS EMPTIED (RelStorage's zap_all) before each run:
name a throwaway one.  ``--postgres`` instead starts a throwaway
PostgreSQL cluster (tests/pgcluster.py) with a new database for each run;
its CPU is then measured, and (with pg_stat_statements, loaded when the
server has it) what RelStorage ran: commits per job, the time of its
commit statement (which waits for the commit lock, writes and commits),
polls per job.

Usage: python bench/multiprocess.py [--jobs 2000] [--procs 1,2,4]
       [--reps 3] [--runner cli|api] [--server cli|runzeo]
       [--agent-size 3] [--skip-recovery] [--db URI | --postgres]
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import persistent
import transaction
import ZEO.ClientStorage
import ZODB

import zc.asyncui
from zc.asyncui import dburi
from zc.asyncui.job import ACTIVE, COMPLETED

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchjobs  # noqa: E402

BIN = os.path.dirname(sys.executable)
CLI = os.path.join(BIN, 'zc-asyncui')
RUNZEO = os.path.join(BIN, 'runzeo')
CONFLICT_MARK = 'zc.asyncui-bench conflicts='
#: What a dispatcher logs at its stop (zc-asyncui run).
STOP_CONFLICT_MARK = 'ConflictErrors retried in this process: '


# -- processes ------------------------------------------------------------

def cli_available():
    """True when the ``zc-asyncui`` command has its ``zeo`` and ``run``
    subcommands (it is written separately from the engine)."""
    try:
        out = subprocess.run([CLI, 'zeo', '--help'], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and '--address' in out.stdout


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError('timed out after %.0fs waiting for %s'
                               % (timeout, what))
        time.sleep(interval)


def _port_open(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.2):
            return True
    except OSError:
        return False


def child_env():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [HERE] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                  if p])
    env['PYTHONUNBUFFERED'] = '1'
    return env


class Process:
    """A subprocess whose output goes to a log file."""

    def __init__(self, argv, log_path):
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, 'ab')
        self.popen = subprocess.Popen(
            argv, stdout=self.log, stderr=subprocess.STDOUT, env=child_env(),
            stdin=subprocess.DEVNULL)
        self.pid = self.popen.pid

    def terminate(self, timeout=30.0):
        """SIGTERM, wait, then SIGKILL if it did not stop."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()
        return self.popen.returncode

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self.log.close()

    def output(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def cpu_seconds(self):
        """utime + stime of the process so far (0 once it has ended)."""
        try:
            with open('/proc/%d/stat' % self.pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class ZeoServer:
    """A real ZEO server process on a FileStorage."""

    def __init__(self, directory, use_cli, port=None):
        self.directory = directory
        self.path = os.path.join(directory, 'Data.fs')
        self.port = port or free_port()
        self.address = '127.0.0.1:%d' % self.port
        self.use_cli = use_cli
        self.process = None

    def start(self):
        if self.use_cli:
            argv = [CLI, 'zeo', '--address', self.address, '--path',
                    self.path]
        else:
            argv = [RUNZEO, '-a', self.address, '-f', self.path]
        self.process = Process(argv, os.path.join(self.directory, 'zeo.log'))
        wait_for(lambda: _port_open(self.port) or self._died(), 60,
                 'the ZEO server on %s' % self.address)
        if self.process.popen.poll() is not None:
            raise RuntimeError('ZEO server exited:\n%s'
                               % self.process.output())
        return self

    def _died(self):
        return self.process.popen.poll() is not None

    def stop(self):
        if self.process is not None:
            self.process.terminate()

    def open_db(self, **kw):
        storage = ZEO.ClientStorage.ClientStorage(
            ('127.0.0.1', self.port), wait_timeout=60)
        return ZODB.DB(storage, **kw)

    def worker_args(self):
        return ['--zeo', self.address]


class SharedDatabase:
    """A database that every worker opens itself (RelStorage), emptied
    at start: it stands where a ZeoServer stands.  ``new_uri()`` gives
    the URI of the database to use for one run."""

    process = None
    path = None  # no FileStorage to count commits in

    def __init__(self, new_uri, cluster=None):
        self.new_uri = new_uri
        self.cluster = cluster  # a PostgresCluster: its CPU is measured
        self.address = None

    def cpu_seconds(self):
        """CPU seconds of the database server so far (0.0 when it is not
        a cluster of ours: then it is in "other load")."""
        return 0.0 if self.cluster is None else self.cluster.cpu_seconds()

    def statements(self):
        """What PostgreSQL ran for this database so far, summed by kind:
        {kind: (calls, total ms)} (kinds: STATEMENT_KINDS, and 'all'), or
        None when not measured (no cluster of ours with
        pg_stat_statements)."""
        if self.cluster is None:
            return None
        name = self.address.rsplit('/', 1)[1].partition('?')[0]
        counts = self.cluster.statement_counts(name)
        if counts is None:
            return None
        kinds = {kind: (0, 0.0) for kind in STATEMENT_KINDS}
        kinds['all'] = (0, 0.0)
        for query, (calls, ms) in counts.items():
            for kind, mark in STATEMENT_KINDS.items():
                if mark in query:
                    kinds[kind] = (kinds[kind][0] + calls, kinds[kind][1] + ms)
            kinds['all'] = (kinds['all'][0] + calls, kinds['all'][1] + ms)
        return kinds

    def start(self):
        self.address = self.new_uri()
        storage = dburi.parse(self.address).openStorage()
        try:
            storage.zap_all()
        finally:
            storage.close()
        return self

    def stop(self):
        pass

    def open_db(self, **kw):
        return dburi.parse(self.address).open(**kw)

    def worker_args(self):
        return ['--db', self.address]


#: RelStorage's statements on PostgreSQL that the bench counts: the one
#: that takes the commit lock, writes and commits (one per commit that
#: writes; its time includes the wait for the commit lock, which is held
#: until the writing transaction has committed), and the poll for
#: changes (one per transaction begun, plus the change watcher's).
STATEMENT_KINDS = {'commit': 'lock_and_choose_tid_and_move',
                   'poll': 'poll_inv_query'}


def statement_figures(before, after, n):
    """(commits/job, ms per commit statement, polls/job, statements/job)
    between two SharedDatabase.statements(); None without them."""
    if before is None or after is None:
        return None
    delta = {k: (after[k][0] - before[k][0], after[k][1] - before[k][1])
             for k in after}
    commits, commit_ms = delta['commit']
    return (commits / n, commit_ms / commits if commits else 0.0,
            delta['poll'][0] / n, delta['all'][0] / n)


#: Makes the server of one run: (directory, use_cli) -> ZeoServer or
#: SharedDatabase; main() replaces it for --db and --postgres.
make_server = ZeoServer


def worker_argv(runner, server, uuid_file, poll=5.0, ping=None,
                death=None, size=None, extra=()):
    """The command line of a worker process."""
    if runner == 'cli':
        argv = [CLI, 'run'] + server.worker_args() + [
            '--uuid-file', uuid_file]
    else:
        address = server.address
        argv = [sys.executable, os.path.abspath(__file__), '_worker',
                '--zeo', address, '--uuid-file', uuid_file]
    argv += ['--poll-interval', str(poll)]
    if ping is not None:
        argv += ['--ping-interval', str(ping)]
    if death is not None:
        argv += ['--ping-death-interval', str(death)]
    if size is not None:
        argv += ['--agent-size', str(size)]
    return argv + list(extra)


def start_workers(server, runner, count, directory, **kw):
    workers = []
    for n in range(count):
        argv = worker_argv(runner, server,
                           os.path.join(directory, 'uuid-%d.txt' % n), **kw)
        workers.append(Process(argv, os.path.join(
            directory, 'worker-%d.log' % n)))
    return workers


def stop_all(processes):
    for p in processes:
        p.terminate()


# -- database helpers -----------------------------------------------------

class Session:
    """A connection with its own transaction manager."""

    def __init__(self, db):
        self.db = db
        self.tm = transaction.TransactionManager()
        self.conn = db.open(self.tm)

    def queue(self):
        return zc.asyncui.getQueue(self.conn)

    def active_dispatchers(self):
        self.tm.begin()
        records = self.queue().dispatchers.values()
        count = sum(1 for r in records if r.activated is not None)
        self.tm.abort()
        return count

    def put_all(self, calls):
        """Put one job per (callable, args) in one transaction; returns
        the jobs and the wall-clock time the commit returned."""
        self.tm.begin()
        queue = self.queue()
        jobs = [queue.put(zc.asyncui.Job(func, *args)) for func, args in calls]
        self.tm.commit()
        return jobs, time.time()

    def wait_completed(self, jobs, timeout):
        """Wait until every job is COMPLETED, cheaply: the job objects are
        loaded only once the queue is empty."""
        remaining = list(jobs)

        def done():
            self.tm.begin()
            if len(self.queue()):
                return False
            remaining[:] = [j for j in remaining if j._status != COMPLETED]
            return not remaining
        try:
            wait_for(done, timeout, '%d jobs to complete' % len(jobs),
                     interval=0.2)
        finally:
            self.tm.abort()

    def close(self):
        self.tm.abort()
        self.conn.close()


def retries(jobs):
    """Retries recorded on the jobs by their retry policies (transient
    errors such as ConflictError met by their call or commit, disconnects,
    interruptions), and how many jobs had more than one attempt."""
    total = sum(sum(j.retry_counts.values()) for j in jobs)
    reattempted = sum(1 for j in jobs if len(j._attempts) > 1)
    return total, reattempted


def worker_conflicts(workers):
    """ConflictErrors the workers met in their own transactions (claims,
    starts, ...), as they print or log it at exit; None if none did."""
    total, found = 0, False
    for w in workers:
        for line in w.output().splitlines():
            for mark in (CONFLICT_MARK, STOP_CONFLICT_MARK):
                if mark in line:
                    total += int(line.split(mark)[1].split()[0])
                    found = True
                    break
    return total if found else None


# -- measurements ---------------------------------------------------------

class Cell(persistent.Persistent):
    value = 0


def raw_commit_loop(address, seconds, start_at=None):
    """Commit one small object per transaction for ``seconds``; returns
    the number of commits."""
    if '://' in address:
        db = dburi.parse(address).open()
    else:
        host, port = address.rsplit(':', 1)
        db = ZODB.DB(ZEO.ClientStorage.ClientStorage((host, int(port))))
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    for attempt in tm.attempts(10):  # two processes add their cells
        with attempt:
            cell = conn.root()['cell-%d' % os.getpid()] = Cell()
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        cell.value += 1
        tm.commit()
        n += 1
    conn.close()
    db.close()
    return n


def raw_commit_rates(base, use_cli, seconds=1.5):
    """(1 client, 2 client processes) commits/s on a fresh ZEO server
    (or database)."""
    server = make_server(fresh_dir(base, 'raw'), use_cli).start()
    try:
        one = raw_commit_loop(server.address, seconds) / seconds
        start_at = time.time() + 2.0
        argv = [sys.executable, os.path.abspath(__file__), '_rawcommit',
                server.address, str(seconds), str(start_at)]
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                  env=child_env()) for _ in range(2)]
        two = sum(int(p.communicate(timeout=120)[0].split()[-1])
                  for p in procs) / seconds
    finally:
        server.stop()
    return one, two


def drain(base, use_cli, runner, procs, n, size):
    """Drain ``n`` no-op jobs with ``procs`` worker processes; returns a
    dict of figures."""
    directory = fresh_dir(base, 'drain-%d' % procs)
    server = make_server(directory, use_cli).start()
    db = server.open_db()
    zc.asyncui.install(db)
    session = Session(db)
    workers = start_workers(server, runner, procs, directory, size=size)
    try:
        wait_for(lambda: session.active_dispatchers() == procs, 120,
                 '%d dispatchers to activate' % procs)
        cpu0 = sum(w.cpu_seconds() for w in workers)
        zeo_cpu0 = _cpu_seconds(server)
        statements0 = _statements(server)
        (busy0, iowait0), own0 = machine_seconds(), time.process_time()
        wall0 = time.time()
        jobs, t0 = session.put_all([(benchjobs.noop, (i,))
                                    for i in range(n)])
        session.wait_completed(jobs, 600)
        cpu = sum(w.cpu_seconds() for w in workers) - cpu0
        zeo_cpu = _cpu_seconds(server) - zeo_cpu0
        statements = statement_figures(statements0, _statements(server), n)
        (busy, iowait), wall = machine_seconds(), time.time() - wall0
        busy, iowait = busy - busy0, (iowait - iowait0) / wall
        foreign = (busy - cpu - zeo_cpu -
                   (time.process_time() - own0)) / wall
        idle = os.cpu_count() - busy / wall
        session.tm.begin()
        elapsed = max(j._end_ts for j in jobs) - t0
        transient, reattempted = retries(jobs)
        per_worker = sorted(_jobs_per_dispatcher(jobs).values(),
                            reverse=True)
        session.tm.abort()
    finally:
        stop_all(workers)
        session.close()
        db.close()
        server.stop()
    if os.environ.get('ZC_ASYNCUI_BENCH_VERBOSE'):
        for w in workers:
            print('    ' + '; '.join(line for line in w.output().splitlines()
                                     if 'zc.asyncui-bench' in line))
    commits = count_commits(server.path, t0) if server.path else None
    if statements is not None:
        commits = statements[0] * n
    return dict(rate=n / elapsed,
                commits=None if commits is None else commits / n,
                seconds=elapsed, transient=transient,
                reattempted=reattempted, worker_conflicts=worker_conflicts(
                    workers), cpu_ms=1000 * cpu / n,
                zeo_cpu_ms=1000 * zeo_cpu / n, per_worker=per_worker,
                foreign=foreign, idle=idle, iowait=iowait,
                statements=statements)


def _statements(server):
    statements = getattr(server, 'statements', None)
    return None if statements is None else statements()


def _cpu_seconds(server):
    if server.process is not None:
        return server.process.cpu_seconds()
    return server.cpu_seconds()


def machine_seconds():
    """(busy, I/O wait) CPU seconds of the whole machine so far: idle
    CPUs waiting for the disk (an fsync) count as I/O wait, not busy."""
    with open('/proc/stat') as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf('SC_CLK_TCK')
    return (sum(fields[:8]) - idle) / tick, fields[4] / tick


def count_commits(path, since):
    """Transactions committed to the FileStorage at ``path`` from the
    wall-clock time ``since`` on (read after the server stopped)."""
    import ZODB.FileStorage
    import ZODB.TimeStamp
    storage = ZODB.FileStorage.FileStorage(path, read_only=True)
    try:
        return sum(1 for t in storage.iterator()
                   if ZODB.TimeStamp.TimeStamp(t.tid).timeTime() >= since)
    finally:
        storage.close()


def _jobs_per_dispatcher(jobs):
    counts = {}
    for job in jobs:
        uuid = job._attempts[-1][2] if job._attempts else None
        counts[uuid] = counts.get(uuid, 0) + 1
    return counts


def recovery(base, use_cli, runner, n=300, seconds=0.02, ping=0.5,
             death=2.0, poll=0.2, size=3):
    """Kill -9 one of two workers while it holds jobs; time until the last
    of its jobs finished elsewhere."""
    directory = fresh_dir(base, 'recovery')
    server = make_server(directory, use_cli).start()
    db = server.open_db()
    zc.asyncui.install(db)
    session = Session(db)
    workers = start_workers(server, runner, 2, directory, poll=poll,
                            ping=ping, death=death, size=size)
    try:
        wait_for(lambda: session.active_dispatchers() == 2, 120,
                 'two dispatchers to activate')
        victim_uuid = _uuid_of(directory, 0)
        jobs, _ = session.put_all([(time.sleep, (seconds,))
                                   for _ in range(n)])
        wait_for(lambda: _held_by(session, victim_uuid, ACTIVE), 60,
                 'the victim to run a job', interval=0.01)
        workers[0].kill()
        killed_at = time.time()
        time.sleep(0.2)  # let its last invalidations reach this client
        held = _held_by(session, victim_uuid)  # its last committed state
        session.wait_completed(jobs, 120)
        session.tm.begin()
        figures = _recovery_figures(jobs, held, killed_at, victim_uuid)
        session.tm.abort()
    finally:
        stop_all(workers)
        session.close()
        db.close()
        server.stop()
    figures.update(ping=ping, death=death, poll=poll)
    return figures


def _uuid_of(directory, n):
    with open(os.path.join(directory, 'uuid-%d.txt' % n)) as f:
        return f.readline().strip()


def _held_by(session, uuid, status=None):
    """Oids of the jobs the dispatcher ``uuid`` holds (with ``status``)."""
    session.tm.begin()
    try:
        record = session.queue().getDispatcherAgents(uuid)
        if record is None:
            return []
        return [job._p_oid for agent in record.values() for job in agent
                if status is None or job._status == status]
    finally:
        session.tm.abort()


def _recovery_figures(jobs, held_oids, killed_at, victim_uuid):
    by_oid = {j._p_oid: j for j in jobs}
    held = [by_oid[oid] for oid in held_oids if oid in by_oid]
    interrupted = [j for j in held if any(
        a[2] == victim_uuid and a[1] is not None and
        str(a[4]).startswith('interrupted') for a in j._attempts)]
    detected = min((a[1] for j in interrupted for a in j._attempts
                    if a[2] == victim_uuid and a[1] is not None),
                   default=None)
    last = max((j._end_ts for j in held), default=killed_at)
    return dict(held=len(held), interrupted=len(interrupted),
                recovery=last - killed_at,
                detection=None if detected is None else detected - killed_at,
                failed=sum(1 for j in jobs if j.failed),
                incomplete=sum(1 for j in jobs if j._status != COMPLETED))


def fresh_dir(base, name):
    return tempfile.mkdtemp(prefix=name + '-', dir=base)


# -- the API worker (used when the command line is not there) --------------

def api_worker(argv):
    """A worker process through the Python API, like ``zc-asyncui run``;
    prints the ConflictErrors it met when SIGTERM stops it."""
    import logging
    from zc.asyncui import dispatcher
    from zc.asyncui import utils
    parser = argparse.ArgumentParser()
    parser.add_argument('--zeo', required=True)
    parser.add_argument('--uuid-file', required=True)
    parser.add_argument('--poll-interval', type=float, default=5.0)
    parser.add_argument('--ping-interval', type=float, default=30.0)
    parser.add_argument('--ping-death-interval', type=float, default=60.0)
    parser.add_argument('--agent-size', type=int, default=3)
    parser.add_argument('--no-wakeups', action='store_true')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s'
                        ' %(name)s %(message)s')
    if args.no_wakeups:
        disable_wakeups()
    profile_to = os.environ.get('ZC_ASYNCUI_BENCH_PROFILE')
    if profile_to:  # a directory: one cProfile file per worker process
        import profile_drain
        profiles, _ = profile_drain.profiled_threads()
    from zc.asyncui import polling
    claims = [0, 0, 0]  # polls, claims that took jobs, jobs
    original_claim = polling.claim

    def counting_claim(*a, **kw):
        oids = original_claim(*a, **kw)
        claims[0] += 1
        claims[1] += bool(oids)
        claims[2] += len(oids)
        return oids
    polling.claim = counting_claim
    where = {}  # (what, class of the conflicting object) -> count
    oids = []
    original_explain = utils.explain_commit_error

    def counting_explain(description, exc):
        if utils.is_conflict(exc):
            what = (description.split(':')[-1].strip()[:20],
                    type(exc).__name__, getattr(exc, 'class_name', None))
            where[what] = where.get(what, 0) + 1
            oids.append(getattr(exc, 'oid', None))
        return original_explain(description, exc)
    utils.explain_commit_error = counting_explain
    host, port = args.zeo.rsplit(':', 1)
    db = ZODB.DB(ZEO.ClientStorage.ClientStorage((host, int(port)),
                                                 wait_timeout=60))
    zc.asyncui.install(db)
    d = dispatcher.start(
        db, poll_interval=args.poll_interval, uuid_file=args.uuid_file,
        main_agent_size=args.agent_size, ping_interval=args.ping_interval,
        ping_death_interval=args.ping_death_interval)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    stop.wait()
    d.stop(10.0)
    print('%s%d' % (CONFLICT_MARK, utils.conflicts.count), flush=True)
    print('zc.asyncui-bench claim calls %d, claims %d, jobs claimed %d'
          % tuple(claims), flush=True)
    print('zc.asyncui-bench conflicts where: %s' % sorted(
        where.items(), key=lambda kv: -kv[1]), flush=True)
    if oids:
        print('zc.asyncui-bench conflicting objects: %s'
              % classify_oids(db, oids), flush=True)
    if profile_to:
        import pstats
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        stats.dump_stats(os.path.join(profile_to, '%d.prof' % os.getpid()))
    db.close()


def classify_oids(db, oids):
    """Where the objects ``oids`` are in the default queue (for finding
    what conflicts)."""
    conn = db.open()
    try:
        queue = zc.asyncui.getQueue(conn)
        places = {}
        for name, bucket in queue._inbox.items():
            places[getattr(bucket, '_p_oid', None)] = 'inbox bucket'
        places[queue._inbox._p_oid] = 'inbox'
        for n, tree in enumerate(queue._due + (queue._scheduled,)):
            places[tree._p_oid] = 'tree %d root' % n
            bucket = tree._firstbucket
            while bucket is not None:
                places[bucket._p_oid] = 'tree %d bucket' % n
                bucket = bucket._next
        for uuid, record in queue.dispatchers.items():
            for agent in record.values():
                for attr in ('_held', '_completed'):
                    tree = getattr(agent, attr)
                    places[tree._p_oid] = 'agent ' + attr
                    b = tree._firstbucket
                    while b is not None:
                        places[b._p_oid] = 'agent %s bucket' % attr
                        b = b._next
        counts = {}
        for oid in oids:
            place = places.get(oid, 'other')
            counts[place] = counts.get(place, 0) + 1
        return counts
    finally:
        conn.close()


def disable_wakeups():
    """Make a dispatcher find new work by polling only (for contrast): no
    wake-up after this process's commits, no check of the last
    transaction id, no news of other clients' commits, and idle workers do not ask for a poll; the workers
    still ask for more when claimed work runs low (a poller that claims
    everything due at each poll does the same).  Patches internals: for
    benchmarks only."""
    from zc.asyncui import dispatcher
    from zc.asyncui import queue
    from zc.asyncui import worker
    queue._wake_after_commit = lambda jar: None
    dispatcher.CHANGE_CHECK_SECONDS = 1e9
    try:  # a ZEO client's news of other clients' commits
        from zc.asyncui import notices
        notices.listen = lambda db, callback: False
    except ImportError:  # older trees (bench/ compares them)
        pass
    worker.Inbox.get = _get_without_idle_wakeup


def _get_without_idle_wakeup(self, timeout):
    # zc.asyncui.worker.Inbox.get, except that a timeout (an idle worker)
    # does not wake the poll thread.
    with self._cond:
        if not self._items:
            self._cond.wait(timeout)
        item = self._items.popleft() if self._items else None
    if item is not None:
        self._check_low()
    return item


# -- main -----------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=2000)
    parser.add_argument('--procs', default='1,2,4')
    parser.add_argument('--agent-size', type=int, default=3)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--runner', choices=('cli', 'api'), default=None,
                        help='default: cli when zc-asyncui has "run --zeo"')
    parser.add_argument('--skip-recovery', action='store_true')
    parser.add_argument('--server', choices=('cli', 'runzeo'), default=None,
                        help='default: cli when zc-asyncui has "zeo"')
    where = parser.add_mutually_exclusive_group()
    where.add_argument('--db', metavar='URI', help='RelStorage instead of'
                       ' ZEO: a throwaway database, EMPTIED before each run')
    where.add_argument('--postgres', action='store_true', help='RelStorage'
                       ' on a throwaway PostgreSQL cluster started here')
    args = parser.parse_args(argv)
    use_cli = (args.server == 'cli' if args.server else cli_available())
    runner = args.runner or ('cli' if use_cli else 'api')
    if args.db or args.postgres:
        return main_shared(args)
    print('workers: %s; ZEO server: %s; %d jobs; agent size %d; %d CPUs'
          % ('zc-asyncui run --zeo' if runner == 'cli' else 'Python API'
             ' subprocess', 'zc-asyncui zeo' if use_cli else 'runzeo',
             args.jobs, args.agent_size, os.cpu_count()))
    base = tempfile.mkdtemp(prefix='zc.asyncui-mp-')
    try:
        run_all(base, use_cli, runner, args)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main_shared(args):
    """The figures on RelStorage (--db URI or --postgres)."""
    global make_server
    cluster = None
    if args.postgres:
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests'))
        import pgcluster
        reason = pgcluster.unavailable()
        if reason:  # not an error: make bench goes on with the others
            print('RelStorage figures skipped: %s' % reason)
            return
        cluster = pgcluster.PostgresCluster()
        if cluster.library_available('pg_stat_statements'):
            # Counts of what RelStorage runs (commits, polls): exact, and
            # cheap enough (measured: no change in the drain rate).
            cluster.settings += (
                'shared_preload_libraries=pg_stat_statements',)
        cluster.start()
        new_uri = cluster.createDatabase
    else:
        new_uri = lambda: args.db  # noqa: E731
    make_server = lambda directory, use_cli: SharedDatabase(  # noqa: E731
        new_uri, cluster)
    print('workers: zc-asyncui run --db %s; %d jobs; agent size %d; %d'
          ' CPUs' % (dburi.hide_password(args.db) if args.db else
                     'postgres://... (a throwaway cluster, a new database'
                     ' each run)', args.jobs, args.agent_size,
                     os.cpu_count()))
    base = tempfile.mkdtemp(prefix='zc.asyncui-mp-')
    try:
        run_all(base, True, 'cli', args, label='RelStorage',
                server_name='PostgreSQL' if cluster else
                'PostgreSQL (not measured: in other load)')
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if cluster is not None:
            cluster.stop()


def run_all(base, use_cli, runner, args, label='ZEO', server_name='ZEO'):
    raw = [raw_commit_rates(base, use_cli)]
    print('raw %s commit rate (1 object/txn): 1 client %6.0f/s,'
          ' 2 client processes %6.0f/s' % ((label,) + raw[0]))
    procs_list = [int(p) for p in args.procs.split(',')]
    runs = {p: [] for p in procs_list}
    for rep in range(args.reps):
        # Interleaved, so that slow drifts of the machine spread evenly.
        for procs in procs_list:
            f = drain(base, use_cli, runner, procs, args.jobs,
                      args.agent_size)
            runs[procs].append(f)
            print_drain(procs, f, raw[0][0], args.jobs, rep, server_name)
    raw.append(raw_commit_rates(base, use_cli))
    print('raw %s commit rate again (drift check): 1 client %6.0f/s,'
          ' 2 client processes %6.0f/s' % ((label,) + raw[1]))
    print_summary(runs, raw, args.jobs, server_name)
    if not args.skip_recovery:
        print_recovery(recovery(base, use_cli, runner))


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if len(values) % 2 else (
        values[len(values) // 2 - 1] + values[len(values) // 2]) / 2


def print_drain(procs, f, raw, n, rep, server_name='ZEO'):
    wc = f['worker_conflicts']
    print('  run %d, %d worker process%s: %6.0f jobs/s (%.2fs)  ratio to'
          ' raw commit %.2f  commits/job %s  job retries/job %.3f (%d jobs'
          ' re-attempted)  worker ConflictErrors/job %s  CPU ms/job %.2f'
          ' workers + %.2f %s  jobs per worker %s  other load on the'
          ' machine %.2f CPUs  idle %.2f CPUs (%.2f waiting for I/O)'
          % (rep + 1, procs, '' if procs == 1 else 'es', f['rate'],
             f['seconds'], f['rate'] / raw, 'n/a' if f['commits'] is None
             else '%.2f' % f['commits'],
             f['transient'] / n, f['reattempted'],
             'n/a' if wc is None else '%.3f' % (wc / n), f['cpu_ms'],
             f['zeo_cpu_ms'], server_name, f['per_worker'], f['foreign'],
             f['idle'], f['iowait']))
    if f.get('statements'):
        print('    PostgreSQL: commit statement (commit lock wait, write,'
              ' commit) %.1f ms per commit; polls/job %.2f; statements/job'
              ' %.1f' % f['statements'][1:])


def print_summary(runs, raw, n, server_name='ZEO'):
    """Medians per process count, with the CPU per job split between
    the workers and the server, and the rate the machine's CPUs allow at
    that cost (all CPUs busy with workers and server, nothing else): a
    rate near it means the machine, not the queue, is the bound."""
    raw1 = median([r[0] for r in raw])
    print('summary (median of %d runs; N=%d):' % (len(next(iter(
        runs.values()))), n))
    medians = {}
    for procs, fs in runs.items():
        medians[procs] = rate = median([f['rate'] for f in fs])
        wcs = [f['worker_conflicts'] for f in fs]
        conflicts = median([(f['transient'] + (f['worker_conflicts'] or 0))
                            / n for f in fs])
        workers_ms = median([f['cpu_ms'] for f in fs])
        server_ms = median([f['zeo_cpu_ms'] for f in fs])
        total_ms = median([f['cpu_ms'] + f['zeo_cpu_ms'] for f in fs])
        foreign = median([f['foreign'] for f in fs])
        print('  %d process%s: %6.0f jobs/s (min %4.0f, max %4.0f)  ratio to'
              ' raw commit %.2f  conflicts/job %.3f%s  CPU ms/job %.2f'
              ' (workers %.2f + %s %.2f; %d CPUs allow %.0f jobs/s at that'
              ' cost, %.0f with what other load left)  idle %.2f CPUs (%.2f'
              ' waiting for I/O)  other load %.2f CPUs%s'
              % (procs, '' if procs == 1 else 'es', rate,
                 min(f['rate'] for f in fs), max(f['rate'] for f in fs),
                 rate / raw1, conflicts, '' if None not in wcs else
                 ' (job retries only)', total_ms, workers_ms, server_name,
                 server_ms, os.cpu_count(), os.cpu_count() * 1000 / total_ms,
                 max(0.0, os.cpu_count() - foreign) * 1000 / total_ms,
                 median([f['idle'] for f in fs]),
                 median([f['iowait'] for f in fs]), foreign,
                 _statement_summary(fs)))
    for procs in medians:
        if procs != 1 and 1 in medians:
            print('  scaling %d processes / 1 process: %.2fx'
                  % (procs, medians[procs] / medians[1]))


def _statement_summary(fs):
    figures = [f['statements'] for f in fs if f.get('statements')]
    if not figures:
        return ''
    return ('  commits/job %.2f  commit statement %.1f ms  polls/job %.2f'
            % tuple(median([x[i] for x in figures]) for i in range(3)))


def print_recovery(f):
    print('recovery after kill -9 (ping %.1fs, death %.1fs, poll %.1fs):'
          ' victim held %d jobs (%d started); death noticed after %s; last'
          ' of its jobs finished %.2fs after the kill; failed jobs %d,'
          ' incomplete %d'
          % (f['ping'], f['death'], f['poll'], f['held'], f['interrupted'],
             'n/a' if f['detection'] is None else '%.2fs' % f['detection'],
             f['recovery'], f['failed'], f['incomplete']))


if __name__ == '__main__':
    if sys.argv[1:2] == ['_worker']:
        api_worker(sys.argv[2:])
    elif sys.argv[1:2] == ['_rawcommit']:
        print(raw_commit_loop(sys.argv[2], float(sys.argv[3]),
                              float(sys.argv[4])))
    else:
        main()
