"""The sweep report on hand-made sweep folders (files written the way the runner writes them).

Expected numbers follow from the synthetic trajectories f − f* = f0 · rate**k: the exact first step
reaching Δf is ceil(log(Δf / f0) / log(rate)).
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from omegaconf import OmegaConf

from gradexp.report import build_report
from gradexp.sweep import SweepCallback
from tests.conftest import run_cli

import json
import math
from pathlib import Path

TARGETS = ("1e1", "1e-1", "1e-3", "1e-5", "1e-7")


def write_job(root: Path, num, overrides, starts=None, *, objective="himmelblau", dim=2, f_star=0.0,
              lr=0.01, steps=200, error=None, hydra_only=False, maximize=False, extra=None):
    """Write job folder ``root/num``.

    ``starts``: list of dicts with ``f0`` (start value), ``rate`` (f − f* = f0 · rate**step),
    ``status`` (converged / max_steps / diverged / error), ``steps`` (steps run), ``minimum``
    (index or None), ``x`` (start point). Runtimes rt_* are the exact first step
    k with f0 · rate**k <= Δf, written only when k <= steps run and f* is known. ``extra``: columns
    appended to summary and trace, one value per start (``group``, ``optimizer.lr`` of run.hparams).
    """
    extra = extra or {}
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if hydra_only:
        return job
    xs = [f"x{i}" for i in range(dim)]
    sxs = [f"start_x{i}" for i in range(dim)]
    head = ["start", "status", "steps", "f_final", *xs, "grad_norm", "f_best", "f_start", *sxs, "minimum",
            "message", "f_star", *[f"rt_{t}" for t in TARGETS], *extra]
    if error is not None:
        (job / "summary.csv").write_text(",".join(head) + "\n" + ",".join(
            "error" if h == "status" else (error if h == "message" else "") for h in head) + "\n")
    else:
        fs = "" if f_star is None else repr(f_star)
        rows, trace = [], ["start,step," + ",".join(xs) + ",f,grad_norm,lr" + "".join(f",{c}" for c in extra)]
        for i, s in enumerate(starts):
            base = 0.0 if f_star is None else f_star
            sign = -1.0 if maximize else 1.0
            n = s["steps"]
            logged = sorted({0, n} | {k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500) if k < n})
            for k in logged:
                gap = s["f0"] * s["rate"] ** k
                f = "inf" if (s["status"] == "diverged" and k == n) else repr(base + sign * gap)
                trace.append(f"{i},{k}," + ",".join("0.5" for _ in xs) + f",{f},1.0,{lr}"
                             + "".join(f",{v[i]}" for v in extra.values()))
            gap_end = s["f0"] * s["rate"] ** n
            f_final = "inf" if s["status"] == "diverged" else repr(base + sign * gap_end)
            rts = []
            for t in TARGETS:
                need = math.ceil(math.log(float(t) / s["f0"]) / math.log(s["rate"])) if s["f0"] > float(t) else 0
                ok = f_star is not None and s["status"] != "diverged" and need <= n and s["rate"] < 1
                rts.append(str(max(need, 0)) if ok else "")
            x = s.get("x", (0.0,) * dim)
            m = "" if s.get("minimum") is None else str(s["minimum"])
            rows.append([str(i), s["status"], str(n), f_final, *["0.5"] * dim, "1.0",
                         repr(base + sign * gap_end) if s["status"] != "diverged" else repr(base + sign * s["f0"]),
                         repr(base + sign * s["f0"]), *[repr(v) for v in x], m, "", fs, *rts,
                         *[str(v[i]) for v in extra.values()]])
        (job / "summary.csv").write_text(",".join(head) + "\n" + "".join(",".join(r) + "\n" for r in rows))
        (job / "trace.csv").write_text("\n".join(trace) + "\n")
    prov = {"gradexp": "0.1.0", "objective": objective, "dim": dim, "optimizer": "torch.optim.SGD", "lr": lr,
            "steps": steps, "starts": 0 if error else len(starts), "f_star": f_star, "maximize": maximize,
            "status": "error" if error else "complete", "error": error, "overrides": list(overrides)}
    (job / "provenance.json").write_text(json.dumps(prov))
    return job


def good(f0, rate, steps=200, minimum=0, x=(0.0, 0.0), status="max_steps"):
    """A start whose f − f* shrinks geometrically: f0 · rate**step."""
    return {"f0": f0, "rate": rate, "steps": steps, "status": status, "minimum": minimum, "x": x}


def diverged(f0, steps):
    """A start that diverged after ``steps`` steps (f_final = inf)."""
    return {"f0": f0, "rate": 2.0, "steps": steps, "status": "diverged", "minimum": None, "x": (4.0, 4.0)}


def standard_sweep(root: Path) -> Path:
    """Four jobs: sgd/adam × lr 0.01/10; sgd lr=10 has one diverged start; adam lr=10 failed.

    Starts (f − f* = f0 · rate**k, 200 steps each):
    - job 0 sgd 0.01: (100, 0.5) ×2 and (100, 0.9), (100, 0.99) — different speeds
    - job 1 sgd 10:   (100, 0.5), diverged at step 7, (100, 0.5), (100, 0.5)
    - job 2 adam 0.01: (100, 0.8) ×4
    - job 3 adam 10: error before any start.
    """
    pts = [(-4.0, -4.0), (4.0, -4.0), (-4.0, 4.0), (4.0, 4.0)]
    write_job(root, 0, ["optimizer=sgd", "optimizer.lr=0.01"],
              [good(100, 0.5, minimum=0, x=pts[0]), good(100, 0.5, minimum=1, x=pts[1]),
               good(100, 0.9, minimum=2, x=pts[2]), good(100, 0.99, minimum=3, x=pts[3])], lr=0.01)
    write_job(root, 1, ["optimizer=sgd", "optimizer.lr=10"],
              [good(100, 0.5, minimum=0, x=pts[0]), diverged(100, 7), good(100, 0.5, minimum=2, x=pts[2]),
               good(100, 0.5, minimum=3, x=pts[3])], lr=10.0)
    write_job(root, 2, ["optimizer=adam", "optimizer.lr=0.01"],
              [good(100, 0.8, minimum=m, x=p) for m, p in enumerate(pts)], lr=0.01)
    write_job(root, 3, ["optimizer=adam", "optimizer.lr=10"], error="optimizer blew up: lr too large", lr=10.0)
    return root


def _cli(*args):
    return run_cli(args, module="gradexp.report", timeout=120)


def _images(report_md):
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report_md.read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = standard_sweep(tmp_path_factory.mktemp("sweep"))
    res = build_report(root)
    return root, res


def test_builder_writes_tables_with_expected_rows(built):
    root, res = built
    assert (res["jobs"], res["done"], res["failed"], res["diverged"]) == (4, 3, 1, 1)
    ss = pd.read_csv(root / "sweep_summary.csv", dtype={"optimizer.lr": str})
    assert len(ss) == 4 + 4 + 4 + 1                    # every start, plus the failed job's error row
    assert list(ss.columns[:4]) == ["job", "optimizer", "optimizer.lr", "problem"]
    assert ss["optimizer.lr"].tolist().count("10") == 5  # values as written
    err = ss[ss["job"] == 3].iloc[0]
    assert err["status"] == "error" and "blew up" in err["message"]
    m = pd.read_csv(root / "metrics.csv", dtype={"optimizer.lr": str})
    assert len(m) == 4 * 5                             # 4 configurations x 5 targets
    for c in ["optimizer", "optimizer.lr", "target", "starts", "successes", "aRT", "success_rate", "budget"]:
        assert c in m.columns
    art = m.set_index(["optimizer", "optimizer.lr", "target"])["aRT"]
    # sgd lr=10: rate 0.5 from 100 -> Δf=10 at ceil(3.32)=4, three such starts; diverged one costs 7 steps
    assert art[("sgd", "10", 10.0)] == pytest.approx((4 + 7 + 4 + 4) / 3)
    # Δf=1e-7: ceil(log(1e-9)/log(0.5)) = ceil(29.9) = 30 -> (30*3 + 7) / 3
    assert art[("sgd", "10", 1e-7)] == pytest.approx(97 / 3)
    # sgd lr=0.01: 4, 4, ceil(21.85)=22 (rate 0.9); rate 0.99 needs 230 > 200 steps -> costs 200
    assert art[("sgd", "0.01", 10.0)] == pytest.approx((4 + 4 + 22 + 200) / 3)
    assert art[("adam", "10", 10.0)] == float("inf")   # failed job: no starts, no successes
    row = m[(m["optimizer"] == "sgd") & (m["optimizer.lr"] == "10")].iloc[0]
    assert (row["starts"], row["successes"], row["diverged"], row["budget"]) == (4, 3, 1, 800)


def test_report_lists_failure_best_configuration_and_existing_images(built):
    root, _ = built
    text = (root / "report.md").read_text()
    assert "optimizer blew up: lr too large" in text
    # sgd lr=10 has the smallest aRT at the tightest target (97/3 = 32.3)
    assert "**Best configuration:** `optimizer=sgd, optimizer.lr=10`" in text
    imgs = _images(root / "report.md")
    assert {"ecdf_himmelblau.png", "lr_himmelblau.png", "convergence_himmelblau.png",
            "basins_himmelblau.png", "profile.png"} <= set(imgs)
    for name in imgs:
        assert not name.startswith("/") and (root / name).stat().st_size > 1000
        assert (root / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rebuild_gives_the_same_report(built):
    root, _ = built
    first = (root / "report.md").read_text()
    metrics = (root / "metrics.csv").read_text()
    r = _cli(root)
    assert r.returncode == 0, r.stderr
    assert "report:" in r.stdout
    assert (root / "report.md").read_text() == first
    assert (root / "metrics.csv").read_text() == metrics


def test_cli_bad_folder_exits_2_with_one_line(tmp_path):
    for bad in (tmp_path / "missing", tmp_path):      # missing; exists but holds no job folder
        r = _cli(bad)
        assert r.returncode == 2
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert _cli("--help").returncode == 0


def test_holdout_chooses_on_tuning_and_scores_held_out(tmp_path):
    root = standard_sweep(tmp_path)
    r = _cli(root, "--holdout", "0.5", "--no-figures")
    assert r.returncode == 0, r.stderr
    h = pd.read_csv(root / "holdout.csv")
    assert sorted(h["family"]) == ["optimizer=adam", "optimizer=sgd"]
    # starts 1 and 3 are held out (frac(2φ)=.236, frac(4φ)=.472 < .5); tuning = starts 0, 2
    assert set(h["tuning_starts"]) == {2} and set(h["heldout_starts"]) == {2}
    sgd = h[h["family"] == "optimizer=sgd"].iloc[0]
    # tuning: lr=10 reaches 1e-7 at 30 and 30 (aRT 30); lr=0.01 at 30 and ceil(log(1e-9)/log(.9))=197
    assert sgd["chosen"] == "optimizer=sgd, optimizer.lr=10" and sgd["tuning_aRT"] == 30
    # held out for lr=10: start 1 diverged at 7, start 3 reached at 30 -> (7 + 30) / 1
    assert sgd["heldout_aRT"] == 37
    assert "Held-out check" in (root / "report.md").read_text()
    assert _cli(root, "--holdout", "1.5").returncode == 2


def test_job_with_only_hydra_folder_is_an_error_with_no_results(tmp_path):
    write_job(tmp_path, 0, ["optimizer=sgd"], [good(100, 0.5)])
    write_job(tmp_path, 1, ["optimizer=adam"], hydra_only=True)
    res = build_report(tmp_path)
    assert (res["done"], res["failed"]) == (1, 1)
    ss = pd.read_csv(tmp_path / "sweep_summary.csv")
    row = ss[ss["job"] == 1].iloc[0]
    assert row["status"] == "error" and row["message"] == "no results"
    assert "no results" in (tmp_path / "report.md").read_text()


def test_unknown_f_star_uses_best_seen_and_logged_steps(tmp_path):
    write_job(tmp_path, 0, ["optimizer=sgd"], [good(100, 0.5), diverged(100, 7)], f_star=None, objective="expression")
    write_job(tmp_path, 1, ["optimizer=adam"], [good(100, 0.8), good(100, 0.8)], f_star=None, objective="expression")
    build_report(tmp_path)
    m = pd.read_csv(tmp_path / "metrics.csv")
    assert set(m["f_star_source"]) == {"best seen"}
    # best f seen = 100 * 0.5**200 ≈ 0; logged steps 0,1,2,5,10,20,50,100,200: rate 0.5 first <= 10 at
    # logged step 5 (exact would be 4); the diverged start costs its 7 steps -> aRT (5 + 7) / 1
    sgd = m[(m["optimizer"] == "sgd") & (m["target"] == 10)].iloc[0]
    assert sgd["aRT"] == 12 and sgd["successes"] == 1
    # rate 0.8: 100 * 0.8**10 = 10.7 > 10, 100 * 0.8**20 = 1.15 -> logged step 20 for both starts
    adam = m[(m["optimizer"] == "adam") & (m["target"] == 10)].iloc[0]
    assert adam["aRT"] == 20
    assert "approximate" in (tmp_path / "report.md").read_text()


def test_in_job_hparams_make_separate_configurations(tmp_path):
    # one job, run.hparams lr [0.1, 1]: group 0 = starts 0, 1; group 1 = starts 2, 3
    write_job(tmp_path, 0, ["optimizer=sgd"], [good(100, 0.5), good(100, 0.5), good(100, 0.9), good(100, 0.9)],
              extra={"group": [0, 0, 1, 1], "optimizer.lr": ["0.1", "0.1", "1", "1"]})
    write_job(tmp_path, 1, ["optimizer=adam"], [good(100, 0.8)] * 4)
    build_report(tmp_path)
    m = pd.read_csv(tmp_path / "metrics.csv", dtype={"optimizer.lr": str})
    assert len(m) == 3 * 5
    art = m.set_index(["optimizer", "optimizer.lr", "target"])["aRT"]
    assert art[("sgd", "0.1", 10.0)] == 4 and art[("sgd", "1", 10.0)] == 22
    assert m.loc[m["optimizer"] == "sgd", "starts"].tolist() == [2] * 10
    text = (tmp_path / "report.md").read_text()
    assert "lr_himmelblau.png" in text                 # lr varies (0.1, 1 and adam's provenance 0.01)


@pytest.mark.parametrize("case", ["one_job", "only_failed", "n_d", "zero_steps", "maximize"])
def test_edge_cases_do_not_crash(tmp_path, case):
    if case == "one_job":
        write_job(tmp_path, 0, [], [good(100, 0.5)])
    elif case == "only_failed":
        write_job(tmp_path, 0, ["optimizer.lr=1"], error="bad lr")
        write_job(tmp_path, 1, ["optimizer.lr=2"], hydra_only=True)
    elif case == "n_d":
        write_job(tmp_path, 0, ["objective.dim=3", "optimizer.lr=0.1"], [good(10, 0.5, minimum=0), good(10, 0.9)],
                  objective="rosenbrock", dim=3)
        write_job(tmp_path, 1, ["objective.dim=3", "optimizer.lr=1"], [good(10, 0.5, minimum=0), diverged(10, 3)],
                  objective="rosenbrock", dim=3)
    elif case == "zero_steps":
        write_job(tmp_path, 0, ["run.steps=0"], [good(100, 0.5, steps=0), good(1e-9, 0.5, steps=0)], steps=0)
    else:
        write_job(tmp_path, 0, ["objective.maximize=true"], [good(5, 0.5), good(5, 0.9)], f_star=4.0,
                  maximize=True)
    res = build_report(tmp_path)
    report = tmp_path / "report.md"
    for name in _images(report):
        assert (tmp_path / name).is_file()
    m = pd.read_csv(tmp_path / "metrics.csv")
    if case == "one_job":
        assert len(m) == 5 and "ecdf_himmelblau.png" in report.read_text()
    if case == "only_failed":
        assert res["failed"] == 2 and (m["aRT"] == float("inf")).all()
    if case == "n_d":
        assert not list(tmp_path.glob("basins_*.png"))
    if case == "zero_steps":
        # the second start is already within every target at step 0 (runtime 0): aRT = 0 / 1
        assert (m["aRT"] == 0).all() and (m["successes"] == 1).all()
    if case == "maximize":
        # f = 4 - 5 * rate**k: already within Δf = 10 at step 0; within Δf = 0.1 at
        # ceil(log(0.02)/log(0.5)) = 6 and ceil(log(0.02)/log(0.9)) = 38
        assert m.loc[m["target"] == 10, "aRT"].iloc[0] == 0
        assert m.loc[m["target"] == 0.1, "aRT"].iloc[0] == (6 + 38) / 2


def test_callback_builds_report_and_never_raises(tmp_path, capsys):
    root = standard_sweep(tmp_path / "sweep")
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(root)}}, "report": {"holdout": 0.5}})
    cb = SweepCallback()
    cb.on_multirun_start(cfg)
    cb.on_multirun_end(cfg)
    out = capsys.readouterr()
    assert "3 done, 1 failed" in out.out and str(root / "report.md") in out.out
    assert (root / "holdout.csv").is_file()
    bad = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "nothing")}}})
    SweepCallback().on_multirun_end(bad)            # must not raise
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "report not written" in err
