"""Entry points: the ``cronos`` CLI (:mod:`.cli`), the worker process (:mod:`.process`), logging
(:mod:`.logging_setup`) and the embedded dev stack (:mod:`.devstack`).

Imports go one way: ``workers`` → ``streams`` → ``engine``.
"""

# The package exports its modules; import the one you need (none is loaded by this file).
__all__ = ["cli", "devstack", "errors", "logging_setup", "process"]
