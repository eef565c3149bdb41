"""A trivial application for the functional tests: a view that puts a
job (tests/ftestapp.zcml)."""
from zc.asyncui.interfaces import IQueue

import contextjobs


class PutJobView:
    """``put-job.html``: put a job that reports the context it runs in,
    and answer with the job's key."""

    def __init__(self, context, request):
        self.context = context
        self.request = request

    def __call__(self):
        # IQueue: the adapter registered by zc.asyncui's configure.zcml
        # (the context is security-proxied).
        job = IQueue(self.context).put(contextjobs.context_seen)
        # The publication commits the request's transaction: the key is
        # known now (put adds the job to the connection).
        return job.key
