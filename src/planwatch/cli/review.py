"""Verbs of compliance review and spatial rules: ``planwatch review`` and ``planwatch rules check``."""
