"""Chromium with hls.js, shared by the browser tests and the bench (scripts/benchmarks/browser.py).

Playwright drives Debian's Chromium (``executable_path``): Playwright's own browser download
cannot run here. hls.js is installed from npm by scripts/setup (.cache/browser-test). A page
that plays footage is put on Home Assistant's origin (signed URLs, its WebSocket: same-origin)
by going to any path there (Home Assistant answers 404), then setting its content and adding
hls.js: a page fulfilled by Playwright's routing could not open Home Assistant's WebSocket.
"""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HLSJS = ROOT / ".cache" / "browser-test" / "node_modules" / "hls.js" / "dist" / "hls.min.js"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
BLANK = "/cctv-test/blank"  # any path of the origin: its answer (a 404) sets the page's origin
# A video and hls.js; window.play(url) plays a playlist, window.fatal is hls.js's fatal error.
PLAYER = """<!doctype html><html><body style="margin:0;background:#000">
<video id="v" muted playsinline style="width:100%"></video>
</body></html>"""
PLAY = """url => {
  const video = document.getElementById("v");
  window.fatal = null;
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_e, data) => { if (data.fatal) window.fatal = data.details; });
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
  hls.loadSource(url);
  hls.attachMedia(video);
}"""


class BrowserMissingError(RuntimeError):
    """Chromium or hls.js is not installed."""


def executable() -> str:
    """Debian's Chromium (apt-get install chromium); hls.js must be there too."""
    if not HLSJS.is_file():
        raise BrowserMissingError(f"{HLSJS} is missing: run scripts/setup (it installs hls.js)")
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    raise BrowserMissingError("Chromium is missing (apt-get install chromium)")


def play_until(page: Any, origin: str, url: str, until: float, timeout: float) -> dict[str, Any]:
    """Play ``url`` with hls.js on ``origin`` until its video is past ``until`` seconds.

    Returns hls.js's fatal error (None), the video's width and its error (None) once the
    video is past ``until`` or hls.js failed; Playwright's timeout (``timeout`` seconds) else.
    """
    page.goto(origin + BLANK)
    page.set_content(PLAYER)
    page.add_script_tag(path=str(HLSJS))
    page.evaluate(PLAY, url)
    page.wait_for_function(
        f"window.fatal !== null || document.getElementById('v').currentTime > {until}",
        timeout=timeout * 1000,
    )
    return dict(
        page.evaluate(
            """() => {
              const video = document.getElementById("v");
              return {fatal: window.fatal, width: video.videoWidth,
                      error: video.error && video.error.message};
            }"""
        )
    )
