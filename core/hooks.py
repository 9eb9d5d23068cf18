"""The one way a lower layer starts work in a layer above it, without importing it.

Layers run one way (core <- projects <- labeling <- consistency <- demo): a module never imports
from a layer above its own. When something that happens below must start work above (new labels
should refresh agreement; changed review rules should re-decide the examples), the lower layer
declares a `Hook` in its app's hooks.py and fires it in the service where it happens; the upper
app connects its receiver in its AppConfig.ready. The lower layer never knows who listens.

Receivers run synchronously, inside the firing service's transaction, with keyword arguments only.
They must be quick: anything slow queues a background job (`transaction.on_commit`). An exception
in a receiver propagates to the service, which rolls back: a receiver that may fail for reasons
unrelated to the caller's work (a broker that is down) catches and logs that itself.

Kinds of import (the importer registry in projects.services.imports) are registered the same way:
the upper app adds its kind at start-up.
"""

from __future__ import annotations

from collections.abc import Callable


class Hook:
    """A named event of a lower layer that upper layers may react to."""

    def __init__(self, name: str, *, arguments: tuple[str, ...]):
        self.name = name
        self.arguments = arguments
        self._receivers: list[Callable[..., object]] = []

    def connect(self, receiver: Callable[..., object]) -> None:
        """Add `receiver(**arguments)`; connecting the same receiver twice has no effect."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)

    def disconnect(self, receiver: Callable[..., object]) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    def fire(self, **kwargs) -> None:
        if set(kwargs) != set(self.arguments):
            raise TypeError(f"hook {self.name} takes {', '.join(self.arguments)}, not {', '.join(kwargs)}")
        for receiver in list(self._receivers):
            receiver(**kwargs)

    @property
    def receivers(self) -> tuple[Callable[..., object], ...]:
        return tuple(self._receivers)

    def __repr__(self) -> str:
        return f"<Hook {self.name} ({len(self._receivers)} receivers)>"
