"""The embedded MQTT broker's start/stop/restart and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.devstack.mqtt_broker import (
    MqttBroker,
    MqttBrokerConfig,
    MqttBrokerError,
    mosquitto_bin,
    mqtt_ready,
    start_mqtt_broker,
    stop_mqtt_broker,
)

pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True)
def _mosquitto() -> None:
    if mosquitto_bin() is None:  # a set-up fault, not a reason to skip: `make test` installs it
        pytest.fail("mosquitto is required: `make deps` installs it (Debian, as root)")


def test_start_stop_from_another_process_view(tmp_path: Path) -> None:
    broker = start_mqtt_broker(tmp_path, port=0)
    try:
        assert broker.engine == "mosquitto" and broker.running()
        assert mqtt_ready("127.0.0.1", broker.port)
        again = MqttBroker(MqttBrokerConfig(port=0, state_dir=tmp_path))
        with pytest.raises(MqttBrokerError, match="already running"):
            again.start()
        taken = MqttBroker(MqttBrokerConfig(port=broker.port, state_dir=tmp_path / "other"))
        with pytest.raises(MqttBrokerError, match="in use"):
            taken.start()
    finally:
        assert stop_mqtt_broker(tmp_path)  # by pid file, as `cronos dev down` would
    assert not mqtt_ready("127.0.0.1", broker.port)
    assert not stop_mqtt_broker(tmp_path)
