"""The embedded development stack: tansu (Kafka protocol), Redis, MQTT, a simulated device.

:mod:`.stack` starts and stops the services, :mod:`.probes` checks they answer,
:mod:`.mqtt_broker` finds or starts an MQTT broker, :mod:`.modbus_sim` is a Modbus/TCP device
with changing registers, and :mod:`.demo` is ``cronos run`` (``make run``) on top of them.
Development and tests only: production points the worker at Apache Kafka and a Redis of its own.
"""

# The package exports its modules; import the one you need (none is loaded by this file).
__all__ = ["demo", "modbus_sim", "mqtt_broker", "probes", "relay", "stack"]
