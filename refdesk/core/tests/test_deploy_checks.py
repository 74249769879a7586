"""A missed deployment step is a named error at start, not a 500 on every page."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from refdesk.core import checks
from refdesk.core.checks import NodeSize

MANIFEST = "whitenoise.storage.CompressedManifestStaticFilesStorage"


@pytest.fixture
def manifest_storage(settings, tmp_path):
    settings.STATIC_ROOT = str(tmp_path)
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST}}
    return tmp_path


def test_uncollected_static_files_are_an_error_naming_collectstatic(manifest_storage):
    [error] = checks.static_files_check()
    assert error.id == "refdesk.E001"
    assert "refdesk collectstatic --no-input" in error.hint


def test_a_manifest_from_another_version_is_an_error(manifest_storage):
    (manifest_storage / "staticfiles.json").write_text(
        json.dumps({"version": "1.1", "paths": {"admin/css/base.css": "x.css"}})
    )
    [error] = checks.static_files_check()
    assert "collected by another version" in error.msg


def test_collected_static_files_pass(settings, manifest_storage):
    call_command("collectstatic", "--no-input", verbosity=0)
    assert checks.static_files_check() == []


def test_static_files_are_not_checked_without_a_manifest_storage():
    assert checks.static_files_check() == []  # the test settings serve from the apps


@pytest.mark.django_db
def test_a_missing_database_cache_table_is_an_error_naming_createcachetable(settings):
    settings.CACHES = {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "refdesk_cache_missing",
        },
    }
    [error] = checks.cache_table_check()
    assert error.id == "refdesk.E002"
    assert "refdesk createcachetable" in error.hint


@pytest.mark.django_db
def test_unapplied_migrations_are_an_error_naming_migrate(monkeypatch):
    assert checks.migrations_check() == []
    monkeypatch.setattr(
        checks.MigrationExecutor, "migration_plan", lambda self, targets: [("a", False)]
    )
    [error] = checks.migrations_check()
    assert error.id == "refdesk.E003"
    assert "refdesk migrate" in error.hint


@pytest.mark.django_db
def test_serve_refuses_to_start_with_a_blocker_and_names_the_fix(manifest_storage):
    with pytest.raises(CommandError) as refused:
        call_command("serve", "--port", "1")
    assert "refdesk collectstatic --no-input" in str(refused.value)
    assert "[refdesk.E001]" in str(refused.value)


def test_node_size_counts_a_connection_per_thread_and_the_worker():
    assert NodeSize(processes=16, threads=8, embedded_worker=False).connections == 128
    assert NodeSize(processes=2, threads=4, embedded_worker=True).connections == 9


@pytest.mark.django_db
def test_node_size_follows_the_settings(settings):
    settings.REFDESK_WEB_PROCESSES = 3
    settings.REFDESK_WEB_THREADS = 5
    assert checks.node_size().connections == 16
    assert checks.node_size(processes=1, threads=2, embedded_worker=False).connections == 2


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="max_connections is PostgreSQL's")
def test_a_node_larger_than_the_server_accepts_is_warned():
    limit = checks.server_connection_limit()
    assert limit > 0
    assert checks.connection_sizing_check(NodeSize(1, limit, embedded_worker=False)) == []
    [warning] = checks.connection_sizing_check(NodeSize(1, limit, embedded_worker=True))
    assert warning.id == "refdesk.W004"
    assert f"more than the {limit}" in warning.msg


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite has no connection limit")
def test_sqlite_has_no_connection_limit_to_warn_about():
    assert checks.connection_sizing_check(NodeSize(64, 64, embedded_worker=True)) == []


@pytest.mark.django_db
def test_check_deploy_lists_the_refdesk_checks(manifest_storage, capsys):
    with pytest.raises(Exception) as failed:  # SystemCheckError: errors found
        call_command("check", "--deploy")
    assert "refdesk.E001" in str(failed.value)


@pytest.mark.django_db
def test_migrate_makes_the_database_cache_table_so_no_step_is_needed(settings):
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "refdesk_cache",
        }
    }
    assert "refdesk_cache" in connection.introspection.table_names()
    assert checks.cache_table_check() == []
    caches["default"].set("used-totp-code", 1, 30)
    assert caches["default"].get("used-totp-code") == 1


def test_postgresql_defaults_to_the_shared_database_cache(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(
        DJANGO_SETTINGS_MODULE="refdesk.settings.base",
        REFDESK_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        SECRET_KEY="k" * 60,
        REFDESK_FIELD_KEYS="dGVzdC1maWVsZC1rZXktMDAwMDAwMDAwMDAwMDAwMDA=",
        REFDESK_INDEX_KEY="i" * 40,
        REFDESK_AUDIT_KEY="a" * 40,
    )
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CACHES['default']['BACKEND'])"
    )
    backends = {}
    for url in ("postgres://nobody@127.0.0.1:1/none", f"sqlite:///{tmp_path}/x.sqlite3"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        backends[url.split(":")[0]] = result.stdout.strip()
    assert backends == {
        "postgres": "django.core.cache.backends.db.DatabaseCache",
        "sqlite": "django.core.cache.backends.locmem.LocMemCache",
    }
