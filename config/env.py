"""The settings module every entry point (manage.py, Celery, WSGI) falls back to, and the reader of
the `.env` file that production settings load. The fallback is production, which refuses to start
without its secret key and hosts, so a forgotten DJANGO_SETTINGS_MODULE fails closed."""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

DEFAULT_SETTINGS_MODULE = "config.settings.production"
BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE_VARIABLE = "CONCORD_ENV_FILE"

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def settings_module_default() -> None:
    """Use the production settings unless DJANGO_SETTINGS_MODULE names others."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS_MODULE)


def env_file_parse(text: str, *, source: str) -> dict[str, str]:
    """KEY=VALUE lines (optionally `export KEY=VALUE`). Blank lines and `#` comments are skipped; a
    value may be quoted with ' or " (taken literally, no escapes or $-expansion); an unquoted value
    ends at ` #`. Any other line is an error naming the file and line."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ImproperlyConfigured(f"{source}, line {number}: expected KEY=VALUE, found {raw!r}.")
        key, value = match.group(1), match.group(2).strip()
        if value[:1] in {"'", '"'}:
            quote = value[0]
            end = value.find(quote, 1)
            rest = value[end + 1 :].strip() if end != -1 else ""
            if end == -1 or (rest and not rest.startswith("#")):
                raise ImproperlyConfigured(
                    f"{source}, line {number}: the value of {key} opens a {quote} quote that does not "
                    "close at the end of the line."
                )
            value = value[1:end]
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0]
        values[key] = value
    return values


def env_file_load() -> Path | None:
    """Copy the `.env` file's variables into os.environ, never overriding one already set.

    The file is CONCORD_ENV_FILE if set (it must exist), else `.env` in the project root if there
    is one. Returns the file read, or None.
    """
    named = os.environ.get(ENV_FILE_VARIABLE)
    path = Path(named) if named else BASE_DIR / ".env"
    if not path.is_file():
        if named:
            raise ImproperlyConfigured(f"{ENV_FILE_VARIABLE} names {path}, which is not a file.")
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(f"Cannot read {path}: {exc}") from exc
    for key, value in env_file_parse(text, source=str(path)).items():
        os.environ.setdefault(key, value)
    return path
