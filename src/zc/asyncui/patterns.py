"""Composite work patterns (issue 8): the public module.  It only
re-exports; each pattern lives in its own module."""
# One job made of many: at once, one after another, once per dispatcher
from zc.asyncui.composite import broadcast
from zc.asyncui.composite import parallel
from zc.asyncui.composite import serial
# Collapsing work: a pile of items and one job that takes them all
from zc.asyncui.workpile import WorkPile
# Periodic jobs
from zc.asyncui.periodic import schedule

__all__ = [
    'parallel', 'serial', 'broadcast',
    'WorkPile',
    'schedule',
]
