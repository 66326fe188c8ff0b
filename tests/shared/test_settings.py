"""Settings refuse well-known secrets outside development (pure logic)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import Settings as GatewaySettings
from user_service.settings import Settings as UserSettings


def test_development_defaults_work_as_they_are() -> None:
    settings = GatewaySettings()
    assert settings.environment == "development"
    assert settings.queue_name == "gateway.events"
    assert settings.mongodb_db == "gateway"


@pytest.mark.parametrize("environment", ["production", "test"])
def test_guest_broker_account_is_refused_outside_development(environment: str) -> None:
    with pytest.raises(ValidationError, match="guest account"):
        GatewaySettings(environment=environment)
    accepted = GatewaySettings(
        environment=environment,
        amqp_url="amqp://tracker:s3cret@rabbitmq:5672/",
    )
    assert accepted.environment == environment


def test_weak_bcrypt_cost_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="BCRYPT_ROUNDS"):
        UserSettings(
            environment="production",
            bcrypt_rounds=4,
            amqp_url="amqp://tracker:s3cret@rabbitmq:5672/",
        )


def test_access_tokens_live_at_most_15_minutes() -> None:
    with pytest.raises(ValidationError):
        UserSettings(access_token_minutes=60)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_PREFIX", "x.")
    monkeypatch.setenv("UPSTREAMS", '{"user_service": ["http://a:1", "http://b:2"]}')
    monkeypatch.setenv("JWT_PRIVATE_KEY", "")  # empty means unset, as compose passes it
    settings = GatewaySettings()
    assert settings.queue_name == "x.gateway.events"
    assert [str(u) for u in settings.upstreams["user_service"]] == ["http://a:1/", "http://b:2/"]
    assert UserSettings().jwt_private_key is None
