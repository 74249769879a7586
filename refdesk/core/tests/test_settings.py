"""Settings come from the environment and fail at start-up naming the bad variable."""

import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from refdesk.settings.env import Env

GOOD = {
    "SECRET_KEY": "k" * 60,
    "REFDESK_FIELD_KEYS": "dGVzdC1maWVsZC1rZXktMDAwMDAwMDAwMDAwMDAwMDA=",
    "REFDESK_INDEX_KEY": "i" * 40,
    "REFDESK_AUDIT_KEY": "a" * 40,
    "ALLOWED_HOSTS": "refdesk.example.org",
}


def _start(env: dict, tmp_path) -> subprocess.CompletedProcess:
    """Start the real CLI with only these variables (no dev secrets file to fall back on)."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    base.update(
        {"REFDESK_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "refdesk.settings.base"}
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "refdesk", "check"],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SECRET_KEY", None, "SECRET_KEY is required"),
        ("SECRET_KEY", "short", "SECRET_KEY must be at least"),
        ("REFDESK_FIELD_KEYS", "not-a-key", "REFDESK_FIELD_KEYS: key 1 is not a Fernet key"),
        ("REFDESK_AUDIT_KEY", None, "REFDESK_AUDIT_KEY is required"),
        ("DEBUG", "maybe", "DEBUG must be true or false"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL must be a sqlite:// or postgres://"),
        ("REFDESK_ENV", "staging", "REFDESK_ENV must be one of"),
        ("REFDESK_REPORT_SUPPRESSION", "0", "REFDESK_REPORT_SUPPRESSION must be at least 1"),
        ("REFDESK_REPORT_SUPPRESSION", "five", "REFDESK_REPORT_SUPPRESSION must be a whole"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of: json, plain"),
        ("REFDESK_WORKER_STALE_SECONDS", "5", "REFDESK_WORKER_STALE_SECONDS must be at least 10"),
        ("REFDESK_ACCESS_LOG", "loud", "REFDESK_ACCESS_LOG must be true or false"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, variable, value, message):
    env = {**GOOD, "REFDESK_ENV": "production"}
    if value is None:
        env.pop(variable)
    else:
        env[variable] = value
    result = _start(env, tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_a_development_secret_key(tmp_path):
    env = {**GOOD, "REFDESK_ENV": "production", "SECRET_KEY": "dev-insecure-" + "x" * 50}
    result = _start(env, tmp_path)
    assert result.returncode == 2
    assert "SECRET_KEY is a development key" in result.stderr


def test_production_ignores_the_development_secrets_file(tmp_path):
    (tmp_path / "secrets.env").write_text("".join(f"{k}={v}\n" for k, v in GOOD.items()))
    result = _start({"REFDESK_ENV": "production", "ALLOWED_HOSTS": "x.example.org"}, tmp_path)
    assert result.returncode == 2
    assert "SECRET_KEY is required" in result.stderr


def test_development_reads_the_generated_secrets_file(tmp_path):
    from refdesk.devsecrets import generate

    assert generate(tmp_path / "secrets.env") is True
    assert generate(tmp_path / "secrets.env") is False  # never overwritten: data depends on it
    result = _start({"REFDESK_ENV": "development"}, tmp_path)
    assert result.returncode == 0, result.stderr


def test_env_reads_typed_values():
    env = Env({"N": "12", "B": "yes", "L": "a, b,,c"})
    assert env.int("N", 0) == 12
    assert env.bool("B", default=False) is True
    assert env.list("L", []) == ["a", "b", "c"]
    with pytest.raises(ImproperlyConfigured, match="N must be at least 20"):
        env.int("N", 0, minimum=20)


def test_production_refuses_debug(tmp_path):
    result = _start({**GOOD, "REFDESK_ENV": "production", "DEBUG": "true"}, tmp_path)
    assert result.returncode == 2
    assert "DEBUG cannot be turned on in production" in result.stderr


@pytest.mark.parametrize(("posture", "json_lines"), [("production", True), ("development", False)])
def test_logs_are_json_lines_in_production_and_plain_text_elsewhere(tmp_path, posture, json_lines):
    env = {**GOOD, "REFDESK_ENV": posture}
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    base.update(
        {"REFDESK_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "refdesk.settings.base"}
    )
    code = "import django, logging; django.setup(); logging.getLogger('refdesk.x').warning('hi')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = result.stderr.strip().splitlines()[-1]
    if json_lines:
        record = json.loads(line)
        assert {k: record[k] for k in ("level", "logger", "message", "request_id", "user")} == {
            "level": "WARNING",
            "logger": "refdesk.x",
            "message": "hi",
            "request_id": None,
            "user": None,
        }
        assert record["time"].endswith("+00:00")
    else:
        assert line.endswith("WARNING refdesk.x [- -] hi")
