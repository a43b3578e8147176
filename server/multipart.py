"""The GraphQL multipart request spec, checked before anything runs: a malformed upload is a 400.

strawberry puts each file where the ``map`` part says; a ``map`` left out, or one naming a path
that does not exist, would run the mutation with the file's ``null`` placeholder instead (and an
``updateNotificationSettings`` would clear the logo it meant to replace).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


class MalformedMultipart(ValueError):
    """Why a multipart request does not follow the spec; the message says which part."""


def check(operations: Any, files_map: Any, file_names: Collection[str]) -> None:
    """Every mapped path must hold a ``null`` placeholder, every file must be mapped once, and
    every mapped name must be a file of the request."""
    if not isinstance(operations, Mapping | list):
        raise MalformedMultipart("the operations part must be a JSON object (or a batch)")
    if not isinstance(files_map, Mapping) or not files_map:
        raise MalformedMultipart("the map part must be a JSON object naming each file's variable")
    mapped: set[str] = set()
    for name, paths in files_map.items():
        if name not in file_names:
            raise MalformedMultipart(f"map names a file {name!r} that the request does not hold")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise MalformedMultipart(f"map[{name!r}] must be a list of variable paths")
        for path in paths:
            if not _is_placeholder(operations, path):
                raise MalformedMultipart(
                    f"map[{name!r}] names {path!r}, which is not a null variable of the operation"
                )
        mapped.add(name)
    unmapped = set(file_names) - mapped
    if unmapped:
        raise MalformedMultipart(f"file(s) {', '.join(sorted(unmapped))} are not in the map")


def _is_placeholder(operations: Any, path: str) -> bool:
    keys = path.split(".")
    if len(keys) < 2 or (isinstance(operations, Mapping) and keys[0] != "variables"):
        return False
    target: Any = operations
    for key in keys[:-1]:
        target = _step(target, key)
        if target is None:
            return False
    last = keys[-1]
    if isinstance(target, list):
        return last.isdigit() and int(last) < len(target) and target[int(last)] is None
    return isinstance(target, Mapping) and last in target and target[last] is None


def _step(target: Any, key: str) -> Any:
    if isinstance(target, list):
        return target[int(key)] if key.isdigit() and int(key) < len(target) else None
    if isinstance(target, Mapping):
        return target.get(key)
    return None
