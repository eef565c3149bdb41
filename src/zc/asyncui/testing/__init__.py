"""Public helpers for testing applications that use zc.asyncui.

- ``wait_for_result``, ``wait_for_start``, ``wait_for_annotation``: wait
  (without blind sleeps) for a job to reach a state, seen through a
  fresh transaction; raise WaitTimeoutError naming the job and status.
- ``run_until_idle``: wait until a dispatcher has nothing left to do.
- ``wait_until``: wait for any condition (another process's output, a
  ZEO server that comes back), transient database errors counting as
  "not yet".
- ``run_jobs``: run the due jobs in the calling thread, with callbacks and
  retries (no dispatcher, no threads).
- ``FakeClock``: a settable clock for ``zc.asyncui`` timestamps.
- ``file_storage_db``: a DB on a FileStorage in a directory.
- ``dispatcher_running``: a dispatcher with short intervals, stopped after.
- ``FilterConformance``, ``QueueConformance``: test mixins (ZODB
  BasicStorage style) that every filter and every queue must pass.
- ``FunctionalLayer``, ``functional_fixture``: the functional test layer
  for Zope applications (``zc.asyncui.ftesting``): a test database and a
  dispatcher per test, both on a DemoStorage over the layer's database.

Where each helper is written: ``waiting`` (the waits, run_until_idle,
dispatcher_running), ``fixtures`` (FakeClock, file_storage_db) and
``conformance`` (the mixins) in this package; run_jobs in
zc.asyncui.inline, the functional layer in zc.asyncui.ftesting.

Layer: configuration (this package and its modules).
"""
# Waiting for what a real dispatcher does
from zc.asyncui.testing.waiting import dispatcher_running
from zc.asyncui.testing.waiting import run_until_idle
from zc.asyncui.testing.waiting import wait_for_annotation
from zc.asyncui.testing.waiting import wait_for_result
from zc.asyncui.testing.waiting import wait_for_start
from zc.asyncui.testing.waiting import wait_until

# Running jobs in the calling thread
from zc.asyncui.inline import run_jobs

# Time and databases
from zc.asyncui.testing.fixtures import FakeClock
from zc.asyncui.testing.fixtures import file_storage_db

# Conformance mixins
from zc.asyncui.testing.conformance import FilterConformance
from zc.asyncui.testing.conformance import QueueConformance

# Zope applications: the functional layer
from zc.asyncui.ftesting import FunctionalLayer
from zc.asyncui.ftesting import functional_fixture

__all__ = [
    # waiting for what a real dispatcher does
    'wait_for_result', 'wait_for_start', 'wait_for_annotation',
    'run_until_idle', 'dispatcher_running', 'wait_until',
    # running jobs in the calling thread (zc.asyncui.inline)
    'run_jobs',
    # time and databases
    'FakeClock', 'file_storage_db',
    # conformance mixins
    'FilterConformance', 'QueueConformance',
    # Zope applications: the functional layer (zc.asyncui.ftesting)
    'FunctionalLayer', 'functional_fixture',
]
