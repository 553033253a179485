"""An MQTT connection that reconnects, and publishes that return only once acknowledged.

Built on aiomqtt (paho-mqtt). aiomqtt leaves a QoS 1 publish waiting for its PUBACK until its
timeout even after the connection dropped; :class:`MqttLink` races every publish against the
loss of its connection (seen through the public ``client.messages`` iterator, which raises when
the client disconnects), so a broker restart fails the in-flight publishes at once and the
caller can republish them on the next connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
from typing import Any

import aiomqtt
import paho.mqtt.client as paho

from streams.edge.edge_metrics import MQTT_CONNECTED, MQTT_PUBLISH_LATENCY, MQTT_RECONNECTS
from streams.edge.settings import MqttSettings
from streams.errors import StreamsError

log = logging.getLogger(__name__)

#: paho return codes that mean "no connection", not "this message is bad".
_CONNECTION_CODES = frozenset({paho.MQTT_ERR_NO_CONN, paho.MQTT_ERR_CONN_LOST})


class PublishError(StreamsError):
    """A publish was not acknowledged.

    Attributes:
        connection_lost: The connection dropped (or was down) while it was in flight: the
            message itself is not to blame.
    """

    def __init__(self, detail: str, *, connection_lost: bool) -> None:
        super().__init__(detail)
        self.connection_lost = connection_lost


def client_kwargs(settings: MqttSettings, *, clean_session: bool = True) -> dict[str, Any]:
    """Keyword arguments of ``aiomqtt.Client`` for ``settings`` (TLS and credentials included)."""
    kwargs: dict[str, Any] = {
        "hostname": settings.host,
        "port": settings.port,
        "username": settings.username,
        "password": settings.password.get_secret_value() if settings.password else None,
        "identifier": settings.client_id or None,
        "keepalive": settings.keepalive_s,
        "timeout": settings.connect_timeout_s,
        "clean_session": clean_session,
        "max_inflight_messages": settings.max_inflight,
    }
    if settings.tls:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        if settings.cert_file:
            keyfile = str(settings.key_file) if settings.key_file else None
            context.load_cert_chain(str(settings.cert_file), keyfile)
        if settings.tls_insecure:
            context.check_hostname = False
        kwargs["tls_context"] = context
        # paho checks the host name again on its own unless told not to.
        kwargs["tls_insecure"] = settings.tls_insecure
    return kwargs


class MqttLink:
    """One broker connection, (re)opened on demand with exponential backoff.

    Args:
        settings: Broker address, credentials, TLS, timeouts.
        backoff_s: First delay after a failed connection attempt.
        max_backoff_s: Longest delay between attempts.
    """

    def __init__(
        self, settings: MqttSettings, *, backoff_s: float = 0.2, max_backoff_s: float = 5.0
    ) -> None:
        self.settings = settings
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._client: aiomqtt.Client | None = None
        self._lost: asyncio.Future[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._ever_connected = False

    @property
    def connected(self) -> bool:
        """True while a connection is open and not known to be lost."""
        return self._client is not None and self._lost is not None and not self._lost.done()

    async def connect(self) -> None:
        """Open a connection, retrying with backoff until one succeeds (cancellable)."""
        delay = self._backoff_s
        while not self.connected:
            await self._drop()
            client = aiomqtt.Client(**client_kwargs(self.settings), logger=log)
            # aiomqtt warns above 10 pending publishes; the sink keeps a whole batch in flight.
            client.pending_calls_threshold = self.settings.max_inflight + 1
            try:
                await client.__aenter__()
            except aiomqtt.MqttError as exc:
                if self._ever_connected:
                    MQTT_RECONNECTS.labels(outcome="failed").inc()
                log.warning(
                    "mqtt %s: connect failed (%s); retry in %.1f s",
                    self.settings.describe(),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff_s)
                continue
            if self._ever_connected:
                MQTT_RECONNECTS.labels(outcome="ok").inc()
            self._ever_connected = True
            self._client = client
            self._lost = asyncio.get_running_loop().create_future()
            self._watcher = asyncio.create_task(self._watch(client, self._lost))
            MQTT_CONNECTED.set(1)
            log.info("mqtt %s: connected", self.settings.describe())

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Publish and wait for the broker's acknowledgement (PUBACK / PUBCOMP).

        Raises:
            PublishError: No acknowledgement: the connection dropped, was down, or the broker
                stayed silent for ``publish_timeout_s``.
        """
        if not self.connected:
            raise PublishError("not connected", connection_lost=True)
        assert self._client is not None and self._lost is not None
        lost = self._lost
        loop = asyncio.get_running_loop()
        start = loop.time()
        pub = asyncio.ensure_future(
            self._client.publish(topic, payload, qos=qos, retain=retain, timeout=math.inf)
        )
        done, _ = await asyncio.wait(
            {pub, lost},
            timeout=self.settings.publish_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if pub not in done:
            pub.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await pub
            why = "connection lost" if lost.done() else "no acknowledgement in time"
            raise PublishError(why, connection_lost=lost.done())
        try:
            pub.result()
        except aiomqtt.MqttCodeError as exc:
            down = lost.done() or exc.rc in _CONNECTION_CODES
            raise PublishError(f"publish refused: {exc}", connection_lost=down) from exc
        except aiomqtt.MqttError as exc:
            raise PublishError(f"publish failed: {exc}", connection_lost=lost.done()) from exc
        MQTT_PUBLISH_LATENCY.observe(loop.time() - start)

    async def reset(self) -> None:
        """Forget the current connection (after a loss); the next :meth:`connect` reopens."""
        await self._drop()

    async def close(self) -> None:
        """Disconnect cleanly."""
        await self._drop()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        MQTT_CONNECTED.set(0)
        if client is not None:
            # A dead connection may make the DISCONNECT itself fail or hang; neither matters.
            with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
                await asyncio.wait_for(client.__aexit__(None, None, None), timeout=2.0)

    @staticmethod
    async def _watch(client: aiomqtt.Client, lost: asyncio.Future[None]) -> None:
        try:
            async for _ in client.messages:
                pass  # the sink subscribes to nothing; the iterator only reports disconnection
        except aiomqtt.MqttError as exc:
            log.warning("mqtt connection lost: %s", exc)
        finally:
            MQTT_CONNECTED.set(0)
            if not lost.done():
                lost.set_result(None)
