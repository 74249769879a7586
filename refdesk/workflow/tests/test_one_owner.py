"""The lifecycle has one owner: nothing outside ``refdesk.workflow`` writes a referral's stage,
outcome, queue or assignee, and no app imports another inside a function to dodge a cycle.

Both are read from the source (the AST), so a new module that breaks either rule fails here
before review; ``lint-imports`` (pyproject: ``[tool.importlinter]``) checks the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

PACKAGE = Path(__file__).resolve().parents[2]
STATE_FIELDS = {"stage", "outcome", "queue", "queue_id", "assigned_to", "assigned_to_id"}
WRITING_CALLS = {"update", "create", "bulk_create", "bulk_update", "get_or_create"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if "tests" in parts or "migrations" in parts:
            continue
        yield path, parts


def _root_name(node) -> str:
    """The name a call chain starts from: ``Referral`` in ``Referral.objects.filter().update``."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return ""


def referral_state_writes(path: Path) -> list[str]:
    """Places in one module that write a referral's lifecycle fields."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            keywords = {kw.arg for kw in node.keywords if kw.arg}
            if any(kw.arg is None for kw in node.keywords):  # **values: could be any field
                keywords |= STATE_FIELDS
            name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            constructs = isinstance(node.func, ast.Name) and node.func.id == "Referral"
            on_referrals = name in WRITING_CALLS and _root_name(node.func) == "Referral"
            if keywords & STATE_FIELDS and (constructs or on_referrals):
                found.append(f"{path.name}:{node.lineno}")
            # referral_transition / sql.update with a dict of values
            if name == "update" and _root_name(node.func) == "sql":
                found.append(f"{path.name}:{node.lineno}")
        elif isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for element in ast.walk(target):
                    if (
                        isinstance(element, ast.Attribute)
                        and element.attr in STATE_FIELDS
                        and isinstance(element.value, ast.Name)
                        and element.value.id == "referral"
                    ):
                        found.append(f"{path.name}:{node.lineno}")
    return sorted(set(found), key=lambda place: int(place.rpartition(":")[2]))


def test_only_the_workflow_writes_a_referrals_stage_outcome_queue_or_assignee():
    outside = {
        str(path.relative_to(PACKAGE)): writes
        for path, parts in _modules()
        if parts[0] != "workflow" and (writes := referral_state_writes(path))
    }
    assert outside == {}
    # The scan sees the writes that do exist: the transition's UPDATE and intake's INSERT.
    assert referral_state_writes(PACKAGE / "workflow" / "transitions.py")
    assert referral_state_writes(PACKAGE / "workflow" / "submission.py")


def _nested_imports(tree: ast.Module):
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level:
            names = (
                [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            )
            yield node.lineno, [name for name in names if name]


def test_no_app_imports_another_inside_a_function():
    found = []
    for path, parts in _modules():
        app = parts[0].removesuffix(".py")
        for line, names in _nested_imports(ast.parse(path.read_text())):
            for name in names:
                if name.startswith("refdesk.") and name.split(".")[1] != app:
                    found.append(f"{'/'.join(parts)}:{line} imports {name}")
    assert found == []


@pytest.mark.parametrize("contract", ["layers", "acyclic", "engine", "models"])
def test_the_import_contract_holds(contract):
    """The same contracts CI runs with ``lint-imports``, so ``make test`` catches a break too."""
    exit_code = lint_imports(
        config_filename=str(PACKAGE.parent / "pyproject.toml"),
        limit_to_contracts=(contract,),
        no_cache=True,
        no_logo=True,
    )
    assert exit_code == 0, f"contract {contract} is broken: run lint-imports for the details"


def test_the_scan_finds_each_way_of_writing_the_state(tmp_path):
    module = tmp_path / "sneaky.py"
    module.write_text(
        "Referral.objects.filter(pk=1).update(stage='closed')\n"
        "Referral.objects.create(queue=q)\n"
        "Referral(stage='queued')\n"
        "sql.update(referral, {'assigned_to': user})\n"
        "referral.outcome = 'qualified'\n"
        "Referral.objects.filter(pk=1).update(**values)\n"
        "RoutingDecision.objects.create(queue=q)\n"  # another model: not a referral write
    )
    assert referral_state_writes(module) == [f"sneaky.py:{line}" for line in range(1, 7)]
