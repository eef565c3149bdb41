"""Picklable failure records.

A job's failure is stored as a :class:`Failure`: the exception's type name,
message and formatted traceback (and, when asked, short reprs of each
frame's locals).  Live exception objects are never stored: they may not
pickle, and they would drag their frames into the database.
"""
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

    def check(self, *exception_types):
        """See IFailure.check."""
        for t in exception_types:
            name = t if isinstance(t, str) else _dotted(t)
            if name.startswith('builtins.'):  # type_name omits it
                name = name[len('builtins.'):]
            if name in self.mro_names:
                return t
        return None

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
