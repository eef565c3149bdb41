"""The asyncui:metrics and asyncui:logbuffer directives (issue 10): thin
shells over zc.asyncui.config.setMetricsAccess and installLogBuffer."""
from zc.asyncui import config
from zc.asyncui import logbuffer

from test_zcml import clean_registry, error_of, load  # noqa: F401


def test_metrics_directive():
    load('<asyncui:metrics loopback_without_credentials="true" />')
    assert config.getMetricsAccess() == {
        'loopback_without_credentials': True}


def test_metrics_directive_default_and_bad_value():
    load('<asyncui:metrics />')
    assert config.getMetricsAccess()['loopback_without_credentials'] is False
    error, text = error_of(
        '<asyncui:metrics loopback_without_credentials="maybe" />')
    assert "metrics loopback_without_credentials must be 'true' or" \
        " 'false'" in text


def test_logbuffer_directive():
    load('<asyncui:logbuffer size="20" level="warning" />')
    buffer = logbuffer.get()
    assert (buffer.size, buffer.level) == (20, 30)


def test_logbuffer_directive_bad_values():
    error, text = error_of('<asyncui:logbuffer level="LOUD" />')
    assert 'log buffer level must be one of DEBUG, INFO, WARNING, ERROR,' \
        " CRITICAL, not 'LOUD'" in text
    error, text = error_of('<asyncui:logbuffer size="-2" />')
    assert 'log buffer size must be an int >= 0, not -2' in text


def test_only_one_of_each():
    error, text = error_of('<asyncui:metrics />\n<asyncui:metrics />')
    assert 'Conflicting configuration' in text
