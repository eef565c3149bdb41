"""Application objects for the multi-database tests
(tests/test_multidb.py): the application lives in the database 'main',
the queues in 'async'.

``Tally`` is an application object of 'main': its methods are the jobs'
callables, so every job refers to 'main' through a cross-database
reference.  Worker processes (``zc-asyncui run``) import this module.
"""
import os
import time

import persistent
import persistent.mapping

MAIN, ASYNC = 'main', 'async'


class Report(persistent.Persistent):
    """A result object that refers back to the application."""

    def __init__(self, tally, tag):
        self.tally = tally
        self.tag = tag


class Tally(persistent.Persistent):
    """Counts the committed runs of its jobs, per tag."""

    def __init__(self):
        self.counts = persistent.mapping.PersistentMapping()
        self.reports = persistent.mapping.PersistentMapping()

    def add(self, tag, wait_for=None, calls_file=None):
        """Count ``tag``; then (if given) wait for the file ``wait_for``,
        so that a test can kill the process while the job runs."""
        if calls_file:
            with open(calls_file, 'a') as f:
                f.write('%s %d\n' % (tag, os.getpid()))
        self.counts[tag] = self.counts.get(tag, 0) + 1
        deadline = time.monotonic() + 60
        while wait_for and not os.path.exists(wait_for):
            if time.monotonic() > deadline:
                raise RuntimeError('%s never appeared' % wait_for)
            time.sleep(0.05)
        return tag

    def fail(self, tag):
        """Count ``tag``, then fail: the count is never committed."""
        self.counts[tag] = self.counts.get(tag, 0) + 1
        raise ValueError('%s failed' % tag)

    def report(self, tag):
        """A new Report kept by this tally, so stored in 'main'."""
        report = self.reports[tag] = Report(self, tag)
        self._p_jar.add(report)  # in this object's database, now
        return report

    def loose_report(self, tag):
        """A new Report referred to only by the job's result: ZODB
        stores it with the job, in 'async'."""
        return Report(self, tag)


def open_zeo(address, names=(MAIN, ASYNC)):
    """A multi-database of the storages ``names`` of a ZEO server; the
    first database is returned."""
    import ZEO.ClientStorage
    import ZODB
    databases = {}
    opened = []
    for name in names:
        storage = ZEO.ClientStorage.ClientStorage(
            address, storage=name, wait_timeout=30)
        opened.append(ZODB.DB(storage, databases=databases,
                              database_name=name))
    return opened[0]


def put_follow_up(tally):
    from zc.asyncui import Job
    from zc.asyncui.queueroot import getQueue
    job = getQueue(tally).put(Job(tally.add, 'follow-up'))
    return job.key


def count(tally, tag):
    """A plain function whose argument is an object of 'main'."""
    return tally.add(tag)
