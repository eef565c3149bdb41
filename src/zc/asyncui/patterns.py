"""Composite work patterns (issue 8): the public module.  It only
re-exports; each pattern lives in its own module."""
# Collapsing work: a pile of items and one job that takes them all
from zc.asyncui.workpile import WorkPile
# Periodic jobs
from zc.asyncui.periodic import schedule

__all__ = [
    'WorkPile',
    'schedule',
]
