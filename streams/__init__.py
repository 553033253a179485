"""CRONOS stream layer: the Faust app, control commands, Redis state and monitors.

Depends on :mod:`engine`; never imported by it. The modules that need no Kafka
(``errors``, ``command``, ``settings``, ``state``, ``artifacts``) can be used on their own,
e.g. by the CLI that issues signed control commands.
"""
