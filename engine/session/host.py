"""What a session needs from the process that hosts it.

A run does not import the engine: it is handed a host. ``engine.process.runtime.Engine`` is the host in
production; a test or a benchmark may pass anything with these attributes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.live.bus import Bus
    from engine.live.projection import Projector
    from engine.store.database import Store

__all__ = ["SessionHost"]


class SessionHost(Protocol):
    settings: "Settings"
    store: "Store"
    bus: "Bus"
    projector: "Projector"
    client_factory: Callable[..., Any] | None

    def register_run(self, run: Any) -> None:
        """The run is live: controls and decisions for its session reach it from now on."""

    def unregister_run(self, run: Any) -> None:
        """The run has ended."""

    async def wait_for_backlog(self) -> None:
        """Returns once the events waiting for the database are few enough to start new work."""
