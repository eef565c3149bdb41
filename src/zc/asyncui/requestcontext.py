"""The Zope request context of a job: its site and its principal.

A job put while a request is being published (or anywhere a
``zope.component.hooks`` site is set or a security interaction exists)
remembers the site (a persistent object, stored by reference in
``job.annotations``) and the principal id of the interaction.  The worker
then calls the job -- and its callbacks -- with that site set and an
interaction for that principal, and removes both after the job's
finishing commit.  A job put with neither runs exactly as before.

Register ``RequestContext`` as an ``IJobContext`` utility named
``zc.asyncui.request`` (the package's ``requestcontext.zcml`` does).
The principal is looked up, when the job runs, with the
``IAuthentication`` utility of the restored site (the global principal
registry by default): a principal that no longer exists fails the job,
which is never run with other rights than its requester's.
"""
import logging

import zope.authentication.interfaces
import zope.component
import zope.component.hooks
import zope.security.management
from zope.security.interfaces import IParticipation
import zope.interface

from zc.asyncui import jobcontext

logger = logging.getLogger(__name__)

SITE_KEY = 'zc.asyncui.request.site'
PRINCIPAL_KEY = 'zc.asyncui.request.principal'


@zope.interface.implementer(IParticipation)
class Participation:
    """The participation of a job in its principal's interaction."""

    interaction = None

    def __init__(self, principal):
        self.principal = principal


def current_principal_id():
    """The id of the one principal of this thread's interaction, or None
    (no interaction, or only participations without a principal)."""
    interaction = zope.security.management.queryInteraction()
    if interaction is None:
        return None
    ids = {p.principal.id for p in interaction.participations
           if getattr(p, 'principal', None) is not None}
    if len(ids) > 1:
        raise ValueError(
            'Cannot put a job for an interaction with several principals'
            ' (%s): end the interaction, or start one for the principal'
            ' the job should run as.' % ', '.join(sorted(ids)))
    return ids.pop() if ids else None


class RequestContext(jobcontext.JobContext):
    """See IJobContext; the module docstring says what it carries."""

    def capture(self, job):
        site = zope.component.hooks.getSite()
        if site is not None:
            if getattr(site, '_p_oid', None) is None:
                raise ValueError(
                    'Cannot remember the site %r for job %s: it is not'
                    ' stored in the database. Put jobs from a persistent'
                    ' site, or call zope.component.hooks.setSite(None)'
                    ' first.' % (site, job.key))
            job.annotations[SITE_KEY] = site
        principal_id = current_principal_id()
        if principal_id is not None:
            job.annotations[PRINCIPAL_KEY] = principal_id

    def restore(self, job):
        site = jobcontext.captured(job, SITE_KEY)
        principal_id = jobcontext.captured(job, PRINCIPAL_KEY)
        if site is None and principal_id is None:
            return None
        old_site = zope.component.hooks.getSite()
        old_interaction = zope.security.management.queryInteraction()
        zope.component.hooks.setSite(site)
        principal = None
        if principal_id is not None:
            try:
                principal = _principal(principal_id, job)
            except BaseException:
                zope.component.hooks.setSite(old_site)
                raise
        if principal is not None:
            _set_interaction(Participation(principal))

        def undo():
            if principal is not None:
                _set_interaction(old_interaction, replace=True)
            zope.component.hooks.setSite(old_site)
        return undo


def _principal(principal_id, job):
    # Looked up in the site just restored (then in its bases).
    auth = zope.component.getUtility(
        zope.authentication.interfaces.IAuthentication)
    try:
        return auth.getPrincipal(principal_id)
    except zope.authentication.interfaces.PrincipalLookupError:
        raise zope.authentication.interfaces.PrincipalLookupError(
            'Job %s was put by principal %r, which no longer exists: it is'
            ' not run with other rights. Restore the principal, or remove'
            ' the job.' % (job.key, principal_id)) from None


def _set_interaction(participation_or_old, replace=False):
    """Install a new interaction for a participation, or (``replace``)
    put back an earlier interaction object (or none)."""
    management = zope.security.management
    if management.queryInteraction() is not None:
        management.endInteraction()
    if not replace:
        management.newInteraction(participation_or_old)
    elif participation_or_old is not None:
        management.thread_local.interaction = participation_or_old
