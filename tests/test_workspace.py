from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from outreach.cli import cli
from outreach.errors import ConfigError, WorkspaceError
from outreach.secrets import read_secret, secret_key
from outreach.workspace import load_settings, open_workspace


def test_init_creates_settings_folders_and_migrated_database(tmp_path: Path) -> None:
    target = tmp_path / "nytt"
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "outreach.toml").is_file()
    for folder in ("episodes", "newsletters", "templates", "feeds"):
        assert (target / folder).is_dir()
    with sqlite3.connect(target / "outreach.db") as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        assert {"subscribers", "deliveries", "episodes", "transcripts", "alembic_version"} <= tables
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    # Running init again keeps the settings file the user may have edited.
    (target / "outreach.toml").write_text('[show]\ntitle = "Eget namn"\n', encoding="utf-8")
    assert CliRunner().invoke(cli, ["init", str(target)]).exit_code == 0
    assert "Eget namn" in (target / "outreach.toml").read_text(encoding="utf-8")


def test_workspace_found_from_option_env_and_parent_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    CliRunner().invoke(cli, ["init", str(tmp_path / "ws")])
    nested = tmp_path / "ws" / "episodes"
    assert open_workspace(None, cwd=nested).root == (tmp_path / "ws").resolve()
    monkeypatch.setenv("OUTREACH_WORKSPACE", str(tmp_path / "ws"))
    assert open_workspace().root == (tmp_path / "ws").resolve()
    with pytest.raises(WorkspaceError):
        open_workspace(tmp_path / "missing")


def test_missing_workspace_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["-w", str(tmp_path / "nope"), "subscriber", "list"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "not an outreach workspace" in result.stderr
    assert "Traceback" not in result.output


def test_settings_from_toml_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "outreach.toml"
    path.write_text("[mail]\nconcurrency = 8\n[audio]\ntarget_lufs = -18\n", encoding="utf-8")
    settings = load_settings(path, environ={"OUTREACH_MAIL_CONCURRENCY": "2"})
    assert settings.mail.concurrency == 2
    assert settings.audio.target_lufs == -18.0
    assert settings.show.language == "sv"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mail\n", "invalid TOML"),
        ("[nope]\nx = 1\n", "unknown section"),
        ("[mail]\ncolour = 1\n", "unknown setting"),
        ('[mail]\nconcurrency = "many"\n', "expected an integer"),
        ("[review]\nenabled = 3\n", "expected true or false"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "outreach.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(path, environ={})


def test_bad_settings_file_exits_1_with_one_line(tmp_path: Path) -> None:
    CliRunner().invoke(cli, ["init", str(tmp_path / "ws")])
    (tmp_path / "ws" / "outreach.toml").write_text("[mail]\nconcurrency = 'x'\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["-w", str(tmp_path / "ws"), "subscriber", "list"])
    assert result.exit_code == 1
    assert "expected an integer" in result.stderr


def test_secret_from_mode_600_file_outside_workspace(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k" * 40, encoding="utf-8")
    key_file.chmod(0o644)
    env = {"OUTREACH_SECRET_KEY_FILE": str(key_file)}
    with pytest.raises(ConfigError, match="mode 600"):
        read_secret("OUTREACH_SECRET_KEY", environ=env)
    key_file.chmod(0o600)
    assert read_secret("OUTREACH_SECRET_KEY", environ=env) == "k" * 40
    with pytest.raises(ConfigError, match="outside the workspace"):
        read_secret("OUTREACH_SECRET_KEY", workspace_root=tmp_path, environ=env)


def test_missing_or_short_secret_key_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTREACH_SECRET_KEY")
    with pytest.raises(ConfigError, match="OUTREACH_SECRET_KEY"):
        secret_key()
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="too short"):
        secret_key()


def test_locked_database_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import outreach.db

    CliRunner().invoke(cli, ["init", str(tmp_path / "ws")])
    monkeypatch.setattr(outreach.db, "BUSY_TIMEOUT_MS", 200)
    outreach.db.get_engine.cache_clear()
    blocker = sqlite3.connect(tmp_path / "ws" / "outreach.db", timeout=0.1)
    blocker.execute("begin exclusive")
    try:
        result = CliRunner().invoke(
            cli, ["-w", str(tmp_path / "ws"), "subscriber", "add", "a@example.se"]
        )
    finally:
        blocker.rollback()
        blocker.close()
        outreach.db.get_engine.cache_clear()
    assert result.exit_code == 1, result.output
    assert "busy" in result.stderr or "locked" in result.stderr


def test_python_dash_m_and_version(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "outreach", "--version"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert "outreach" in out.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[web]\nport = 80.5\n", "[web] port: expected an integer from 1 to 65535, got 80.5"),
        ("[web]\nport = 99999\n", "[web] port: expected an integer from 1 to 65535, got 99999"),
        ("[web]\nport = 0\n", "[web] port: expected an integer from 1 to 65535, got 0"),
        ('[web]\nport = "8000"\n', "[web] port: expected an integer from 1 to 65535"),
        ("[web]\nport = true\n", "[web] port: expected an integer"),
        ('[show]\nexplicit = "yes"\n', "[show] explicit: expected true or false, got 'yes'"),
        ('[show]\nexplicit = "true"\n', "[show] explicit: expected true or false"),
        ('[show]\nhosts = "Jonatan"\n', "[show] hosts: expected a list of strings, got 'Jonatan'"),
        ("[show]\nhosts = [1, 2]\n", "[show] hosts: expected a list of strings"),
        ("[show]\ntitle = 5\n", "[show] title: expected text"),
        ("[mail]\nrate_per_second = -1\n", "[mail] rate_per_second: expected a number >= 0"),
        ("[mail]\nrate_per_second = nan\n", "[mail] rate_per_second: expected a number >= 0"),
        ("[mail]\nrate_per_second = inf\n", "[mail] rate_per_second: expected a number >= 0"),
        ("[mail]\nconcurrency = 0\n", "[mail] concurrency: expected an integer from 1 to 100"),
        ("[newsletter]\nevents_horizon_days = -3\n", "events_horizon_days: expected an integer"),
        ("[audio]\ntarget_lufs = 5\n", "[audio] target_lufs: expected a number from -70 to 0"),
    ],
)
def test_wrong_types_and_ranges_in_toml_name_file_key_and_type(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "outreach.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OUTREACH_WEB_PORT", "-1", "OUTREACH_WEB_PORT: expected an integer from 1 to 65535"),
        ("OUTREACH_WEB_PORT", "99999", "OUTREACH_WEB_PORT: expected an integer from 1 to 65535"),
        ("OUTREACH_WEB_PORT", "80.5", "OUTREACH_WEB_PORT: expected an integer"),
        ("OUTREACH_WEB_PORT", "9" * 5000, "OUTREACH_WEB_PORT: expected an integer"),
        ("OUTREACH_WEB_THREADS", "0", "OUTREACH_WEB_THREADS: expected an integer from 1 to 1000"),
        ("OUTREACH_SHOW_EXPLICIT", "yes", "OUTREACH_SHOW_EXPLICIT: expected true or false"),
        ("OUTREACH_MAIL_RATE_PER_SECOND", "-0.5", "expected a number >= 0, got '-0.5'"),
        ("OUTREACH_MAIL_RATE_PER_SECOND", "nan", "expected a number >= 0"),
    ],
)
def test_wrong_environment_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(None, environ={name: value})


