"""The Python configuration API: everything a deployment configures.

Plain functions, each checking its arguments with the one table of
settings (``zc.asyncui.settings``); the ZCML directives
(``zc.asyncui.zcml``) only call them, so nothing is possible only
through ZCML::

    installQueues(db, ['', 'reports'])           # or {name: filter}
    addAgent(db, 'mail', size=2, filter='mail')  # before or after start
    setDefaultPolicies(job=MyPolicy)             # process defaults
    startDispatcher(db, poll_interval=1.0)
    stopDispatcher()

Filters and choosers can be registered by name (``registerFilter``,
``registerChooser``: named utilities providing IFilter / IChooser), so
that configuration and forms name them; ``addAgent`` and
``installQueues`` accept such names.

Process-wide state kept here: the agents specified per database (a
dispatcher started later creates them), the default retry policies, the
dispatchers started by ``startDispatcher`` and the monitor address.
``reset()`` forgets all of it (for tests).

Layer: configuration (imports the model and the thread runtime).
"""
import logging
import threading
import weakref

import transaction
import zope.component
import zope.interface
import ZODB.interfaces

from zc.asyncui import dispatcher as dispatcher_module
from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import logbuffer
from zc.asyncui import queueroot
from zc.asyncui import settings
from zc.asyncui import utils
from zc.asyncui.agent import Agent
from zc.asyncui.calls import check_storable

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# db -> {(queue name or None, agent name): Agent keyword arguments}
_agents = weakref.WeakKeyDictionary()
# 'job' / 'callback' -> retry policy factory (or None: built in)
_policies = {'job': None, 'callback': None}
# dispatchers started by startDispatcher, in start order
_started = []
_monitor = {'address': None, 'starters': []}
# who may read @@metrics: see setMetricsAccess
_metrics = settings.validate('metrics', {})

_POLICY_SETTINGS = {'job': 'job_retry_policy_factory',
                    'callback': 'callback_retry_policy_factory'}


# -- named filters and choosers ---------------------------------------------

def registerFilter(name, filter):
    """Register ``filter`` (a storable callable ``(job) -> bool``) as the
    IFilter utility ``name``, so agents, queues and forms can name it."""
    _register_named(name, filter, interfaces.IFilter, 'filter')


def registerChooser(name, chooser):
    """Register ``chooser`` (a storable callable ``(agent, jobs) -> job``)
    as the IChooser utility ``name``."""
    _register_named(name, chooser, interfaces.IChooser, 'chooser')


def _register_named(name, component, iface, what):
    if not isinstance(name, str) or not name:
        raise errors.ConfigurationError(
            'A %s name is a non-empty string, not %r' % (what, name))
    settings.get('agent', what).validate(component)
    check_storable(component, 'the %s %r' % (what, name))
    if not iface.providedBy(component):
        # Named utilities must provide their interface; plain functions
        # get it directly, as zope.interface.provider would.
        zope.interface.alsoProvides(component, iface)
    zope.component.provideUtility(component, iface, name)


def getFilter(name_or_filter):
    """The filter registered as ``name``; a callable (or None) is returned
    as is.  An unknown name is a ConfigurationError listing the known
    ones."""
    return _resolve(name_or_filter, interfaces.IFilter, 'filter')


def getChooser(name_or_chooser):
    """Like getFilter, for IChooser."""
    return _resolve(name_or_chooser, interfaces.IChooser, 'chooser')


def getFilters():
    """{name: filter} of the registered filters (for forms)."""
    return dict(zope.component.getUtilitiesFor(interfaces.IFilter))


def getChoosers():
    """{name: chooser} of the registered choosers (for forms)."""
    return dict(zope.component.getUtilitiesFor(interfaces.IChooser))


def _resolve(value, iface, what):
    if not isinstance(value, str):
        return value
    component = zope.component.queryUtility(iface, value)
    if component is None:
        known = sorted(n for n, _ in zope.component.getUtilitiesFor(iface))
        raise errors.ConfigurationError(
            'No %s named %r; the known %ss are: %s. Register one with'
            ' zc.asyncui.config.register%s() or the asyncui:%s directive.'
            % (what, value, what, ', '.join(repr(n) for n in known)
               or 'none', what.capitalize(), what))
    return component


