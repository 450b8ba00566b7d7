"""Alert rule configuration: merging partial changes, and errors that name what is wrong and what is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from vapi_mcp.errors import InvalidInput
from vapi_mcp.settings import ConfigError, Settings
from vapi_mcp.supervisor import running_supervisor
from vapi_mcp.supervisor.alerts.config import (
    RULES,
    DeadAir,
    Keywords,
    default_rules,
    describe_rules,
    merge_rules,
)


def test_defaults_are_the_design_table() -> None:
    rules = describe_rules(default_rules())
    assert list(rules) == [
        "dead_air",
        "talk_over",
        "monologue",
        "keywords",
        "call_duration",
        "audio_quality",
        "listen_lost",
        "ended_abnormally",
    ]
    assert rules["dead_air"] == {"severity": "warning", "after_s": 4.0}
    assert rules["talk_over"] == {"severity": "warning", "overlap_s": 1.5, "count": 3, "within_s": 30.0}
    assert rules["monologue"] == {"severity": "info", "party": "assistant", "after_s": 30.0}
    assert rules["keywords"] == {"severity": "warning", "phrases": [], "roles": ["customer"]}
    assert rules["audio_quality"] == {
        "severity": "warning",
        "clipping_ratio": 0.01,
        "min_dbfs": -50.0,
        "window_s": 10.0,
    }


def test_a_change_merges_parameters_and_switches_rules() -> None:
    rules = merge_rules(default_rules(), {"dead_air": {"after_s": 6}, "monologue": False})
    assert rules["dead_air"] == DeadAir(after_s=6)
    assert rules["monologue"] is None
    again = merge_rules(rules, {"dead_air": {"severity": "critical"}, "monologue": True})
    assert again["dead_air"] == DeadAir(after_s=6, severity="critical"), "parameters not named are kept"
    assert again["monologue"] == RULES["monologue"]()
    phrases = merge_rules(again, {"keywords": {"phrases": ["refund"]}})
    assert phrases["keywords"] == Keywords(phrases=("refund",))


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"dead_ar": {}}, ["'dead_ar'", "dead_air", "talk_over", "ended_abnormally"]),
        ({"dead_air": {"after": 3}}, ["'dead_air'", "unknown parameter 'after'", "after_s"]),
        ({"dead_air": {"after_s": -1}}, ["'dead_air'", "after_s", "greater than 0"]),
        ({"monologue": {"party": "robot"}}, ["'monologue'", "party"]),
        ({"keywords": "refund"}, ["'keywords'", "phrases, roles"]),
    ],
)
def test_a_bad_rule_names_itself_and_lists_the_valid_ones(change: dict[str, object], names: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        merge_rules(default_rules(), change)
    for name in names:
        assert name in str(caught.value)


def test_a_bad_change_changes_nothing() -> None:
    base = default_rules()
    with pytest.raises(InvalidInput):
        merge_rules(base, {"dead_air": {"after_s": 1}, "nope": True})
    assert base == default_rules()


async def test_bad_default_rules_stop_the_supervisor_at_start(tmp_path: Path) -> None:
    settings = Settings(api_key="k" * 20, data_dir=tmp_path, alert_rules={"dead_air": {"after_s": "soon"}})
    with pytest.raises(ConfigError) as caught:
        async with running_supervisor(settings):
            pass
    assert "VAPI_MCP_ALERT_RULES" in str(caught.value) and "'dead_air'" in str(caught.value)
