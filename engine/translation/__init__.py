"""Protocol translation: specifications, codecs, rule sets, rule learning, compilation, storage.

Layers, low to high: ``spec`` → ``scalars`` → ``layout``/``modbus``/``mqtt`` → ``codecs`` →
``fields`` → ``rules`` → ``evaluate`` → ``validation`` → ``generator`` → ``learner`` →
``compiler`` → ``store``. The user-facing facade is :mod:`engine.llm.translation_studio`.
"""
