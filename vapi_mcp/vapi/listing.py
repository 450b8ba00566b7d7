"""Batched reads of many calls: ``GET /call`` paginated, instead of one ``GET /call/{id}`` per call.

``GET /call`` answers newest first, at most 1,000 calls a page, and has no cursor: the next page is asked
for with ``createdAtLe`` set to the oldest ``createdAt`` of the page before (``Le``, not ``Lt``, so calls
that share that instant are not skipped; the ones seen twice are kept once).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from vapi_mcp.vapi.client import VapiClient
from vapi_mcp.vapi.models import Call

__all__ = ["MAX_PAGE", "calls_created_since"]

MAX_PAGE = 1000


async def calls_created_since(
    client: VapiClient,
    since: str,
    *,
    page: int = MAX_PAGE,
    max_pages: int = 100,
    enough: Callable[[Mapping[str, Call]], bool] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, Call]:
    """Every call created at ``since`` (ISO-8601) or later, by id: ``ceil(n / page)`` requests for ``n`` calls.
    With ``only``, just those calls are read (the others are paged over, not parsed).

    Stops after ``max_pages`` pages (100,000 calls by default), or when a page brings nothing new (more
    than ``page`` calls created at one instant), or as soon as ``enough(found)`` says so (the status poller
    stops once it has seen every call it wanted). Raises what :meth:`VapiClient.list_calls` raises.
    """
    found: dict[str, Call] = {}
    seen: set[str] = set()
    filters = {"created_at_ge": since}
    for _ in range(max_pages):
        batch = await client.list_call_page(limit=page, only=only, **filters)
        new = [call_id for call_id in batch.ids if call_id not in seen]
        seen.update(new)
        found.update((call.id, call) for call in batch.calls)
        if len(batch.ids) < page or not new or batch.oldest is None or (enough is not None and enough(found)):
            break
        filters["created_at_le"] = batch.oldest
    return found
