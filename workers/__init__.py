"""Entry points: the ``cronos`` CLI (:mod:`.cli`), the worker process (:mod:`.process`), logging
(:mod:`.logging_setup`) and the embedded dev stack (:mod:`.devstack`).

Imports go one way: ``workers`` → ``streams`` → ``engine``.
"""
