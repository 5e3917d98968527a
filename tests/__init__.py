"""Tests of the CCTV NVR integration."""
