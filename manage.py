#!/usr/bin/env python
"""Django's command-line entry point for Concord. Like Celery and WSGI it defaults to the
production settings; `make demo` and `make test` name theirs."""

import sys


def main() -> None:
    from config.env import settings_module_default

    settings_module_default()
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 - loads the settings, which refuse to start when incomplete
    except ImproperlyConfigured as exc:
        sys.exit(f"Concord cannot start: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
