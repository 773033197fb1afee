"""The base of the public models: immutable records with the official field
names (the models themselves are in ``_models`` and ``_approvals``).

The native layer hands the core's results over as plain dicts; each model
turns its identifiers into ``UUID`` and its instants into ``datetime`` where
the official package does, and wraps nested records. Nothing is validated
here: results were validated by the core, and input models are checked by
the core when they are sent.

Every model compares by value, is hashable when its values are, renders a
``repr`` that never shows a secret (API keys, tokens, session URLs) and
offers ``model_dump()`` / ``model_dump_json()`` returning plain data.
"""

from __future__ import annotations

# `typing` stays out of the import path (annotations are strings here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Literal, TypeVar, dataclass_transform

    _M = TypeVar("_M", bound="_Model")

    PrincipalType = Literal["user", "group", "system", "agent"]
    NonGroupPrincipalType = Literal["user", "system", "agent"]
    ApprovalStatusValue = Literal[
        "pending", "approved", "executing", "denied", "expired", "executed", "failed"
    ]
else:

    def dataclass_transform(**_kwargs):
        return lambda cls: cls


_REDACTED = "<redacted>"

# Every model class by name (filled as classes are defined), for resolving
# the string annotations of fields that hold other models.
_REGISTRY: dict[str, type[_Model]] = {}

# Converters for the annotated unions, by annotation text (filled by
# `_models`, which defines the union members).
_UNIONS: dict[str, Callable[[Any], Any]] = {}


# ------------------------------------------------------------ conversions


def _to_uuid(v: Any) -> Any:
    if isinstance(v, str):
        from uuid import UUID

        try:
            return UUID(v)
        except ValueError:
            return v
    return v


