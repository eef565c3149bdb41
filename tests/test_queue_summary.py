"""Queue.countScheduled and Queue.oldestDue, read from the queue's keys
without loading jobs (what @@metrics reports as depth and latency),
checked against the jobs themselves for a mix of priorities (the
extremes too), begin_after times, and jobs in the inbox or moved to the
claim trees."""
import datetime

import pytest

import jobs
import zc.asyncui
from zc.asyncui import testing

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
S = datetime.timedelta(seconds=1)


def summarize(queue, now):
    scheduled = queue.countScheduled(now)
    oldest = queue.oldestDue(now)
    return (len(queue) - scheduled, scheduled,
            None if oldest is None else oldest.timestamp())


def reference(queue, now):
    # The same, from the jobs (as zc-asyncui status computes it).
    due = [j for j in queue if j.begin_after <= now]
    oldest = min((max(j.put_time, j.begin_after) for j in due),
                 default=None)
    return (len(due), len(queue) - len(due),
            None if oldest is None else oldest.timestamp())


def fill(queue, start):
    with testing.FakeClock(start) as clock:
        for i, (priority, delay) in enumerate([
                (0, None), (5, None), (-3, None), (0, 30), (5, 300),
                (-2**31 + 1, None), (2**31 - 1, -20), (1, 3600)]):
            clock.advance(seconds=1)
            begin = None if delay is None else clock() + delay * S
            queue.put(zc.asyncui.Job(jobs.noop, i), begin_after=begin,
                      priority=priority)


@pytest.mark.parametrize('drained', [False, True])
@pytest.mark.parametrize('later', [10, 40, 400, 7200])
def test_summarize_agrees_with_the_jobs(conn, drained, later):
    queue = zc.asyncui.getQueue(conn)
    fill(queue, T0)
    if drained:   # the inbox moved to the claim trees by a claim
        with testing.FakeClock(T0 + 5 * S):
            assert queue.claim(filter=lambda job: False) is None
    now = T0 + later * S
    with testing.FakeClock(now):
        assert summarize(queue, now) == reference(queue, now)


def test_summarize_empty_queue(conn):
    queue = zc.asyncui.getQueue(conn)
    assert summarize(queue, T0) == (0, 0, None)
