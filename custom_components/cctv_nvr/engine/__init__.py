"""The cctv_nvr recording engine.

Nothing in this package imports Home Assistant: it supervises ffmpeg, keeps the
segment index and talks RTSP, and is tested on its own against the camera
simulator. The Home Assistant side translates between its concepts and these.
"""
