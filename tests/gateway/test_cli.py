"""The ``finrail`` command line, run as a user runs it, on both backends."""

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.cli import main
from gateway.storage import create_engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> str:
    path = tmp_path / "finrail.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[storage]\nurl = "{database_url}"\n[logging]\nlevel = "ERROR"\n'
    )
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_client_lifecycle_and_token(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", config, "clients", "create", "ledger app",
                       "--scope", "admin:catalog:read", "--tier", "silver", "--json")
    assert code == 0
    created = json.loads(out)
    client_id = created["client_id"]
    assert created["client_secret"]
    assert created["client"]["tier"] == "silver"

    code, out, _ = run(capsys, "--config", config, "clients", "list", "--json")
    assert [c["client_id"] for c in json.loads(out)] == [client_id]

    code, out, _ = run(capsys, "--config", config, "token", client_id)
    assert code == 0
    assert out.count(".") == 2  # a compact JWS

    code, out, _ = run(capsys, "--config", config, "clients", "rotate", client_id, "--json")
    assert json.loads(out)["client_secret"] != created["client_secret"]

    code, out, _ = run(capsys, "--config", config, "clients", "disable", client_id, "--json")
    assert json.loads(out)["client"]["status"] == "disabled"
    code, _, err = run(capsys, "--config", config, "token", client_id)
    assert code == 2
    assert "no active client" in err

    # every change is audited, and the chain verifies
    code, out, _ = run(capsys, "--config", config, "audit", "verify")
    assert code == 0
    assert out.startswith("OK: 3 records")


def test_bad_arguments_are_one_line_errors(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", config, "clients", "create", "x", "--scope", "everything")
    assert code == 2
    assert err.startswith("finrail: unknown scopes ['everything']")
    code, _, err = run(capsys, "--config", config, "clients", "create", "x", "--scope", "admin:catalog:read",
                       "--tier", "platinum")
    assert code == 2
    assert "unknown tier 'platinum'" in err
    code, _, err = run(capsys, "--config", config, "clients", "disable", "cl_nobody")
    assert code == 2
    assert "no client cl_nobody" in err


async def _tamper(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE audit_records SET outcome = 500 WHERE seq = 2"))
    await engine.dispose()


def test_audit_verify_names_the_first_broken_record(
    config: str, database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("a", "b", "c"):
        assert run(capsys, "--config", config, "clients", "create", name, "--scope", "admin:catalog:read")[0] == 0
    import asyncio

    asyncio.run(_tamper(database_url))
    code, _, err = run(capsys, "--config", config, "audit", "verify")
    assert code == 1
    assert err.startswith("BROKEN at sequence 2")

    export = tmp_path / "audit.jsonl"
    code, _, err = run(capsys, "--config", config, "audit", "export", "-o", str(export))
    assert code == 0
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert [r["seq"] for r in lines] == [1, 2, 3]
    assert "exported 3 records" in err


def test_keys_rotate_and_db_upgrade(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", config, "db", "upgrade")
    assert code == 0
    assert "database at head" in out
    code, out, _ = run(capsys, "--config", config, "keys", "rotate")
    assert code == 0
    assert out.startswith("new signing key ")


def test_committed_openapi_documents_match_the_code(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "--data-dir", str(tmp_path), "openapi", "check", "--root", str(ROOT))
    assert code == 0, err
    assert "documents match the code" in out


def test_openapi_check_detects_drift(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "--data-dir", str(tmp_path), "openapi", "export", "--root", str(tmp_path))[0] == 0
    document = tmp_path / "openapi" / "gateway" / "admin.v1.json"
    data = json.loads(document.read_text())
    data["paths"].pop("/admin/v1/catalog")
    document.write_text(json.dumps(data))
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "openapi", "check", "--root", str(tmp_path))
    assert code == 1
    assert "openapi/gateway/admin.v1.json: differs from the code" in err
