"""Protocol translation: specifications, codecs, rule sets, rule learning, compilation, storage.

Layers, low to high: ``spec`` → ``scalars`` → ``layout``/``modbus``/``mqtt`` → ``codecs`` →
``fields`` → ``rules`` → ``evaluate`` → ``validation`` → ``generator`` → ``linefit`` →
``holdout`` → ``learner`` → ``compiler`` → ``store``. The user-facing facade is
:mod:`engine.llm.translation_studio`.
"""

# The package exports its modules; import the one you need (none is loaded by this file).
__all__ = [
    "codecs",
    "compiler",
    "errors",
    "evaluate",
    "fields",
    "generator",
    "holdout",
    "layout",
    "learner",
    "linefit",
    "modbus",
    "mqtt",
    "pcap",
    "rules",
    "scalars",
    "spec",
    "store",
    "validation",
]
