"""Named tuples without :mod:`collections`: the console script's start-up cannot afford it.

``record("Point", "x y", defaults=(0,))`` makes a tuple type with named fields, defaults,
``_fields``, ``_asdict()`` and ``_replace()``, as :func:`collections.namedtuple` does (which
imports a dozen modules on the way).  Type checkers see ``typing.NamedTuple`` declarations of the
same records instead (under ``TYPE_CHECKING``), and tests check that the two agree.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_MISSING = object()


def record(name: str, fields: str, defaults: tuple[Any, ...] = ()) -> type[tuple[Any, ...]]:
    """A tuple type called ``name`` whose items are named by the words of ``fields``; the last
    ``len(defaults)`` of them have those defaults."""
    names = tuple(fields.split())
    position = {field: index for index, field in enumerate(names)}
    first_default = len(names) - len(defaults)

    def __new__(cls: type[tuple[Any, ...]], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        if not kwargs and first_default <= len(args) <= len(names):  # the common case, made quick
            return tuple.__new__(cls, args + defaults[len(args) - first_default:] if len(args) < len(names) else args)
        if len(args) > len(names):
            raise TypeError(f"{name} takes {len(names)} values, got {len(args)}")
        values = [*args, *[_MISSING] * (len(names) - len(args))]
        for key, value in kwargs.items():
            if key not in position:
                raise TypeError(f"{name} got an unexpected keyword argument {key!r}")
            if values[position[key]] is not _MISSING:
                raise TypeError(f"{name} got multiple values for {key!r}")
            values[position[key]] = value
        for index, value in enumerate(values):
            if value is _MISSING:
                if index < first_default:
                    raise TypeError(f"{name} is missing {names[index]!r}")
                values[index] = defaults[index - first_default]
        return tuple.__new__(cls, values)

    def _asdict(self: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(names, self, strict=True))

    def _replace(self: tuple[Any, ...], **changes: Any) -> tuple[Any, ...]:
        values = list(self)
        for key, value in changes.items():
            if key not in position:
                raise TypeError(f"{name} got an unexpected keyword argument {key!r}")
            values[position[key]] = value
        return tuple.__new__(type(self), values)

    def __repr__(self: tuple[Any, ...]) -> str:
        return f"{type(self).__name__}({', '.join(f'{key}={value!r}' for key, value in zip(names, self, strict=True))})"

    def __getnewargs__(self: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(self)

    namespace: dict[str, Any] = {
        "__slots__": (), "_fields": names, "_field_defaults": dict(zip(names[first_default:], defaults, strict=True)),
        "__new__": __new__, "_asdict": _asdict, "_replace": _replace, "__repr__": __repr__,
        "__getnewargs__": __getnewargs__,
    }
    for index, field in enumerate(names):
        namespace[field] = _item(index)
    return type(name, (tuple,), namespace)


def _item(index: int) -> Any:
    """The accessor of item ``index``: CPython's own, as namedtuple uses (far quicker than a
    property calling Python code), else a property."""
    try:
        from _collections import _tuplegetter  # type: ignore[import-not-found]  # (built in: no start-up cost)

        return _tuplegetter(index, f"item {index}")
    except ImportError:  # pragma: no cover - not CPython
        def get(self: tuple[Any, ...]) -> Any:
            return tuple.__getitem__(self, index)

        return property(get, doc=f"item {index}")
