"""Imported by main.py; says which process imported it (PRELOAD_MODULES, tests/container/test_health.py)."""

import os

print(f"preloaded_marker imported in pid {os.getpid()}", flush=True)
