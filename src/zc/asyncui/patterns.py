"""Composite work patterns (issue 8): the public names, re-exported from
the modules that implement them."""
from zc.asyncui.periodic import schedule  # noqa: F401
