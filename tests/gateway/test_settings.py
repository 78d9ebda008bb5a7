from pathlib import Path

import pytest

from gateway.cli import main
from gateway.settings import SettingsError, load_settings


def test_defaults_need_no_file(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8000
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'finrail.db'}"
    assert settings.throttling.storage == "memory://"


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "finrail.toml"
    config.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n[throttling]\nspike = "5/second"\n')
    settings = load_settings(
        config,
        environ={"FINRAIL_SERVER__PORT": "9100", "FINRAIL_THROTTLING__STORAGE": "redis://127.0.0.1:6379/1"},
        server={"port": 9200},
    )
    assert settings.server.port == 9200
    assert settings.server.host == "0.0.0.0"
    assert settings.throttling.storage == "redis://127.0.0.1:6379/1"
    assert settings.throttling.spike == "5/second"


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("data_dir = 'elsewhere'\n")
    assert load_settings(environ={"FINRAIL_CONFIG": str(config)}).data_dir == "elsewhere"


@pytest.mark.parametrize(
    ("toml", "environ", "message"),
    [
        ("[server]\nport = 'high'\n", {}, "setting server.port"),
        ("", {"FINRAIL_SERVER__PORT": "abc"}, "setting server.port"),
        ("[server]\nprot = 1\n", {}, "prot"),
        ("[auth]\nalgorithm = 'HS256'\n", {}, "setting auth.algorithm"),
        ("[throttling]\nspike = 'lots'\n", {}, "setting throttling.spike"),
        ("[idempotency]\nretention_hours = 1\n", {}, "setting idempotency.retention_hours"),
        ("[storage]\nurl = 'mysql://x'\n", {}, "setting storage.url"),
        ("[apis.admin]\nenabled = ['audit', 'magic']\n", {}, "setting apis.admin.enabled"),
        ("[apis.admin.routes.'GET /admin/v1/clients']\nrate = 'x'\n", {}, "apis.admin.routes"),
        ("not toml [", {}, "not valid TOML"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, toml: str, environ: dict[str, str], message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError, match=message):
        load_settings(config, environ=environ)


def test_cli_reports_bad_setting_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nport = 'high'\n")
    assert main(["--config", str(config), "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("finrail: setting server.port")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="settings file not found"):
        load_settings(tmp_path / "nope.toml", environ={})
