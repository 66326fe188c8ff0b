"""Validation of user_service's request bodies (pure logic)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from user_service.models import LoginRequest, ProfileUpdate, RegisterRequest


def register(**fields: object) -> RegisterRequest:
    return RegisterRequest.model_validate(
        {"email": "a@example.com", "password": "password1", **fields}
    )


def test_email_is_lower_cased_and_defaults_apply() -> None:
    body = register(email="Ann.Smith@Example.COM")
    assert body.email == "ann.smith@example.com"
    assert (body.currency, body.timezone, body.name) == ("USD", "UTC", None)


@pytest.mark.parametrize("email", ["not-an-email", "", "a@", {"$gt": ""}, 42])
def test_bad_emails_are_refused(email: object) -> None:
    with pytest.raises(ValidationError):
        register(email=email)


def test_password_limits_are_in_characters_and_bytes() -> None:
    assert register(password="x" * 72).password == "x" * 72
    with pytest.raises(ValidationError, match="at least 8"):
        register(password="short")
    with pytest.raises(ValidationError, match="72 bytes"):
        register(password="x" * 73)
    # 36 two-byte characters are 72 bytes; one more is too many, though only 37 characters.
    assert register(password="é" * 36).password == "é" * 36
    with pytest.raises(ValidationError, match="72 bytes"):
        register(password="é" * 37)


def test_currency_is_iso_4217_and_upper_cased() -> None:
    assert register(currency="eur").currency == "EUR"
    with pytest.raises(ValidationError, match="ISO 4217"):
        register(currency="EUX")


def test_timezone_must_be_an_iana_name() -> None:
    assert register(timezone="Europe/Paris").timezone == "Europe/Paris"
    with pytest.raises(ValidationError, match="unknown time zone"):
        register(timezone="Mars/Olympus")


def test_unknown_fields_and_operators_are_refused() -> None:
    with pytest.raises(ValidationError):
        register(is_admin=True)
    with pytest.raises(ValidationError):
        LoginRequest.model_validate({"email": "a@example.com", "password": {"$ne": None}})


def test_profile_update_sends_only_what_was_given() -> None:
    update = ProfileUpdate.model_validate({"name": "Ann"})
    assert update.model_dump(exclude_unset=True) == {"name": "Ann"}
