"""ZCML directives of the ``http://namespaces.zope.org/asyncui`` namespace.

Each directive is a zope.schema interface (a title and a description on
every field; the dispatcher's, the agent's and the monitor's fields are
derived from ``zc.asyncui.settings``) and a short handler that calls
``zc.asyncui.config`` through an action with a conflict discriminator.

Values are checked when the file is read: a bad value raises inside field
conversion or in the handler, and zope.configuration then names the file
and the line.  Names of filters and choosers are resolved when the actions
run (after every ``filter`` and ``chooser`` directive registered its
component): an unknown name lists the known ones.

``queue``, ``agent``, ``dispatcher`` and ``monitor`` act on a database:
their actions register a handler of IDatabaseOpenedWithRoot (zope.app.
appsetup fires it at start-up) that calls config with the opened
database and ``database``: on every directive, the name of the database
of the multi-database that holds the queues (the queues are installed
there, the application database's root refers to them, and the
dispatcher and the monitor work there).  Action order
makes the handlers run in this order: queues, agents, dispatcher,
monitor.  The dispatcher stops at process exit (zc.asyncui.dispatcher
registers that with atexit at its first start).

Layer: front-end.
"""
import zope.component
import zope.configuration.fields
import zope.interface
import zope.interface.interface
import zope.processlifetime
import zope.schema
import zope.schema.interfaces
from zope.configuration.exceptions import ConfigurationError
from zope.security.proxy import removeSecurityProxy

from zc.asyncui import config
from zc.asyncui import errors
from zc.asyncui import interfaces
from zc.asyncui import settings
from zc.asyncui.job import Job
from zc.asyncui.queueroot import getQueue

# Action orders: named components first, then what runs at database
# opening, in the order its handlers must run.
ORDER_QUEUE, ORDER_AGENT, ORDER_DISPATCHER, ORDER_MONITOR = 1, 2, 3, 4


# -- fields -----------------------------------------------------------------

class BadSettingValue(zope.schema.ValidationError):
    """A setting's value, as written in ZCML, is not acceptable."""

    def __str__(self):
        return self.args[0] if self.args else ''


@zope.interface.implementer(zope.schema.interfaces.IFromUnicode)
class SettingField(zope.schema.Field):
    """A field read with a Setting of zc.asyncui.settings: its parser and
    validator, its help as description."""

    def __init__(self, setting, **kw):
        self.setting = setting
        unit = ' (%s)' % setting.unit if setting.unit else ''
        kw.setdefault('title', setting.label.replace('_', ' ').capitalize()
                      + unit)
        kw.setdefault('description', '%s Default: %r.' % (
            setting.help, setting.default))
        kw.setdefault('required', False)
        super().__init__(**kw)

    def fromUnicode(self, text):
        try:
            return self.setting.parse(text)
        except errors.ConfigurationError as e:
            raise BadSettingValue(str(e)).with_field_and_value(
                self, text) from None

    def _validate(self, value):
        pass  # already checked by the setting in fromUnicode


def _fields_from(scope, names):
    return {name: SettingField(settings.get(scope, name)) for name in names}


DATABASE = zope.schema.TextLine(
    title='Queue database name',
    description='The name of the database that holds the queues in a'
    ' multi-database setup (the zope.conf <zodb> section name, such as'
    ' "async"); the application database\'s root then refers to them.'
    ' Empty: the opened database, or the one its root refers to for'
    ' its queues.',
    required=False, default='')
QUEUE_NAME = zope.schema.TextLine(
    title='Queue name',
    description="The queue's name; '' (the default) is the default queue.",
    required=False, default='')
COMPONENT_NAME = zope.schema.TextLine(
    title='Name', description='The name that configuration and forms use.',
    required=True, min_length=1)


def _named(what):
    return zope.schema.TextLine(
        title=what.capitalize(),
        description='The name of a %s registered with the asyncui:%s'
        ' directive (or zc.asyncui.config.register%s).'
        % (what, what, what.capitalize()), required=False)


# -- schemas ----------------------------------------------------------------

class IQueueDirective(zope.interface.Interface):
    """Install a queue in the database when it is opened."""

    name = QUEUE_NAME
    filter = _named('filter')
    database = DATABASE


