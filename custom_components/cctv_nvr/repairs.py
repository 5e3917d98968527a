"""Repair flows: choose another port when the push cameras' server cannot listen on its own."""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.core import HomeAssistant
import probatio as vol

from .const import CONF_INGEST_PORT
from .push import DATA_INGEST, port_selector


class IngestPortFlow(RepairsFlow):
    """Ask for a port the ingest server can listen on, and move there."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Start at the port form."""
        return await self.async_step_port()

    async def async_step_port(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Show the port; try the one given (the issue clears once the server listens)."""
        manager = self.hass.data.get(DATA_INGEST)
        if manager is None or manager.server is None:
            return self.async_abort(reason="no_push_cameras")
        errors: dict[str, str] = {}
        if user_input is not None:
            error = await manager.async_try_port(int(user_input[CONF_INGEST_PORT]))
            if error is None:
                return self.async_create_entry(data={})
            errors[CONF_INGEST_PORT] = error
        return self.async_show_form(
            step_id="port",
            data_schema=vol.Schema(
                {vol.Required(CONF_INGEST_PORT, default=manager.port): port_selector()}
            ),
            errors=errors,
            description_placeholders={"port": str(manager.port)},
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Return the flow fixing an issue (only the ingest port's is fixable)."""
    return IngestPortFlow()