def test_environment_strings_become_lists_booleans_and_numbers() -> None:
    settings = load_settings(
        None,
        environ={
            "OUTREACH_SHOW_HOSTS": "Jonatan, Karin",
            "OUTREACH_SHOW_EXPLICIT": "TRUE",
            "OUTREACH_TRANSCRIPTION_VAD": "0",
            "OUTREACH_WEB_PORT": "8080",
            "OUTREACH_MAIL_RATE_PER_SECOND": "2.5",
        },
    )
    assert settings.show.hosts == ["Jonatan", "Karin"]
    assert settings.show.explicit is True and settings.transcription.vad is False
    assert settings.web.port == 8080 and settings.mail.rate_per_second == 2.5


def test_a_bad_port_in_the_environment_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    CliRunner().invoke(cli, ["init", str(tmp_path / "ws")])
    result = CliRunner().invoke(
        cli, ["-w", str(tmp_path / "ws"), "serve"], env={"OUTREACH_WEB_PORT": "-1"}
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        "Error: OUTREACH_WEB_PORT: expected an integer from 1 to 65535, got '-1'"
    )


def _env_without_key(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.pop("XDG_CONFIG_HOME", None)
    return {**env, "HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def test_init_on_a_terminal_offers_to_create_the_signing_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real pseudo-terminal: init asks, the answer creates a mode-600 key outside the
    workspace, and the next steps name it in OUTREACH_SECRET_KEY_FILE."""
    home = tmp_path / "home"
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "outreach", "init", str(tmp_path / "ws")],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=_env_without_key(home),
    )
    os.close(terminal)
    output = b""
    while b"[Y/n]" not in output:
        chunk = os.read(controller, 4096)
        assert chunk, output
        output += chunk
    os.write(controller, b"y\n")
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0, output
    key_file = home / ".config" / "outreach" / "ws.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"export OUTREACH_SECRET_KEY_FILE={key_file}" in output.decode()
    monkeypatch.delenv("OUTREACH_SECRET_KEY")
    monkeypatch.setenv("OUTREACH_SECRET_KEY_FILE", str(key_file))
    assert len(secret_key(tmp_path / "ws")) >= 32


def test_init_create_key_for_scripts_keeps_an_existing_key(tmp_path: Path) -> None:
    key_file = tmp_path / "nycklar" / "ws.key"
    runner = CliRunner()
    first = runner.invoke(cli, ["init", str(tmp_path / "ws"), "--create-key", str(key_file)])
    assert first.exit_code == 0, first.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"export OUTREACH_SECRET_KEY_FILE={key_file}" in first.output
    key = key_file.read_text()
    again = runner.invoke(cli, ["init", str(tmp_path / "ws"), "--create-key", str(key_file)])
    assert again.exit_code == 0 and "kept" in again.output
    assert key_file.read_text() == key  # links already mailed keep working
    inside = runner.invoke(
        cli, ["init", str(tmp_path / "ws"), "--create-key", str(tmp_path / "ws" / "k")]
    )
    assert inside.exit_code == 1 and "outside the workspace" in inside.stderr
    assert not (tmp_path / "ws" / "k").exists()


def test_init_without_a_terminal_creates_no_key_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OUTREACH_SECRET_KEY")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "ws")])
    assert result.exit_code == 0
    assert "--create-key" in result.output and "OUTREACH_SECRET_KEY_FILE" in result.output
    assert not (tmp_path / "home").exists()
