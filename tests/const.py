"""Constants of the Home Assistant side tests."""

from __future__ import annotations

FPS = 15
