"""``index.html`` of a run folder: what was run, the summary table and the run's figures, in one file."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

from gradexp.html import embed_image, esc, page, table, write

MAX_ROWS = 500  # summary rows shown (the whole table is summary.csv)
FIGURES = ("convergence.png", "trajectory.png", "surface.png", "trajectory.gif")
_HIDDEN = re.compile(r"^(start_x\d+|rt_.*|evals_.*|f_star)$")  # in summary.csv, not on the page
FACTS = ("objective", "dim", "optimizer", "lr", "steps", "starts", "seed", "f_star", "status", "error",
         "overrides", "finished", "seconds", "gradexp", "torch", "numpy", "threads", "platform")


def _facts(prov: dict) -> str:
    rows = []
    for key in FACTS:
        value = prov.get(key)
        if value is None or value == []:
            continue
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        rows.append(f"<tr><th>{esc(key)}</th><td>{esc(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>" if rows else ""


def _summary(path: Path, frame=None) -> tuple[str, str]:
    """(status counts line, table HTML) of summary.csv (or of ``frame``, its DataFrame, written the
    same way); empty strings when there is none."""
    counts = None
    if frame is not None:
        from gradexp.files import csv_text

        counts = Counter(frame["status"].astype(str).value_counts().to_dict()) if "status" in frame else Counter()
        n = len(frame)
        rows = list(csv.reader(io.StringIO(csv_text(frame.head(MAX_ROWS)))))
    else:
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
        except OSError:
            return "", ""
        n = len(rows) - 1
    if not rows:
        return "", ""
    header, data = rows[0], rows[1:]
    keep = [i for i, c in enumerate(header) if not _HIDDEN.match(c)]
    if counts is None:
        status = header.index("status") if "status" in header else None
        counts = Counter(r[status] for r in data if status is not None and len(r) > status)
    line = f"{n} starts: " + ", ".join(f"{k} {s}" for s, k in counts.most_common())
    shown = [[r[i] if i < len(r) else "" for i in keep] for r in data[:MAX_ROWS]]
    note = (f'<p class="note">The first {MAX_ROWS} of {n} starts; all of them: '
            f'<a href="summary.csv">summary.csv</a>.</p>' if n > MAX_ROWS else "")
    return line, table([header[i] for i in keep], shown) + note


def run_page(folder, summary=None) -> str:
    """The HTML text of a run folder's page (``summary``: the summary DataFrame, else summary.csv is read)."""
    folder = Path(folder)
    try:
        prov = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        prov = {}
    what = " × ".join(str(prov[k]) for k in ("objective", "optimizer") if prov.get(k))
    title = f"Run {folder.resolve().name}" + (f": {what}" if what else "")
    counts, summary = _summary(folder / "summary.csv", summary)
    figures = [n for n in FIGURES if (folder / n).is_file()]
    figures += sorted(p.name for p in folder.iterdir()
                      if p.suffix.lower() in (".png", ".gif") and p.name not in figures)
    files = " · ".join(f'<a href="{n}">{n}</a>' for n in ("trace.csv", "summary.csv", "provenance.json")
                       if (folder / n).is_file())
    parts = [f"<h1>{esc(title)}</h1>", f"<p>{esc(counts)}</p>" if counts else "",
             _facts(prov), f'<p class="note">Files: {files}. Click a column header to sort.</p>',
             "<h2>Figures</h2>" if figures else "",
             *(embed_image(folder / n, n.rsplit(".", 1)[0].replace("_", " ")) for n in figures),
             "<h2>Summary (one row per start)</h2>" if summary else "", summary]
    return page(title, "\n".join(p for p in parts if p))


def write_run_page(folder, summary=None) -> Path | None:
    """Write ``index.html`` into a run folder; None (and nothing written) when the folder cannot be written.

    Never raises for a folder it cannot read or write: the run's results are already on disk.
    """
    from gradexp.errors import ConfigError

    try:
        return write(Path(folder) / "index.html", run_page(folder, summary))
    except (OSError, ConfigError):
        return None
