"""report.html and a run's index.html rendered by headless Chromium: not blank, no script error,
figures decoded, the tables sort. Skipped only where Chromium is not installed."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli_inprocess

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed (Debian: apt-get install "
                                                        "chromium); the HTML pages are not rendered")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0"]

#: injected into a copy of the page: script errors, console.error and the figures' state go into the DOM,
#: then the first sortable table is sorted by its first column, twice (descending)
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function(e){ window.__errors.push(String(e.message)); });
var __ce = console.error; console.error = function(){ window.__errors.push([].join.call(arguments, ' ')); };
window.addEventListener('load', function(){
  var t = document.querySelector('table.sortable'), order = '';
  if (t) { var th = t.querySelector('thead th'); th.click(); th.click();
           order = [].map.call(t.tBodies[0].rows, function(r){ return r.cells[0].textContent.trim(); }).join('|'); }
  var imgs = [].slice.call(document.images);
  var p = document.createElement('pre'); p.id = 'probe';
  p.textContent = JSON.stringify({errors: window.__errors, images: imgs.length,
    broken: imgs.filter(function(i){ return !(i.complete && i.naturalWidth > 0); }).length, order: order});
  document.body.appendChild(p);
});
</script>"""


def _chromium(args, timeout=120):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout)


def render(page: Path, png: Path) -> dict:
    """Screenshot ``page`` into ``png``; return the probe's findings and the browser's console errors."""
    import json

    shot = _chromium([f"--screenshot={png}", "--window-size=1280,1600", page.resolve().as_uri()])
    probed = page.with_name(".probe_" + page.name)
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    try:
        dump = _chromium(["--virtual-time-budget=5000", "--dump-dom", probed.resolve().as_uri()])
    finally:
        probed.unlink()
    m = re.search(r'<pre id="probe">(.*?)</pre>', dump.stdout, re.S)
    assert m, f"the probe did not run in {page.name}: {dump.stderr[-500:]}"
    import html

    found = json.loads(html.unescape(m.group(1)))
    found["console"] = [ln for ln in shot.stderr.splitlines() if "CONSOLE" in ln]
    found["dom"] = dump.stdout
    return found


def assert_not_blank(png: Path) -> None:
    """The screenshot shows something: not (nearly) one colour, and a fair share of drawn pixels."""
    from PIL import Image

    img = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert img.shape[0] > 500 and img.shape[1] > 500
    assert img.std() > 10, f"{png.name} is nearly uniform (std {img.std():.1f})"
    assert (img < 200).mean() > 0.02, f"{png.name}: almost nothing drawn"


def check(page: Path, png: Path, min_images: int) -> dict:
    found = render(page, png)
    assert png.is_file()
    assert_not_blank(png)
    assert found["errors"] == [], found["errors"]
    assert not [ln for ln in found["console"] if "Uncaught" in ln or "Error" in ln], found["console"]
    assert found["images"] >= min_images and found["broken"] == 0, found
    assert "http://" not in found["dom"].split('<pre id="probe">')[0].replace("http://www.w3.org", "")
    return found


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("pages")
    res = run_cli_inprocess(["-m", "optimizer=sgd,adam", "optimizer.lr=0.01,0.1", "run.steps=60", "start.n=3",
                             "hydra.sweep.dir=s"], cwd=base)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == f"gradexp sweep: open {Path('s') / 'report.html'}"
    return base / "s"


def _ints(text: str) -> list:
    return [int(v) for v in text.split("|")]


def test_report_page_renders_and_sorts(sweep_dir, tmp_path):
    found = check(sweep_dir / "report.html", tmp_path / "report.png", min_images=3)
    ranks = _ints(found["order"])  # the "#" column sorted twice: descending
    assert ranks == sorted(ranks, reverse=True) and len(ranks) == 4
    jobs = re.findall(r'<a href="(\d+)/index.html">\1</a>', found["dom"])
    assert sorted(jobs) == ["0", "1", "2", "3"]
    for job in jobs:
        assert (sweep_dir / job / "index.html").is_file()


def test_run_page_renders_and_sorts(sweep_dir, tmp_path):
    found = check(sweep_dir / "0" / "index.html", tmp_path / "run.png", min_images=2)
    starts = _ints(found["order"])  # the start column, descending
    assert starts == list(range(8, -1, -1))


def test_blank_or_broken_pages_are_caught(sweep_dir, tmp_path):
    """The checks above fail on a blank page and on a page whose script throws."""
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><head></head><body></body></html>")
    with pytest.raises(AssertionError):
        check(blank, tmp_path / "blank.png", min_images=0)
    broken = tmp_path / "index.html"
    text = (sweep_dir / "0" / "index.html").read_text(encoding="utf-8")
    broken.write_text(text.replace("</body>", "<script>undefinedFunction();</script></body>"))
    with pytest.raises(AssertionError, match="undefinedFunction"):
        check(broken, tmp_path / "broken.png", min_images=2)