def _to_datetime(v: Any) -> Any:
    if isinstance(v, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(v)
        except ValueError:
            return v
    return v


def _plain(v: Any, json_mode: bool) -> Any:
    """What ``model_dump`` returns for a value."""
    if isinstance(v, _Model):
        return v.model_dump(mode="json" if json_mode else "python")
    if isinstance(v, (list, tuple)):
        items = [_plain(x, json_mode) for x in v]
        return items if json_mode or isinstance(v, list) else tuple(items)
    if isinstance(v, dict):
        return {k: _plain(x, json_mode) for k, x in v.items()}
    if json_mode and v is not None and not isinstance(v, (str, int, float, bool)):
        iso = getattr(v, "isoformat", None)
        return iso() if callable(iso) else str(v)
    return v


def _same(v: Any) -> Any:
    return v


def _sequence_of(item: Callable[[Any], Any], *, as_tuple: bool) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if not isinstance(v, (list, tuple)):
            return v
        items = [item(x) for x in v]
        return tuple(items) if as_tuple else items

    return convert


def _mapping_of(value: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        return {k: value(x) for k, x in v.items()} if isinstance(v, dict) else v

    return convert


def _annotation_converter(annotation: str) -> Callable[[Any], Any] | None:
    """A converter for a field, from its (string) annotation; None: as is."""
    text = annotation.replace(" ", "")
    for suffix in ("|None",):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    if text == "UUID":
        return _to_uuid
    if text == "datetime":
        return _to_datetime
    if text in _UNIONS:
        return _UNIONS[text]
    model = _REGISTRY.get(text)
    if model is not None:
        return model._coerce
    for prefix in ("list[", "tuple["):
        if text.startswith(prefix) and text.endswith("]"):
            inner = text[len(prefix) : -1]
            if inner.endswith(",..."):
                inner = inner[:-4]
            item = _annotation_converter(inner)
            if item is None:
                # A tuple field is a tuple even when its items stay as they are.
                return _sequence_of(_same, as_tuple=True) if prefix == "tuple[" else None
            return _sequence_of(item, as_tuple=prefix == "tuple[")
    if text.startswith("dict[str,") and text.endswith("]"):
        value = _annotation_converter(text[len("dict[str,") : -1])
        if value is None:
            return None
        return _mapping_of(value)
    return None


# ------------------------------------------------------------ base


@dataclass_transform(kw_only_default=True, frozen_default=True)
class _Model:
    """Base of every public model."""

    _field_names: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _secret_fields: ClassVar[frozenset[str]] = frozenset()
    _converters: ClassVar[dict[str, Callable[[Any], Any]] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: list[str] = []
        defaults: dict[str, Any] = {}
        for base in reversed(cls.__mro__):
            for name in base.__dict__.get("__annotations__", {}):
                if name.startswith("_"):
                    continue
                if name not in names:
                    names.append(name)
                if name in base.__dict__:
                    defaults[name] = base.__dict__[name]
                else:
                    defaults.pop(name, None)
        cls._field_names = tuple(names)
        cls._defaults = defaults
        cls._converters = None
        # Only the package's own classes: a user's subclass named like one
        # of them must not be what another model's field converts into.
        if cls.__module__.startswith("alter_sdk."):
            _REGISTRY.setdefault(cls.__name__, cls)

    def __init__(self, **data: Any) -> None:
        cls = type(self)
        for name in cls._field_names:
            if name in data:
                value = data.pop(name)
            elif name in cls._defaults:
                value = cls._defaults[name]
                if isinstance(value, (list, dict)):
                    value = type(value)(value)
            else:
                raise TypeError(f"{cls.__name__}: missing required field {name!r}")
            object.__setattr__(self, name, value)
        if data:
            raise TypeError(f"{cls.__name__}: unexpected field(s) {', '.join(sorted(data))}")

    # -- construction from the core ------------------------------------

    @classmethod
    def _converters_of(cls) -> dict[str, Callable[[Any], Any]]:
        convs = cls.__dict__.get("_converters")
        if convs is None:
            convs = {}
            for base in reversed(cls.__mro__):
                for name, ann in base.__dict__.get("__annotations__", {}).items():
                    if name.startswith("_") or not isinstance(ann, str):
                        continue
                    conv = _annotation_converter(ann)
                    if conv is None:
                        convs.pop(name, None)
                    else:
                        convs[name] = conv
            cls._converters = convs
        return convs

    @classmethod
    def _from_core(cls: type[_M], data: dict[str, Any]) -> _M:
        """Builds a model from the core's JSON-like dict (unknown keys ignored)."""
        convs = cls._converters_of()
        obj = cls.__new__(cls)
        for name in cls._field_names:
            if name in data:
                value = data[name]
                conv = convs.get(name)
                if conv is not None and value is not None:
                    value = conv(value)
            else:
                value = cls._defaults.get(name)
                if isinstance(value, (list, dict)):
                    value = type(value)(value)
            object.__setattr__(obj, name, value)
        return obj

    @classmethod
    def _coerce(cls: type[_M], value: Any) -> Any:
        return cls._from_core(value) if isinstance(value, dict) else value

    @classmethod
    def model_validate(cls: type[_M], obj: Any) -> _M:
        """Builds the model from a mapping (or returns an instance unchanged)."""
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, dict):
            return cls._from_core(obj)
        raise TypeError(f"{cls.__name__}.model_validate expects a dict")

    # -- immutability -----------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def model_copy(self: _M, *, update: dict[str, Any] | None = None) -> _M:
        """A copy, with ``update`` applied."""
        obj = type(self).__new__(type(self))
        for name in self._field_names:
            object.__setattr__(obj, name, getattr(self, name))
        for name, value in (update or {}).items():
            if name not in self._field_names:
                raise TypeError(f"{type(self).__name__}: unknown field {name!r}")
            object.__setattr__(obj, name, value)
        return obj

    # -- value semantics ---------------------------------------------------

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self._field_names)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Model)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def _repr_items(self) -> list[str]:
        out = []
        for name in self._field_names:
            value = getattr(self, name)
            if name in self._secret_fields and value is not None:
                out.append(f"{name}={_REDACTED!r}")
            else:
                out.append(f"{name}={value!r}")
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._repr_items())})"

    def __str__(self) -> str:
        return " ".join(self._repr_items())

    # -- export ------------------------------------------------------------

    def model_dump(self, *, mode: str = "python", exclude_none: bool = False) -> dict[str, Any]:
        """The fields as a plain dict (``mode="json"``: JSON-compatible values)."""
        json_mode = mode == "json"
        out: dict[str, Any] = {}
        for name in self._field_names:
            value = getattr(self, name)
            if exclude_none and value is None:
                continue
            out[name] = _plain(value, json_mode)
        return out

    def model_dump_json(self, *, exclude_none: bool = False) -> str:
        """The fields as compact JSON."""
        import json

        return json.dumps(
            self.model_dump(mode="json", exclude_none=exclude_none),
            separators=(",", ":"),
        )
