"""Helpers shared by several test folders (no fixtures here; fixtures live in conftest files).

``paths`` (repository and test-data locations), ``stream`` (produce, read topics, signed
commands, tiny trained artifacts), ``edge`` (MQTT subscriber, a stand-in translator loop),
``deployment`` (worker processes of one test).
"""
