"""The layer rule (issue #6): each module of zc.asyncui imports only its
own layer and the layers before it, without cycles, and without imports
hidden in functions to dodge that rule.

The layers are drawn at the top of ``zc.asyncui.interfaces``.  Every
import is read from the source with ``ast`` -- at module level and inside
functions and methods alike -- so a lazy import is an arrow like any
other.
"""
import ast
import os

import pytest

import zc.asyncui

PACKAGE = 'zc.asyncui'
SOURCE = os.path.dirname(os.path.abspath(zc.asyncui.__file__))

CONTRACTS, MODEL, RUNTIME, CONFIGURATION, FRONT_END = range(1, 6)
LAYER_NAMES = {CONTRACTS: 'contracts', MODEL: 'persistent model',
               RUNTIME: 'thread runtime',
               CONFIGURATION: 'configuration, patterns, testing',
               FRONT_END: 'front-ends'}

#: Module (relative to zc.asyncui) -> layer.  A new module must be added
#: here; a subpackage listed here (interfaces, queries, testing, cli,
#: monitor, browser) puts all its modules in that layer.
LAYERS = {
    'interfaces': CONTRACTS, 'errors': CONTRACTS, 'events': CONTRACTS,
    'utils': CONTRACTS, 'settings': CONTRACTS, 'cron': CONTRACTS,
    # The package itself is the curated API of the model: importing
    # ``zc.asyncui`` loads job, queue, agent, filters, retry, failure.
    '__init__': MODEL,
    'job': MODEL, 'failure': MODEL, 'queue': MODEL, 'queueviews': MODEL, 'putting': MODEL, 'claimshare': MODEL, 'claimtake': MODEL, 'queues': MODEL,
    'agent': MODEL,
    'queuekeys': MODEL, 'queueroot': MODEL, 'lifecycle': MODEL, 'calls': MODEL,
    'dispatcheragents': MODEL, 'filters': MODEL, 'retry': MODEL,
    'collapse': MODEL, 'workpile': MODEL, 'quota': MODEL,
    'recovery': MODEL, 'local': MODEL, 'jobcontext': MODEL,
    'periodic': MODEL, 'pins': MODEL, 'composite': MODEL,
    'history': MODEL, 'historyfacts': MODEL, 'smalltrees': MODEL,
    'dispatcher': RUNTIME, 'running': RUNTIME, 'dispatcherstate': RUNTIME, 'liveness': RUNTIME,
    'worker': RUNTIME, 'execution': RUNTIME, 'callbacks': RUNTIME,
    'jobrun': RUNTIME, 'polling': RUNTIME, 'changes': RUNTIME,
    'notices': RUNTIME,
    'jobrun': RUNTIME, 'polling': RUNTIME, 'grouping': RUNTIME,
    'workerlog': RUNTIME,
    'inbox': RUNTIME,
    'instanceuuid': RUNTIME,
    'config': CONFIGURATION, 'patterns': CONFIGURATION,
    'dburi': CONFIGURATION,
    'testing': CONFIGURATION, 'inline': CONFIGURATION,
    'requestcontext': CONFIGURATION, 'ftesting': CONFIGURATION,
    'demo': CONFIGURATION, 'queries': CONFIGURATION,
    'metrics': CONFIGURATION, 'logbuffer': CONFIGURATION,
    # The command line, and the front-ends to come.
    'cli': FRONT_END, 'monitor': FRONT_END, 'browser': FRONT_END,
    'zcml': FRONT_END,
}

#: Known violations, each waiting for a change in a module another part
#: of issue #6 owns.  (importer, imported) pairs; the integrator clears
#: them after merging.  An entry that no longer matches anything fails
#: ``test_allowlist_is_current``, so the list only shrinks.
ALLOWED = set()

#: Known methods attached to a class from another module (#6).
ALLOWED_ATTACHED = set()


def _module_names():
    """Dotted names (relative to zc.asyncui) of every module, with the
    path of its file."""
    for directory, dirs, files in os.walk(SOURCE):
        dirs[:] = sorted(d for d in dirs if not d.startswith(('.', '_')))
        for filename in sorted(files):
            if not filename.endswith('.py'):
                continue
            path = os.path.join(directory, filename)
            rel = os.path.relpath(path, SOURCE)[:-3].replace(os.sep, '.')
            if rel.endswith('.__init__') :
                rel = rel[:-len('.__init__')]
            yield rel, path


MODULES = dict(_module_names())


def layer_of(module):
    """The layer of ``module`` (relative name), or None if unassigned."""
    parts = module.split('.')
    for n in range(len(parts), 0, -1):
        layer = LAYERS.get('.'.join(parts[:n]))
        if layer is not None:
            return layer
    return None


