"""``python -m platforms.treasury --port N [--data PATH]``: run the treasury sandbox alone."""

from __future__ import annotations

from platforms.kit.app import run_sandbox
from platforms.treasury.app import create_app

if __name__ == "__main__":
    run_sandbox("treasury", create_app)
