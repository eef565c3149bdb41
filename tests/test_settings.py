"""The one table of dispatcher and agent settings."""
import datetime
import uuid

import pytest

from zc.asyncui import errors
from zc.asyncui import settings
from zc.asyncui.agent import Agent
from zc.asyncui.dispatcher import Dispatcher


def test_tables_every_setting_has_default_help_and_valid_default():
    for scope, table in (('dispatcher', settings.DISPATCHER_SETTINGS),
                         ('agent', settings.AGENT_SETTINGS)):
        for setting in table:
            assert setting.help and not setting.help.endswith(' ')
            assert '``' not in setting.help  # plain text, for --help
            assert setting.option == '--' + setting.name.replace('_', '-')
            if setting.default is not None:
                assert setting.validate(setting.default) == setting.default
            assert settings.get(scope, setting.name) is setting


def test_validate_fills_defaults():
    values = settings.validate('dispatcher', {'poll_interval': 2})
    assert values['poll_interval'] == 2.0
    assert values['ping_interval'] == 30.0
    assert values['main_agent_size'] == 3


def test_validate_timedelta_becomes_seconds():
    values = settings.validate(
        'dispatcher', {'poll_interval': datetime.timedelta(minutes=1)})
    assert values['poll_interval'] == 60.0


@pytest.mark.parametrize('value', [float('nan'), float('inf'), 0, -1.0,
                                   True, '5', None])
def test_validate_bad_interval_refused(value):
    with pytest.raises(errors.ConfigurationError, match='poll_interval'):
        settings.validate('dispatcher', {'poll_interval': value})


def test_validate_ping_death_not_longer_than_ping_refused():
    with pytest.raises(errors.ConfigurationError,
                       match='ping_death_interval .* longer than'):
        settings.validate('dispatcher', {'ping_interval': 60,
                                         'ping_death_interval': 60})


def test_get_unknown_name_suggests():
    with pytest.raises(errors.ConfigurationError,
                       match="did you mean 'poll_interval'"):
        settings.get('dispatcher', 'pol_interval')


def test_validate_uuid_string_parsed():
    value = settings.validate('dispatcher', {'uuid': str(uuid.UUID(int=5))})
    assert value['uuid'] == uuid.UUID(int=5)
    with pytest.raises(errors.ConfigurationError, match='uuid'):
        settings.validate('dispatcher', {'uuid': 'nope'})


def test_defaults_used_by_dispatcher_and_agent(db):
    d = Dispatcher(db, uuid.uuid4())
    for name in ('poll_interval', 'ping_interval', 'ping_death_interval',
                 'main_agent_size', 'verbose_failures'):
        assert getattr(d, name) == settings.default('dispatcher', name)
    agent = Agent()
    for setting in settings.AGENT_SETTINGS:
        assert getattr(agent, setting.name) == setting.default


@pytest.mark.parametrize('name,value', [
    ('prefetch', -1), ('prefetch', 1.5), ('completed_max_age', 5),
    ('chooser', 'first'), ('size', None)])
def test_agent_bad_setting_refused(name, value):
    with pytest.raises(errors.ConfigurationError, match='agent ' + name):
        Agent(**{name: value})


@pytest.mark.parametrize('scope,name,text,value', [
    ('dispatcher', 'poll_interval', '0.5', 0.5),
    ('dispatcher', 'main_agent_size', '2', 2),
    ('dispatcher', 'verbose_failures', 'yes', True),
    ('dispatcher', 'uuid_file', 'var/x.txt', 'var/x.txt'),
    ('agent', 'prefetch', 'none', None),
    ('agent', 'prefetch', '8', 8),
    ('agent', 'completed_max_age', '60',
     datetime.timedelta(seconds=60))])
def test_parse_text(scope, name, text, value):
    assert settings.get(scope, name).parse(text) == value


@pytest.mark.parametrize('scope,name,text,message', [
    ('dispatcher', 'poll_interval', 'soon', 'a number of seconds'),
    ('dispatcher', 'poll_interval', 'nan', 'finite'),
    ('dispatcher', 'verbose_failures', 'maybe', "'true' or 'false'"),
    ('agent', 'filter', 'mymodule.f', 'cannot be given as text')])
def test_parse_bad_text_refused(scope, name, text, message):
    with pytest.raises(errors.ConfigurationError, match=message):
        settings.get(scope, name).parse(text)


def test_validate_interval_over_a_year_refused():
    # Longer ones overflow threading timers; on the command line too.
    with pytest.raises(errors.ConfigurationError, match='at most 31536000'):
        settings.validate('dispatcher', {'poll_interval': 1e12})


def test_validate_worker_threads_bounded():
    assert settings.validate('dispatcher', {'main_agent_size': 1000})[
        'main_agent_size'] == 1000
    with pytest.raises(errors.ConfigurationError, match='agent size'):
        Agent(size=1001)
