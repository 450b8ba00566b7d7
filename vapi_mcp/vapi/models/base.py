"""The base of every model we send to Vapi, and :func:`to_wire`, the one way they are serialised.

**What we send is strict and camelCase.** Vapi silently ignores fields it does not know, so a snake_case
``transfer_plan`` is not an error on its side: it is a blind transfer (reference §3.1). Every outgoing model
therefore has camelCase aliases and ``extra="forbid"``, and :func:`to_wire` always dumps by alias, leaving out
what the caller did not set (no ``null`` on the wire).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["WireModel", "to_wire"]


class WireModel(BaseModel):
    """Base of everything we send: camelCase aliases, no unknown fields.

    ``_always`` names fields that go on the wire even when left at their default. Discriminators
    (``type``, ``transport``) have defaults so callers need not repeat them, but ``exclude_unset``
    would drop them, and Vapi cannot route a message without its ``type``.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    _always: ClassVar[tuple[str, ...]] = ("type",)

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.update(name for name in self._always if name in type(self).model_fields)


def to_wire(message: BaseModel) -> dict[str, Any]:
    """The exact JSON object to send: camelCase, only what was set, never ``null``."""
    return message.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
