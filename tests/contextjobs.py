"""Job callables and persistent helpers for the request-context tests
(tests/test_functional_context.py, tests/test_functional.py)."""
import persistent
import zope.component
import zope.component.hooks
import zope.interface
import zope.security.management


class IGreeting(zope.interface.Interface):
    """A local utility the tests register in a site."""


@zope.interface.implementer(IGreeting)
class Greeting(persistent.Persistent):

    def __init__(self, text):
        self.text = text


def context_seen():
    """What a job sees of its context: (site name, local greeting text,
    principal ids of the interaction)."""
    site = zope.component.hooks.getSite()
    greeting = zope.component.queryUtility(IGreeting)
    interaction = zope.security.management.queryInteraction()
    principals = None if interaction is None else sorted(
        p.principal.id for p in interaction.participations)
    return (None if site is None else site.__name__,
            None if greeting is None else greeting.text,
            principals)


def context_seen_then(result):
    """A callback: the parent's result and what the callback sees."""
    return (result, context_seen())


def fail_with_context():
    raise RuntimeError('seen %r' % (context_seen(),))
