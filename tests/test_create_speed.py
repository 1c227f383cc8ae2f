"""`tenant create` runs its checklist once when it runs in the foreground (issue 13); a
queued creation that a worker runs later checks it again."""

from __future__ import annotations

from tenantctl.domain.tenants import creation
from tests.create_world import CREATE, DATASET, ENV


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    run_checklist = creation.run_checklist

    def counted(*args, **kwargs):
        calls.append(args[2])
        return run_checklist(*args, **kwargs)

    monkeypatch.setattr(creation, "run_checklist", counted)
    return calls


def test_a_foreground_creation_checks_the_checklist_once(cli, monkeypatch):
    cli("load", DATASET)
    calls = _counting(monkeypatch)
    created = cli.json(*CREATE, env=ENV)
    assert created["status"] == "succeeded"
    assert calls == ["ACME"]


def test_a_queued_creation_checks_it_again_when_a_worker_runs_it(cli, monkeypatch):
    cli("load", DATASET)
    calls = _counting(monkeypatch)
    pid = cli.json(*CREATE, "--detach", env=ENV)["process_id"]
    report = cli.json("worker", "--until-empty")
    assert [(p["id"], p["status"]) for p in report["processes"]] == [(pid, "succeeded")]
    assert calls == ["ACME", "ACME"]
