"""Queue filters: Queue.put refuses what its filter refuses; Queues.put
routes in a defined order (named filtered queues by name, then '')."""
import pytest

import jobs
import routingjobs
import zc.asyncui
from zc.asyncui import errors
from zc.asyncui import filters
from zc.asyncui.job import Job
from zc.asyncui.job import NEW


def test_put_into_a_queue_whose_filter_refuses_names_queue_and_filter(conn):
    zc.asyncui.install(conn, names=['mail'])
    queue = zc.asyncui.getQueues(conn)['mail']
    queue.filter = routingjobs.is_mail
    job = Job(jobs.noop)
    with pytest.raises(errors.FilterRefusedError) as info:
        queue.put(job)
    message = str(info.value)
    assert "Queue 'mail' refuses" in message
    assert 'is_mail' in message
    assert 'getQueues(conn).put(job)' in message
    assert info.value.queue_name == 'mail'
    assert info.value.filter is routingjobs.is_mail
    assert isinstance(info.value, ValueError)
    assert job._status == NEW and job._p_jar is None and len(queue) == 0
    assert queue.put(Job(routingjobs.send, 'x')).queue is queue


def test_filter_sees_the_priority_given_to_put(conn):
    queue = zc.asyncui.getQueue(conn)
    queue.filter = filters.urgent
    with pytest.raises(errors.FilterRefusedError):
        queue.put(Job(jobs.noop))
    assert queue.put(Job(jobs.noop), priority=3).priority == 3
    queues = zc.asyncui.getQueues(conn)
    assert queues.put(Job(jobs.noop), priority=3).queue is queue


def test_routing_order_is_by_name_with_the_default_last(conn):
    zc.asyncui.install(conn, names=['b', 'a', 'plain', 'c'])
    queues = zc.asyncui.getQueues(conn)
    queues['a'].filter = filters.TagFilter('x')
    queues['b'].filter = filters.TagFilter('x', 'y')
    queues['c'].filter = filters.TagFilter('z')
    assert [q.name for q in queues.routingOrder()] == ['a', 'b', 'c', '']
    assert queues.route(filters.tag(Job(jobs.noop), 'x')).name == 'a'
    assert queues.route(filters.tag(Job(jobs.noop), 'y')).name == 'b'
    assert queues.route(Job(jobs.noop)).name == ''
    # 'plain' has no filter: only jobs put in it by name go there.
    assert queues['plain'] not in queues.routingOrder()


def test_filtered_default_queue_is_asked_last(conn):
    zc.asyncui.install(conn, names=['a'])
    queues = zc.asyncui.getQueues(conn)
    queues[''].filter = filters.TagFilter('x')
    queues['a'].filter = filters.TagFilter('x')
    assert queues.route(filters.tag(Job(jobs.noop), 'x')).name == 'a'
    with pytest.raises(errors.QueueNotFoundError) as info:
        queues.put(Job(jobs.noop))
    assert "'a' (filter TagFilter('x'))" in str(info.value)
    assert "'' (filter TagFilter('x'))" in str(info.value)


def test_no_queue_at_all(conn):
    queues = zc.asyncui.getQueues(conn)
    del queues['']
    with pytest.raises(errors.QueueNotFoundError,
                       match='no queue has a filter'):
        queues.route(Job(jobs.noop))


def test_queue_filter_by_registered_name(db):
    from zc.asyncui import config
    config.registerFilter('bulk', filters.bulk)
    try:
        config.installQueues(db, {'': None, 'bulk': 'bulk'})
        conn = db.open()
        queues = zc.asyncui.getQueues(conn)
        assert queues['bulk'].filter is filters.bulk
        job = queues.put(filters.tag(Job(jobs.noop), 'bulk'))
        assert job.queue.name == 'bulk'
        conn.transaction_manager.abort()
        conn.close()
    finally:
        config.reset()
