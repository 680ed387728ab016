"""Reading a YAML file people wrote by hand: the only module that imports PyYAML.

Every way a file can be wrong is one line "FILE:LINE: what" (never a traceback): syntax, nesting
deeper than MAX_DEPTH (100,000 `[` once hit Python's recursion limit) and values PyYAML cannot
build (`!!float abc`) stop the load; duplicate keys (PyYAML silently keeps the last) are
collected and the load goes on, so they are reported with the caller's other findings. Dates stay
text (`opens: 2027-02-30` made PyYAML raise a bare ValueError) so the caller parses them with its
own messages. Mappings come back as `Located` dicts that know their line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node

from outreach.errors import ValidationError

MAX_DEPTH = 32
MERGE_TAG = "tag:yaml.org,2002:merge"


class Located(dict[Any, Any]):
    """A mapping from the file, with the line (1-based) where it starts and each key's line."""

    line: int = 0
    key_lines: dict[Any, int]


class _Problem(yaml.MarkedYAMLError):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and deep nesting, and marks every failure."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self.duplicates: list[tuple[int, str]] = []  # (line, key): reported, the load goes on

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Problem(f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
            shown = node.value if isinstance(node.value, str) else node.tag
            shown = shown if len(shown) <= 40 else shown[:40] + "…"
            raise _Problem(f"cannot read the value {shown!r}: {exc}", node.start_mark) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, Any]] = set()
        for key_node, _value in node.value:
            if key_node.tag == MERGE_TAG or not isinstance(key_node.value, str):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                self.duplicates.append((key_node.start_mark.line + 1, key_node.value))
            seen.add(key)
        return super().construct_mapping(node, deep)


def _located_mapping(loader: _StrictLoader, node: MappingNode) -> Any:
    data = Located()
    data.line = node.start_mark.line + 1
    data.key_lines = {
        key.value: key.start_mark.line + 1 for key, _ in node.value if isinstance(key.value, str)
    }
    yield data
    data.update(loader.construct_mapping(node))


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _located_mapping)
_StrictLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    SafeConstructor.construct_yaml_str,  # type: ignore[type-var]
)


def load_yaml(path: Path, problems: list[str]) -> Any:
    """The one document in `path`; ValidationError "PATH:LINE: problem" if it cannot be read.

    Duplicate keys do not stop the load: each is appended to `problems` ("PATH:LINE: duplicate
    key ..."), so the caller reports them together with its own findings.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = text_line(exc.object, exc.start)
        raise ValidationError(f"{path}:{line}: not UTF-8 text") from None
    loader = _StrictLoader(text)
    try:
        data = loader.get_single_data()
        problems += [f"{path}:{line}: duplicate key {key!r}" for line, key in loader.duplicates]
        return data
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = "; ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise ValidationError(f"{where}: invalid YAML: {problem}") from None
    except (yaml.YAMLError, RecursionError, MemoryError) as exc:
        raise ValidationError(f"{path}: invalid YAML: {type(exc).__name__}") from None
    finally:
        loader.dispose()


def text_line(data: bytes, offset: int) -> int:
    """The 1-based line of byte `offset`."""
    return data.count(b"\n", 0, offset) + 1
