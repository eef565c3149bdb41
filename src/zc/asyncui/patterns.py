"""Composite work patterns (issue 8): the public names, re-exported from
the modules that implement them."""
from zc.asyncui.composite import broadcast
from zc.asyncui.composite import parallel
from zc.asyncui.composite import serial
