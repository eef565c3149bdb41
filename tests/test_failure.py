"""Unit tests of zc.asyncui.failure."""
import pickle

import pytest

from zc.asyncui import failure as failure_module
from zc.asyncui.failure import Failure


class AppError(ValueError):
    """An application exception defined in a module."""


class BrokenRepr:

    def __repr__(self):
        raise RuntimeError('no repr for you')


class BrokenStr(Exception):

    def __str__(self):
        raise RuntimeError('no str for you')


def _capture(exc, **kw):
    try:
        raise exc
    except BaseException:
        return Failure(**kw)


def _fail_with_locals(capture_locals=True):
    secret = 'x' * 500
    number = 42
    broken = BrokenRepr()
    assert secret and broken  # captured below
    try:
        raise AppError('bad value %d' % number)
    except AppError:
        return Failure(capture_locals=capture_locals)


def _recurse(n):
    if n == 0:
        raise AppError('deep')
    return _recurse(n - 1)


# -- construction --------------------------------------------------------

def test_init_wo_exception_outside_except():
    with pytest.raises(ValueError, match='inside an except block'):
        Failure()


def test_init_with_given_exception():
    f = Failure(KeyError('k'))
    assert f.type_name == 'KeyError'
    assert f.message == "'k'"


def test_type_name_builtin():
    assert _capture(ValueError('x')).type_name == 'ValueError'


def test_type_name_dotted_for_module_class():
    f = _capture(AppError('x'))
    assert f.type_name == '%s.AppError' % AppError.__module__


def test_message_is_str_of_exception():
    assert _capture(AppError('bad things')).message == 'bad things'


def test_message_wo_working_str():
    f = Failure(BrokenStr())
    assert f.message == '<unprintable BrokenStr>'


def test_mro_names_most_derived_first():
    f = _capture(AppError('x'))
    assert f.mro_names == (
        '%s.AppError' % AppError.__module__, 'ValueError', 'Exception',
        'BaseException')


# -- check ---------------------------------------------------------------

def test_check_with_class():
    f = _capture(AppError('x'))
    assert f.check(ValueError) is ValueError
    assert f.check(AppError) is AppError


def test_check_with_dotted_name():
    f = _capture(AppError('x'))
    name = '%s.AppError' % AppError.__module__
    assert f.check(name) == name
    assert f.check('ValueError') == 'ValueError'


def test_check_with_builtins_prefix():
    f = _capture(ValueError('x'))
    assert f.check('builtins.ValueError') == 'builtins.ValueError'


def test_check_returns_first_match():
    f = _capture(AppError('x'))
    assert f.check(KeyError, Exception, ValueError) is Exception


def test_check_wo_match():
    f = _capture(AppError('x'))
    assert f.check(KeyError, 'zope.Nothing') is None
    assert f.check() is None


# -- getTraceback ----------------------------------------------------------

def test_getTraceback_brief():
    f = _capture(AppError('x'))
    assert f.getTraceback('brief') == '%s.AppError: x' % AppError.__module__


def test_getTraceback_default():
    text = _capture(AppError('oops')).getTraceback()
    assert text.startswith('Traceback (most recent call last):')
    assert 'in _capture' in text
    assert text.rstrip().endswith('AppError: oops')
    assert _capture(AppError('oops')).getTraceback('default') == text


def test_getTraceback_verbose_wo_captured_locals_is_default():
    f = _fail_with_locals(capture_locals=False)
    assert f.frames == ()
    assert f.getTraceback('verbose') == f.getTraceback('default')


def test_getTraceback_verbose_with_locals():
    text = _fail_with_locals().getTraceback('verbose')
    assert 'Locals, innermost frame last:' in text
    assert 'in _fail_with_locals' in text
    assert '    number = 42\n' in text


def test_getTraceback_wo_known_detail():
    f = _capture(AppError('x'))
    with pytest.raises(ValueError) as info:
        f.getTraceback('full')
    assert "brief, default, verbose" in str(info.value)
    assert "'full'" in str(info.value)


# -- captured locals -------------------------------------------------------

def test_capture_locals_short_reprs():
    f = _fail_with_locals()
    local_reprs = dict(f.frames[-1][3])
    assert len(local_reprs['secret']) < 100
    assert '...' in local_reprs['secret']


