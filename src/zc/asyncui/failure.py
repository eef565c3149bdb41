"""Picklable failure records.

A job's failure is stored as a :class:`Failure`: the exception's type name,
message and formatted traceback (and, when asked, short reprs of each
frame's locals).  Live exception objects are never stored: they may not
pickle, and they would drag their frames into the database.  When the
exception's arguments and attributes are plain values (text, numbers,
tuples of them...), they are kept too, so that ``value`` can rebuild the
exception later.

A Failure also answers the calls zc.async callbacks make on the
zc.twist/Twisted failures they received (``trap``, ``check``, ``value``,
``type``, ``getErrorMessage``, ``raiseException``, ``printTraceback``),
so such callbacks port unchanged; see docs/porting.rst.
"""
import importlib
import reprlib
import sys
import traceback

import zope.interface

from zc.asyncui import interfaces

_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80
_short.maxlong = 40

DETAILS = ('brief', 'default', 'verbose')
DISCONNECTED = 'ZEO.Exceptions.ClientDisconnected'
UNREACHABLE = ('the storage server was unreachable (the ZEO client was'
               ' disconnected)')
MAX_LOCALS_FRAMES = 20
MAX_PLAIN_REPR = 2000  # kept exception arguments: at most this much repr
_PLAIN_SCALARS = (str, bytes, int, float, complex, bool, type(None))


def _dotted(cls):
    module = getattr(cls, '__module__', None)
    name = getattr(cls, '__qualname__', cls.__name__)
    if module in (None, 'builtins'):
        return name
    return '%s.%s' % (module, name)


def _safe_repr(value):
    try:
        return _short.repr(value)
    except Exception as e:  # a broken __repr__ must not break failure capture
        return '<unrepresentable %s: %s>' % (type(value).__name__, e)


def _capture_locals(tb):
    frames = []
    for frame, lineno in traceback.walk_tb(tb):
        code = frame.f_code
        local_reprs = tuple(
            (name, _safe_repr(value))
            for name, value in sorted(frame.f_locals.items()))
        frames.append((code.co_filename, lineno, code.co_name, local_reprs))
    return tuple(frames[-MAX_LOCALS_FRAMES:])


def _is_plain(value, depth=0):
    """True for values that rebuild an exception faithfully and safely:
    builtin scalars, and tuples, lists and dicts of them."""
    if type(value) in _PLAIN_SCALARS:
        return True
    if depth > 3:
        return False
    if type(value) in (tuple, list, frozenset):
        return all(_is_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(_is_plain(k, depth + 1) and _is_plain(v, depth + 1)
                   for k, v in value.items())
    return False


def _plain_state(exception):
    """``(args, attributes)`` of ``exception`` when both are plain and
    small, else None: then the exception cannot be rebuilt later."""
    try:
        state = (tuple(exception.args), dict(vars(exception)))
    except Exception:
        return None
    state[1].pop('__notes__', None)
    if not _is_plain(state) or len(repr(state)) > MAX_PLAIN_REPR:
        return None
    return state


def _resolve(type_name):
    """The class named ``type_name`` (as stored in ``Failure.type_name``),
    or an explanation (str) of why it cannot be had in this process."""
    module_name, _, qualname = type_name.rpartition('.')
    if not module_name:
        module_name, qualname = 'builtins', type_name
    if '<locals>' in type_name:
        return 'it was defined inside a function'
    parts = qualname.split('.')
    while True:  # nested classes: mod.Outer.Inner
        try:
            obj = importlib.import_module(module_name)
            break
        except ImportError:
            if '.' not in module_name:
                return 'its module cannot be imported here'
            module_name, _, first = module_name.rpartition('.')
            parts.insert(0, first)
        except Exception as e:
            return 'importing its module raised %s: %s' % (
                type(e).__name__, e)
    for part in parts:
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, BaseException)):
        return 'no exception class of that name exists here'
    return obj


class UnavailableException(Exception):
    """Stands in for a recorded exception that cannot be rebuilt in this
    process (see ``Failure.value``): its class cannot be imported here,
    or its arguments were not plain values.

    ``type_name``, ``failure_message`` and ``reason`` say which exception
    it stands for and why; ``failure`` is the record.
    """

    def __init__(self, failure, reason):
        super().__init__('%s: %s (a stand-in: the recorded exception cannot'
                         ' be rebuilt because %s)'
                         % (failure.type_name, failure.message, reason))
        self.failure = failure
        self.type_name = failure.type_name
        self.failure_message = failure.message
        self.reason = reason


