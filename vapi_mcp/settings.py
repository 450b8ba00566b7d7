"""Settings: environment variables first, CLI flags on top (DESIGN §3).

Secrets are ``SecretStr`` so that a settings object can be logged or shown in a
traceback without leaking the Vapi key or the HTTP token, and validation errors never
quote the input (``hide_input_in_errors``): a refused token must not appear in the
message that refuses it.

Weak secrets are refused at start-up rather than accepted silently (issue 8, defect 11):
the HTTP token guards every tool that can speak on, transfer or end a live call, so it
must be long enough not to be guessed (32 characters: ``secrets.token_urlsafe(32)``
gives 43); Vapi keys are UUIDs (36 characters), so anything under 16 is a mistake, and
it could not be redacted from logs without garbling every line that holds its letters.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from vapi_mcp.errors import VapiMcpError
from vapi_mcp.policy import check_allowlist_entries

__all__ = [
    "MIN_HTTP_TOKEN_LENGTH",
    "MIN_KEY_LENGTH",
    "ConfigError",
    "Settings",
    "default_data_dir",
    "load_json_object",
    "parse_bool",
]

DEFAULT_BASE_URL = "https://api.vapi.ai"
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1:*", "localhost:*", "[::1]:*")
MIN_HTTP_TOKEN_LENGTH = 32
MIN_KEY_LENGTH = 16
TOKEN_RECIPE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class ConfigError(VapiMcpError):
    """A setting is missing or malformed; raised before anything starts."""

    hint = "Fix the environment variable or flag and start the server again."


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("VAPI_MCP_DATA_DIR"):
        return Path(env["VAPI_MCP_DATA_DIR"]).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "vapi-mcp"


def load_json_object(name: str, value: str) -> dict[str, Any]:
    """A setting that holds a JSON object, or the path of a file that does (``VAPI_MCP_ALERT_RULES``)."""
    text = value.strip()
    if not text.startswith("{"):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"{name}: neither a JSON object nor a readable file ({reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name} must be a JSON object keyed by rule name")
    return cast("dict[str, Any]", data)


def _fleet_values(env: Mapping[str, str]) -> dict[str, Any]:
    """The alert and confirmation settings (DESIGN §11)."""
    values: dict[str, Any] = {}
    if env.get("VAPI_MCP_ALERT_RULES"):
        values["alert_rules"] = load_json_object("VAPI_MCP_ALERT_RULES", env["VAPI_MCP_ALERT_RULES"])
    if env.get("VAPI_MCP_CONFIRM"):
        values["confirm"] = env["VAPI_MCP_CONFIRM"].strip().lower()
    return values


def default_replica_id() -> str:
    """This process's name among replicas: host, pid and a random tail (a restarted replica is a new one)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


_ENV_NAMES = {
    "api_key": "VAPI_API_KEY",
    "public_key": "VAPI_PUBLIC_KEY",
    "base_url": "VAPI_BASE_URL",
    "data_dir": "VAPI_MCP_DATA_DIR",
    "transfer_allowlist": "VAPI_MCP_TRANSFER_ALLOWLIST",
    "http_token": "VAPI_MCP_HTTP_TOKEN",
    "retention_days": "VAPI_MCP_RETENTION_DAYS",
    "confirm": "VAPI_MCP_CONFIRM",
    "webhook_secret": "VAPI_MCP_WEBHOOK_SECRET",
    "webhook_port": "VAPI_MCP_WEBHOOK_PORT",
    "webhook_forward_url": "VAPI_MCP_WEBHOOK_FORWARD_URL",
}


_REPLICA_ENV = {
    "redis_url": "VAPI_MCP_REDIS_URL",
    "redis_prefix": "VAPI_MCP_REDIS_PREFIX",
    "replica_id": "VAPI_MCP_REPLICA_ID",
    "lease_ttl_s": "VAPI_MCP_LEASE_TTL_S",
}
"""Replica settings (DESIGN §13) taken from the environment as they are; pydantic checks them."""


