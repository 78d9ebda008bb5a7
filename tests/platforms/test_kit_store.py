"""The sandbox document store: order, sequences, persistence, concurrency."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

from platforms.kit import Store


def test_documents_keep_insertion_order_and_updates_keep_their_place() -> None:
    store = Store(None)
    for key in ("b", "a", "c"):
        store.put("suppliers", key, {"id": key, "status": "active"})
    store.put("suppliers", "b", {"id": "b", "status": "blocked"})
    assert [doc["id"] for doc in store.all("suppliers")] == ["b", "a", "c"]
    assert store.get("suppliers", "b") == {"id": "b", "status": "blocked"}
    assert store.get("suppliers", "zz") is None
    assert [doc["id"] for doc in store.find("suppliers", status="active")] == ["a", "c"]
    assert store.count("suppliers") == 3
    assert store.count("invoices") == 0
    assert store.delete("suppliers", "a") is True
    assert store.delete("suppliers", "a") is False
    assert [doc["id"] for doc in store.all("suppliers")] == ["b", "c"]


def test_decimals_are_stored_as_strings_never_floats() -> None:
    store = Store(None)
    store.put("invoices", "1", {"amount": Decimal("0.10")})
    assert store.get("invoices", "1") == {"amount": "0.10"}


def test_sequences_are_monotonic_and_independent() -> None:
    store = Store(None)
    assert [store.next_number("invoice", 5100000000) for _ in range(3)] == [5100000000, 5100000001, 5100000002]
    assert store.next_number("po", 1) == 1


def test_empty_wipe_and_persistence_across_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite")
    store = Store(path)
    assert store.is_empty()
    store.put("suppliers", "1", {"id": "1"})
    store.next_number("supplier", 100)
    store.close()

    reopened = Store(path)
    assert not reopened.is_empty()
    assert reopened.get("suppliers", "1") == {"id": "1"}
    assert reopened.next_number("supplier", 100) == 101
    reopened.wipe()
    assert reopened.is_empty()
    assert reopened.next_number("supplier", 100) == 100
    reopened.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "state.sqlite"))
    numbers: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            number = store.next_number("doc", 1)
            store.put("docs", str(number), {"n": number})
            with lock:
                numbers.append(number)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == list(range(1, 201))
    assert store.count("docs") == 200
    store.close()
