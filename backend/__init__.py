"""Beckon: proactive, human help on websites."""

__version__ = "0.1.0"
