"""Self-contained HTML pages: ``report.html`` of a sweep and ``index.html`` of a run folder.

One file each, readable offline: figures embedded as base64 data URIs, the style and a small
table-sorting script inline, nothing fetched from the network. Built only from the files in the
folder (report.md, summary.csv, provenance.json, the PNGs), like the rest of the report.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

__all__ = ["page", "embed_image", "table", "esc"]

esc = html.escape

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:24px 32px;color:#1d2430;
background:#fff;max-width:1200px}
h1{font-size:1.5em;margin:.2em 0 .6em}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #dde}
h3{font-size:1.05em}code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f2f4f7;padding:1px 4px;
border-radius:3px}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:13px}
th,td{border:1px solid #d5d9e0;padding:3px 8px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef1f6;white-space:nowrap}th.sortable{cursor:pointer;user-select:none}th.sortable:after{content:" \\2195";color:#99a}
th[aria-sort=ascending]:after{content:" \\25B2";color:#334}th[aria-sort=descending]:after{content:" \\25BC";color:#334}
tbody tr:nth-child(even){background:#f8f9fb}tbody tr:hover{background:#eef4ff}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #e3e6eb}
figcaption{color:#556;font-size:13px}.note{color:#556}.missing{color:#a33}
a{color:#1f5fbf}
"""

SORT_JS = """
(function(){
function key(t){t=t.trim();var s=t.replace(/\\*/g,'').split(/[\\s(\\[]/)[0];
 if(s==='\\u221e')return Infinity;if(s==='\\u2212\\u221e')return -Infinity;
 var v=parseFloat(s.replace('\\u2212','-'));return isNaN(v)?t.toLowerCase():v;}
function cmp(a,b){var na=typeof a==='number',nb=typeof b==='number';
 if(na&&nb)return a-b;if(na)return -1;if(nb)return 1;return a<b?-1:a>b?1:0;}
document.querySelectorAll('table.sortable').forEach(function(tb){
 var ths=tb.querySelectorAll('thead th');
 ths.forEach(function(th,i){th.classList.add('sortable');th.title='sort by this column';
  th.addEventListener('click',function(){
   var asc=th.getAttribute('aria-sort')!=='ascending';
   ths.forEach(function(o){o.removeAttribute('aria-sort');});
   th.setAttribute('aria-sort',asc?'ascending':'descending');
   var body=tb.tBodies[0],rows=Array.prototype.slice.call(body.rows);
   rows.sort(function(r1,r2){var c=cmp(key(r1.cells[i].textContent),key(r2.cells[i].textContent));
    return asc?c:-c;});
   rows.forEach(function(r){body.appendChild(r);});});});});
})();
"""

MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}


def page(title: str, body: str) -> str:
    """A whole HTML document: ``body`` (HTML) with the inline style and sorting script."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style></head>\n<body>\n{body}\n"
            f"<script>{SORT_JS}</script>\n</body></html>\n")


def embed_image(path: Path, alt: str) -> str:
    """A ``<figure>`` with the image file embedded as a data URI (a note when it is missing)."""
    path = Path(path)
    mime = MIME.get(path.suffix.lower())
    try:
        data = path.read_bytes() if mime else None
    except OSError:
        data = None
    if data is None:
        return f'<p class="missing">figure {esc(path.name)} is missing</p>'
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return (f'<figure><img src="{uri}" alt="{esc(alt)}">'
            f"<figcaption>{esc(alt)} ({esc(path.name)})</figcaption></figure>")


def _is_number(text: str) -> bool:
    t = text.strip().replace("**", "").split(" ")[0].replace("−", "-")
    if t in ("∞", "-∞", "inf", "-inf"):
        return True
    try:
        float(t)
        return True
    except ValueError:
        return False


def table(header: list[str], rows: list[list[str]], sortable: bool = True, raw: bool = False) -> str:
    """An HTML table; cells are text (escaped) unless ``raw`` (already HTML); numbers right-aligned."""
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f"<th>{h if raw else esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for c in row:
            num = ' class="num"' if _is_number(_strip_tags(html.unescape(c)) if raw else c) else ""
            cells.append(f"<td{num}>{c if raw else esc(c)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{cls}><thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table>"


_TAG = re.compile(r"<[^>]+>")


def _strip_tags(text: str) -> str:
    return _TAG.sub("", text)


def write(path: Path, text: str) -> Path:
    """Write a page atomically (a temporary file renamed into place); returns ``path``."""
    from gradexp.files import atomic_write_text

    atomic_write_text(Path(path), text)
    return Path(path)
