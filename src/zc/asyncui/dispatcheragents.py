"""The persistent record of one dispatcher in one queue.

``DispatcherAgents`` holds the dispatcher's liveness (activation time,
last ping, intervals, which host and process activated it) and its
agents by name.  Pings write only this record; claims write agents and
jobs; so the two do not conflict.  A deactivation by another dispatcher
does write this record, which is what makes it conflict with a late ping
from a dispatcher wrongly thought dead.
"""
import datetime
import logging

import BTrees.OOBTree
import persistent
import zope.interface

from zc.asyncui import errors
from zc.asyncui import events
from zc.asyncui import interfaces
from zc.asyncui import pins
from zc.asyncui import recovery
from zc.asyncui import settings
from zc.asyncui import utils

logger = logging.getLogger(__name__)

#: Seconds, as every interval (see zc.asyncui.settings).
DEFAULT_PING_INTERVAL = settings.default('dispatcher', 'ping_interval')
DEFAULT_PING_DEATH_INTERVAL = settings.default('dispatcher',
                                               'ping_death_interval')


def _seconds_property(name):
    """A float of seconds; a timedelta or a number set is validated by
    the setting ``name`` and stored as seconds."""
    attr = '_' + name

    def get(self):
        return getattr(self, attr)

    def set(self, value):
        setattr(self, attr, settings.get('dispatcher', name).validate(value))
    return property(get, set, doc='%s, in seconds.' % name)


@zope.interface.implementer(interfaces.IDispatcherAgents)
class DispatcherAgents(persistent.Persistent):
    """See IDispatcherAgents."""

    __parent__ = None

    ping_interval = _seconds_property('ping_interval')
    ping_death_interval = _seconds_property('ping_death_interval')
    _ping_interval = DEFAULT_PING_INTERVAL
    _ping_death_interval = DEFAULT_PING_DEATH_INTERVAL

    def __init__(self, uuid):
        self.UUID = str(uuid)
        self.activated = None
        self.last_ping = None
        self.ping_interval = DEFAULT_PING_INTERVAL
        self.ping_death_interval = DEFAULT_PING_DEATH_INTERVAL
        self.host = None
        self.pid = None
        self.process_token = None
        self._agents = BTrees.OOBTree.OOBTree()

    @property
    def __name__(self):
        return self.UUID

    @property
    def queue(self):
        return self.__parent__

    # -- liveness -----------------------------------------------------

    def lastSeen(self):
        """The latest of ``last_ping`` and ``activated``."""
        seen = [t for t in (self.last_ping, self.activated) if t is not None]
        return max(seen) if seen else None

    def isDead(self, now=None):
        if self.activated is None:
            return False
        seen = self.lastSeen()
        death = datetime.timedelta(seconds=self.ping_death_interval)
        return seen + death < (now or utils.now())

    def livenessState(self, now=None):
        """'inactive', 'dead' or 'alive': the word the status pages and
        commands show for this record."""
        if self.activated is None:
            return 'inactive'
        return 'dead' if self.isDead(now) else 'alive'

    @property
    def dead(self):
        return self.isDead()

    def activate(self, host, pid, token, now=None):
        now = now or utils.now()
        self.activated = now
        self.last_ping = now
        self.host, self.pid, self.process_token = host, pid, token
        events.notify(events.DispatcherActivated(self))

    def deactivate(self, reason, now=None):
        """Release every held job (see zc.asyncui.recovery) and mark the
        record inactive.  Returns counts of what happened to the jobs."""
        counts = {}
        for agent in self._agents.values():
            for job in list(agent):
                outcome = recovery.release_isolated(job, agent, reason, now)
                counts[outcome] = counts.get(outcome, 0) + 1
        failed = pins.fail_waiting(self, reason, now)
        if failed:
            counts['aborted'] = counts.get('aborted', 0) + failed
        self.activated = None
        self.process_token = None
        events.notify(events.DispatcherDeactivated(self))
        return counts

    def ping(self, now=None):
        """Record a ping if ``ping_interval`` has passed; returns True if
        it wrote."""
        now = now or utils.now()
        if self.last_ping is None or (
                self.last_ping + datetime.timedelta(
                    seconds=self.ping_interval) <= now):
            self.last_ping = now
            return True
        return False

    # -- agents -------------------------------------------------------

    def __setitem__(self, name, agent):
        if not interfaces.IAgent.providedBy(agent):
            raise TypeError('%r is not an agent (IAgent)' % (agent,))
        if name in self._agents:
            raise errors.ConfigurationError(
                'dispatcher %s already has an agent named %r in queue %r;'
                ' remove it first or choose another name'
                % (self.UUID, name, getattr(self.queue, 'name', None)))
        agent.name = name
        agent.__parent__ = self
        self._agents[name] = agent

    def __getitem__(self, name):
        return self._agents[name]

    def get(self, name, default=None):
        return self._agents.get(name, default)

    def __delitem__(self, name):
        agent = self._agents[name]
        if len(agent):
            raise errors.ConfigurationError(
                'agent %r of dispatcher %s holds %d jobs: set its size to 0'
                ' and wait for them to finish before removing it'
                % (name, self.UUID, len(agent)))
        del self._agents[name]

    def __contains__(self, name):
        return name in self._agents

    def __iter__(self):
        return iter(self._agents.keys())

    def __len__(self):
        return len(self._agents)

    def keys(self):
        return list(self._agents.keys())

    def values(self):
        return list(self._agents.values())

    def items(self):
        return list(self._agents.items())

    def __repr__(self):
        return '<%s %s in queue %r>' % (
            type(self).__name__, self.UUID,
            getattr(self.queue, 'name', None))