def test_capture_locals_broken_repr():
    f = _fail_with_locals()
    local_reprs = dict(f.frames[-1][3])
    assert local_reprs['broken'].startswith('<BrokenRepr ')


def test_capture_locals_repr_failing_inside_reprlib():
    # reprlib itself calls repr() for a type named like a builtin.
    def broken(self):
        raise RuntimeError('no repr for you')
    value = type('int', (int,), {'__repr__': broken})(3)
    try:
        raise AppError(value)
    except AppError:
        f = Failure(capture_locals=True)
    local_reprs = dict(f.frames[-1][3])
    assert local_reprs['value'] == '<unrepresentable int: no repr for you>'


def test_capture_locals_bounded_frames():
    try:
        _recurse(failure_module.MAX_LOCALS_FRAMES + 10)
    except AppError:
        f = Failure(capture_locals=True)
    assert len(f.frames) == failure_module.MAX_LOCALS_FRAMES
    assert f.frames[-1][2] == '_recurse'


def test_capture_locals_off_by_default():
    assert _capture(AppError('x')).frames == ()


# -- storage and identity --------------------------------------------------

def test_pickle_round_trip():
    f = _fail_with_locals()
    copy = pickle.loads(pickle.dumps(f, 3))
    assert copy == f
    assert copy.getTraceback('verbose') == f.getTraceback('verbose')


def test_pickle_wo_picklable_exception():
    class Local(Exception):
        pass
    f = _capture(Local('not importable'))
    assert pickle.loads(pickle.dumps(f)).message == 'not importable'


def test_eq_same_record():
    a = _capture(AppError('x'))
    b = pickle.loads(pickle.dumps(a))
    assert a == b
    assert not a != b
    assert hash(a) == hash(b)


def test_eq_different_message():
    assert Failure(AppError('x')) != Failure(AppError('y'))


def test_eq_other_type():
    f = Failure(AppError('x'))
    assert f != 'x'
    assert f.__eq__('x') is NotImplemented


def test_repr():
    assert repr(Failure(KeyError('k'))) == '<Failure KeyError: "\'k\'">'


def test_init_with_client_disconnected_says_storage_unreachable():
    import ZEO.Exceptions
    failure = Failure(ZEO.Exceptions.ClientDisconnected())
    assert failure.getTraceback('brief') == (
        'ZEO.Exceptions.ClientDisconnected: the storage server was'
        ' unreachable (the ZEO client was disconnected)')
    assert Failure(ZEO.Exceptions.ClientDisconnected('x')).message == 'x'


# -- the zc.twist/Twisted API, for ported callbacks ------------------------

class CodedError(Exception):
    """An exception with extra arguments and an attribute."""

    def __init__(self, message, code):
        super().__init__(message, code)
        self.code = code


class Outer:

    class Inner(KeyError):
        """A nested exception class."""


class NotPlain(Exception):
    """Raised with an argument that is not a plain value."""


def test_verifyObject_with_twisted_api():
    from zope.interface.verify import verifyObject
    from zc.asyncui import interfaces
    assert verifyObject(interfaces.IFailure, _capture(AppError('x')))


def test_trap_returns_match():
    f = _capture(AppError('x'))
    assert f.trap(KeyError, ValueError) is ValueError
    assert f.trap('ValueError') == 'ValueError'


def test_trap_wo_match_raises_rebuilt_exception():
    f = _capture(AppError('bad value'))
    with pytest.raises(AppError, match='bad value') as info:
        f.trap(KeyError)
    assert 'Recorded traceback of the original exception' in \
        info.value.__notes__[0]
    assert 'in _capture' in info.value.__notes__[0]


def test_getErrorMessage():
    assert _capture(AppError('bad things')).getErrorMessage() == 'bad things'
    assert Failure(KeyError('k')).getErrorMessage() == "'k'"


def test_type_builtin_and_module_class():
    assert Failure(KeyError('k')).type is KeyError
    assert _capture(AppError('x')).type is AppError


def test_type_nested_class():
    f = Failure(Outer.Inner('k'))
    assert f.type_name.endswith('Outer.Inner')
    assert f.type is Outer.Inner
    assert isinstance(f.value, Outer.Inner)


def test_value_rebuilds_args_and_attributes():
    f = pickle.loads(pickle.dumps(Failure(CodedError('no luck', 42))))
    value = f.value
    assert type(value) is CodedError
    assert value.args == ('no luck', 42)
    assert value.code == 42
    assert value is not f.value  # rebuilt on each access