def _resolve(module, node):
    """The zc.asyncui modules (relative names) an import node names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
        return [_relative(name) for name in names
                if name == PACKAGE or name.startswith(PACKAGE + '.')]
    if node.level:
        package = module.split('.')
        is_package = MODULES[module].endswith('__init__.py')
        base = package[:len(package) - node.level + (1 if is_package else 0)]
        absolute = '.'.join([PACKAGE] + base + (
            [node.module] if node.module else []))
    else:
        absolute = node.module or ''
    if absolute != PACKAGE and not absolute.startswith(PACKAGE + '.'):
        return []
    found = []
    for alias in node.names:
        candidate = _relative(absolute + '.' + alias.name)
        found.append(candidate if candidate in MODULES
                     else _relative(absolute))
    return found


def _relative(name):
    rel = name[len(PACKAGE) + 1:]
    return rel or '__init__'


def _imports(module):
    """(imported module, line, inside a function?) for each import."""
    with open(MODULES[module]) as f:
        tree = ast.parse(f.read(), MODULES[module])
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((target, child.lineno, in_function)
                             for target in _resolve(module, child)
                             if target != module)
            visit(child, nested)
    visit(tree, False)
    return found


def _edges():
    return {(module, target, line, lazy)
            for module in MODULES
            for target, line, lazy in _imports(module)}


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, (
        'modules with no layer: %s. Add each to LAYERS in %s (and to the'
        ' layer drawing at the top of zc/asyncui/interfaces/__init__.py).'
        % (', '.join(missing), __file__))


def test_imports_never_go_up_a_layer():
    wrong = sorted(
        '%s (%s) imports %s (%s) at line %d' % (
            module, LAYER_NAMES[layer_of(module)], target,
            LAYER_NAMES[layer_of(target)], line)
        for module, target, line, _ in _edges()
        if layer_of(target) > layer_of(module)
        and (module, target) not in ALLOWED)
    assert not wrong, (
        'imports that run back up the layers (see zc.asyncui.interfaces):'
        '\n  ' + '\n  '.join(wrong) + '\nMove the code to the right layer,'
        ' or have the lower layer offer a hook the higher one fills in.')


def test_no_import_cycles():
    graph = {}
    for module, target, _, _ in _edges():
        if (module, target) not in ALLOWED:
            graph.setdefault(module, set()).add(target)
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, (
        'modules that import each other (directly or through others): %s.'
        ' Move what both need into one of them, or into a module of a'
        ' lower layer.' % cycles)


def test_no_imports_of_zc_asyncui_inside_functions():
    # A lazy import hides an arrow (often a cycle) from the reader and
    # delays import errors to the first call.
    lazy = sorted('%s line %d imports %s' % (module, line, target)
                  for module, target, line, is_lazy in _edges()
                  if is_lazy and (module, target) not in ALLOWED)
    assert not lazy, (
        'imports inside functions: %s. Import at the top of the module; if'
        ' that makes a cycle or goes up a layer, fix the design instead.'
        % '; '.join(lazy))


def test_no_methods_attached_from_another_module():
    attached = set()
    for module, path in MODULES.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        imported = {alias.asname or alias.name
                    for node in tree.body
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names}
        for node in tree.body:
            for target in getattr(node, 'targets', ()):
                if isinstance(target, ast.Attribute) and isinstance(
                        target.value, ast.Name) and \
                        target.value.id in imported:
                    attached.add((module, '%s.%s' % (target.value.id,
                                                     target.attr)))
    wrong = sorted(attached - ALLOWED_ATTACHED)
    assert not wrong, (
        'attributes set on an imported class or module at import time: %s.'
        ' Define them where the class is defined.' % wrong)


def test_allowlist_is_current():
    edges = {(module, target) for module, target, _, _ in _edges()}
    stale = sorted(pair for pair in ALLOWED if pair not in edges)
    assert not stale, ('ALLOWED entries that no longer occur; remove them'
                       ' from %s: %s' % (__file__, stale))


def _strongly_connected(graph):
    """Tarjan's algorithm: the strongly connected components."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            result.append(component)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


# -- the checker itself, on small examples ---------------------------------

@pytest.mark.parametrize('module, layer', [
    ('job', MODEL), ('interfaces.jobs', CONTRACTS), ('cli', FRONT_END),
    ('cli.put', FRONT_END),
    ('monitor.commands', FRONT_END), ('nosuchmodule', None)])
def test_layer_of_submodules_and_unknown(module, layer):
    assert layer_of(module) == layer


def test_imports_finds_lazy_imports(tmp_path, monkeypatch):
    source = tmp_path / 'model.py'
    source.write_text(
        'import os\n'
        'from zc.asyncui import errors\n'
        'from zc.asyncui.job import Job\n'
        'def f():\n'
        '    from zc.asyncui import dispatcher\n'
        '    import zc.asyncui.worker\n')
    monkeypatch.setitem(MODULES, 'model', str(source))
    assert sorted(_imports('model')) == [
        ('dispatcher', 5, True), ('errors', 2, False), ('job', 3, False),
        ('worker', 6, True)]


def test_strongly_connected_finds_cycles():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert cycles == [['a', 'b', 'c']]
