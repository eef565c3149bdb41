"""A trivial application for the functional tests: a view that puts a
job (tests/ftestapp.zcml)."""
from zope.security.proxy import removeSecurityProxy

import zc.asyncui

import contextjobs


class PutJobView:
    """``put-job.html``: put a job that reports the context it runs in,
    and answer with the job's key."""

    def __init__(self, context, request):
        self.context = context
        self.request = request

    def __call__(self):
        # The context is security-proxied: its _p_jar is not readable.
        folder = removeSecurityProxy(self.context)
        job = zc.asyncui.getQueue(folder).put(contextjobs.context_seen)
        # The publication commits the request's transaction: the key is
        # known now (put adds the job to the connection).
        return job.key


def start_dispatcher_on_open(event):
    """What a site configuration with a dispatcher does (the asyncui
    ``dispatcher`` directive): start one when the database opens."""
    from zc.asyncui import dispatcher
    dispatcher.start(event.database, poll_interval=0.05,
                     uuid='6e4b0c70-0000-4000-8000-00000000f00d')