@zope.interface.implementer(interfaces.IFailure)
class Failure:
    """See IFailure.

    ``Failure()`` inside an ``except`` block records the exception being
    handled; ``Failure(exc)`` records a given exception.  Pass
    ``capture_locals=True`` for the verbose form.
    """

    def __init__(self, exception=None, capture_locals=False):
        if exception is None:
            exception = sys.exc_info()[1]
            if exception is None:
                raise ValueError(
                    'Failure() needs an exception: call it inside an except'
                    ' block or pass the exception.')
        cls = type(exception)
        self.type_name = _dotted(cls)
        self.mro_names = tuple(_dotted(c) for c in cls.__mro__
                               if issubclass(c, BaseException))
        try:
            self.message = str(exception)
        except Exception:
            self.message = '<unprintable %s>' % cls.__name__
        if not self.message and DISCONNECTED in self.mro_names:
            # ZEO raises it without a message.
            self.message = UNREACHABLE
        self.traceback = ''.join(traceback.format_exception(
            cls, exception, exception.__traceback__))
        self.frames = (_capture_locals(exception.__traceback__)
                       if capture_locals else ())
        self.exception_state = _plain_state(exception)

    # Records stored before exception_state existed cannot be rebuilt.
    exception_state = None

    def check(self, *exception_types):
        """See IFailure.check."""
        for t in exception_types:
            name = t if isinstance(t, str) else _dotted(t)
            if name.startswith('builtins.'):  # type_name omits it
                name = name[len('builtins.'):]
            if name in self.mro_names:
                return t
        return None

    # -- the zc.twist/Twisted Failure API (for callbacks being ported) ----

    def trap(self, *exception_types):
        """See IFailure.trap."""
        match = self.check(*exception_types)
        if match is None:
            self.raiseException()
        return match

    @property
    def type(self):
        """See IFailure.type."""
        found = _resolve(self.type_name)
        return UnavailableException if isinstance(found, str) else found

    @property
    def value(self):
        """See IFailure.value."""
        found = _resolve(self.type_name)
        if isinstance(found, str):
            return UnavailableException(
                self, 'its class %s cannot be found here: %s'
                % (self.type_name, found))
        if self.exception_state is None:
            return UnavailableException(
                self, 'its arguments were not plain values (text, numbers,'
                ' tuples...) and were not recorded')
        args, attributes = self.exception_state
        try:
            exception = found(*args)
            exception.__dict__.update(attributes)
        except Exception as e:
            return UnavailableException(
                self, 'calling %s%r raised %s: %s'
                % (self.type_name, tuple(args), type(e).__name__, e))
        return exception

    def getErrorMessage(self):
        """See IFailure.getErrorMessage."""
        return self.message

    def raiseException(self):
        """See IFailure.raiseException."""
        exception = self.value
        if hasattr(exception, 'add_note'):  # Python 3.11+
            # The rebuilt exception has no frames: show where it happened.
            exception.add_note('Recorded traceback of the original'
                               ' exception:\n' + self.traceback.rstrip())
        raise exception

    def printTraceback(self, file=None, elideFrameworkCode=False,
                       detail='default'):
        """See IFailure.printTraceback."""
        text = self.getTraceback(detail)
        (sys.stderr if file is None else file).write(text)

    def printBriefTraceback(self, file=None, elideFrameworkCode=False):
        """``printTraceback(file, detail='brief')``, a line."""
        self.printTraceback(file, detail='brief')
        (sys.stderr if file is None else file).write('\n')

    def printDetailedTraceback(self, file=None, elideFrameworkCode=False):
        """``printTraceback(file, detail='verbose')``."""
        self.printTraceback(file, detail='verbose')

    def getTraceback(self, detail='default'):
        """See IFailure.getTraceback."""
        if detail not in DETAILS:
            raise ValueError('detail must be one of %s, not %r'
                             % (', '.join(DETAILS), detail))
        if detail == 'brief':
            return '%s: %s' % (self.type_name, self.message)
        if detail == 'default' or not self.frames:
            return self.traceback
        lines = [self.traceback, 'Locals, innermost frame last:\n']
        for filename, lineno, name, local_reprs in self.frames:
            lines.append('  %s:%d in %s\n' % (filename, lineno, name))
            lines.extend('    %s = %s\n' % pair for pair in local_reprs)
        return ''.join(lines)

    def __eq__(self, other):
        # Value equality, so that conflict resolution can tell an unchanged
        # result from a changed one.
        if not isinstance(other, Failure):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self):
        return hash((self.type_name, self.message))

    def __repr__(self):
        return '<Failure %s: %s>' % (self.type_name, _short.repr(self.message))
