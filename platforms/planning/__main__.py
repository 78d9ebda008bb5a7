"""``python -m platforms.planning --port N [--data PATH]``: run the planning sandbox alone."""

from __future__ import annotations

from platforms.kit.app import run_sandbox
from platforms.planning.app import create_app

if __name__ == "__main__":
    run_sandbox("planning", create_app)
