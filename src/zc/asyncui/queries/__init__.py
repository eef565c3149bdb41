"""Queries over the whole database, shared by the ``asyncdb`` monitor
command, the shell commands (``zc-asyncui job``, ``status``) and the web
pages: jobs by state and filters (zc.async's asyncdb grammar), one job's
detail, the queues' counts and latency, and the dispatchers.  Finished
jobs come from zc.asyncui.history's indexes.

Reading functions never commit and never write: call them in a
transaction you abort.  Those that describe (``job_detail``,
``queue_summary``, ``dispatcher_rows``, ``status``) return plain data,
ready for ``json.dumps``: dicts, lists, strings, numbers, None; times are
ISO 8601 strings in UTC (``2026-12-01T21:34:19.123456+00:00``), durations
float seconds.  A front-end formats them; it never needs the engine's
objects.

States: pending, assigned, active, callbacks, completed, succeeded,
failed.  Filters: callable (glob on the dotted name; without a dot, on
its last segment), queue, agent (globs), uuid (a dispatcher's UUID),
and the time filters requested_start, start, end, callbacks_completed
whose value is a (since, before) pair of aware datetimes or None.

Where each reading function is written
--------------------------------------

This package re-exports every public name; import them from here:

    selection   the asyncdb grammar: check, select, count, summarize,
                state_of, agent_of, dispatcher_of; STATES, LIVE, FINISHED,
                FILTERS, TIMES, GROUPS, NO_GROUP
    jobdetail   one job: find_job, job_detail, call_name, describe_call,
                plain, iso; NAME_ANNOTATION
    overview    the installation: status, queue_summary, queue_row,
                dispatcher_rows, dispatcher_row, history_summary

Layer: configuration (this package and its modules).
"""
# Choosing and counting jobs (the asyncdb grammar)
from zc.asyncui.queries.selection import FILTERS
from zc.asyncui.queries.selection import FINISHED
from zc.asyncui.queries.selection import GROUPS
from zc.asyncui.queries.selection import LIVE
from zc.asyncui.queries.selection import NO_GROUP
from zc.asyncui.queries.selection import STATES
from zc.asyncui.queries.selection import TIMES
from zc.asyncui.queries.selection import agent_of
from zc.asyncui.queries.selection import check
from zc.asyncui.queries.selection import count
from zc.asyncui.queries.selection import dispatcher_of
from zc.asyncui.queries.selection import select
from zc.asyncui.queries.selection import state_of
from zc.asyncui.queries.selection import summarize

# One job
from zc.asyncui.queries.jobdetail import NAME_ANNOTATION
from zc.asyncui.queries.jobdetail import call_name
from zc.asyncui.queries.jobdetail import describe_call
from zc.asyncui.queries.jobdetail import find_job
from zc.asyncui.queries.jobdetail import iso
from zc.asyncui.queries.jobdetail import job_detail
from zc.asyncui.queries.jobdetail import plain

# The installation at a glance
from zc.asyncui.queries.overview import dispatcher_row
from zc.asyncui.queries.overview import dispatcher_rows
from zc.asyncui.queries.overview import history_summary
from zc.asyncui.queries.overview import queue_row
from zc.asyncui.queries.overview import queue_summary
from zc.asyncui.queries.overview import status

__all__ = [
    # choosing and counting jobs
    'FILTERS', 'FINISHED', 'GROUPS', 'LIVE', 'NO_GROUP', 'STATES',
    'TIMES', 'agent_of', 'check', 'count', 'dispatcher_of', 'select',
    'state_of', 'summarize',
    # one job
    'NAME_ANNOTATION', 'call_name', 'describe_call', 'find_job', 'iso',
    'job_detail', 'plain',
    # the installation at a glance
    'dispatcher_row', 'dispatcher_rows', 'history_summary', 'queue_row',
    'queue_summary', 'status',
]