def test_value_builtin_key_error_keeps_its_key():
    value = Failure(KeyError('k')).value
    assert isinstance(value, KeyError)
    assert value.args == ('k',)


def test_value_of_zodb_conflict_error():
    import ZODB.POSException
    from ZODB.utils import p64
    f = Failure(ZODB.POSException.ConflictError(oid=p64(7)))
    assert isinstance(f.value, ZODB.POSException.ConflictError)
    assert f.value.oid == p64(7)
    assert f.trap('transaction.interfaces.TransientError')


def test_value_wo_importable_class_is_stand_in():
    class Local(Exception):
        pass
    f = pickle.loads(pickle.dumps(_capture(Local('gone'))))
    assert f.type is failure_module.UnavailableException
    value = f.value
    assert isinstance(value, failure_module.UnavailableException)
    assert value.type_name == f.type_name
    assert value.failure_message == 'gone'
    assert value.failure is f
    assert 'defined inside a function' in str(value)
    assert 'gone' in str(value)
    # check still works from the recorded names.
    assert f.check(Exception) is Exception


def test_value_wo_importable_module_is_stand_in():
    f = Failure(AppError('x'))
    f.type_name = 'no_such_module_xyz.Error'
    assert 'its module cannot be imported here' in str(f.value)
    assert f.type is failure_module.UnavailableException


def test_value_when_name_is_no_longer_an_exception_class():
    f = Failure(AppError('x'))
    f.type_name = 'os.path'
    assert 'no exception class of that name' in str(f.value)
    f.type_name = 'NoSuchBuiltinError'
    assert 'no exception class of that name' in str(f.value)


def test_value_wo_plain_arguments_is_stand_in():
    f = Failure(NotPlain(object()))
    assert f.exception_state is None
    value = f.value
    assert isinstance(value, failure_module.UnavailableException)
    assert 'not plain values' in value.reason
    with pytest.raises(failure_module.UnavailableException):
        f.raiseException()


def test_value_wo_big_arguments_is_stand_in():
    f = Failure(AppError('x' * (failure_module.MAX_PLAIN_REPR + 1)))
    assert f.exception_state is None
    assert f.message.startswith('xxx')


def test_value_when_constructor_refuses_recorded_args():
    f = Failure(CodedError('m', 1))
    f.exception_state = (('only one',), {})
    value = f.value
    assert isinstance(value, failure_module.UnavailableException)
    assert 'raised TypeError' in value.reason


def test_value_of_record_stored_before_exception_state():
    f = Failure(AppError('old'))
    del f.exception_state
    assert isinstance(f.value, failure_module.UnavailableException)


def test_raiseException():
    f = _capture(CodedError('raised again', 7))
    with pytest.raises(CodedError) as info:
        f.raiseException()
    assert info.value.code == 7


def test_printTraceback_to_file_and_stderr(capsys):
    import io
    f = _capture(AppError('printed'))
    out = io.StringIO()
    f.printTraceback(out)
    assert out.getvalue() == f.getTraceback()
    f.printTraceback()
    assert capsys.readouterr().err == f.getTraceback()
    f.printBriefTraceback()
    assert capsys.readouterr().err == f.getTraceback('brief') + '\n'
    f.printDetailedTraceback(out)
    f.printTraceback(out, detail='brief')
    with pytest.raises(ValueError):
        f.printTraceback(out, detail='nonsense')


def test_plain_state_nested_and_deep():
    assert failure_module._is_plain(('a', [1, 2.0], {'k': (None, b'x')}))
    assert not failure_module._is_plain(((((((1,),),),),),))
    assert not failure_module._is_plain({object(): 1})


def test_plain_state_wo_readable_args():
    class NoArgs(Exception):
        @property
        def args(self):
            raise RuntimeError('no args')
    assert failure_module._plain_state(NoArgs()) is None


def test_value_when_importing_module_raises(tmp_path, monkeypatch):
    (tmp_path / 'explodes_on_import.py').write_text(
        'raise RuntimeError("no import for you")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    f = Failure(AppError('x'))
    f.type_name = 'explodes_on_import.Error'
    assert 'raised RuntimeError: no import for you' in str(f.value)
