"""Request and response bodies of user_service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field
from pydantic_extra_types.currency_code import ISO4217

from shared.types import CurrencyCode, Flag, TimezoneName

PASSWORD_MAX_BYTES = 72  # bcrypt ignores anything past 72 bytes; refuse rather than truncate


def _password_fits_bcrypt(value: str) -> str:
    if len(value.encode()) > PASSWORD_MAX_BYTES:
        raise ValueError(f"password must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8")
    return value


NewPassword = Annotated[str, Field(min_length=8), AfterValidator(_password_fits_bcrypt)]
# Logging in with an over-long password is simply wrong credentials, never a hint about rules.
GivenPassword = Annotated[str, Field(min_length=1, max_length=1024)]
Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(str.lower)]
DisplayName = Annotated[str, Field(min_length=1, max_length=100)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(Body):
    email: Email
    password: NewPassword
    name: DisplayName | None = None
    currency: CurrencyCode = ISO4217("USD")
    timezone: TimezoneName = "UTC"


class LoginRequest(Body):
    email: Email
    password: GivenPassword


class RefreshRequest(Body):
    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class LogoutRequest(Body):
    refresh_token: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    everywhere: Flag = Field(
        default=False,
        description="End every session of the account and refuse its access tokens at once",
    )


class ProfileUpdate(Body):
    name: DisplayName | None = None
    currency: CurrencyCode | None = None
    timezone: TimezoneName | None = None


class PasswordChange(Body):
    current_password: GivenPassword
    new_password: NewPassword


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_in: int = Field(description="Seconds until the access token expires")


class UserOut(BaseModel):
    id: str
    email: str
    name: str | None
    currency: str
    timezone: str
    created_at: datetime
    updated_at: datetime


class ForgotPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=200)]
    new_password: NewPassword
