"""Verbs of the one map: ``planwatch layers list`` and ``planwatch layers import``."""
