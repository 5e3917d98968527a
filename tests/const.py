"""Constants of the tests: the simulated camera's login, and the test camera's entities.

``tests.helpers.camera_entry`` adds a camera named "Front door" by default; these are the
storage key and entity ids Home Assistant gives it.
"""

from __future__ import annotations

FPS = 15  # the simulator's frame rate

# The simulator that requires digest authentication (fixture auth_simulator).
SIM_USER = "admin"
SIM_PASSWORD = "s3cret-pw"

# The default test camera ("Front door").
KEY = "front_door"
CAMERA = "camera.front_door"
SWITCH = "switch.front_door_continuous_recording"
MODE = "select.front_door_recording_mode"
PROBLEM = "binary_sensor.front_door_recording_problem"
