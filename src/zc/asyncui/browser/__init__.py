"""Through-the-web pages of zc.asyncui, under ``/++async++/`` on the site
root.

URLs (public: docs, tests and other pages link to them)::

  /++async++/                        overview (Queues' index.html)
  /++async++/@@overview.json         its JSON twin
  /++async++/@@failed  @@retries  @@scheduled  @@dead
                                     list pages (each with a .json twin:
                                     @@failed.json ...)
  /++async++/@@log  @@metrics        log and Prometheus metrics pages
  /++async++/jobs/<key>              a job by key (Job.key: the hex oid,
                                     lower case, e.g. 0x3a1f), pending,
                                     held or finished
  /++async++/jobs/<key>/@@job.json   its JSON twin
  /++async++/queues/<queue>          a queue: its pending and scheduled
                                     jobs, paged and filtered
  /++async++/queues/<queue>/@@queue.json
  /++async++/queues/<queue>/dispatchers/<uuid>
                                     a dispatcher's record in that queue
  /++async++/queues/<queue>/dispatchers/<uuid>/<agent>
                                     one of its agents

``<queue>`` and ``<agent>`` are URL segments of names
(``traversal.name_to_segment``): a plain name (letters, digits, ``._-``)
is written as is; any other, and the default queue ``''``, as ``~`` and
the hex of its UTF-8 bytes: the default queue is ``/++async++/queues/~``.
``jobs/``, ``queues/`` and ``dispatchers/`` alone redirect to the
overview.  Views of a reached object (``@@NAME``) are registered for its
interface: IQueues, IQueue, IJob, IDispatcherAgents, IAgent; a bare name
below a dispatcher is an agent first, then a view.  Build URLs with
``traversal.job_url``, ``queue_url``, ``dispatcher_url``, ``agent_url``
and ``page_url``.

An unknown or malformed key or name answers a 404 page that says what was
wrong (``traversal.NotFoundPage``; JSON for a ``.json`` URL); views answer
bad query parameters with a 400 page (``traversal.ErrorPage``); neither
raises, so hostile requests neither answer 500 nor log tracebacks.  An
anonymous request is challenged (401) before any lookup.

Modules: ``namespace`` traverses ``++async++`` to the Queues mapping,
``traversal`` the steps below it, ``format`` bounded reprs and times
(``safe_repr``), ``macros`` the standalone layout (templates/macros.pt:
every page fills ``context/@@standard_macros/page``), ``overview``,
``job``, ``queue`` and ``lists`` the read-only pages, ``wsgi`` the WSGI
application of the standalone server.  browser/configure.zcml registers
them; the package's configure.zcml includes it.
"""
