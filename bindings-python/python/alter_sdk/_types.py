"""Small value types of the response object."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["Headers"]

# Never shown by repr(): a provider may echo credentials or set cookies.
_SENSITIVE = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)


class Headers(Mapping[str, str]):
    """Response headers: case-insensitive, multi-valued, in wire order.

    ``headers[name]`` joins repeated values with ``", "`` (as ``httpx``
    does); ``get_list(name)`` returns them one by one; ``multi_items()``
    returns every (name, value) pair.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | list[tuple[str, str]] | None = None):
        pairs: list[tuple[str, str]]
        if items is None:
            pairs = []
        elif isinstance(items, Mapping):
            pairs = [(str(k), str(v)) for k, v in items.items()]
        else:
            pairs = [(str(k), str(v)) for k, v in items]
        self._items = pairs

    def get_list(self, key: str, split_commas: bool = False) -> list[str]:
        """Every value of a header, in order."""
        k = key.lower()
        values = [v for name, v in self._items if name.lower() == k]
        if not split_commas:
            return values
        return [part.strip() for v in values for part in v.split(",")]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeats included."""
        return list(self._items)

    def raw(self) -> list[tuple[bytes, bytes]]:
        return [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in self._items]

    def __getitem__(self, key: str) -> str:
        values = self.get_list(key)
        if not values:
            raise KeyError(key)
        return ", ".join(values)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        k = key.lower()
        return any(name.lower() == k for name, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: list[str] = []
        for name, _ in self._items:
            low = name.lower()
            if low not in seen:
                seen.append(low)
        return iter(seen)

    def __len__(self) -> int:
        return len({name.lower() for name, _ in self._items})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            mine = sorted((k.lower(), v) for k, v in self._items)
            return mine == sorted((k.lower(), v) for k, v in other._items)
        if isinstance(other, Mapping):
            return dict(self.items()) == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = [(k, "[secure]" if k.lower() in _SENSITIVE else v) for k, v in self._items]
        return f"Headers({shown!r})"
