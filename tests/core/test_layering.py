"""Keystay's apps depend one way: core <- properties <- locks <- reservations <- calendar_feeds
<- guests <- desk <- hooks <- api
<- pms_inbound (PMS webhooks map bookings through the API's own serializer).

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
LAYERS = [
    "core",
    "properties",
    "locks",
    "reservations",
    "calendar_feeds",
    "guests",
    "desk",
    "hooks",
    "api",
    "pms_inbound",
]
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


# ----------------------------------------------------------------- writes through the owner

# What writes a model's rows: on a manager or queryset, or on an instance.
QUERYSET_WRITES = {
    "update",
    "delete",
    "create",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
}
INSTANCE_WRITES = {"save", "delete"}
# The one module that moves a lock access from state to state (reservations.access_states).
STATE_MACHINE = Path("reservations/access_states.py")


def _model_apps() -> dict[str, str]:
    """Each of Keystay's model class names, and the app that owns it."""
    return {
        model.__name__: model._meta.app_label
        for model in apps.get_models()
        if model._meta.app_label in RANK
    }


def _root_name(node: ast.AST) -> str | None:
    """The name a chain such as `Device.objects.filter(...).update` starts from."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node.id if isinstance(node, ast.Name) else None


def _annotation_name(annotation: ast.AST | None) -> str | None:
    if isinstance(annotation, ast.Name):
        return annotation.id
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation.value
    if isinstance(annotation, ast.BinOp):  # `Device | None`
        return _annotation_name(annotation.left)
    return None


def _viewset_models(tree: ast.AST, models: dict[str, str]) -> dict[ast.AST, str]:
    """The methods of each class with `queryset = Model.objects...` (a DRF viewset): their
    `instance` is a row of that model."""
    methods: dict[ast.AST, str] = {}
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for statement in cls.body:
            if (
                isinstance(statement, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "queryset" for t in statement.targets)
                and _root_name(statement.value) in models
            ):
                for method in cls.body:
                    if isinstance(method, ast.FunctionDef):
                        methods[method] = _root_name(statement.value)
    return methods


def _instances(function: ast.AST, models: dict[str, str], viewset_model=None) -> dict[str, str]:
    """Names in a function that hold another model's instance: an argument annotated
    with the model, a viewset's `instance`, or a name assigned from `Model(...)` or
    `Model.objects...`."""
    held: dict[str, str] = {}
    if viewset_model is not None:
        held["instance"] = viewset_model
    if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        for arg in [*function.args.args, *function.args.kwonlyargs]:
            name = _annotation_name(arg.annotation)
            if name in models:
                held[arg.arg] = name
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            root = _root_name(node.value)
            if root in models:
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        held[target.id] = root
    return held


def _cross_app_writes(app: str) -> list[str]:
    models = _model_apps()
    found = []
    for path in _sources(app):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(ROOT)
        viewsets = _viewset_models(tree, models)
        scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))]
        for scope in scopes:
            held = _instances(scope, models, viewsets.get(scope)) if scope is not tree else {}
            for node in ast.walk(scope):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                method, receiver = node.func.attr, node.func.value
                model = None
                if method in QUERYSET_WRITES and not isinstance(receiver, ast.Name):
                    model = _root_name(receiver)  # Model.objects... .update()
                elif method in INSTANCE_WRITES and isinstance(receiver, ast.Name):
                    model = held.get(receiver.id)  # device.save()
                if model in models and models[model] != app:
                    found.append(f"{where}:{node.lineno}: {app} writes {model}.{method}")
    return sorted(set(found))


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_writes_only_its_own_models(app):
    """Another app's rows are written through that app's services, never directly."""
    assert _cross_app_writes(app) == []


def test_the_write_check_catches_a_queryset_write_a_create_and_a_save(tmp_path, monkeypatch):
    package = tmp_path / "reservations"
    package.mkdir()
    (package / "sneaky.py").write_text(
        "from locks.models import Device, LockProviderConnection\n"
        "def f(device: Device, pk):\n"
        "    Device.objects.filter(pk=pk).update(online=False)\n"
        "    LockProviderConnection.objects.create(name='x')\n"
        "    device.save()\n"
        "    other = Device.objects.get(pk=pk)\n"
        "    other.delete()\n"
        "class DeviceViewSet:\n"
        "    queryset = Device.objects.all()\n"
        "    def perform_destroy(self, instance):\n"
        "        instance.delete()\n"
    )
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    found = _cross_app_writes("reservations")
    assert sorted(line.split(": ", 1)[1] for line in found) == [
        "reservations writes Device.delete",  # other.delete()
        "reservations writes Device.delete",  # the viewset's instance.delete()
        "reservations writes Device.save",
        "reservations writes Device.update",
        "reservations writes LockProviderConnection.create",
    ]


# --------------------------------------------------------- one writer of a lock access's state


def _state_writes(app: str) -> list[str]:
    """Places outside the state machine that set a lock access's state: `x.state = ...`
    (in `reservations`, or in a module that names LockAccess), and `state=` given to a
    write of LockAccess rows."""
    found = []
    for path in _sources(app):
        where = path.relative_to(ROOT)
        if where == STATE_MACHINE:
            continue
        source = path.read_text()
        tree = ast.parse(source, filename=str(path))
        names_lock_access = app == "reservations" or "LockAccess" in source
        for node in ast.walk(tree):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            flat = []
            for target in targets:
                flat += target.elts if isinstance(target, ast.Tuple) else [target]
            if names_lock_access and any(
                isinstance(t, ast.Attribute) and t.attr == "state" for t in flat
            ):
                found.append(f"{where}:{node.lineno}: assigns .state")
            if (
                isinstance(node, ast.Call)
                and any(k.arg == "state" for k in node.keywords)
                and (
                    (
                        isinstance(node.func, ast.Attribute)
                        and node.func.attr in QUERYSET_WRITES
                        and _names_lock_accesses(node.func.value)
                    )
                    or (isinstance(node.func, ast.Name) and node.func.id == "LockAccess")
                )
            ):
                found.append(f"{where}:{node.lineno}: writes state= on LockAccess rows")
    return found


def _names_lock_accesses(node: ast.AST) -> bool:
    """A chain that starts at LockAccess or goes through a `lock_accesses` manager."""
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        if isinstance(node, ast.Attribute) and node.attr == "lock_accesses":
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return isinstance(node, ast.Name) and node.id == "LockAccess"


@pytest.mark.parametrize("app", LAYERS)
def test_only_the_state_machine_sets_a_lock_access_state(app):
    assert _state_writes(app) == []


def test_the_state_check_catches_an_assignment_and_an_update(tmp_path, monkeypatch):
    package = tmp_path / "reservations"
    package.mkdir()
    (package / "sneaky.py").write_text(
        "from reservations.models import LockAccess\n"
        "def f(access, reservation):\n"
        "    access.state = 'confirmed'\n"
        "    access.state, access.attempts = 'failed', 1\n"
        "    LockAccess.objects.filter(pk=access.pk).update(state='removed')\n"
        "    reservation.lock_accesses.update(state='revoked')\n"
    )
    (package / "access_states.py").write_text("def move(access, to):\n    access.state = to\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert [line.split(": ", 1)[1] for line in _state_writes("reservations")] == [
        "assigns .state",
        "assigns .state",
        "writes state= on LockAccess rows",
        "writes state= on LockAccess rows",
    ]


# ------------------------------------------------------------- templates in their app's folder

TEMPLATE_NAME = re.compile(r"""["']([a-z_]+)/[\w/.-]+\.(?:html|txt)["']""")
TEMPLATE_TAG = re.compile(r"""\{%\s*(?:include|extends)\s+["']([a-z_]+)/[^"']+["']""")


def _foreign_templates(app: str) -> list[str]:
    """Templates of another app's folder (templates/<app>/) named by this app's code or
    included by this app's templates. `admin/<app>/...` is Django's convention for a
    model's admin pages and not checked here."""
    found = []
    for path in _sources(app):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for match in TEMPLATE_NAME.finditer(repr(node.value)):
                    folder = match.group(1)
                    if folder in RANK and folder != app:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {match.group(0)}")
    folder = ROOT / "templates" / app
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file():
            for match in TEMPLATE_TAG.finditer(path.read_text()):
                if match.group(1) in RANK and match.group(1) != app:
                    found.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    return found


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_renders_only_templates_of_its_own_folder(app):
    assert _foreign_templates(app) == []


def test_the_template_check_catches_another_apps_template(tmp_path, monkeypatch):
    (tmp_path / "reservations").mkdir()
    (tmp_path / "reservations" / "sneaky.py").write_text(
        "def f():\n    return render_to_string('locks/_events.html', {})\n"
    )
    (tmp_path / "templates" / "reservations").mkdir(parents=True)
    (tmp_path / "templates" / "reservations" / "page.html").write_text(
        '{% include "locks/_styles.html" %}{% include "reservations/_own.html" %}'
    )
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    found = _foreign_templates("reservations")
    assert len(found) == 2 and all("locks/" in line for line in found)
