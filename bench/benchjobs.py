"""Job callables for the benchmarks (importable by worker processes)."""


def noop(x=None):
    return x
