"""The HTML pages' content (the browser test checks how they render): self-contained, tables, links."""

import base64
import re

import pytest

from conftest import run_cli_inprocess
from gradexp.html.markdown import inline, to_html
from gradexp.html.run import MAX_ROWS, run_page


def assert_offline(page: str) -> None:
    """Nothing the browser would fetch: no external script, style, image or font."""
    assert not re.search(r'(src|href)="(https?:)?//|<link|@import|url\(', page)


def test_inline_markdown():
    assert inline("a **b** *c* `x<y|*z*`") == "a <strong>b</strong> <em>c</em> <code>x&lt;y|*z*</code>"
    assert inline(r"f − f\*: <b>") == "f − f*: &lt;b&gt;"
    assert inline("Δf = 1e-7 (9/9 starts)") == "Δf = 1e-7 (9/9 starts)"


def test_markdown_table_and_job_links(tmp_path):
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "index.html").write_text("x")
    (tmp_path / "1").mkdir()
    md = ("# Title\n\n- **Swept:** `optimizer` ∈ {`sgd`}\n\n| # | configuration | aRT | job |\n|---|---|---|---|\n"
          "| 1 | `a=1` | **8** (9/9) | 0 |\n| 2 | `b\\|c` | ∞ (0/9) | 1 |\n")
    html = to_html(md, tmp_path)
    assert "<h1>Title</h1>" in html and "<li><strong>Swept:</strong> <code>optimizer</code>" in html
    assert '<table class="sortable">' in html
    assert '<a href="0/index.html">0</a>' in html and '<a href="1/">1</a>' in html
    assert "<code>b|c</code>" in html
    assert html.count("<tr>") == 3


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("page")
    res = run_cli_inprocess(["start=uniform", f"start.n={MAX_ROWS + 7}", "run.steps=20", "hydra.run.dir=r"],
                            cwd=base)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == f"gradexp: open {base / 'r' / 'index.html'}"
    return base / "r"


def test_run_page_is_self_contained(run_dir):
    page = (run_dir / "index.html").read_text(encoding="utf-8")
    assert page == run_page(run_dir)  # written from the run's table = rebuilt from summary.csv
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    for name, src in zip(("convergence.png", "trajectory.png"), srcs):
        assert base64.b64decode(src.split(",", 1)[1]) == (run_dir / name).read_bytes()
    assert_offline(page)
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == MAX_ROWS
    assert f"The first {MAX_ROWS} of {MAX_ROWS + 7} starts" in page


def test_report_page_embeds_every_figure(tmp_path):
    res = run_cli_inprocess(["-m", "optimizer=sgd,adam", "run.steps=20", "start.n=2", "hydra.sweep.dir=s"],
                            cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    sweep = tmp_path / "s"
    md = (sweep / "report.md").read_text()
    page = (sweep / "report.html").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    srcs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(figures) >= 3 and len(srcs) == len(figures)
    for name, src in zip(figures, srcs):
        assert base64.b64decode(src) == (sweep / name).read_bytes()
    assert_offline(page)
    assert '<a href="0/index.html">0</a>' in page and '<a href="1/index.html">1</a>' in page
