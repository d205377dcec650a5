"""Read a YAML configuration file that anyone may have written: any bytes in, a Python value or one
`YamlFileError` (line, column, key path, problem, fix) out; never a traceback, never a hang.

The document is built from libyaml's event stream, not from a composed node tree: the tree costs
about two thirds of the memory of a 100,000-entry file, and streaming lets the limits (nesting depth,
alias expansion, duplicate keys) be enforced while reading instead of after an exponential walk.
Positions of keys (for validation errors) are read by `compose_nodes` only when there is an error.
"""

from __future__ import annotations

import bisect
import codecs
import gc
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 64
# alias expansion: a value reached through aliases counts once per use; a YAML "billion laughs" file
# expands to 10^9 values from a few hundred bytes, a real file reuses a block a few times
MAX_EXPANDED = 5_000_000
MAX_EXPANSION_RATIO = 20

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)
# what YAML 1.1 refuses in a stream: C0 controls except tab, LF and CR; DEL; C1 controls except NEL;
# surrogates; the two non-characters; and a byte-order mark anywhere but the start
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]|(?<!^)\ufeff")
# what libyaml (YAML 1.1) takes for a line break besides LF and CRLF: NEL, LINE SEPARATOR, PARAGRAPH
# SEPARATOR and a CR alone. Most editors, and YAML 1.2 parsers, show no break there, so outside a quoted
# scalar one ends a comment or a plain value unseen and what follows it is read as keys of the file
_HIDDEN_BREAK = re.compile("[\x85\u2028\u2029]|\r(?!\n)")


@dataclass
class YamlFileError(Exception):
    """Why a file is not a usable YAML document; `line`/`column` are 1-based (0: not known)."""

    problem: str
    fix: str
    line: int = 0
    column: int = 0
    key_path: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" column {self.column}" if self.column else "") if self.line else ""
        parts = [part for part in (where, self.key_path or "(top level)") if part]
        return ": ".join([*parts, self.problem])


_ENV_FILE_FIX = "point --env at the YAML environment file (e.g. environments/staging.yaml)"


