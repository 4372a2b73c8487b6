"""planwatch: a territorial spatial plan as software (compile, supervise, evaluate, report)."""

__version__ = "0.1.0"
