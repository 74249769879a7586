"""`refdesk keys generate` makes the first secrets on a machine that has none."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from cryptography.fernet import Fernet

from refdesk.settings.env import Env, read_env_file

NAMES = ("SECRET_KEY", "REFDESK_FIELD_KEYS", "REFDESK_INDEX_KEY", "REFDESK_AUDIT_KEY")


def _bare_cli(*args, cwd) -> subprocess.CompletedProcess:
    """The real CLI with no secrets anywhere (no environment, no development file)."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update({"REFDESK_ENV": "production", "REFDESK_DATA_DIR": str(cwd)})
    return subprocess.run(
        [sys.executable, "-m", "refdesk", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_generate_all_works_with_no_secrets_configured_and_they_load(tmp_path):
    result = _bare_cli("keys", "generate", "--all", "--out", "refdesk.env", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "refdesk.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = read_env_file(path)
    assert tuple(values) == NAMES
    env = Env(values)
    assert len(env.secret("SECRET_KEY", min_length=50)) >= 50
    Fernet(env.fernet_keys("REFDESK_FIELD_KEYS")[0].encode())
    assert not values["SECRET_KEY"].startswith("dev-insecure-")
    # A production start with exactly these secrets gets past the secrets (to the host check).
    check = subprocess.run(
        [sys.executable, "-m", "refdesk", "check"],
        env={**{k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}, **values,
             "REFDESK_ENV": "production", "REFDESK_DATA_DIR": str(tmp_path),
             "ALLOWED_HOSTS": "refdesk.example.org"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_generate_never_overwrites_a_secrets_file(tmp_path):
    (tmp_path / "refdesk.env").write_text("SECRET_KEY=keep\n")
    result = _bare_cli("keys", "generate", "--all", "--out", "refdesk.env", cwd=tmp_path)
    assert result.returncode == 1
    assert "refusing to overwrite" in result.stderr
    assert (tmp_path / "refdesk.env").read_text() == "SECRET_KEY=keep\n"


def test_generate_alone_prints_one_field_key_without_configuration(tmp_path):
    result = _bare_cli("keys", "generate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    Fernet(result.stdout.strip().encode())
    assert "configuration error" not in result.stderr
