"""What a job calls: its callable and its arguments.

- Checking a callable before it is stored (``check_storable``,
  ``check_callable``): anything another process could not find again is
  refused with a message that says what to pass instead.
- Naming it as users wrote it (``repr_callable``): ``os.getpid``, not
  ``posix.getpid``.
- Storing a job whose callable this process cannot import
  (``GlobalReference``) and failing its call clearly (``import_error``).
- The argument containers (``JobArgs``, ``JobKwargs``) that mark their
  job changed when changed.
"""
import importlib
import io
import pickle
import sys
import types

import persistent
import ZODB.broken

from zc.asyncui import errors
from zc.asyncui import interfaces

_HINT = ('Pass a module-level function, a method of a persistent object, a '
         'persistent callable object or another Job, and bind arguments '
         'with Job(func, *args, **kwargs).')


class _StorabilityChecker(pickle.Pickler):
    """Pickles like ZODB does: persistent objects are references."""

    def persistent_id(self, obj):
        if (isinstance(obj, persistent.Persistent)
                and not isinstance(obj, type)):
            return id(obj)
        return None


def check_storable(obj, what, *what_args):
    """Raise UnpicklableCallableError unless ``obj`` can be stored in ZODB
    (persistent objects count as references).  ``what % what_args`` names
    it in the message; it is formatted only then, since a put checks
    every job and a job's repr is not free."""
    try:
        _StorabilityChecker(io.BytesIO(), 3).dump(obj)
    except Exception as e:
        if what_args:
            what = what % what_args
        raise errors.UnpicklableCallableError(
            'Cannot store %s %r in the database: %s. %s'
            % (what, obj, e, _HINT), obj) from None


def check_callable(func):
    if not callable(func):
        raise errors.UnpicklableCallableError(
            '%r is not callable. %s' % (func, _HINT), func)
    qualname = getattr(func, '__qualname__', '')
    if isinstance(func, types.FunctionType) and (
            '<lambda>' in qualname or '<locals>' in qualname):
        raise errors.UnpicklableCallableError(
            'Cannot store %r in a job: lambdas and nested functions cannot'
            ' be found again by another process. %s' % (func, _HINT), func)
    if isinstance(func, types.MethodType):
        owner = func.__self__
        if not (isinstance(owner, (persistent.Persistent, type))):
            raise errors.UnpicklableCallableError(
                'Cannot store %r in a job: it is a method of %r, which is not'
                ' persistent, so the job would call a copy of it. Make the'
                ' object persistent (and stored in the database) or use a'
                ' module-level function. %s' % (func, owner, _HINT), func)
    check_storable(func, 'the callable')


def repr_callable(func):
    """The callable's name as users wrote it: ``os.getpid``, not
    ``posix.getpid``; ``operator.add``, not ``_operator.add``."""
    if interfaces.IJob.providedBy(func):
        return repr(func)
    if isinstance(func, types.MethodType):
        owner = func.__self__
        owner_name = (owner.__name__ if isinstance(owner, type)
                      else type(owner).__name__)
        return '%s.%s' % (owner_name, func.__name__)
    module = getattr(func, '__module__', None)
    name = getattr(func, '__qualname__', None) or repr(func)
    if module in (None, 'builtins'):
        return name
    return '%s.%s' % (public_module(func, module, name), name)


_PUBLIC_ALIASES = {'posix': 'os', 'nt': 'os'}


def public_module(obj, module, name):
    """A public module that exposes ``obj`` under ``name``, or
    ``module``: C implementations (``_operator``, ``posix``) are shown by
    the module users import."""
    candidate = _PUBLIC_ALIASES.get(module)
    if candidate is None and module.startswith('_'):
        candidate = module.lstrip('_')
    if candidate is None:
        return module
    public = sys.modules.get(candidate)
    if public is not None and getattr(public, name, None) is obj:
        return candidate
    return module


def is_broken(obj):
    """True for what ZODB gives for a global it cannot import."""
    return isinstance(obj, type) and issubclass(obj, ZODB.broken.Broken)


def broken_class(root):
    """The broken class behind a job's callable -- the callable itself,
    or the class of the persistent object whose method it is -- or
    None when this process can import it."""
    if is_broken(root):
        return root
    if isinstance(root, ZODB.broken.Broken):
        return type(root)
    return None


class GlobalReference:
    """Stands in for a callable this process cannot import when a job is
    stored: it pickles as a lookup of the same module and name, which
    gives back the callable where it can be imported (and a broken class
    elsewhere), so such a job can still change status here."""

    def __init__(self, broken):
        self.module = broken.__module__
        self.name = broken.__name__

    def __reduce__(self):
        return ZODB.broken.find_global, (self.module, self.name)


def import_error(broken):
    name = '%s.%s' % (broken.__module__, broken.__name__)
    try:
        module = importlib.import_module(broken.__module__)
        getattr(module, broken.__name__)
        why = 'it was importable once more but not when the job was loaded'
    except Exception as e:
        why = '%s: %s' % (type(e).__name__, e)
    return errors.CallableImportError(
        'cannot import %s in this process: %s. Install it where the'
        ' workers run (or check their sys.path); the job\'s retry policy'
        ' decides whether it is tried again.' % (name, why))


def _marking(base, name):
    """``base.name``, changed to mark the owning job changed after it
    changes the container."""
    method = getattr(base, name)

    def changing(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        job = self._job
        if job is not None:
            job._p_changed = True
        return result
    changing.__name__ = name
    return changing


def _marks_job_changed(base, names):
    """Class decorator: the methods ``names`` of ``base`` mark the job."""
    def decorate(cls):
        for name in names:
            setattr(cls, name, _marking(base, name))
        return cls
    return decorate


_LIST_CHANGES = ('append', 'extend', 'insert', 'pop', 'remove', 'clear',
                 'sort', 'reverse', '__setitem__', '__delitem__',
                 '__iadd__', '__imul__')
_DICT_CHANGES = ('__setitem__', '__delitem__', 'pop', 'popitem', 'clear',
                 'update', 'setdefault', '__ior__')


@_marks_job_changed(list, _LIST_CHANGES)
class JobArgs(list):
    """A job's ``args``: a list that marks its job changed when it
    changes, so a change made in a later transaction (a running job
    extending its parent's arguments) is stored.  Stored inline in the
    job's record as a plain list."""

    __slots__ = ('_job',)

    def __init__(self, items=(), job=None):
        super().__init__(items)
        self._job = job

    def __reduce__(self):
        return list, (list(self),)


@_marks_job_changed(dict, _DICT_CHANGES)
class JobKwargs(dict):
    """A job's ``kwargs``: a dict that marks its job changed when it
    changes (see JobArgs).  Stored inline as a plain dict."""

    __slots__ = ('_job',)

    def __init__(self, items=(), job=None):
        super().__init__(items)
        self._job = job

    def __reduce__(self):
        return dict, (dict(self),)
