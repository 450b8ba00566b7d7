"""The tool list an agent can afford (DESIGN §11): the whole tools/list result, as sent, within the budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from tests.helpers import call_ok, create_call
from vapi_mcp.face import create_server
from vapi_mcp.face.schemas import compact_input, compact_output
from vapi_mcp.settings import Settings

BUDGET = 14_000
"""Bytes of JSON for the whole tools/list result with every tool (DESIGN §11)."""


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


async def test_tools_list_fits_the_budget(tmp_path: Path, era: str) -> None:
    settings = Settings(api_key="k" * 20, data_dir=tmp_path)
    async with Client(create_server(settings), mode=era) as client:  # type: ignore[arg-type]
        with anyio.fail_after(10):
            listed = await client.list_tools()
    # As the wire carries it: the result dumped by alias without nulls, compact JSON, UTF-8.
    sent = listed.model_dump_json(by_alias=True, exclude_none=True).encode()
    sizes = {tool.name: len(tool.model_dump_json(by_alias=True, exclude_none=True).encode()) for tool in listed.tools}
    print(f"tools/list: {len(sent)} bytes for {len(sizes)} tools")
    for name, size in sorted(sizes.items(), key=lambda item: -item[1]):
        print(f"  {name:20} {size:5}")
    assert len(listed.tools) == 17
    assert len(sent) <= BUDGET, f"tools/list is {len(sent)} bytes, over the {BUDGET} budget: {sizes}"
    for tool in listed.tools:
        ann = tool.annotations
        assert ann is not None and None not in (
            ann.read_only_hint,
            ann.destructive_hint,
            ann.idempotent_hint,
            ann.open_world_hint,
        ), tool.name
        assert tool.output_schema is not None, tool.name
        assert tool.title is None, "titles cost bytes and say what the name says"
        assert tool.description and "\n" not in tool.description and len(tool.description) <= 160, tool.name
        for node in _walk([tool.input_schema, tool.output_schema]):
            assert "title" not in node or not isinstance(node["title"], str), (tool.name, node)
            assert "$ref" not in node and "$defs" not in node, tool.name
            branches = node.get("anyOf", [])
            assert {"type": "null"} not in branches, f"{tool.name}: nullable must be a type array"


def test_compaction_keeps_constraints_and_says_nullable_as_a_type_array() -> None:
    schema = {
        "title": "Args",
        "type": "object",
        "$defs": {"Inner": {"title": "Inner", "type": "object", "properties": {"x": {"type": "integer"}}}},
        "properties": {
            "name": {"title": "Name", "anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}], "default": None},
            "inner": {"$ref": "#/$defs/Inner", "description": "An inner object."},
            "n": {"title": "N", "type": "integer", "minimum": 1, "default": 3},
        },
        "required": ["inner"],
    }
    assert compact_input(schema) == {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"], "maxLength": 5},
            "inner": {"type": "object", "properties": {"x": {"type": "integer"}}, "description": "An inner object."},
            "n": {"type": "integer", "minimum": 1, "default": 3},
        },
        "required": ["inner"],
    }
    assert compact_output(schema) == {
        "type": "object",
        "properties": {"name": {"type": ["string", "null"]}, "inner": {"type": "object"}, "n": {"type": "integer"}},
    }


async def test_a_call_result_links_its_resources(client: Client) -> None:
    with anyio.fail_after(15):
        call_id = await create_call(client)
        result = await client.call_tool("get_call", {"call_id": call_id})
        assert not result.is_error and result.structured_content is not None
        links = {block.uri: block for block in result.content if block.type == "resource_link"}
        base = f"vapi://calls/{call_id}"
        assert set(links) == {
            base,
            f"{base}/events",
            f"{base}/audio-summary",
            f"{base}/transcript",
            f"{base}/recording.wav",
        }
        assert links[f"{base}/recording.wav"].mime_type == "audio/wav"
        assert result.content[0].type == "text" and json.loads(result.content[0].text)["call_id"] == call_id
        listed = await call_ok(client, "list_calls", {})
        assert any(c["call_id"] == call_id for c in listed["calls"])
