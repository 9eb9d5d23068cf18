"""requirements.txt lists exactly what Concord's runtime code imports: an operator who installs it
gets everything the app loads, and nothing that only the tests use."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
# Test and benchmark code may use the test-only references; everything else is runtime code.
NOT_RUNTIME = {"tests", "bench", ".venv", "node_modules"}
# Needed at runtime without an import statement or dotted path in our code.
RUN_WITHOUT_IMPORT = {
    "gunicorn": "the WSGI server the README runs in production",
    "redis": "Django's RedisCache and Celery's Redis broker load it",
}
DOTTED_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(canonical(re.split(r"[\[=<>!~;\s]", line, maxsplit=1)[0]))
    return names


def runtime_sources() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not NOT_RUNTIME & set(path.relative_to(ROOT).parts) and "migrations" not in path.parts
    ]


def top_level_names(path: Path) -> set[str]:
    """Modules a file imports, and the first part of dotted paths it names in strings (settings
    name apps, middleware and backends that way)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and DOTTED_PATH.fullmatch(node.value)
        ):
            names.add(node.value.split(".")[0])
    return names


def distributions_used_at_runtime() -> dict[str, set[str]]:
    """{distribution: where} for every installed distribution runtime code imports."""
    local = {path.name for path in ROOT.iterdir()} | {path.stem for path in ROOT.glob("*.py")}
    providers = importlib.metadata.packages_distributions()
    used: dict[str, set[str]] = {}
    names = [
        (name, str(path.relative_to(ROOT))) for path in runtime_sources() for name in top_level_names(path)
    ]
    names += [(app.split(".")[0], "INSTALLED_APPS") for app in settings.INSTALLED_APPS]
    for name, where in names:
        if name in sys.stdlib_module_names or name in local or name == "__future__":
            continue
        for distribution in providers.get(name, []):
            used.setdefault(canonical(distribution), set()).add(where)
    return used


def test_runtime_requirements_are_exactly_what_runtime_code_imports():
    listed = requirement_names(ROOT / "requirements.txt")
    used = distributions_used_at_runtime()
    missing = set(used) - listed
    assert not missing, {name: sorted(used[name]) for name in missing}
    unused = listed - set(used) - set(RUN_WITHOUT_IMPORT)
    assert not unused, f"listed in requirements.txt but never imported at runtime: {sorted(unused)}"


def test_test_only_references_stay_out_of_runtime_code():
    test_only = requirement_names(ROOT / "requirements-test.txt") | requirement_names(
        ROOT / "requirements-test-nodeps.txt"
    )
    assert not test_only & requirement_names(ROOT / "requirements.txt")
    used = distributions_used_at_runtime()
    leaked = {name: sorted(used[name]) for name in test_only & set(used)}
    assert not leaked, leaked