class IAgentDirective(zope.interface.Interface):
    """Give this process's dispatcher an agent in a queue."""

    queue = QUEUE_NAME
    name = COMPONENT_NAME
    size = SettingField(settings.get('agent', 'size'))
    filter = _named('filter')
    chooser = _named('chooser')
    retry_policy = zope.configuration.fields.GlobalObject(
        title='Retry policy',
        description='Dotted name of a retry policy factory (called with a'
        " job) for the agent's jobs that name none.", required=False)
    database = DATABASE


class INamedComponentDirective(zope.interface.Interface):
    """Register a component by name."""

    name = COMPONENT_NAME
    component = zope.configuration.fields.GlobalObject(
        title='Component', description='Dotted name of the callable.',
        required=True)


class IPolicyDirective(zope.interface.Interface):
    """Set the process-wide default retry policies."""

    job = zope.configuration.fields.GlobalObject(
        title='Job retry policy',
        description='Dotted name of a factory (called with a job) of the'
        ' retry policy of jobs that, and whose agent, name none; by default'
        ' zc.asyncui.retry.RetryCommonFourTimes.', required=False)
    callback = zope.configuration.fields.GlobalObject(
        title='Callback retry policy',
        description='Likewise for callbacks; by default'
        ' zc.asyncui.retry.RetryCommonForever.', required=False)


_DISPATCHER_FIELDS = ('poll_interval', 'ping_interval', 'ping_death_interval',
                      'main_agent_size', 'uuid_file', 'uuid',
                      'verbose_failures', 'group_commit_seconds')
IDispatcherDirective = zope.interface.interface.InterfaceClass(
    'IDispatcherDirective', (zope.interface.Interface,),
    dict(_fields_from('dispatcher', _DISPATCHER_FIELDS), database=DATABASE,
         __doc__='Start the dispatcher when the database is opened.'),
    __module__=__name__)
IMonitorDirective = zope.interface.interface.InterfaceClass(
    'IMonitorDirective', (zope.interface.Interface,),
    dict(_fields_from('monitor', ('host', 'port')), database=DATABASE,
         __doc__='Record where the monitor listens.'),
    __module__=__name__)


class IMonitorStarterDirective(zope.interface.Interface):
    """Register what serves the monitor (zc.asyncui.monitor's
    configure.zcml does, for asyncui:monitor to start)."""

    component = zope.configuration.fields.GlobalObject(
        title='Starter', description='A callable (db, host, port) that'
        ' starts a monitor server and returns it.')


# -- what runs when the database opens ---------------------------------------

class WhenOpened:
    """An IDatabaseOpenedWithRoot handler: ``func(db, *args,
    database=database, **kw)`` with the opened database and the name of
    the database holding the queues (None: found by config)."""

    def __init__(self, database, func, *args, **kw):
        self.database, self.func, self.args, self.kw = database, func, args, kw

    def __call__(self, event):
        return self.func(event.database, *self.args,
                         database=self.database or None, **self.kw)

    def __repr__(self):
        return '<WhenOpened %s%r>' % (self.func.__name__, self.args)


def _when_opened(database, func, *args, **kw):
    zope.component.provideHandler(
        WhenOpened(database, func, *args, **kw),
        [zope.processlifetime.IDatabaseOpenedWithRoot])


def _checked(check, *args):
    """Run a config check at parse time; its error becomes a
    zope.configuration error, which then names the file and line."""
    try:
        return check(*args)
    except (errors.ConfigurationError, errors.UnpicklableCallableError) as e:
        raise ConfigurationError(str(e)) from None


# -- handlers ------------------------------------------------------------------

def queue(_context, name='', filter=None, database=''):
    """Handler of asyncui:queue."""
    def register():
        # Without a filter attribute, the queue's filter is left alone.
        names = [name] if filter is None else {
            name: config.getFilter(filter)}
        _when_opened(database, config.installQueues, names)
    _context.action(discriminator=('zc.asyncui:queue', database, name),
                    callable=register, order=ORDER_QUEUE)


