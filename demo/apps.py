from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo loader: the top layer, above consistency. It fills a project through the real
    services of every app below it, and nothing imports it."""

    name = "demo"
