"""Built-in filters, checked with the public FilterConformance mixin."""
import datetime

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


# -- tags, priority ranges, queue time (issue 8) ---------------------------

class TestTagFilter(FilterConformance):

    def makeFilter(self):
        return filters.TagFilter('bulk', 'night')

    def makeJobs(self, queue):
        return [(queue.put(filters.tag(Job(jobs.noop), 'bulk')), True),
                (queue.put(filters.tag(Job(jobs.noop), 'x', 'night')), True),
                (queue.put(filters.tag(Job(jobs.noop), 'other')), False),
                (queue.put(Job(jobs.noop)), False)]


class TestExcludingTagFilter(FilterConformance):

    def makeFilter(self):
        return filters.not_bulk

    def makeJobs(self, queue):
        return [(queue.put(filters.tag(Job(jobs.noop), 'bulk')), False),
                (queue.put(Job(jobs.noop)), True)]


class TestPriorityRangeFilter(FilterConformance):

    def makeFilter(self):
        return filters.PriorityRangeFilter(minimum=-5, maximum=5)

    def makeJobs(self, queue):
        return [(queue.put(Job(jobs.noop), priority=-5), True),
                (queue.put(Job(jobs.noop), priority=5), True),
                (queue.put(Job(jobs.noop), priority=6), False),
                (queue.put(Job(jobs.noop), priority=-6), False)]


class TestQueueTimeFilter(FilterConformance):

    def makeFilter(self):
        return filters.QueueTimeFilter(datetime.timedelta(minutes=5),
                                       datetime.timedelta(hours=1))

    def makeJobs(self, queue):
        from zc.asyncui.testing import FakeClock
        t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        with FakeClock(t0 - datetime.timedelta(hours=2)):
            ancient = queue.put(Job(jobs.noop))
        with FakeClock(t0 - datetime.timedelta(minutes=10)):
            old = queue.put(Job(jobs.noop))
        with FakeClock(t0 - datetime.timedelta(minutes=1)):
            fresh = queue.put(Job(jobs.noop))
            later = queue.put(Job(jobs.noop), begin_after=t0 - datetime.
                              timedelta(seconds=30))
        self.clock = FakeClock(t0).__enter__()
        return [(ancient, False), (old, True), (fresh, False),
                (later, False)]

    def teardown_method(self, method=None):
        clock = self.__dict__.pop('clock', None)
        if clock is not None:
            clock.__exit__(None, None, None)
        super().teardown_method(method)


def test_queue_time_of_a_job_not_put_is_zero():
    assert filters.QueueTimeFilter()(Job(jobs.noop))
    assert not filters.waited_5_minutes(Job(jobs.noop))


def test_new_filters_provide_IFilter():
    for f in (filters.TagFilter('a'), filters.PriorityRangeFilter(0),
              filters.QueueTimeFilter(), filters.bulk, filters.not_bulk,
              filters.waited_5_minutes, filters.asyncui_jobs):
        verifyObject(interfaces.IFilter, f)


@pytest.mark.parametrize('make, message', [
    (lambda: filters.TagFilter(), 'one or more non-empty tag strings'),
    (lambda: filters.TagFilter(''), 'one or more non-empty tag strings'),
    (lambda: filters.PriorityRangeFilter(), 'needs minimum=, maximum='),
    (lambda: filters.PriorityRangeFilter('1'), 'int bounds'),
    (lambda: filters.PriorityRangeFilter(3, 1), 'minimum 3 is above'),
    (lambda: filters.QueueTimeFilter(5), 'takes timedeltas'),
    (lambda: filters.QueueTimeFilter(datetime.timedelta(-1)),
     '0 <= min_wait < max_wait'),
    (lambda: filters.QueueTimeFilter(datetime.timedelta(2),
                                     datetime.timedelta(1)),
     '0 <= min_wait < max_wait'),
])
def test_bad_new_filter_arguments_say_what_to_pass(make, message):
    with pytest.raises(errors.ConfigurationError, match=message):
        make()


def test_tag_takes_strings_and_keeps_order():
    job = filters.tag(Job(jobs.noop), 'a', 'b')
    filters.tag(job, 'b', 'c')
    assert job.annotations[filters.TAGS] == ('a', 'b', 'c')
    with pytest.raises(TypeError, match='non-empty strings'):
        filters.tag(job, 3)


def test_new_filters_describe_themselves_and_compare():
    assert repr(filters.not_bulk) == "TagFilter('bulk', exclude=True)"
    assert repr(filters.PriorityRangeFilter(maximum=0)) == \
        'PriorityRangeFilter(minimum=None, maximum=0)'
    assert repr(filters.waited_5_minutes).startswith('QueueTimeFilter(')
    assert filters.TagFilter('a') == filters.TagFilter('a')
    assert filters.PriorityRangeFilter(1) == filters.PriorityRangeFilter(1)
    assert filters.QueueTimeFilter() == filters.QueueTimeFilter()
    assert len({filters.TagFilter('a'), filters.TagFilter('a'),
                filters.PriorityRangeFilter(1), filters.QueueTimeFilter(),
                filters.QueueTimeFilter()}) == 3


def test_builtin_filters_are_registered_by_name_in_configure_zcml():
    import zope.component.testing
    from zope.configuration import xmlconfig
    import zc.asyncui
    from zc.asyncui import config
    zope.component.testing.setUp()
    try:
        xmlconfig.file('configure.zcml', zc.asyncui)
        named = config.getFilters()
        for name in ('urgent', 'not_urgent', 'bulk', 'not_bulk',
                     'waited_5_minutes', 'asyncui_jobs'):
            assert named[name] is getattr(filters, name)
    finally:
        zope.component.testing.tearDown()
