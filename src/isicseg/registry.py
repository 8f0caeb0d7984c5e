"""A small generic registry, used for backbones, label schemes, transforms, callbacks and metrics.

Built-ins register through the same public decorator that users get::

    from isicseg.registry import BACKBONES

    @BACKBONES.register("my_backbone")
    def my_backbone(**kwargs): ...

Third-party packages can add entries without being imported by the user: they declare
an entry point in the group ``isicseg.<kind>`` (for example ``isicseg.backbones``) whose
object is registered under the entry point's name (built-ins win a clash). Entry points are loaded lazily, the first
time a registry is read, and a
plugin that fails to load only produces a warning that names it.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Generic, TypeVar, overload

from .exceptions import ConfigError, PluginWarning, UnknownNameError

__all__ = ["Registry", "PluginWarning"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects of one kind.

    Args:
        kind: Plural noun for error messages and the entry-point group
            ``isicseg.<kind>`` (e.g. ``"backbones"``).

    Example:
        >>> from isicseg.registry import Registry
        >>> COLOURS = Registry("colours")
        >>> @COLOURS.register("red")
        ... def red():
        ...     return (255, 0, 0)
        >>> COLOURS.get("red")()
        (255, 0, 0)
        >>> COLOURS.names()
        ['red']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._plugins_loaded = False

    @property
    def entry_point_group(self) -> str:
        """The entry-point group that plugins use to add to this registry."""
        return f"isicseg.{self.kind}"

    @overload
    def register(self, name: str, obj: None = None, *, override: bool = False) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T, *, override: bool = False) -> T: ...

    def register(self, name, obj=None, *, override=False):
        """Register ``obj`` under ``name``; without ``obj``, return a decorator.

        Raises:
            ConfigError: If ``name`` is taken and ``override`` is false, or is not a
                non-empty string.
        """
        if not isinstance(name, str) or not name:
            raise ConfigError(f"A {self.kind} name must be a non-empty string, got {name!r}.")

        def add(item: T) -> T:
            if name in self._items and not override:
                raise ConfigError(
                    f"{self.kind.capitalize()} name {name!r} is already registered "
                    f"(to {self._items[name]!r}). Pass override=True to replace it."
                )
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return what it held."""
        self.get(name)
        return self._items.pop(name)

    def get(self, name: str) -> T:
        """Return the object registered under ``name``.

        Raises:
            UnknownNameError: Listing the available names and the closest match.
        """
        self._load_plugins()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            pass
        available = sorted(self._items)
        kind = self.kind[:-1] if self.kind.endswith("s") else self.kind
        message = f"Unknown {kind} {name!r}. Available: {', '.join(available) or '(none)'}."
        close = difflib.get_close_matches(str(name), available, n=1)
        if close:
            message += f" Did you mean {close[0]!r}?"
        raise UnknownNameError(message)

    def names(self) -> list[str]:
        """Sorted names of everything registered, plugins included."""
        self._load_plugins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry_point in metadata.entry_points(group=self.entry_point_group):
            try:
                obj = entry_point.load()
                if entry_point.name not in self._items:
                    self._items[entry_point.name] = obj
            except Exception as error:  # a broken plugin must never break isicseg
                warnings.warn(
                    f"Could not load isicseg plugin {entry_point.name!r} "
                    f"({entry_point.value}) from group {self.entry_point_group!r}: "
                    f"{type(error).__name__}: {error}",
                    PluginWarning,
                    stacklevel=3,
                )
