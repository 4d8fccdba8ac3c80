"""README and docs/ stay true to the code: every relative link (and its #anchor) leads
somewhere, and every setting is in the configuration reference's one table."""

from __future__ import annotations

import ast
import re
import unicodedata
from pathlib import Path

from django.conf import global_settings

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"

# Upper-case names in the settings modules that are not Keystay's own settings: the
# settings file's own helper, Django's settings without a default, and the configuration
# blocks of the libraries Keystay uses (each documented by its library; the variables
# read inside them are checked anyway). Django's others are known to global_settings.
NOT_KEYSTAYS = {
    "BASE_DIR",
    "ROOT_URLCONF",
    "Q_CLUSTER",
    "REST_FRAMEWORK",
    "SPECTACULAR_SETTINGS",
    "CONTENT_SECURITY_POLICY",
}
# Settings of a library's own, set in code (the environment variables they read from, such
# as KEYSTAY_SIGN_IN_FAILURE_LIMIT, are still checked).
LIBRARY_PREFIXES = ("AXES_", "IMPORT_EXPORT_", "OTP_")

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


# ------------------------------------------------------------------------------- links


def markdown_files(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("**/*.md"))]


def prose(text: str, *, inline_code: bool = False) -> str:
    """The text without its fenced code blocks and (unless kept) its inline code, where
    `[a](b)` is code. A heading keeps its inline code: the code host's anchor has it."""
    kept, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line if inline_code else re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def slug(heading: str) -> str:
    """The anchor the code host gives a heading: lower case, punctuation other than
    hyphens and underscores dropped, spaces made hyphens."""
    text = re.sub(r"`|\*", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    for line in prose(path.read_text(), inline_code=True).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            base = slug(heading.group(1))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(root: Path) -> list[str]:
    broken = []
    for source in markdown_files(root):
        for target in LINK.findall(prose(source.read_text())):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto: — not ours to check here
            path_part, _, anchor = target.partition("#")
            where = (source.parent / path_part).resolve() if path_part else source
            name = f"{source.relative_to(root)}: {target}"
            if not where.exists():
                broken.append(f"{name} (no such file)")
            elif anchor and where.suffix == ".md" and anchor not in anchors(where):
                broken.append(f"{name} (no such heading)")
    return broken


def test_every_relative_link_in_readme_and_docs_resolves():
    assert broken_links(ROOT) == []


def test_the_link_check_finds_a_broken_link_and_a_broken_anchor(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Keystay\n\nSee [the ops](docs/ops.md#backups), [gone](docs/gone.md) and "
        "[here](#keystay).\n\n```md\n[in code](nowhere.md)\n```\n"
    )
    (tmp_path / "docs" / "ops.md").write_text("# Operations\n\n## Upgrades\n")
    assert broken_links(tmp_path) == [
        "README.md: docs/ops.md#backups (no such heading)",
        "README.md: docs/gone.md (no such file)",
    ]


def test_headings_become_the_anchors_the_code_host_makes():
    assert slug("Door truth: reading back what each lock holds") == (
        "door-truth-reading-back-what-each-lock-holds"
    )
    assert slug("The demo and the fake's limits") == "the-demo-and-the-fakes-limits"
    assert slug("PostgreSQL, Redis and several workers") == "postgresql-redis-and-several-workers"
    assert slug("The client's address: `KEYSTAY_NUM_PROXIES`") == (
        "the-clients-address-keystay_num_proxies"
    )


def test_the_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


# ---------------------------------------------------------------------------- settings


def settings_read(sources: dict[str, str]) -> set[str]:
    """Environment variables the settings modules read (`env("X")`, `env.int("X")`,
    `os.environ.get("X")`…) and Keystay's own upper-case settings defined there."""
    names: set[str] = set()
    for source in sources.values():
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and _reads_environment(node.func):
                    names.add(first.value)
            if (
                isinstance(node, ast.Subscript)
                and _is_os_environ(node.value)
                and isinstance(node.slice, ast.Constant)
            ):
                names.add(node.slice.value)
        for statement in tree.body:
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
                if isinstance(statement, ast.AnnAssign)
                else []
            )
            for target in targets:
                for name in ast.walk(target):
                    if (
                        isinstance(name, ast.Name)
                        and name.id.isupper()
                        and not hasattr(global_settings, name.id)
                        and name.id not in NOT_KEYSTAYS
                        and not name.id.startswith(LIBRARY_PREFIXES)
                    ):
                        names.add(name.id)
    return names


def _is_os_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _reads_environment(func: ast.AST) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("env", "getenv")
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id == "env":
            return True  # env.int, env.bool, env.list, env.db, env.email_url…
        if func.attr in ("get", "setdefault") and _is_os_environ(owner):
            return func.attr == "get"
        return func.attr == "getenv"
    return False


def documented(reference: str) -> set[str]:
    """The names in backticks in the reference's table, which must be one table."""
    tables = re.findall(r"(?:^\|.*\n)+", reference, flags=re.M)
    assert len(tables) == 1, f"the reference holds {len(tables)} tables, not one"
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", tables[0]))


def settings_sources() -> dict[str, str]:
    files = [
        *sorted((ROOT / "config" / "settings").glob("*.py")),
        ROOT / "config" / "gunicorn.conf.py",
    ]
    return {str(f.relative_to(ROOT)): f.read_text() for f in files}


def test_every_setting_is_in_the_configuration_reference():
    missing = settings_read(settings_sources()) - documented(REFERENCE.read_text())
    assert sorted(missing) == []


def test_the_settings_check_finds_an_undocumented_setting():
    sources = settings_sources()
    sources["config/settings/planted.py"] = (
        'KEYSTAY_PLANTED_SWITCH = env.bool("KEYSTAY_PLANTED_VARIABLE", default=False)\n'
        'KEYSTAY_PLANTED_CONSTANT = 3\nDEBUG = True\nport = os.environ["PLANTED_PORT"]\n'
    )
    missing = settings_read(sources) - documented(REFERENCE.read_text())
    assert sorted(missing) == [
        "KEYSTAY_PLANTED_CONSTANT",
        "KEYSTAY_PLANTED_SWITCH",
        "KEYSTAY_PLANTED_VARIABLE",
        "PLANTED_PORT",
    ]


def test_a_table_split_by_a_paragraph_is_refused():
    split = "| a | b |\n| --- | --- |\n| `X` | 1 |\n\nA paragraph.\n| `Y` | 2 |\n"
    try:
        documented(split)
    except AssertionError as refused:
        assert "2 tables" in str(refused)
    else:
        raise AssertionError("a split table was taken for one")
