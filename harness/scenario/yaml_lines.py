"""YAML parsing that remembers the line of every mapping key and sequence item.

PyYAML forgets positions once objects are built and silently keeps the last of two
duplicate keys. Here the node graph is composed by PyYAML and turned into plain
Python data by our own walk, which records `path -> line` (paths are tuples of
keys and list indexes) and rejects duplicate keys.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
#: alias expansion beyond this many nodes is treated as an attack ("billion laughs")
MAX_NODES = 200_000


class YamlProblem(Exception):
    def __init__(self, line: int, message: str, path: Path = ()):
        super().__init__(message)
        self.line = line
        self.path = path
        self.message = message


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that builds data itself and records `path -> line` for every node."""

    def __init__(self, text: str):
        super().__init__(text)
        self.lines: dict[Path, int] = {(): 1}
        self.problems: list[YamlProblem] = []
        self._checked: set[int] = set()
        self._count = 0

    def load_tracked(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        self.lines[()] = node.start_mark.line + 1
        return self._build(node, (), frozenset())

    def _build(self, node: Node, path: Path, active: frozenset[int]) -> Any:
        self._count += 1
        if self._count > MAX_NODES:
            raise YamlProblem(node.start_mark.line + 1, "document too large (alias expansion?)")
        if isinstance(node, ScalarNode):
            if node.tag == _TIMESTAMP_TAG:
                return node.value  # dates stay text: no field of the format is a date
            try:
                return self.construct_object(node, deep=True)
            except yaml.YAMLError:
                raise
            except Exception as exc:  # e.g. `!!int abc`
                raise YamlProblem(node.start_mark.line + 1, f"bad value: {exc}", path) from None
        if id(node) in active:
            raise YamlProblem(node.start_mark.line + 1, "recursive alias", path)
        active = active | {id(node)}
        if isinstance(node, SequenceNode):
            return self._build_sequence(node, path, active)
        if isinstance(node, MappingNode):
            return self._build_mapping(node, path, active)
        raise YamlProblem(node.start_mark.line + 1, "unsupported YAML node", path)

    def _build_sequence(self, node: SequenceNode, path: Path, active: frozenset[int]) -> list:
        if node.tag != _SEQ_TAG:
            raise YamlProblem(node.start_mark.line + 1, f"unsupported YAML tag {node.tag}", path)
        items = []
        for index, item in enumerate(node.value):
            self.lines[path + (index,)] = item.start_mark.line + 1
            items.append(self._build(item, path + (index,), active))
        return items

    def _build_mapping(self, node: MappingNode, path: Path, active: frozenset[int]) -> dict:
        if node.tag != _MAP_TAG:
            raise YamlProblem(node.start_mark.line + 1, f"unsupported YAML tag {node.tag}", path)
        if id(node) not in self._checked:
            self._checked.add(id(node))
            self._check_keys(node, path)
            self.flatten_mapping(node)  # resolves `<<: *anchor` merges; own keys come last
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                continue  # reported by _check_keys
            # the key's text as written: `on:` or `yes:` must stay a string, not a boolean
            key = key_node.value
            self.lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = self._build(value_node, path + (key,), active)
        return result

    def _check_keys(self, node: MappingNode, path: Path) -> None:
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(YamlProblem(line, "a mapping key must be a plain name", path))
                continue
            key = key_node.value
            if key in first_line:
                self.problems.append(
                    YamlProblem(
                        line,
                        f"duplicate key '{key}' (first at line {first_line[key]})",
                        path + (key,),
                    )
                )
            else:
                first_line[key] = line


def parse(text: str) -> tuple[Any, dict[Path, int], list[YamlProblem]]:
    """Parse one YAML document: (data, lines, problems). Raises YamlProblem when unparsable."""
    loader: LineLoader | None = None
    try:
        loader = LineLoader(text)  # checks for unprintable characters right away
        data = loader.load_tracked()
        return data, loader.lines, loader.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        parts = [p for p in (exc.context, exc.problem) if p]
        raise YamlProblem(line, "YAML: " + ", ".join(parts or [str(exc)])) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise YamlProblem(line, f"YAML: {exc.reason} (character {_char(exc.character)})") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"YAML: {exc}") from None
    except RecursionError:
        raise YamlProblem(1, "YAML nesting too deep") from None
    finally:
        if loader is not None:
            loader.dispose()


def line_of(lines: dict[Path, int], path: Path) -> int:
    """The line of `path`, or of its nearest ancestor that is in the file."""
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 1)


def _char(character: int | str) -> str:
    code = character if isinstance(character, int) else ord(character[:1] or "\0")
    return f"U+{code:04X}"
