"""What the browser tests and the browser bench share: a Home Assistant process started for
real, logging in as the frontend does, a WebSocket session, and the panel opened in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
import json
from pathlib import Path
import shutil
import subprocess
import sys
import time
from typing import Any

import aiohttp

from tests.e2e import chromium
from tests.e2e.ha_api import HomeAssistantApi
from tests.e2e.http_config import write_http_config
from tests.engine.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = chromium.ARGS


@dataclass
class RunningHomeAssistant:
    """A Home Assistant process and where it keeps its files."""

    url: str
    config_dir: Path
    process: subprocess.Popen[bytes]

    def api(self) -> HomeAssistantApi:
        """Return a REST client (not logged in)."""
        return HomeAssistantApi(self.url)

    def stop(self) -> None:
        """Stop Home Assistant as a service manager would (SIGTERM, then SIGKILL after 60 s)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Stop Home Assistant and start it again on the same configuration and port."""
        self.stop()
        self.process = start_process(self.config_dir)
        wait_until_up(self)


def start_process(config: Path) -> subprocess.Popen[bytes]:
    with (config / "stdout.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "homeassistant", "--config", str(config), "--skip-pip"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_until_up(running: RunningHomeAssistant) -> None:
    process = running.process
    try:
        running.api().wait_until_up(timeout=240, process_alive=lambda: process.poll() is None)
    except RuntimeError as err:
        output = (running.config_dir / "stdout.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{err} (exit status {process.poll()}):\n{output}") from err


def start_home_assistant(config: Path) -> RunningHomeAssistant:
    """Start `python -m homeassistant` with the repository's dev configuration in ``config``.

    The configuration and this integration (a link to the repository's) on a free loopback
    port, as scripts/develop does; returns once Home Assistant answers (stopped again if it
    does not). The process inherits this one's environment.
    """
    config.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config" / "configuration.yaml", config / "configuration.yaml")
    (config / "custom_components").symlink_to(ROOT / "custom_components")
    port = free_port()
    write_http_config(config, port)  # 127.0.0.1:port, confirmed
    running = RunningHomeAssistant(f"http://127.0.0.1:{port}", config, start_process(config))
    try:
        wait_until_up(running)
    except BaseException:
        running.stop()
        raise
    return running


def login_tokens(api: HomeAssistantApi, username: str, password: str) -> dict[str, Any]:
    """Log in through the auth flow; return the token set as the frontend stores it.

    ``api`` is left as it was (logged in as whoever it was).
    """
    token = HomeAssistantApi(api.base).login(username, password)
    return {
        "access_token": token["access_token"],
        "refresh_token": token["refresh_token"],
        "token_type": "Bearer",
        "expires_in": token["expires_in"],
        "expires": int(time.time() * 1000) + token["expires_in"] * 1000,
        "hassUrl": api.base,
        "clientId": api.client_id,
    }


@asynccontextmanager
async def ws_session(base: str, token: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A WebSocket connection to Home Assistant, authenticated as a user."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{base}/api/websocket") as ws,
    ):
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": token})
        assert (await ws.receive_json())["type"] == "auth_ok"
        yield ws


async def ws_call(base: str, token: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
    """Send WebSocket commands as a user; return the answers."""
    answers = []
    async with ws_session(base, token) as ws:
        for number, message in enumerate(messages, start=1):
            await ws.send_json({"id": number, **message})
            answers.append(await ws.receive_json())
    return answers


def open_panel(
    browser: Any,
    base: str,
    tokens: dict[str, Any],
    viewport: dict[str, int],
    color_scheme: str = "light",
) -> Any:
    context = browser.new_context(viewport=viewport, color_scheme=color_scheme)
    context.add_init_script(
        f"window.localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))});"
    )
    page = context.new_page()
    page.goto(f"{base}/cctv")
    page.locator("cctv-panel section.tile").first.wait_for(timeout=60_000)
    return page


def zoom_to_footage(
    page: Any,
    panel: Any,
    bursts: int = 6,
    pause: int = 100,
    timeout: int = 30_000,
    *,
    whole: bool = False,
) -> dict[str, float]:
    """Zoom in with the mouse wheel around the footage; return its first bar's box.

    The footage (a minute or so) is drawn at least 2 px wide, wider than itself on a whole day,
    so the wheel turns in bursts, each aimed again: one pointer position for all 30 steps
    zoomed past the footage when the day had just begun (the view keeps the pointer's moment
    where it is, near the left edge then).

    By default each burst aims at the footage's start, which stays where it is on the day's
    bar: late in the day the footage's end is then past the bar's right edge. With ``whole``
    each burst aims at the point as far into the footage as the footage is into the bar (a
    fraction f of the way, the pointer f of the way along the bar): the footage grows around
    that point by the same share on both sides, so it reaches neither edge before it fills the
    bar, whatever the time of day.
    """
    spans = panel.locator(".timeline .span")
    span = spans.first
    span.wait_for(timeout=timeout)
    bar = panel.locator(".timeline")
    for _ in range(bursts):
        box = span.bounding_box()
        assert box is not None
        x = (
            _point_keeping_all_in_view(bar.bounding_box(), spans)
            if whole
            else box["x"] + min(1, box["width"] / 2)
        )
        page.mouse.move(x, box["y"] + box["height"] / 2)
        for _ in range(5):
            page.mouse.wheel(0, -100)
        page.wait_for_timeout(pause)
    page.wait_for_timeout(3 * pause)
    box = span.bounding_box()
    assert box is not None
    return dict(box)


def _point_keeping_all_in_view(frame: dict[str, float] | None, spans: Any) -> float:
    """The x at which zooming in keeps all the drawn footage inside the bar (``frame``).

    The footage covers [start, end] of the bar [left, left + width]; the point f of the way
    into it, with f = (start - left) / (width - (end - start)), is also f of the way along the
    bar, so zooming about it keeps f of the footage left of it and f of the bar's room too.
    """
    assert frame is not None
    boxes = [box for box in (element.bounding_box() for element in spans.all()) if box]
    assert boxes, "no footage drawn"
    start = min(box["x"] for box in boxes)
    end = max(box["x"] + box["width"] for box in boxes)
    room = frame["width"] - (end - start)
    fraction = min(max((start - frame["x"]) / room, 0.0), 1.0) if room > 0 else 0.5
    return start + fraction * (end - start)
