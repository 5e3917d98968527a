"""Drive a real Home Assistant process through its own REST API (stdlib only).

Used by scripts/develop (to onboard a dev user and add simulated cameras) and by
the end-to-end tests (which check that a camera added this way records).
"""

from __future__ import annotations

from collections.abc import Callable
import json
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HomeAssistantApi:
    """A tiny REST client of one Home Assistant instance."""

    def __init__(self, base_url: str) -> None:
        """Remember where Home Assistant listens."""
        self.base = base_url.rstrip("/")
        self.client_id = f"{self.base}/"
        self.token: str | None = None

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        auth: bool = True,
        timeout: float = 60,
    ) -> Any:
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 - loopback Home Assistant only
            self.base + path, data=data, method=method, headers=headers
        )
        with _OPENER.open(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def wait_until_up(
        self, timeout: float = 300, process_alive: Callable[[], bool] | None = None
    ) -> None:
        """Wait until the HTTP server answers.

        Any HTTP answer counts: /api/onboarding answers 404 once onboarding is done.
        Gives up early when ``process_alive`` says Home Assistant has exited.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._request("GET", "/api/onboarding", auth=False, timeout=5)
            except urllib.error.HTTPError:
                return
            except urllib.error.URLError, ConnectionError, TimeoutError:
                if process_alive is not None and not process_alive():
                    raise RuntimeError(
                        f"Home Assistant exited before {self.base} answered"
                    ) from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
            else:
                return

    def onboarded(self) -> bool:
        """Return True once the owner user exists."""
        try:
            steps = self._request("GET", "/api/onboarding", auth=False)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return True  # onboarding finished: Home Assistant no longer serves its views
            raise
        return bool(next((s["done"] for s in steps if s["step"] == "user"), True))

    def _token(self, code: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._request(
            "POST",
            "/auth/token",
            form={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
            auth=False,
        )
        self.token = answer["access_token"]
        return answer

    def onboard(self, username: str, password: str) -> None:
        """Create the owner user and finish onboarding."""
        answer = self._request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": self.client_id,
                "name": username.title(),
                "username": username,
                "password": password,
                "language": "en",
            },
            auth=False,
        )
        self._token(answer["auth_code"])
        for step, body in (
            ("core_config", {}),
            ("analytics", {}),
            ("integration", {"client_id": self.client_id, "redirect_uri": self.client_id}),
        ):
            try:
                self._request("POST", f"/api/onboarding/{step}", body)
            except urllib.error.HTTPError as err:
                if err.code != 403:
                    raise

    def login(self, username: str, password: str) -> dict[str, Any]:
        """Log in with the Home Assistant auth provider, keep the token; return the token answer."""
        flow = self._request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
            auth=False,
        )
        result = self._request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
            auth=False,
        )
        return self._token(result["result"])

    def config_entries(self, domain: str) -> list[dict[str, Any]]:
        """Return the config entries of a domain."""
        entries = self._request("GET", "/api/config/config_entries/entry")
        return [e for e in entries if e["domain"] == domain]

    def config_flow(
        self, domain: str, user_input: dict[str, Any], menu_choice: str | None = "camera"
    ) -> dict[str, Any]:
        """Run a config flow (its menu's ``menu_choice``, then one form); return its result."""
        flow = self.start_flow({"handler": domain})
        if menu_choice is not None and flow.get("type") == "menu":
            flow = self.submit_flow(flow["flow_id"], {"next_step_id": menu_choice})
        return self.submit_flow(flow["flow_id"], user_input)

    def start_flow(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a config flow (``entry_id``: reconfigure that entry); return its first step."""
        return dict(self._request("POST", "/api/config/config_entries/flow", body))

    def submit_flow(self, flow_id: str, user_input: dict[str, Any]) -> dict[str, Any]:
        """Answer a flow's form; return the next step or the result."""
        return dict(self._request("POST", f"/api/config/config_entries/flow/{flow_id}", user_input))

    def abort_flow(self, flow_id: str) -> None:
        """Abandon a flow."""
        self._request("DELETE", f"/api/config/config_entries/flow/{flow_id}")

    def call_service(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        """Call a service."""
        return self._request("POST", f"/api/services/{domain}/{service}", data)

    def state(self, entity_id: str) -> dict[str, Any] | None:
        """Return an entity's state, or None."""
        try:
            return dict(self._request("GET", f"/api/states/{entity_id}"))
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def states(self) -> list[dict[str, Any]]:
        """Return all states."""
        return list(self._request("GET", "/api/states"))
