"""Keystay's apps depend one way: core <- properties <- locks <- reservations <- guests <- desk
<- hooks <- api.

A lower app that must tell a higher one something sends a signal of its own (see
`properties/signals.py`, `locks/signals.py`); it never imports the higher app, not even
inside a function, never names its models in a string, and its migrations never depend
on the higher app's.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["core", "properties", "locks", "reservations", "guests", "desk", "hooks", "api"]
RANK = {name: rank for rank, name in enumerate(LAYERS)}

# Migrations written before the apps were layered. A migration that a database has applied
# cannot be rewritten, so these keep their old dependencies; the models that made them
# point upward (lock events and alerts) have since moved to `reservations`.
HISTORIC_MIGRATION_DEPENDENCIES = {
    ("locks", "0004_unmanaged_codes_lock_events_alerts_webhook", "reservations"),
}

MODEL_STRING = re.compile(r"""["']([a-z_]+)\.([A-Z][A-Za-z]+)["']""")
DOTTED_STRING = re.compile(r"""["']([a-z_]+)\.[a-z_][\w.]*["']""")


def _app_of(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in RANK else None


def _sources(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        yield path


def _upward_references(app: str) -> list[str]:
    found = []
    for path in _sources(app):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # "reservations.Reservation", apps.get_model("reservations", ...),
                # "reservations.tasks.sweep" (django-q task paths), import_string(...)
                text = repr(node.value)
                targets = [m.group(1) for m in MODEL_STRING.finditer(text)]
                targets += [m.group(1) for m in DOTTED_STRING.finditer(text)]
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "get_model"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                targets = [str(node.args[0].value)]
            for target in targets:
                other = _app_of(target)
                if other and RANK[other] > RANK[app]:
                    found.append(f"{where}:{node.lineno}: {app} -> {target}")
    return found


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_never_imports_or_names_an_app_above_it(app):
    assert _upward_references(app) == []


def test_model_relations_point_only_down():
    upward = []
    for model in apps.get_models():
        app = model._meta.app_label
        if app not in RANK:
            continue
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model is not None:
                other = field.related_model._meta.app_label
                if other in RANK and RANK[other] > RANK[app]:
                    upward.append(f"{model.__name__}.{field.name} -> {other}")
    assert upward == []


def test_migrations_depend_only_on_apps_below():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    upward = []
    for (app, name), migration in loader.disk_migrations.items():
        if app not in RANK:
            continue
        for other, _ in migration.dependencies:
            upward_app = other in RANK and RANK[other] > RANK[app]
            if upward_app and (app, name, other) not in HISTORIC_MIGRATION_DEPENDENCIES:
                upward.append(f"{app}.{name} -> {other}")
    assert upward == []


def test_the_check_itself_catches_an_import_inside_a_function(tmp_path, monkeypatch):
    """The walk sees imports at any depth and model strings, not only top-level lines."""
    package = tmp_path / "locks"
    package.mkdir()
    (package / "sneaky.py").write_text(
        "def f():\n"
        "    from reservations.services import listings_replan\n"
        "    return listings_replan\n"
        "FK = 'reservations.Reservation'\n"
    )
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    found = _upward_references("locks")
    assert len(found) == 2
