"""`--help`: every setting of a command with its default and its meaning, read from the comments
of the config files (vst/conf/), so that the page and the files cannot disagree. A key's meaning
is its line's comment, the comment lines right above it, and the comment lines under it
indented past its start."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from omegaconf import OmegaConf

KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_]\w*):(?:\s+(?P<value>[^#]*?))?\s*"
                 r"(?:#\s?(?P<note>.*))?$")
COMMENT = re.compile(r"^(?P<indent>\s*)#\s?(?P<note>.*)$")
SKIPPED = ("defaults", "hydra")  # top-level blocks that are not settings
WIDTH = 36


def _defaults(text: str) -> list[tuple[str, str]]:
    """(group, option) of a file's defaults list; ("", name) for a file of its own group."""
    block = re.search(r"^defaults:\n((?:[ \t]+-.*\n?)+)", text, re.M)
    entries = []
    for line in block.group(1).splitlines() if block else []:
        item = line.strip()[1:].split("#")[0].strip()
        if item.startswith("override") or item.endswith("_schema") or item == "_self_":
            continue
        group, _, option = item.rpartition(":")
        if group.strip().startswith("/"):
            continue
        entries.append((group.strip(), option.strip()))
    return entries


def _settings(path: Path, prefix: str) -> list[tuple[str, str, list[str]]]:
    """(dotted key, default, meaning lines) of every leaf key of one file, in file order."""
    rows: list[tuple[str, str, list[str]]] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings we are in
    above: list[str] = []              # comment lines right above the next key
    skipping: int | None = None        # the indent of a block we leave out
    last_indent = -1
    first = True  # the comments above a file's first key describe the file, not the key
    for line in path.read_text().splitlines():
        if not line.strip():
            above = []
            continue
        comment, key = COMMENT.match(line), KEY.match(line)
        if comment:
            indent = len(comment.group("indent"))
            if rows and rows[-1][0] and indent > last_indent and not above and skipping is None:
                rows[-1][2].append(comment.group("note"))  # the line under a key: more of its meaning
            else:
                above.append(comment.group("note"))
            continue
        if key is None:  # a list item or a wrapped value
            continue
        indent = len(key.group("indent"))
        if skipping is not None and indent > skipping:
            continue
        skipping = None
        while stack and stack[-1][0] >= indent:
            stack.pop()
        name = key.group("key")
        if (indent == 0 and name in SKIPPED) or name == "_target_":
            skipping, above = indent, []
            continue
        value, note = (key.group("value") or "").strip(), key.group("note")
        meaning = [*([] if first else above), *([note] if note else [])]
        first = False
        above, last_indent = [], indent
        dotted = ".".join([prefix, *(k for _, k in stack), name]).strip(".")
        if not value:  # a mapping: its keys follow; listed itself only where it says something
            stack.append((indent, name))
            rows.append((dotted if meaning else "", "", meaning))
            continue
        rows.append((dotted, value, meaning))
    return [r for r in rows if r[0]]  # (a mapping's default is "": its keys give theirs)


def settings_help(config_name: str) -> str:
    """The settings of vst/conf/<config_name>.yaml and of the presets it takes by default."""
    from vst.cli import CONF_DIR

    conf = Path(CONF_DIR)
    rows: dict[str, tuple[str, list[str]]] = {}

    def add(path: Path, prefix: str, group: str) -> None:
        text = path.read_text()
        for sub_group, option in _defaults(text):
            if option in ("null", ""):
                continue
            if sub_group:
                add(conf / sub_group / f"{option}.yaml", sub_group, sub_group)
            else:  # another file of the same group, which this one extends (loss/auto -> perceptual)
                add(conf / group / f"{option}.yaml", prefix, group)
        for key, value, meaning in _settings(path, prefix):
            old = rows.get(key)
            rows[key] = (value, meaning or (old[1] if old else []))

    add(conf / f"{config_name}.yaml", "", "")
    own = [k for k in rows if "." not in k or k.split(".")[0] in ("vgg", "log")]
    ordered = own + [k for k in rows if k not in own]  # the command's own keys, then the presets'
    lines = []
    for key in ordered:
        value, meaning = rows[key]
        head = f"  {key}={value}" if value else f"  {key}"  # a mapping: its keys follow
        text = meaning or [""]
        lines.append(f"{head:<{WIDTH - 2}}  {text[0]}".rstrip())
        lines += [" " * WIDTH + t for t in text[1:]]
    return "\n".join(lines)


def presets_help() -> str:
    """Each group's presets (group=option), with the first line of each file's description."""
    from vst.cli import CONF_DIR

    lines = []
    for group in sorted(p for p in Path(CONF_DIR).iterdir() if p.is_dir()):
        lines.append(f"  {group.name}:")
        for option in sorted(group.glob("*.yaml")):
            notes = []  # the file's description: the comment lines before its first key
            for line in option.read_text().splitlines():
                m = COMMENT.match(line)
                if not m:
                    break
                if not m.group("note").startswith(("@package", " ")):  # not an indented example
                    notes.append(m.group("note").strip())
            first = re.split(r"(?<!al\.)(?<=\.)\s+(?=[A-Z])", " ".join(notes), maxsplit=1)[0]
            lines += textwrap.wrap(first, 100, initial_indent=f"    {group.name}={option.stem}".ljust(WIDTH),
                                   subsequent_indent=" " * WIDTH) or [f"    {group.name}={option.stem}"]
    return "\n".join(lines)


OmegaConf.register_new_resolver("vst_settings", settings_help, replace=True)
OmegaConf.register_new_resolver("vst_presets", presets_help, replace=True)
