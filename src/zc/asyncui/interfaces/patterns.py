"""The contracts of the work patterns built on jobs: composite jobs
(parallel, serial, broadcast), work piles and periodic schedules.

Layer: contracts.  Part of ``zc.asyncui.interfaces``, which re-exports
every name: import them from there.  Each interface sets ``__module__``
to that public module, so its identifier (``zc.asyncui.interfaces.IJob``:
error messages, ZCML, and pickles of registrations stored in a database)
does not depend on the file it is written in.
"""
from zope.interface import Attribute
from zope.interface import Interface
from zope.interface import Invalid
from zope.interface import invariant


class IComposite(Interface):
    """The persistent state of one parallel or serial job (made by
    ``zc.asyncui.patterns.parallel``, ``serial`` or ``broadcast``;
    zc.asyncui.composite.Composite): the outer job calls ``run``, each
    component's callback calls ``componentDone``, the postprocess job
    calls ``finish``.

    Invariants (``validateInvariants`` checks the counting ones):

    - ``kind`` is 'parallel' or 'serial'; ``components`` only grows;
    - ``finished_count <= len(components)`` and
      ``put_count <= len(components)``: a component is put once and its
      callback counts it once;
    - serial: ``put_count <= finished_count + 1`` (one component at a
      time, in order);
    - the postprocess runs once, after every component finished (each
      writer writes the composite, so concurrent finishes conflict and
      one retries), and a finished component is never run again.

    Nothing here commits: each method runs in the transaction of the job
    that calls it (a worker thread).  Not conflict-resolving on purpose.
    """
    __module__ = 'zc.asyncui.interfaces'

    kind = Attribute("'parallel' or 'serial'.")
    label = Attribute("The kind shown in annotations ('broadcast' for a "
                      "broadcast, else ``kind``).")
    outer = Attribute("The outer Job, whose callable is ``run``: the job "
                      "to put.")
    components = Attribute("The component Jobs, a tuple, in order.")
    postprocess = Attribute("The Job that calls ``finish``: put parked "
                            "when the outer job runs, released when the "
                            "last component finished.")
    user_postprocess = Attribute("The callable (or Job) given as "
                                 "``postprocess=``, or None.")
    queue = Attribute("The outer job's queue once it ran, else None.")
    finished_count = Attribute("How many components have finished.")
    put_count = Attribute("How many components have been put, in order.")

    def run():
        """The outer job's call: put the components whose turn it is and
        return the postprocess job, which the outer job waits for."""

    def componentDone(result):
        """A component's callback: count it, put the next one (serial) or
        release the postprocess once every component has finished."""

    def finish():
        """The postprocess job's call: the user's postprocess called with
        the component jobs, or the list of their results."""

    def extend(jobs):
        """Add components (NEW Jobs or callables) and return them as a
        list of Jobs; put at once if the outer job runs.  Raises
        BadStatusError once the postprocess has been released, and
        BadStatusError or TypeError for a component that is not a NEW
        Job or a callable."""

    @invariant
    def counts_within_components(composite):
        total = len(composite.components)
        if not (0 <= composite.finished_count <= total
                and 0 <= composite.put_count <= total):
            raise Invalid('finished_count %d and put_count %d must be'
                          ' within 0..%d components'
                          % (composite.finished_count, composite.put_count,
                             total))

    @invariant
    def serial_one_at_a_time(composite):
        if composite.kind not in ('parallel', 'serial'):
            raise Invalid('kind must be parallel or serial, not %r'
                          % (composite.kind,))
        if (composite.kind == 'serial'
                and composite.put_count > composite.finished_count + 1):
            raise Invalid('a serial job put %d components while %d had'
                          ' finished' % (composite.put_count,
                                         composite.finished_count))


class IWorkPile(Interface):
    """A persistent pile of work items that application code appends to
    in its own transactions, and the one pending job that takes them
    (zc.asyncui.workpile.WorkPile).

    Invariants:

    - appends never conflict with each other nor with the job taking the
      items (conflict resolution by item);
    - every item appended by a committed transaction is taken by exactly
      one committed drain: two drains that took the same item conflict;
    - at most one job put by ``ensureJob`` in a queue is pending (not
      started) at a time.

    Nothing here commits.  Any thread, through its own connection.
    """
    __module__ = 'zc.asyncui.interfaces'

    key = Attribute("The pile's printable id (its oid), or None.")

    def append(item):
        """Add a picklable ``item``; raises UnpicklableCallableError for
        one that cannot be stored."""

    def take():
        """Remove and return every item, in append order."""

    def ensureJob(queue, processor):
        """Return the pending job of this pile in ``queue``, putting one
        if there is none (a put with a collapse key, see IQueue.put).
        The job takes every item visible when it runs and calls
        ``processor(items)`` in its own transaction; if the processor
        raises, the items stay.  Raises NotInDatabaseError if ``queue``
        is not stored."""

    def __len__():
        """The number of items not taken yet."""

    def __iter__():
        """The items not taken yet, in append order."""


class ISchedule(Interface):
    """A periodic job (``zc.asyncui.periodic.schedule``): a template call,
    a period (``every`` or ``cron``) and a queue.

    Invariants:

    - at most one pending run (``job``) at a time, and exactly one while
      neither paused nor removed (unless putting it failed: see its
      last run's annotation);
    - the run after a run is put in the transaction that starts that
      run (or cancels it before it started), so each period runs at most
      once whatever the number of dispatchers;
    - periods missed while nothing ran are run once, late.

    Nothing here commits.
    """
    __module__ = 'zc.asyncui.interfaces'

    name = Attribute("The schedule's name, unique in the database.")
    every = Attribute("The period as a timedelta, or None for cron.")
    cron = Attribute("The cron expression (UTC), or None for every.")
    queue = Attribute("The queue its runs are put in.")
    job = Attribute("The pending run (a Job), or None.")
    last_job = Attribute("The latest run that started, or None.")
    runs = Attribute("How many runs started (or were cancelled).")
    next_run = Attribute("When the pending run may start, or None.")
    paused = Attribute("True between pause() and resume().")
    removed = Attribute("True once replaced or removed.")

    def pause():
        """Take the pending run out of its queue; no run is put until
        resume().  A run already claimed still runs, with no next."""

    def resume():
        """Put the next run, one period after now.  Raises BadStatusError
        for a removed schedule."""

    def next_after(after, period=None):
        """The first period strictly after ``after``."""
