"""``python -m platforms.procurement --port N [--data PATH]``: run the sandbox alone."""

from __future__ import annotations

from platforms.kit.app import run_sandbox
from platforms.procurement.app import create_app

if __name__ == "__main__":
    run_sandbox("procurement", create_app)
