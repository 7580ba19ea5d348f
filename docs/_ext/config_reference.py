"""``.. config-reference::``: every config key of dgno's schema with its type, default, comment and check.

Generated from the frozen dataclasses of :mod:`dgno.config.schema` (their fields, types and defaults, and the comment
written beside each field) and from the range checks of its ``check_config`` (the ``_check_int`` / ``_check_float``
calls), so the reference is never written twice by hand.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing

from docutils import nodes
from docutils.parsers.rst import Directive


def _comments(cls) -> dict[str, str]:
    """The comment beside (and continued under) each field of a dataclass's source."""
    out, last = {}, None
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+):\s[^#]*?(#\s*(.*))?$", line)
        if m and not line.strip().startswith("#") and "=" in line:
            last = m.group(1)
            out[last] = (m.group(3) or "").strip()
        elif line.strip().startswith("#") and last is not None:
            text = line.strip().lstrip("#").strip()
            if out.get(last):
                out[last] += " " + text
            else:
                out[last] = text
        elif line.strip() and not line.strip().startswith("#"):
            last = None if not m else last
    return out


def _checks() -> dict[str, str]:
    from dgno.config import schema

    src = inspect.getsource(schema.check_config)
    out = {}
    for kind, key, rest in re.findall(r'_check_(int|float)\(f?"([\w.{}]+)",\s*[^,]+(.*?)\)\n', src):
        args = rest.strip(", ")
        if kind == "int":
            lo, hi = (a.strip() for a in args.split(",")[:2])
            out[key] = f"integer in [{lo}, {hi}]"
        else:
            bound = args.replace("lo=", ">= ").replace("positive=True", "> 0")
            out[key] = "finite float" + (f" ({bound})" if args else "")
    return out


def _type(tp) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _rows(cls, prefix: str, checks: dict[str, str]):
    hints = typing.get_type_hints(cls)
    notes = _comments(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _rows(tp, key + ".", checks)
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = ""
        yield key, _type(tp), repr(default), notes.get(f.name, ""), checks.get(key, "")


class ConfigReference(Directive):
    has_content = False

    def run(self):
        from dgno.config.schema import Config

        checks = _checks()
        table = nodes.table()
        group = nodes.tgroup(cols=5)
        table += group
        for width in (22, 14, 14, 40, 16):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        body = nodes.tbody()
        group += body

        def row(cells, header=False):
            r = nodes.row()
            for c in cells:
                entry = nodes.entry()
                entry += nodes.paragraph(text=c) if not header else nodes.strong(text=c)
                r += entry
            return r

        head += row(("key", "type", "default", "meaning", "checked"), header=True)
        for cells in _rows(Config, "", checks):
            body += row(cells)
        return [table]


def setup(app):
    app.add_directive("config-reference", ConfigReference)
    return {"version": "1.0", "parallel_read_safe": True}
