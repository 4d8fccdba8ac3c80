"""The PMS adapters by kind: a third PMS is one new module here, listed in ADAPTERS."""

from __future__ import annotations

from .base import Adapter
from .guesty import GuestyAdapter
from .hostaway import HostawayAdapter

ADAPTERS: dict[str, Adapter] = {
    adapter.kind: adapter for adapter in (GuestyAdapter(), HostawayAdapter())
}


def adapter_for(kind: str) -> Adapter:
    return ADAPTERS[kind]
