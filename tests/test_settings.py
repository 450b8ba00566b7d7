"""Settings refuse weak secrets at start-up, and never quote a refused secret (issue 8, defect 11)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from vapi_mcp.settings import MIN_HTTP_TOKEN_LENGTH, MIN_KEY_LENGTH, ConfigError, Settings

KEY = "7420f27a-30fd-4f49-a995-5549ae7cc00d"
RECIPE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


@pytest.mark.parametrize("token", ["a", "hunter2-token", "x" * (MIN_HTTP_TOKEN_LENGTH - 1)])
def test_a_short_http_token_is_refused_with_the_recipe(token: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"VAPI_API_KEY": KEY, "VAPI_MCP_HTTP_TOKEN": token})
    text = str(info.value)
    assert "VAPI_MCP_HTTP_TOKEN" in text and RECIPE in text and "32" in text
    assert repr(token) not in text and (len(token) < 6 or token not in text)


@pytest.mark.parametrize("token", ["x" * 31 + " ", "é" * 40, "tab\tinside-" + "x" * 30, "x" * 40 + "\n"])
def test_a_token_that_cannot_travel_in_a_header_is_refused(token: str) -> None:
    with pytest.raises(ConfigError, match=r"printable ASCII|too short"):
        Settings.from_env({"VAPI_MCP_HTTP_TOKEN": token})


def test_the_recipe_makes_an_accepted_token() -> None:
    token = secrets.token_urlsafe(32)
    settings = Settings.from_env({"VAPI_API_KEY": KEY, "VAPI_MCP_HTTP_TOKEN": token})
    assert settings.http_token is not None and settings.http_token.get_secret_value() == token
    assert token not in repr(settings)


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(http_token="short-token")  # type: ignore[arg-type]
    assert "short-token" not in str(info.value)  # hide_input_in_errors


@pytest.mark.parametrize(("variable", "value"), [("VAPI_API_KEY", "abc"), ("VAPI_PUBLIC_KEY", "k" * 15)])
def test_absurdly_short_keys_are_refused(variable: str, value: str) -> None:
    """A key this short is a mistake, and redacting it would garble every log line holding its letters."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env({variable: value})
    text = str(info.value)
    assert variable in text and "36-character" in text and value not in text


def test_a_key_with_a_trailing_newline_is_refused_not_sent() -> None:
    with pytest.raises(ConfigError, match="newline"):
        Settings.from_env({"VAPI_API_KEY": KEY + "\n"})


def test_real_keys_pass() -> None:
    settings = Settings.from_env({"VAPI_API_KEY": KEY, "VAPI_PUBLIC_KEY": "k" * MIN_KEY_LENGTH})
    assert settings.secrets() == [KEY, "k" * MIN_KEY_LENGTH]


def test_other_errors_name_the_variable_and_never_quote_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"VAPI_API_KEY": KEY, "VAPI_BASE_URL": "ftp://secret-host.example"})
    assert "VAPI_BASE_URL" in str(info.value) and "secret-host" not in str(info.value)


def test_retention_days_from_the_environment() -> None:
    assert Settings.from_env({"VAPI_API_KEY": KEY}).retention_days == 30
    assert Settings.from_env({"VAPI_API_KEY": KEY, "VAPI_MCP_RETENTION_DAYS": "0.5"}).retention_days == 0.5
    for bad in ("-1", "forever"):
        with pytest.raises(ConfigError, match="VAPI_MCP_RETENTION_DAYS"):
            Settings.from_env({"VAPI_API_KEY": KEY, "VAPI_MCP_RETENTION_DAYS": bad})


def test_alert_rules_from_json_or_a_file(tmp_path: Path) -> None:
    inline = Settings.from_env({"VAPI_MCP_ALERT_RULES": '{"dead_air": {"after_s": 6}}'})
    assert inline.alert_rules == {"dead_air": {"after_s": 6}}
    path = tmp_path / "rules.json"
    path.write_text('{"monologue": false}')
    assert Settings.from_env({"VAPI_MCP_ALERT_RULES": str(path)}).alert_rules == {"monologue": False}
    for bad, said in (("{nope", "not valid JSON"), ("[1]", "neither"), (str(tmp_path / "missing.json"), "neither")):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"VAPI_MCP_ALERT_RULES": bad})
        assert "VAPI_MCP_ALERT_RULES" in str(caught.value) and said in str(caught.value)


def test_confirm_setting() -> None:
    assert Settings.from_env({}).confirm == "auto"
    assert Settings.from_env({"VAPI_MCP_CONFIRM": "Always"}).confirm == "always"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"VAPI_MCP_CONFIRM": "sometimes"})
    assert "VAPI_MCP_CONFIRM" in str(caught.value)


def test_replica_settings_from_the_environment() -> None:
    env = {"VAPI_MCP_REDIS_URL": "redis://:hunter2-password@10.0.0.5:6379/0", "VAPI_MCP_REPLICA_ID": "r7"}
    settings = Settings.from_env(env)
    assert settings.redis_url is not None and settings.replica_id == "r7"
    assert "hunter2" not in repr(settings)
    assert "redis://:hunter2-password@10.0.0.5:6379/0" in settings.secrets(), "redacted from logs"
    assert Settings.from_env({}).redis_url is None, "without it: the embedded default"


def test_a_redis_url_that_is_not_one_is_refused_without_quoting_it() -> None:
    with pytest.raises(ConfigError, match="VAPI_MCP_REDIS_URL must start with redis://") as info:
        Settings.from_env({"VAPI_MCP_REDIS_URL": "http://secret-host:6379"})
    assert "secret-host" not in str(info.value)
