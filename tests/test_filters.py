"""Built-in filters, checked with the public FilterConformance mixin."""
import pytest

import jobs
from zc.asyncui import errors
from zc.asyncui import filters
from zc.asyncui import interfaces
from zc.asyncui.job import Job
from zc.asyncui.testing import FilterConformance
from zope.interface.verify import verifyObject


class TestCallablesFilter(FilterConformance):

    def makeFilter(self):
        return filters.CallablesFilter('jobs.add', 'jobs.rec*')

    def makeJobs(self, queue):
        return [(queue.put(Job(jobs.add, 1, 2)), True),
                (queue.put(Job(jobs.record, 'x')), True),
                (queue.put(Job(jobs.noop)), False)]


class TestExcludingCallablesFilter(FilterConformance):

    def makeFilter(self):
        return filters.CallablesFilter('jobs.add', exclude=True)

    def makeJobs(self, queue):
        return [(queue.put(Job(jobs.add, 1, 2)), False),
                (queue.put(Job(jobs.noop)), True)]


class TestMinimumPriorityFilter(FilterConformance):

    def makeFilter(self):
        return filters.MinimumPriorityFilter(5)

    def makeJobs(self, queue):
        return [(queue.put(Job(jobs.noop), priority=5), True),
                (queue.put(Job(jobs.noop), priority=9), True),
                (queue.put(Job(jobs.noop)), False)]


def test_filters_provide_IFilter():
    verifyObject(interfaces.IFilter, filters.CallablesFilter('x'))
    verifyObject(interfaces.IFilter, filters.MinimumPriorityFilter(1))


def test_callable_name_of_method_of_persistent_object():
    counter = jobs.Counter()
    assert filters.callable_name(Job(counter.increment)) == \
        'jobs.Counter.increment'


def test_bad_filter_arguments_say_what_to_pass():
    with pytest.raises(errors.ConfigurationError, match='glob strings'):
        filters.CallablesFilter()
    with pytest.raises(errors.ConfigurationError, match='glob strings'):
        filters.CallablesFilter(jobs.add)
    with pytest.raises(errors.ConfigurationError, match='needs an int'):
        filters.MinimumPriorityFilter('high')


def test_reprs_describe_filters():
    assert repr(filters.CallablesFilter('a.*', exclude=True)) == \
        "CallablesFilter('a.*', exclude=True)"
    assert repr(filters.MinimumPriorityFilter(3)) == \
        'MinimumPriorityFilter(3)'


# -- the named built-ins (issue 7) ---------------------------------------------

class TestUrgentFilter(FilterConformance):

    def makeFilter(self):
        return filters.urgent

    def makeJobs(self, queue):
        return [(queue.put(Job(jobs.noop), priority=1), True),
                (queue.put(Job(jobs.noop)), False),
                (queue.put(Job(jobs.noop), priority=-3), False)]


class TestNotUrgentFilter(FilterConformance):

    def makeFilter(self):
        return filters.not_urgent

    def makeJobs(self, queue):
        return [(queue.put(Job(jobs.noop), priority=1), False),
                (queue.put(Job(jobs.noop)), True)]


def test_named_builtins_provide_their_interfaces():
    verifyObject(interfaces.IFilter, filters.urgent)
    verifyObject(interfaces.IFilter, filters.not_urgent)
    verifyObject(interfaces.IChooser, filters.first_in_queue)
    verifyObject(interfaces.IChooser, filters.highest_priority)


def test_builtin_choosers(conn):
    import zc.asyncui
    queue = zc.asyncui.getQueue(conn)
    low = queue.put(Job(jobs.noop), priority=1)
    high = queue.put(Job(jobs.noop), priority=7)
    also_high = queue.put(Job(jobs.noop), priority=7)
    assert filters.highest_priority(None, [low, high, also_high]) is high
    assert filters.first_in_queue(None, [low, high]) is low
    assert filters.highest_priority(None, []) is None
    assert filters.first_in_queue(None, []) is None
