"""The subset of Markdown report.md uses, as HTML: headings, paragraphs, lists, tables, images,
``code``, **bold**, *italic* and backslash escapes. Images are embedded; a table column named
``job`` links each job to its folder's page."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gradexp.html import embed_image, esc, table

_CODE = re.compile(r"(`[^`]*`)")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])")
_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)\s]+)\)\s*$")


def inline(text: str) -> str:
    """One line of Markdown text as HTML (escaped)."""
    out = []
    for piece in _CODE.split(text):
        if piece.startswith("`") and piece.endswith("`") and len(piece) >= 2:
            out.append(f"<code>{esc(piece[1:-1])}</code>")
            continue
        saved: list[str] = []

        def keep(m):
            saved.append(m.group(1))
            return f"\x00{len(saved) - 1}\x00"

        s = esc(_ESCAPE.sub(keep, piece), quote=False)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
        s = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', s)
        s = re.sub(r"\x00(\d+)\x00", lambda m: esc(saved[int(m.group(1))]), s)
        out.append(s)
    return "".join(out)


def _cells(line: str) -> list[str]:
    s = line.strip()
    s = s[1:] if s.startswith("|") else s
    s = s[:-1] if s.endswith("|") and not s.endswith("\\|") else s
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", s)]


def _job_link(root: Path, text: str) -> str:
    """Each job name in a cell ("3" or "3, 7") linked to its folder's index.html (or the folder)."""
    from gradexp.report.runs import read_run_list

    elsewhere = read_run_list(root)  # a report over separate run folders
    links = []
    for name in [t.strip() for t in text.split(",") if t.strip()]:
        folder = elsewhere.get(name, root / name)
        if not folder.is_dir():
            links.append(esc(name))
            continue
        rel = Path(os.path.relpath(folder, root)).as_posix()
        href = f"{rel}/index.html" if (folder / "index.html").is_file() else f"{rel}/"
        links.append(f'<a href="{esc(href)}">{esc(name)}</a>')
    return ", ".join(links)


def _table(lines: list[str], root: Path) -> str:
    header = _cells(lines[0])
    rows = [_cells(ln) for ln in lines[2:]]
    job = header.index("job") if "job" in header else None
    html_rows = []
    for row in rows:
        row = row + [""] * (len(header) - len(row))
        cells = [inline(c) for c in row[:len(header)]]
        if job is not None:
            cells[job] = _job_link(root, row[job])
        html_rows.append(cells)
    return table([inline(h) for h in header], html_rows, sortable=len(rows) > 1, raw=True)


def to_html(text: str, root: Path) -> str:
    """report.md's text as an HTML body; images are read from ``root`` and embedded."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        img = _IMAGE.match(line.strip())
        if m:
            n = len(m.group(1))
            out.append(f"<h{n}>{inline(m.group(2))}</h{n}>")
            i += 1
        elif img:
            out.append(embed_image(root / img.group(2), img.group(1)))
            i += 1
        elif line.lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|?\s*:?-{3}", lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            out.append(_table(lines[i:j], root))
            i = j
        elif re.match(r"^\s*[-*]\s+", line):
            items = []
            while i < len(lines) and re.match(r"^\s*[-*]\s+", lines[i]):
                items.append("<li>" + inline(re.sub(r"^\s*[-*]\s+", "", lines[i])) + "</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"^(#|\||!\[|\s*[-*]\s)", lines[i]):
                para.append(inline(lines[i]))
                i += 1
            if not para:  # a line no rule above took (e.g. a lone "|"): show it as text
                para.append(inline(lines[i]))
                i += 1
            out.append("<p>" + " ".join(para) + "</p>")
    return "\n".join(out)