def decode(data: bytes, binary_fix: str = _ENV_FILE_FIX) -> str:
    """The text of a UTF-8 file (a UTF-8 byte-order mark is dropped); anything else is refused,
    naming what the bytes look like and the command that converts them."""
    if len(data) > MAX_BYTES:
        raise YamlFileError(
            f"the file is {len(data) / 1_048_576:.1f} MB; environment files are read up to "
            f"{MAX_BYTES // 1_048_576} MB",
            "split it, or check that --env points at the environment file and not at a dump or a log",
            line=1,
        )
    for bom, encoding in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                          (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise YamlFileError(
                f"the file is {encoding} (it starts with a {encoding} byte-order mark); environment files are UTF-8",
                f"convert it: iconv -f {encoding} -t UTF-8 FILE > FILE.utf8 && mv FILE.utf8 FILE "
                "(or save it as UTF-8 in your editor)",
                line=1,
            )
    if b"\x00" in data:
        at = data.index(b"\x00")
        line = data.count(b"\n", 0, at) + 1
        if data[1::2].count(0) > len(data) // 4 or data[0::2].count(0) > len(data) // 4:
            problem = "the file looks like UTF-16 without a byte-order mark (every other byte is NUL)"
            fix = "convert it: iconv -f UTF-16LE -t UTF-8 FILE > FILE.utf8 (UTF-16BE if that garbles it)"
        else:
            problem = "the file contains NUL bytes: it is a binary file, not YAML text"
            fix = binary_fix
        raise YamlFileError(problem, fix, line=line, column=at - (data.rfind(b"\n", 0, at) + 1) + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace")) + 1
        byte = data[exc.start]
        start = max(data.rfind(b"\n", 0, exc.start) + 1, exc.start - 16)
        stop = data.find(b"\n", exc.start)
        guess = data[start : min(exc.start + 16, stop if stop >= 0 else len(data))].decode("cp1252", "replace")
        raise YamlFileError(
            f"the file is not UTF-8: byte 0x{byte:02x} cannot start or continue a UTF-8 character "
            f"(read as Latin-1 it says {guess.strip()!r})",
            "convert it: iconv -f LATIN1 -t UTF-8 FILE > FILE.utf8 && mv FILE.utf8 FILE "
            "(or save it as UTF-8 in your editor)",
            line=line,
            column=column,
            key_path=path_at(data[: exc.start].decode("utf-8", "replace"), line, column),
        ) from None
    text = text.removeprefix("\ufeff")
    found = _FORBIDDEN.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        char = found.group()
        name = unicodedata.name(char, "a control character")
        raise YamlFileError(
            f"an invisible character U+{ord(char):04X} ({name}) is not allowed in YAML",
            f"delete it: it is invisible in most editors; `sed -n {line}p FILE | cat -A` shows where "
            "(often pasted from a chat or a PDF)",
            line=line,
            column=column,
            key_path=path_at(text[: found.start()], line, column),
        )
    hidden = _unquoted_break(text)
    if hidden is not None:
        line = text.count("\n", 0, hidden.start()) + 1
        column = hidden.start() - (text.rfind("\n", 0, hidden.start()) + 1) + 1
        char = hidden.group()
        if char == "\r":
            what = "a carriage return (CR, \\r) without a line feed after it"
            fix = ("end lines with LF or CRLF: `tr '\\r' '\\n' < FILE > FILE.unix` converts a file with old Mac "
                   "line endings; a lone CR inside a value belongs in double quotes as \\r")
        else:
            what = f"U+{ord(char):04X} ({unicodedata.name(char, 'NEXT LINE')})"
            escape = {"\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P"}[char]
            fix = (f"delete it (`sed -n {line}p FILE | cat -A` shows where), or write the value in double quotes "
                   f"with {escape} for it")
        raise YamlFileError(
            f"{what} outside quotes: YAML parsers end a comment or a plain value there unseen, and read the text "
            "after it as more of the file",
            fix,
            line=line,
            column=column,
            key_path=path_at(text[: hidden.start()], line, column),
        )
    return text


def _unquoted_break(text: str) -> re.Match[str] | None:
    """The first NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR or lone CR that is not inside a single- or
    double-quoted scalar (where it is text and ends nothing). Where the scanner stops on an error,
    everything after is taken as outside quotes."""
    first = _HIDDEN_BREAK.search(text)
    if first is None:
        return None
    starts: list[int] = []
    ends: list[int] = []
    with no_gc():
        loader: Any = _LOADER(text)
        try:
            while True:
                token = loader.get_token()
                if token is None:
                    break
                if isinstance(token, yaml.ScalarToken) and token.style in ("'", '"'):
                    starts.append(int(token.start_mark.index))
                    ends.append(int(token.end_mark.index))
        except yaml.YAMLError:
            pass
        finally:
            loader.dispose()
    for found in _HIDDEN_BREAK.finditer(text, first.start()):
        at = bisect.bisect_right(starts, found.start()) - 1
        if at < 0 or found.start() >= ends[at]:
            return found
    return None


# --- building the document from events ------------------------------------------------------------


@dataclass
class _Frame:
    """An open mapping or sequence while the events are read."""

    value: Any
    anchor: str | None
    line: int
    key_part: str | int | None  # where this collection sits in its parent
    size: int = 1  # values inside, aliases expanded
    pending_key: Any = None
    has_key: bool = False
    key_line: int = 0
    key_text: str | None = None
    seen: dict[str, int] = field(default_factory=dict)
    merges: list[dict[Any, Any]] = field(default_factory=list)
    merging: bool = False


def _part_in(stack: list[_Frame]) -> str | int | None:
    """Where a collection starting now sits in the open one (None: it is the document)."""
    if len(stack) == 1:
        return None
    parent = stack[-1]
    return parent.key_text if isinstance(parent.value, dict) else len(parent.value)


def _path(stack: list[_Frame]) -> str:
    out = ""
    for frame in stack[1:]:
        part = frame.key_part
        if part is None:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    parts = re.findall(r"\[[^]]*\]|\.?[^.[]+", out)
    if len(parts) > 8:
        out = "".join(parts[:6]) + "..." + parts[-1].lstrip(".")
    top = stack[-1] if stack else None
    if top is not None and isinstance(top.value, dict) and top.has_key and top.key_text is not None:
        out += f".{top.key_text}" if out else top.key_text
    return out


@contextmanager
def no_gc() -> Iterator[None]:
    """A large file creates millions of objects and none of them are garbage: without this, Python's
    cyclic collector walks them again and again (5x the parse time at 100,000 entries)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load(text: str) -> Any:
    """The document of `text` (None when empty), or YamlFileError."""
    with no_gc():
        loader = _LOADER(text)
        try:
            return _build(loader)
        except YamlFileError:
            raise
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise _syntax_error(text, exc, mark) from None
        except yaml.YAMLError as exc:
            raise YamlFileError(f"not valid YAML: {exc}", "check the quoting on that line", line=1) from None
        finally:
            loader.dispose()


def _syntax_error(text: str, exc: yaml.MarkedYAMLError, mark: Any) -> YamlFileError:
    line = mark.line + 1 if mark is not None else 0
    column = mark.column + 1 if mark is not None else 0
    problem = str(exc.problem or exc.context)
    fix = "check the indentation and quoting on that line and the one above it"
    source_line = text.split("\n", line)[line - 1] if 0 < line <= text.count("\n") + 1 else ""
    if source_line[: len(source_line) - len(source_line.lstrip())].count("\t"):
        problem += " (the line is indented with a tab)"
    if "maximum nesting depth" in problem:
        problem = "values are nested too deep (a run of unclosed [ or {)"
        fix = "an environment file needs a few levels of nesting; close the brackets on that line"
    elif "'\\t'" in problem or "tab)" in problem:
        fix = "indent with spaces, never tabs (YAML forbids tabs in indentation)"
    elif "could not determine a constructor" in problem or "tag" in problem:
        fix = "remove the `!tag`: environment files use plain YAML values only"
    elif "found undefined alias" in problem or "alias" in problem:
        fix = "define the anchor (`&name`) before its alias (`*name`), or write the value out"
    path = path_at(text, line, column)
    return YamlFileError(f"not valid YAML: {problem}", fix, line=line, column=column, key_path=path)


def _build(loader: Any) -> Any:
    stack: list[_Frame] = [_Frame([], None, 0, None)]
    anchors: dict[str, tuple[Any, int]] = {}
    events = 0
    while True:
        event: Any = loader.get_event()
        events += 1
        if isinstance(event, yaml.DocumentStartEvent) and stack[0].value:
            raise YamlFileError(
                "the file holds more than one YAML document (a second `---`)",
                "keep one environment per file: remove the `---` line and what follows, or move it to its own file",
                line=_line(event),
                column=_column(event),
            )
        if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentStartEvent, yaml.DocumentEndEvent)):
            continue
        if isinstance(event, yaml.StreamEndEvent):
            break
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise YamlFileError(
                    f"the alias *{event.anchor} names no anchor defined before it",
                    f"define `&{event.anchor}` on the value first, or write the value out",
                    line=_line(event),
                    column=_column(event),
                    key_path=_path(stack),
                )
            value, size = anchors[event.anchor]
            _add(stack, value, size, event, events)
            continue
        if isinstance(event, yaml.ScalarEvent):
            try:
                value = _scalar(loader, event)
            except YamlFileError as exc:
                exc.key_path = _path(stack)
                raise
            if event.anchor is not None:
                anchors[event.anchor] = (value, 1)
            _add(stack, value, 1, event, events)
            continue
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) > MAX_DEPTH:
                raise YamlFileError(
                    f"values are nested more than {MAX_DEPTH} levels deep",
                    "an environment file needs a few levels; check the indentation there, or a run of unclosed [ or {",
                    line=_line(event),
                    column=_column(event),
                    key_path=_path(stack),
                )
            if event.tag not in (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
                raise YamlFileError(
                    f"the tag {event.tag} is not allowed",
                    "remove the `!tag`: environment files use plain YAML values only",
                    line=_line(event),
                    column=_column(event),
                    key_path=_path(stack),
                )
            part = _part_in(stack)
            container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
            stack.append(_Frame(container, event.anchor, _line(event), part))
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = stack.pop()
            value = frame.value
            if frame.merges:
                merged: dict[Any, Any] = {}
                for source in reversed(frame.merges):
                    merged.update(source)
                value = {**merged, **value}
            if frame.anchor is not None:
                anchors[frame.anchor] = (value, frame.size)
            stack[-1].size += frame.size - 1  # _add counts the collection itself
            _add(stack, value, 1, event, events)
            continue
    root = stack[0].value
    return root[0] if root else None


def _scalar(loader: Any, event: Any) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _STR:
        return event.value
    if tag == _MERGE:
        return _MergeKey()
    constructor = loader.yaml_constructors.get(tag) if tag in _PLAIN_TAGS else None
    if constructor is None:
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {tag!r}", event.start_mark
        )
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        return constructor(loader, node)
    except (ValueError, OverflowError, TypeError) as exc:  # 5000 digits, a 30th of February, bad base64
        shown = event.value if len(event.value) <= 40 else event.value[:40] + "..."
        raise YamlFileError(
            f"the value {shown!r} cannot be read as {tag.rsplit(':', 1)[-1]}: {str(exc).split(';')[0]}",
            "quote it to keep it as text, or write a value of a sane size",
            line=_line(event),
            column=_column(event),
        ) from None


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1 if event.start_mark is not None else 0


def _column(event: Any) -> int:
    return int(event.start_mark.column) + 1 if event.start_mark is not None else 0


class _MergeKey:
    """The `<<` key: the value beside it is merged into the mapping."""


def _add(stack: list[_Frame], value: Any, size: int, event: Any, events: int) -> None:
    frame = stack[-1]
    frame.size += size
    if frame.size > MAX_EXPANDED or (frame.size > 10_000 and frame.size > MAX_EXPANSION_RATIO * events):
        raise YamlFileError(
            "aliases (*name) expand this file to more than "
            f"{min(frame.size, MAX_EXPANDED):,} values: a YAML alias bomb, or anchors reused far too often",
            "write the repeated blocks out, or reuse an anchor only a few times",
            line=_line(event),
            key_path=_path(stack),
        )
    container = frame.value
    if isinstance(container, list):
        container.append(value)
        return
    if not frame.has_key:
        if isinstance(value, _MergeKey):
            frame.merging = True
        elif isinstance(value, (dict, list)):
            raise YamlFileError(
                "a mapping or a list is used as a key",
                "keys are plain words: write `key: value`",
                line=_line(event),
                key_path=_path(stack),
            )
        frame.pending_key, frame.has_key = value, True
        frame.key_line, frame.key_text = _line(event), "<<" if frame.merging else str(value)
        return
    if frame.merging:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            raise YamlFileError(
                "`<<` merges mappings only",
                "write `<<: *anchor` where the anchor names a mapping",
                line=frame.key_line,
                key_path=_path(stack),
            )
        frame.merges.extend(sources)
        frame.merging = False
    else:
        key_text = frame.key_text or ""
        first = frame.seen.get(key_text)
        if first is not None:
            path = _path(stack)
            raise YamlFileError(
                f"declared twice (first on line {first}); YAML keeps only the last one",
                "merge the two blocks into one",
                line=frame.key_line,
                key_path=path,
            )
        frame.seen[key_text] = frame.key_line
        try:
            container[frame.pending_key] = value
        except TypeError:
            container[key_text] = value
    frame.has_key, frame.pending_key, frame.key_text = False, None, None


def path_at(text: str, line: int, column: int = 1) -> str:
    """The key path being written at `line`, `column` (1-based), read from the events before it."""
    cut = 0
    for _ in range(line - 1):
        cut = text.find("\n", cut) + 1
        if cut == 0:
            return ""
    cut += max(column - 1, 0) if line > 1 or column > 1 else 0
    if cut == 0:
        return ""
    written = len(text[:cut].rstrip())
    with no_gc():
        loader: Any = _LOADER(text[:cut])
        stack: list[_Frame] = [_Frame([], None, 0, None)]
        try:
            while len(stack) <= MAX_DEPTH:
                event: Any = loader.get_event()
                if isinstance(event, yaml.StreamEndEvent) or _reaches(event, cut, written):
                    break  # what the cut text ends with (the wrong part itself, or the ends of it all)
                if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                    part = _part_in(stack)
                    stack.append(_Frame({} if isinstance(event, yaml.MappingStartEvent) else [], None, 0, part))
                elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                    stack.pop()
                    _note(stack[-1], None)
                elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                    _note(stack[-1], getattr(event, "value", "*"))
        except yaml.YAMLError:
            pass
        finally:
            loader.dispose()
    return _path(stack)


def _reaches(event: Any, cut: int, written: int) -> bool:
    """Whether the event is what the cut text ends with: the wrong part itself, or the empty value and
    the ends the parser makes up at the cut (`written`: where the cut text's last non-blank ends)."""
    if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentStartEvent)):
        return False
    if isinstance(event, yaml.ScalarEvent) and event.value == "" and event.end_mark is not None:
        return int(event.end_mark.index) >= written
    mark = event.start_mark if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)) else event.end_mark
    return mark is not None and int(mark.index) >= cut


def _note(frame: _Frame, scalar: str | None) -> None:
    """Track keys and list positions only (for path_at)."""
    if isinstance(frame.value, list):
        frame.value.append(None)
    elif frame.has_key:
        frame.has_key, frame.key_text = False, None
    else:
        frame.has_key, frame.key_text = True, scalar


def compose_nodes(text: str) -> yaml.Node | None:
    """The node tree of a text `load` accepted, for the positions of keys in validation errors."""
    with no_gc():
        loader = _LOADER(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