# -- queues -----------------------------------------------------------------

def installQueues(db, names=('',)):
    """Create the queues ``names`` in ``db`` if missing, in a transaction
    of its own; ``names`` is a sequence of names, or a mapping of name to
    filter (None, a callable or a registered filter name) for queues
    that accept only the jobs their filter passes.  A declared filter
    replaces the queue's current one.  Returns the names created."""
    filters = {}
    if hasattr(names, 'items'):
        filters = {n: getFilter(f) for n, f in names.items()}
        names = list(names)
    for name, filter in filters.items():
        settings.get('agent', 'filter').validate(filter)
        if filter is not None:
            check_storable(filter, 'the filter of queue %r' % name)
    tm = transaction.TransactionManager()
    conn = _database(db).open(tm)

    def work():
        created = queueroot.install(conn, names)
        queues = conn.root()[interfaces.KEY]
        for name, filter in filters.items():
            if queues[name].filter != filter:
                queues[name].filter = filter
        return created
    try:
        return utils.retry_transaction(tm, work, 'install queues',
                                       attempts=10)
    finally:
        conn.close()


def _database_of(obj):
    jar = getattr(obj, '_p_jar', None)
    if jar is None:
        raise errors.NotInDatabaseError(
            '%r is not stored in a database: pass the database, or a queue'
            ' found with zc.asyncui.getQueue().' % (obj,))
    return jar.db()


def _database(db):
    if not ZODB.interfaces.IDatabase.providedBy(db):
        raise TypeError('Expected a ZODB database, not %r' % (db,))
    return db


# -- agents -----------------------------------------------------------------

def addAgent(db_or_queue, name, size=settings.default('agent', 'size'),
             filter=None, chooser=None, retry_policy=None, *, queue='',
             **options):
    """Give this process's dispatcher an agent ``name`` in a queue.

    ``db_or_queue``: a database (the queue is then named by ``queue``,
    default ''; None means every queue) or a stored queue.  ``filter``
    and ``chooser``: callables or registered names; ``retry_policy``: a
    retry policy factory for the agent's jobs; ``options``: the other
    agent settings (zc.asyncui.settings.AGENT_SETTINGS).

    Works before or after the dispatcher starts.  Given a queue where
    the dispatcher is active, the agent is added at once, in the queue's
    connection's transaction (the caller commits), and returned.
    Otherwise it is remembered for the database and created where the
    dispatcher activates (or, if it runs, at its next poll); None is
    returned.  An agent that already exists keeps its settings.
    """
    options.update(size=size, filter=getFilter(filter),
                   chooser=getChooser(chooser),
                   retry_policy_factory=retry_policy)
    settings.validate('agent', options)
    if interfaces.IQueue.providedBy(db_or_queue):
        queue = db_or_queue.name
        db = _database_of(db_or_queue)
    else:
        db = _database(db_or_queue)
    if not isinstance(name, str) or not name:
        raise errors.ConfigurationError(
            'An agent name is a non-empty string, not %r' % (name,))
    with _lock:
        _agents.setdefault(db, {})[(queue, name)] = options
    running = _running(db)
    if interfaces.IQueue.providedBy(db_or_queue) and running is not None:
        record = db_or_queue.getDispatcherAgents(running.UUID)
        if record is not None and record.process_token == running.token \
                and name not in record:
            agent = record[name] = Agent(**options)
            return agent
    if running is not None:
        running.addAgent(queue, name, **options)
    return None


def getAgentSpecs(db):
    """The agents specified for ``db``: a list of (queue name or None,
    agent name, Agent keyword arguments)."""
    with _lock:
        specs = dict(_agents.get(db, {}))
    return [(q, n, dict(o)) for (q, n), o in specs.items()]


# -- process defaults ---------------------------------------------------------

def setDefaultPolicies(job=None, callback=None):
    """Set the process-wide default retry policy factories, for jobs
    and for callbacks that (and whose agent) name none; None restores
    the built-in default (RetryCommonFourTimes, RetryCommonForever).
    Applies to dispatchers started by startDispatcher, running or
    later."""
    values = settings.validate('dispatcher', {
        _POLICY_SETTINGS['job']: job,
        _POLICY_SETTINGS['callback']: callback})
    with _lock:
        _policies.update(job=job, callback=callback)
        running = [d for d in _started if not d.stopped]
    for dispatcher in running:
        for kind, setting in _POLICY_SETTINGS.items():
            setattr(dispatcher, setting, values[setting])


