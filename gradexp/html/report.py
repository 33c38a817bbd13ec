"""``report.html``: report.md of a sweep folder as one self-contained, sortable page."""

from __future__ import annotations

from pathlib import Path

from gradexp.html import esc, page, write
from gradexp.html.markdown import to_html

FILES = ("report.md", "sweep_summary.csv", "metrics.csv", "holdout.csv")


def write_report_page(root) -> Path:
    """Write ``report.html`` beside ``report.md`` in ``root``; returns its path."""
    root = Path(root)
    text = (root / "report.md").read_text(encoding="utf-8")
    title = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), "Sweep report")
    files = " · ".join(f'<a href="{esc(f)}">{esc(f)}</a>' for f in FILES if (root / f).is_file())
    body = to_html(text, root) + f'\n<p class="note">Files: {files}. Click a column header to sort a table; a job ' \
                                 "number opens that job's page.</p>"
    return write(root / "report.html", page(title, body))
