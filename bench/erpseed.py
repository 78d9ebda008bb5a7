"""Bench-only ERP data set: the ERP sandbox's own seed, grown to any number of suppliers.

The sandbox seeds 200 suppliers (``platforms.erp.seed.SUPPLIER_COUNT``). The paging benchmark
needs 10,000 with the same character (near-duplicates, bad IBANs, blocked suppliers,
customers without the supplier role), so this runs the sandbox's own ``seed`` with that
count raised for the duration of the call, into the SQLite file the sandbox will open. A
sandbox that finds its store non-empty does not seed again, so it serves this data as is.

    python bench/erpseed.py /tmp/erp-10k.db --suppliers 10000
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from platforms.erp import seed as erp_seed
from platforms.kit.config import SandboxConfig
from platforms.kit.store import Store

__all__ = ["seed_erp"]


def seed_erp(path: Path, suppliers: int, *, seed: int | None = None) -> int:
    """Write the ERP data set with ``suppliers`` suppliers into a fresh SQLite file at ``path``.

    Args:
        path: The sandbox's ``data_path``; an existing file is replaced.
        suppliers: Business partners with the supplier role (at least the 12 near-duplicates).
        seed: Generator seed; the sandbox's default (42) when ``None``.

    Returns:
        The number of suppliers the store holds, read back.
    """
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    store = Store(str(path))
    saved = erp_seed.SUPPLIER_COUNT
    erp_seed.SUPPLIER_COUNT = suppliers  # read by the seed's supplier loop at call time
    try:
        erp_seed.seed(store, random.Random(SandboxConfig().seed if seed is None else seed))
        return store.count("A_Supplier")
    finally:
        erp_seed.SUPPLIER_COUNT = saved
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--suppliers", type=int, default=10_000)
    args = parser.parse_args()
    clock = time.monotonic()
    count = seed_erp(args.path, args.suppliers)
    print(f"{count:,} suppliers in {args.path} ({time.monotonic() - clock:.1f} s)")


if __name__ == "__main__":
    main()
