"""Loading recipe text (YAML or JSON) while keeping where each value was written.

The parser reports faults by path (``steps[2].quorum``) and by the line the
author sees, so loading keeps a map path -> 1-based line built from the node
tree PyYAML composes. Only safe types are constructed (``yaml.SafeLoader``);
duplicate keys, which PyYAML silently collapses, are faults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml

from .schema import Fault


@dataclass
class Loaded:
    """The data of a recipe, the line of every path in it, and loading faults."""

    data: Any = None
    lines: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)

    def line(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest written ancestor (a missing key
        is reported on the mapping that lacks it)."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = parent_path(path)


def parent_path(path: str) -> str:
    """``steps[2].quorum`` -> ``steps[2]`` -> ``steps`` -> ``""``."""
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path.rpartition(".")[0]


def child_path(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def dump_loaded(loaded: Loaded) -> str:
    """The loaded data and its lines as JSON text (``load_dumped`` reads it back):
    what a stored version is parsed from, ~5 times faster than its YAML. Raises
    TypeError for what JSON cannot hold (a mapping key that is not text)."""
    return orjson.dumps({"data": loaded.data, "lines": loaded.lines}).decode()


def load_dumped(text: str) -> Loaded:
    """``dump_loaded``'s text as a ``Loaded``. Raises ValueError if it is not that."""
    document = orjson.loads(text)
    if not isinstance(document, dict) or not isinstance(document.get("lines"), dict):
        raise ValueError("not a dumped recipe")
    return Loaded(data=document.get("data"), lines=document["lines"])


# A recipe is a page or two; anything far larger is a mistake or an attack.
MAX_SOURCE_CHARS = 200_000


def load_text(text: str) -> Loaded:
    """Load YAML (or JSON) text. Syntax errors become faults with their line."""
    if len(text) > MAX_SOURCE_CHARS:
        return Loaded(
            faults=[Fault("recipe", f"a recipe may be at most {MAX_SOURCE_CHARS} characters")]
        )
    try:
        is_json = text.lstrip().startswith(("{", "["))
        loaded = _load_json(text) if is_json else _load_yaml(text)
    except RecursionError:
        return Loaded(faults=[Fault("recipe", "the recipe is nested too deeply")])
    if _has_surrogate(loaded.data):
        # "\ud800" written as an escape: no UTF-8 encodes it, so it could be neither
        # stored nor shown (and a fault quoting it could not be rendered either).
        return Loaded(faults=[Fault("recipe", "the recipe contains an unpaired UTF-16 surrogate")])
    return loaded


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    """Whether any key or text in the data holds an unpaired surrogate. Each list or
    mapping is looked at once: YAML aliases share them (a "billion laughs" document)."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict | list) and id(item) not in seen:
            seen.add(id(item))
            stack.extend([*item.keys(), *item.values()] if isinstance(item, dict) else item)
    return False


def _load_json(text: str) -> Loaded:
    # JSON is YAML, but a JSON author deserves JSON's own error message.
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return Loaded(faults=[Fault("recipe", f"invalid JSON: {exc.msg}", exc.lineno)])
    located = _load_yaml(text)
    if _has_surrogate(located.data) and not _has_surrogate(data):
        # JSON escapes 🚀 as the pair "\ud83d\ude80", which YAML reads as two unpaired
        # surrogates: JSON's data, with YAML's lines (same text, same places).
        located.data = data
        located.faults = [Fault("recipe", f"duplicate key {key!r}") for key in duplicates]
        return located
    if not located.faults or located.data is not None:
        return located  # same data, with lines and located duplicate keys
    # Valid JSON that YAML refuses (tab indentation): keep the data, without lines.
    return Loaded(
        data=data,
        faults=[Fault("recipe", f"duplicate key {key!r}") for key in duplicates],
    )


# libyaml's loader, where PyYAML was built with it: about ten times faster than the
# pure-Python one, which costs a few milliseconds a recipe (most of a parse).
_FAST_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


def _load_yaml(text: str) -> Loaded:
    if _FAST_LOADER is not None and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        fast = _load_yaml_with(_FAST_LOADER, text)
        if not fast.faults:
            return fast
    # A fault (or characters the pure-Python reader refuses outright) is told in the
    # pure-Python loader's words and lines, whichever loader found it.
    return _load_yaml_with(yaml.SafeLoader, text)


def _load_yaml_with(loader_class: type[yaml.SafeLoader], text: str) -> Loaded:
    loaded = Loaded()
    try:
        loader = loader_class(text)  # the pure-Python one refuses control characters here
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        loaded.faults.append(Fault("recipe", f"invalid YAML: {_reader_problem(exc)}", line))
        return loaded
    try:
        node = loader.get_single_node()
        if node is None:
            loaded.faults.append(Fault("recipe", "the recipe is empty", 1))
            return loaded
        _walk(node, "", loaded, set())
        loaded.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        if exc.context and exc.problem and exc.context_mark:
            # "while parsing a flow sequence (line 5): expected ',' or ']'": the
            # problem is often found lines after where it began.
            problem = f"{exc.context} (line {exc.context_mark.line + 1}): {problem}"
        loaded.faults.append(
            Fault("recipe", f"invalid YAML: {problem}", mark.line + 1 if mark else None)
        )
        loaded.data = None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks its errors
        loaded.faults.append(Fault("recipe", f"invalid YAML: {exc}"))
        loaded.data = None
    finally:
        loader.dispose()
    return loaded


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    if isinstance(exc.character, int):
        return f"unacceptable character #x{exc.character:04x}: {exc.reason}"
    return str(exc.reason)


def _walk(node: yaml.Node, path: str, loaded: Loaded, visited: set[int]) -> None:
    """Record the line of every path, and refuse duplicate keys."""
    loaded.lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in visited:
        # An alias (*name) shares its anchor's node: walking it again would make a
        # "billion laughs" document cost exponential time.
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            sub = child_path(path, key)
            if key in seen:
                loaded.faults.append(
                    Fault(sub, f"duplicate key {key!r} (first written on line {seen[key]})", line)
                )
                continue
            seen[key] = line
            # The key's line, not the value's: a block value starts on the next line.
            loaded.lines[sub] = line
            _walk(value_node, sub, loaded, visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, child_path(path, index), loaded, visited)
