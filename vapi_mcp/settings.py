"""Settings: environment variables first, CLI flags on top (DESIGN §3).

Secrets are ``SecretStr`` so that a settings object can be logged or shown in a
traceback without leaking the Vapi key or the HTTP token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from vapi_mcp.errors import VapiMcpError
from vapi_mcp.policy import check_allowlist_entries

__all__ = ["ConfigError", "Settings", "default_data_dir", "parse_bool"]

DEFAULT_BASE_URL = "https://api.vapi.ai"
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1:*", "localhost:*", "[::1]:*")


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


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


class Settings(BaseModel):
    """Everything the server needs, validated once at start-up."""

    model_config = ConfigDict(frozen=True)

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

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("VAPI_BASE_URL must start with https:// or http://")
        return value.rstrip("/")

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
        if env.get("VAPI_MCP_ALLOWED_ORIGINS"):
            values["allowed_origins"] = _split_list(env["VAPI_MCP_ALLOWED_ORIGINS"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            settings = cls.model_validate(values)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise ConfigError(f"invalid settings: {exc}") from None
        try:
            check_allowlist_entries(settings.transfer_allowlist)
        except VapiMcpError as exc:
            raise ConfigError(str(exc)) from None
        return settings

    def secrets(self) -> list[str]:
        """Every secret value, for the log redaction filter."""
        return [s.get_secret_value() for s in (self.api_key, self.public_key, self.http_token) if s is not None]