def agent(_context, name, queue='', size=None, filter=None, chooser=None,
          retry_policy=None, database=''):
    """Handler of asyncui:agent."""
    if size is None:
        size = settings.default('agent', 'size')
    _checked(settings.validate, 'agent', {'retry_policy_factory':
                                          retry_policy})

    def register():
        _when_opened(database, config.addAgent, name, size=size,
                     filter=config.getFilter(filter),
                     chooser=config.getChooser(chooser),
                     retry_policy=retry_policy, queue=queue)
    _context.action(discriminator=('zc.asyncui:agent', database, queue, name),
                    callable=register, order=ORDER_AGENT)


def filter(_context, name, component):
    """Handler of asyncui:filter."""
    _checked(settings.get('agent', 'filter').validate, component)
    _context.action(discriminator=('zc.asyncui:filter', name),
                    callable=config.registerFilter, args=(name, component))


def chooser(_context, name, component):
    """Handler of asyncui:chooser."""
    _checked(settings.get('agent', 'chooser').validate, component)
    _context.action(discriminator=('zc.asyncui:chooser', name),
                    callable=config.registerChooser, args=(name, component))


def policy(_context, job=None, callback=None):
    """Handler of asyncui:policy."""
    _checked(settings.validate, 'dispatcher', {
        'job_retry_policy_factory': job,
        'callback_retry_policy_factory': callback})
    _context.action(discriminator=('zc.asyncui:policy',),
                    callable=config.setDefaultPolicies,
                    kw=dict(job=job, callback=callback))


def dispatcher(_context, database='', **options):
    """Handler of asyncui:dispatcher."""
    options = {k: v for k, v in options.items() if v is not None}
    _checked(settings.validate, 'dispatcher', options)
    _context.action(discriminator=('zc.asyncui:dispatcher', database),
                    callable=_when_opened, order=ORDER_DISPATCHER,
                    args=(database, config.startDispatcher), kw=options)


def monitor(_context, host=None, port=None, database=''):
    """Handler of asyncui:monitor."""
    address = {k: v for k, v in dict(host=host, port=port).items()
               if v is not None}
    _checked(settings.validate, 'monitor', address)

    def register():
        config.setMonitorAddress(**address)
        _when_opened(database, config.startMonitor)
    _context.action(discriminator=('zc.asyncui:monitor',),
                    callable=register, order=ORDER_MONITOR)


def monitorStarter(_context, component):
    """Handler of asyncui:monitorStarter."""
    _context.action(discriminator=('zc.asyncui:monitorStarter', component),
                    callable=config.addMonitorStarter, args=(component,))


# -- metrics and log (issue 10) ------------------------------------------------

IMetricsDirective = zope.interface.interface.InterfaceClass(
    'IMetricsDirective', (zope.interface.Interface,),
    dict(_fields_from('metrics', ('loopback_without_credentials',)),
         __doc__='Who may read /++async++/@@metrics.'),
    __module__=__name__)
ILogBufferDirective = zope.interface.interface.InterfaceClass(
    'ILogBufferDirective', (zope.interface.Interface,),
    dict(_fields_from('log', ('size', 'level')),
         __doc__='Keep recent records of the zc.asyncui loggers in memory'
         ' for the log page.'),
    __module__=__name__)


def metrics(_context, loopback_without_credentials=None):
    """Handler of asyncui:metrics."""
    values = {} if loopback_without_credentials is None else dict(
        loopback_without_credentials=loopback_without_credentials)
    _context.action(discriminator=('zc.asyncui:metrics',),
                    callable=config.setMetricsAccess, kw=values)


def logbuffer(_context, size=None, level=None):
    """Handler of asyncui:logbuffer."""
    values = {k: v for k, v in dict(size=size, level=level).items()
              if v is not None}
    _context.action(discriminator=('zc.asyncui:logbuffer',),
                    callable=config.installLogBuffer, kw=values)


# -- adapters registered by configure.zcml ------------------------------------

@zope.interface.implementer(interfaces.IQueue)
def queueFor(obj):
    """The default queue of the database of a stored object or a
    connection (IQueue adapter).  Views adapt their security-proxied
    context (``IQueue(self.context)``), whose ``_p_jar`` is not readable:
    the database is found through the unproxied object."""
    return getQueue(removeSecurityProxy(obj))


@zope.interface.implementer(interfaces.IJob)
def jobFor(func):
    """A new Job calling ``func`` (IJob adapter of callables)."""
    return Job(func)
