"""/healthz, /readyz, worker heartbeats and `refdesk status` (refdesk.ops, refdesk.core.health)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings
from django.utils import timezone

from refdesk.cli.management.commands import worker as worker_command
from refdesk.cli.management.commands.worker import SweepingWorker
from refdesk.core import health
from refdesk.core.heartbeat import PRUNE_AFTER, Heartbeat, heartbeat_interval
from refdesk.core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _check_migrations_afresh():
    health.forget_migrations_applied()
    yield
    health.forget_migrations_applied()


def beat(seconds_ago: float = 0, worker_id: str = "w-1") -> WorkerHeartbeat:
    now = timezone.now() - timedelta(seconds=seconds_ago)
    return WorkerHeartbeat.objects.create(
        worker_id=worker_id, host="node-a", pid=4242, started_at=now, seen_at=now
    )


def unreachable_database() -> DatabaseWrapper:
    """A real PostgreSQL connection to a port nothing listens on."""
    settings_dict = connections.configure_settings(
        {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": "127.0.0.1",
                "PORT": "1",
                "NAME": "nowhere",
                "USER": "nobody",
                "OPTIONS": {"connect_timeout": 2},
            }
        }
    )["default"]
    return DatabaseWrapper(settings_dict, "unreachable")


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_with_the_database_migrations_and_a_fresh_worker(client):
    beat(seconds_ago=5)
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["failing"] == []
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "migrations": True,
        "worker": True,
    }


def test_readyz_fails_without_any_worker_heartbeat(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]


@override_settings(REFDESK_WORKER_STALE_SECONDS=120)
def test_readyz_fails_when_the_only_heartbeat_is_stale(client):
    beat(seconds_ago=121)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]
    assert "120 s" in response.json()["checks"]["worker"]["detail"]


@override_settings(REFDESK_READYZ_REQUIRES_WORKER=False)
def test_a_node_may_be_ready_without_workers_when_configured_so(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["worker"] == {
        "ok": False,
        "detail": "no worker seen in the last 120 s",
        "required": False,
    }


def test_readyz_fails_with_an_unapplied_migration(client):
    beat()
    # The app's newest migration: an unapplied leaf is what a new release brings.
    [(app, name)] = MigrationLoader(connection).graph.leaf_nodes("core")
    MigrationRecorder.Migration.objects.filter(app=app, name=name).delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["migrations"]
    assert response.json()["checks"]["migrations"]["detail"] == "1 unapplied"


def test_all_applied_is_remembered_once_true(django_assert_num_queries):
    assert health.check_migrations().ok
    with django_assert_num_queries(0):
        assert health.check_migrations().detail == "all applied"


def test_readyz_fails_when_the_database_does_not_answer_and_names_no_host(client, monkeypatch):
    broken = unreachable_database()
    monkeypatch.setattr(health, "connections", {"default": broken})
    try:
        response = client.get("/readyz")
    finally:
        broken.close()
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database", "migrations", "worker"]
    assert body["checks"]["database"] == {"ok": False, "detail": "unreachable"}
    text = response.content.decode()
    assert "127.0.0.1" not in text and "nowhere" not in text and "nobody" not in text


@override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["refdesk.example.org"])
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_over_plain_http_and_any_host(client, path):
    beat()
    # The rest of the site redirects to HTTPS and refuses an unknown Host ...
    assert client.get("/", HTTP_HOST="refdesk.example.org").status_code == 301
    assert client.get("/", HTTP_HOST="10.0.0.7").status_code == 400
    # ... while a load balancer probing a node by its address gets the answer.
    response = client.get(path, HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_a_heartbeat_writes_at_most_once_per_interval_and_prunes_dead_workers(
    django_assert_num_queries,
):
    beat(seconds_ago=PRUNE_AFTER.total_seconds() + 60, worker_id="long-gone")
    heartbeat = Heartbeat("w-7")
    now = timezone.now()
    assert heartbeat.beat(now)
    row = WorkerHeartbeat.objects.get()
    assert (row.worker_id, row.seen_at) == ("w-7", now)
    with django_assert_num_queries(0):
        assert not heartbeat.beat(now + heartbeat_interval() - timedelta(seconds=1))
    assert heartbeat.beat(now + heartbeat_interval())
    assert WorkerHeartbeat.objects.get().seen_at == now + heartbeat_interval()
    heartbeat.end()
    assert not WorkerHeartbeat.objects.exists()


def test_the_worker_loop_beats_and_a_clean_stop_removes_its_row(monkeypatch):
    # The loop recycles connections between turns; inside a test's transaction it must not.
    monkeypatch.setattr(worker_command, "close_old_connections", lambda: None)
    worker = SweepingWorker(
        batch_size=5,
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="worker-under-test",
        excluded_queue_names=[],
    )
    worker._sweep()
    assert WorkerHeartbeat.objects.get().worker_id == "worker-under-test"
    worker.heartbeat.end()
    assert not WorkerHeartbeat.objects.exists()


def test_status_exits_1_and_says_why_when_no_worker_runs(capsys):
    with pytest.raises(SystemExit) as exit:
        call_command("status")
    assert exit.value.code == 1
    out = capsys.readouterr().out
    assert "status: NOT READY" in out
    assert "worker      FAIL no worker seen" in out
    assert "tasks: 0 ready, oldest waiting -" in out


def test_status_exits_0_and_lists_workers_with_their_last_heartbeat(capsys):
    beat(seconds_ago=3, worker_id="w-fresh")
    beat(seconds_ago=600, worker_id="w-stale")
    with pytest.raises(SystemExit) as exit:
        call_command("status")
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert "status: ready" in out
    assert "workers: 2" in out
    assert "w-fresh  node-a pid 4242" in out and "(fresh)" in out
    assert "w-stale" in out and "(stale)" in out


def test_a_not_ready_answer_is_not_logged_as_a_django_error_at_every_probe(client, caplog):
    with caplog.at_level("WARNING", logger="django.request"):
        assert client.get("/readyz").status_code == 503
    assert not [r for r in caplog.records if r.name == "django.request"]
