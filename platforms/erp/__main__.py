"""``python -m platforms.erp --port N [--data PATH]``: run the ERP sandbox alone."""

from __future__ import annotations

from platforms.erp.app import create_app
from platforms.kit.app import run_sandbox

if __name__ == "__main__":
    run_sandbox("erp", create_app)