def _describe(exc: ValidationError) -> str:
    """One line per problem, naming the setting; never the value (it may be a secret)."""
    problems: list[str] = []
    for error in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        name = _ENV_NAMES.get(field) or _REPLICA_ENV.get(field, field)
        problems.append(message if name in message else f"{name}: {message}")
    return "; ".join(problems)


class Settings(BaseModel):
    """Everything the server needs, validated once at start-up."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    api_key: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    public_key: SecretStr | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    record: bool = True
    read_only: bool = False
    transfer_allowlist: tuple[str, ...] = ()
    http_token: SecretStr | None = None
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)
    control_timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_retries: int = Field(default=3, ge=0, le=10)
    poll_interval_s: float = Field(default=2.0, gt=0, le=300)
    silence_threshold_s: float = Field(default=2.0, gt=0, le=600)
    recording_resource_s: float = Field(default=120.0, gt=0, le=3600)
    max_ended_calls: int = Field(default=200, ge=1, le=100_000)
    retention_days: float = Field(default=30.0, ge=0, le=36_500)  # 0: keep every call forever
    alert_rules: dict[str, Any] | None = None
    confirm: Literal["auto", "always", "never"] = "auto"
    # Webhook intake (DESIGN §12): off unless a secret is set; vapi_mcp.vapi.webhook_auth checks requests.
    webhook_secret: SecretStr | None = None
    webhook_hmac: bool = False
    webhook_signature_header: str = "x-signature"
    webhook_timestamp_header: str = "x-timestamp"
    webhook_port: int | None = Field(default=None, ge=0, le=65535)
    webhook_host: str = "127.0.0.1"
    webhook_forward_url: str | None = None
    webhook_forward_timeout_s: float = Field(default=20.0, gt=0, le=120)
    auto_attach: bool = True
    webhook_poll_s: float = Field(default=30.0, ge=30, le=3600)
    # Replicas (DESIGN §13): the URL may hold a password, hence a secret.
    redis_url: SecretStr | None = None
    redis_prefix: str = Field(default="vapi-mcp:", min_length=1, max_length=100)
    replica_id: str = Field(default_factory=default_replica_id, min_length=1, max_length=100)
    lease_ttl_s: float = Field(default=6.0, ge=1.0, le=60.0)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("VAPI_BASE_URL must start with https:// or http://")
        return value.rstrip("/")

    @field_validator("http_token")
    @classmethod
    def _check_http_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if len(token) < MIN_HTTP_TOKEN_LENGTH:
            raise ValueError(
                f"VAPI_MCP_HTTP_TOKEN is too short: use at least {MIN_HTTP_TOKEN_LENGTH} random characters. "
                f"Generate one with: {TOKEN_RECIPE}"
            )
        if not all(33 <= ord(ch) <= 126 for ch in token):
            raise ValueError(
                "VAPI_MCP_HTTP_TOKEN must be printable ASCII without spaces (it travels in an HTTP header). "
                f"Generate one with: {TOKEN_RECIPE}"
            )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if len(secret) < MIN_KEY_LENGTH or not all(33 <= ord(ch) <= 126 for ch in secret):
            raise ValueError(
                f"VAPI_MCP_WEBHOOK_SECRET must be at least {MIN_KEY_LENGTH} printable characters without spaces "
                f"(it travels in an HTTP header). Generate one with: {TOKEN_RECIPE}"
            )
        return value

    @field_validator("webhook_forward_url")
    @classmethod
    def _check_forward_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("VAPI_MCP_WEBHOOK_FORWARD_URL must start with https:// or http://")
        return value

    @field_validator("api_key", "public_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        key = value.get_secret_value()
        if len(key) < MIN_KEY_LENGTH or not all(33 <= ord(ch) <= 126 for ch in key):
            raise ValueError(
                f"not a Vapi key: keys are 36-character UUIDs from the Vapi dashboard, and this value is shorter "
                f"than {MIN_KEY_LENGTH} characters or holds a space or a newline"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("VAPI_MCP_REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("transfer_allowlist")
    @classmethod
    def _check_allowlist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            check_allowlist_entries(value)
        except VapiMcpError as exc:
            raise ValueError(str(exc)) from None
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``VAPI_*`` variables, then apply non-None ``overrides`` (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get("VAPI_API_KEY"):
            values["api_key"] = env["VAPI_API_KEY"]
        if env.get("VAPI_BASE_URL"):
            values["base_url"] = env["VAPI_BASE_URL"]
        if env.get("VAPI_PUBLIC_KEY"):
            values["public_key"] = env["VAPI_PUBLIC_KEY"]
        values["data_dir"] = default_data_dir(env)
        if "VAPI_MCP_RECORD" in env:
            values["record"] = parse_bool("VAPI_MCP_RECORD", env["VAPI_MCP_RECORD"])
        if "VAPI_MCP_READ_ONLY" in env:
            values["read_only"] = parse_bool("VAPI_MCP_READ_ONLY", env["VAPI_MCP_READ_ONLY"])
        if env.get("VAPI_MCP_TRANSFER_ALLOWLIST"):
            values["transfer_allowlist"] = _split_list(env["VAPI_MCP_TRANSFER_ALLOWLIST"])
        if env.get("VAPI_MCP_HTTP_TOKEN"):
            values["http_token"] = env["VAPI_MCP_HTTP_TOKEN"]
        if env.get("VAPI_MCP_ALLOWED_HOSTS"):
            values["allowed_hosts"] = LOOPBACK_HOSTS + _split_list(env["VAPI_MCP_ALLOWED_HOSTS"])
        if env.get("VAPI_MCP_RETENTION_DAYS"):
            values["retention_days"] = env["VAPI_MCP_RETENTION_DAYS"]
        values.update({field: env[name] for field, name in _REPLICA_ENV.items() if env.get(name)})
        if env.get("VAPI_MCP_ALLOWED_ORIGINS"):
            values["allowed_origins"] = _split_list(env["VAPI_MCP_ALLOWED_ORIGINS"])
        values.update(_fleet_values(env))
        values.update(_webhook_env(env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(f"invalid settings: {_describe(exc)}") from None

    def secrets(self) -> list[str]:
        """Every secret value, for the log redaction filter."""
        held = (self.api_key, self.public_key, self.http_token, self.webhook_secret, self.redis_url)
        return [s.get_secret_value() for s in held if s is not None]


def _webhook_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``VAPI_MCP_WEBHOOK_*`` and ``VAPI_MCP_AUTO_ATTACH`` variables (DESIGN §12)."""
    values: dict[str, Any] = {}
    plain = {
        "VAPI_MCP_WEBHOOK_SECRET": "webhook_secret",
        "VAPI_MCP_WEBHOOK_PORT": "webhook_port",
        "VAPI_MCP_WEBHOOK_HOST": "webhook_host",
        "VAPI_MCP_WEBHOOK_FORWARD_URL": "webhook_forward_url",
    }
    for name, field in plain.items():
        if env.get(name):
            values[field] = env[name]
    for name, field in (("VAPI_MCP_WEBHOOK_HMAC", "webhook_hmac"), ("VAPI_MCP_AUTO_ATTACH", "auto_attach")):
        if name in env:
            values[field] = parse_bool(name, env[name])
    # Set but empty is meaningful for the timestamp header: the credential signs the body alone.
    for name, field in (
        ("VAPI_MCP_WEBHOOK_SIGNATURE_HEADER", "webhook_signature_header"),
        ("VAPI_MCP_WEBHOOK_TIMESTAMP_HEADER", "webhook_timestamp_header"),
    ):
        if name in env:
            values[field] = env[name].strip().lower()
    return values
