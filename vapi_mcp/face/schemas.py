"""The tool list an agent can afford: JSON schemas as sent in ``tools/list``, without what costs and says nothing.

Every conversation with this server starts by paying for ``tools/list`` (DESIGN §11: at most 14,000 bytes with
every tool). pydantic's schemas are made for documents, not for a model's context: a ``title`` on every
property, ``anyOf`` with a ``null`` branch for every optional, ``default: null``, and nested models under
``$defs``. Here they are rewritten to what an agent needs:

- input schemas keep every constraint and description but the id pattern (ids come from our own results, and
  the server checks them anyway), lose titles and null defaults, and say nullable as a type array
  (``["string", "null"]``);
- output schemas say which top-level fields come back and their JSON types (nested objects and arrays are
  named, not spelled out: the tool's description and the resource of the same name say what is in them); for
  the biggest results only the fields an agent acts on (:data:`OUTPUT_FIELDS`), the others come back too.
  They stay true: every result validates against them (the client checks it).
"""

from __future__ import annotations

from typing import Any, cast

from vapi_mcp.ids import ID_PATTERN

__all__ = ["OUTPUT_FIELDS", "compact_input", "compact_output"]

OUTPUT_FIELDS: dict[str, tuple[str, ...]] = {
    "CallInfo": ("call_id", "status", "ended_reason", "listening", "listen_state", "event_count", "resources"),
    "ControlResult": ("type", "detail", "event_seq"),
    "AudioSummary": (
        "call_id",
        "listen_state",
        "duration_s",
        "parties",
        "overlap_s",
        "longest_silence_s",
        "current_silence_s",
        "interruptions",
        "segments",
        "sparkline",
    ),
}
"""Big results whose output schema names only these fields (at least these come back; DESIGN §7)."""

_DROP = frozenset({"title"})
_ID_CHECKS = frozenset({"pattern", "minLength", "maxLength"})  # ids come from our own results: checked, not shown


def _nullable(branches: list[Any]) -> dict[str, Any] | None:
    """``anyOf: [X, {"type": "null"}]`` as X with ``type: [X's type, "null"]``, when X has one plain type."""
    if len(branches) != 2 or {"type": "null"} not in branches:
        return None
    other = cast("dict[str, Any]", next(b for b in branches if b != {"type": "null"}))
    kind = other.get("type")
    if not isinstance(kind, str):
        return None
    return {**other, "type": [kind, "null"]}


def _clean(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_clean(item, defs) for item in cast("list[Any]", node)]
    if not isinstance(node, dict):
        return node
    node = cast("dict[str, Any]", node)
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _clean({**defs[ref.removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs" or (key == "default" and value is None):
            continue
        if key == "additionalProperties" and value is True:  # the default
            continue
        if key == "properties":
            out[key] = {k: _id(_clean(v, defs)) for k, v in cast("dict[str, Any]", value).items()}
        else:
            out[key] = _clean(value, defs)
    branches = out.get("anyOf")
    if isinstance(branches, list):
        merged = _nullable(cast("list[Any]", branches))
        if merged is not None:
            del out["anyOf"]
            out = {**merged, **out}
    return out


def _id(prop: Any) -> Any:
    if not isinstance(prop, dict):
        return prop
    checked = cast("dict[str, Any]", prop)
    if checked.get("pattern") != ID_PATTERN:
        return checked
    return {k: v for k, v in checked.items() if k not in _ID_CHECKS}


def compact_input(schema: dict[str, Any]) -> dict[str, Any]:
    """An input schema with every constraint kept (see the module docstring)."""
    return cast("dict[str, Any]", _clean(schema, schema.get("$defs", {})))


def _shallow(prop: dict[str, Any]) -> dict[str, Any]:
    kind = prop.get("type")
    if kind is None and "enum" in prop:
        kind = "string"
    if kind is None:
        return {}
    return {"type": kind}


def compact_output(schema: dict[str, Any]) -> dict[str, Any]:
    """An output schema reduced to the top-level fields and their JSON types (see the module docstring)."""
    full = compact_input(schema)
    properties = cast("dict[str, dict[str, Any]]", full.get("properties", {}))
    keep = OUTPUT_FIELDS.get(str(schema.get("title")), tuple(properties))
    return {"type": "object", "properties": {k: _shallow(properties[k]) for k in keep}}
