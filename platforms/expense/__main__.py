"""``python -m platforms.expense --port N [--data PATH]``: run the expense sandbox alone."""

from __future__ import annotations

from platforms.expense.app import create_app
from platforms.kit.app import run_sandbox

if __name__ == "__main__":
    run_sandbox("expense", create_app)