def getDefaultPolicies():
    """{'job': factory or None, 'callback': factory or None}."""
    with _lock:
        return dict(_policies)


# -- the dispatcher -----------------------------------------------------------

def startDispatcher(db, **options):
    """Start this process's dispatcher for ``db`` and return it.

    ``options``: zc.asyncui.settings.DISPATCHER_SETTINGS (checked there;
    ConfigurationError names a bad one).  The default retry policies
    (setDefaultPolicies) apply unless given here, and the agents
    specified for ``db`` (addAgent) are created where it activates.
    """
    db = _database(db)
    defaults = getDefaultPolicies()
    for kind, setting in _POLICY_SETTINGS.items():
        if options.get(setting) is None:
            options[setting] = defaults[kind]
    settings.validate('dispatcher', options)
    started = dispatcher_module.start(db, agents=getAgentSpecs(db),
                                      **options)
    with _lock:
        _started.append(started)
    return started


def stopDispatcher(db=None, timeout=30.0):
    """Stop the dispatchers started by startDispatcher (only that of
    ``db`` if given), letting running jobs finish for up to ``timeout``
    seconds.  Returns how many were stopped."""
    with _lock:
        chosen = [d for d in _started if db is None or d.db is db]
        for d in chosen:
            _started.remove(d)
    for dispatcher in chosen:
        dispatcher.stop(timeout)
    return len(chosen)


def _running(db):
    with _lock:
        started = [d for d in _started if d.db is db and not d.stopped]
    return started[-1] if started else None


# -- the monitor (served by issue 9) ------------------------------------------

def setMonitorAddress(host=settings.default('monitor', 'host'),
                      port=settings.default('monitor', 'port')):
    """Record where the monitor listens (loopback, port 8081 by
    default); startMonitor uses it."""
    values = settings.validate('monitor', dict(host=host, port=port))
    with _lock:
        _monitor['address'] = (values['host'], values['port'])


def getMonitorAddress():
    """(host, port) recorded by setMonitorAddress, or None."""
    with _lock:
        return _monitor['address']


def addMonitorStarter(starter):
    """The hook point for the monitor server: ``starter(db, host, port)``
    is called by startMonitor.  The monitor package registers one."""
    with _lock:
        if starter not in _monitor['starters']:
            _monitor['starters'].append(starter)


def startMonitor(db):
    """Call the monitor starters with ``db`` and the recorded address
    (nothing if no address was recorded).  Returns their results."""
    address = getMonitorAddress()
    with _lock:
        starters = list(_monitor['starters'])
    if address is None:
        return []
    if not starters:
        logger.info('monitor address %s:%d recorded; no monitor server is'
                    ' installed in this process', *address)
    return [starter(db, *address) for starter in starters]


# -- the metrics page and the log buffer (issue 10) -------------------------

def setMetricsAccess(loopback_without_credentials=False):
    """Whether ``/++async++/@@metrics`` answers requests from this
    machine without credentials (a loopback client address, no proxy
    headers); otherwise it needs the zc.asyncui.View permission."""
    values = settings.validate('metrics', dict(
        loopback_without_credentials=loopback_without_credentials))
    with _lock:
        _metrics.update(values)


def getMetricsAccess():
    """{'loopback_without_credentials': bool}."""
    with _lock:
        return dict(_metrics)


def installLogBuffer(size=settings.default('log', 'size'),
                     level=settings.default('log', 'level')):
    """Keep the newest ``size`` records of the zc.asyncui loggers at
    ``level`` or above in memory, for the log page
    (zc.asyncui.logbuffer); size 0 removes the buffer.  Returns it."""
    return logbuffer.install(size, level)


def reset():
    """Forget the process-wide configuration (for tests); stops the
    dispatchers started by startDispatcher."""
    stopDispatcher(timeout=5.0)
    logbuffer.uninstall()
    with _lock:
        _agents.clear()
        _policies.update(job=None, callback=None)
        _monitor.update(address=None, starters=[])
        _metrics.update(settings.validate('metrics', {}))
