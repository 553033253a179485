"""Protocol translation: specifications, codecs, rule sets, rule learning, compilation, storage.

Layers, low to high: ``spec`` → ``tags`` → ``scalars`` → ``layout``/``modbus``/``mqtt`` →
``codecs`` → ``fields`` → ``rules`` → ``tag_decode``/``tag_publish`` → ``evaluate`` →
``validation`` → ``generator`` → ``linefit`` → ``holdout`` → ``learner``/``tag_learner`` →
``compiler`` → ``store``. The user-facing facade is :mod:`engine.llm.translation_studio`.
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
    "tag_decode",
    "tag_learner",
    "tag_publish",
    "tags",
    "validation",
]
