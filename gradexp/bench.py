"""Benchmark: ``python -m gradexp.bench [--quick] [--out FILE.csv] [--cases ...]``.

Measures, in one process and one run (ratios are side by side, so they survive a noisy machine):

- ``tutorial``: the tutorial's loop (one start, a ``[d]`` tensor, torch.optim, a Python loop);
- ``bare``: one torch.optim optimizer on an ``[N, d]`` tensor and nothing else;
- ``runner``: ``gradexp.runner.run(cfg)`` (Hydra-composed config, default logging, plots off);
- ``cli``: ``python -m gradexp ...`` as a subprocess (start-up, run, CSV files, plots) into a temp dir;
- ``compiled``: the runner with ``run.engine=compiled`` (compile time reported apart, deviation
  from the exact path reported);
- ``help``: wall time of ``python -m gradexp --help``;
- ``hparams``: several lrs in one job (``+run.hparams={lr: [...]}``) vs a Hydra multirun of them;
- ``study``: the optimizer-visualisation study (2-D Rastrigin and Rosenbrock, one start, 200 steps,
  clipping 1.0, 600 Adam lrs, 40 × 30 SGD (lr, momentum) pairs and 600 Lion lrs (when
  pytorch-optimizer is installed) per function) with ``run.engine=vector``, plus the exact engine
  on a sample of candidates (time per candidate, max deviation);
- ``busy``: one process spinning beside the run; default threads vs 1 vs 2 at 64/1024/16384 starts;
- ``lion``: pytorch_optimizer.Lion, batched after the probe, vs Adam at 1024 starts;
- ``ladder``: ``report.targets=coco`` (COCO's 51 targets) vs the default 5, exact loop and vector
  engine, at 16384 starts;
- ``memory`` (only with ``--memory``): peak RSS of the CLI at 16384 starts × 20000 steps.

The tutorial loop runs one start; its point-steps/s is its rate per start, which is what running
N starts one after another would give. LBFGS couples the coordinates of a tensor, so it runs one
optimizer per start: its N is capped (``LBFGS_MAX_N``). Prints a table, PASS/FAIL per target, and
writes every row to a CSV file.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from gradexp.bench_common import OPT_KW, _compose, _overrides, runner_run

SIZES = (1, 64, 1024, 16384)
OPTIMIZERS = ("sgd", "adam", "rmsprop", "lbfgs")
LBFGS_MAX_N = 16  # LBFGS runs one optimizer per start (and only on the 2-D objective)
CASES = ("tutorial", "bare", "runner", "cli", "compiled", "help", "hparams", "study", "busy", "lion",
         "ladder")
OBJECTIVES = (("himmelblau", 2), ("rosenbrock", 50), ("rosenbrock", 10), ("bbob", 10))
LONG_S = 10.0  # a row whose measurements add up to more than this is long (fewer runs)
LONG_PAIRS = 3  # least runner runs (each between two bare ones) of a long row; CLI runs of a long row (one when a run > LONG_S)
# runner/bare is measured until its median is known to about +-PRECISION (long rows: +-LONG_PRECISION):
# short rows 2 x repeat - 1 runner runs at least, 4 x repeat - 1 at most; long rows LONG_PAIRS to
# 2 x LONG_PAIRS - 1. A quiet machine stops at the least; a noisy spell gets more runs, not a wrong ratio.
PRECISION = 0.015
LONG_PRECISION = 0.025
COLUMNS = ["case", "objective", "dim", "optimizer", "N", "steps", "seconds", "compile_seconds",
           "point_steps_per_s", "peak_rss_mb", "runner_over_bare", "cli_over_bare", "cli_over_tutorial",
           "speedup_vs_tutorial", "max_abs_dev", "note"]


def _rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def _starts(objective, dim, n):
    from gradexp.objectives import build
    from gradexp.starts import make_starts

    cfg = _compose(_overrides(objective, dim, "adam", n, 1))
    problem = build(cfg.objective)
    return problem, make_starts(cfg.start, problem, 0)


def _optimizer(opt, params):
    import torch

    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop,
           "lbfgs": torch.optim.LBFGS}[opt]
    return cls(params, **OPT_KW[opt])


def tutorial_loop(objective, dim, opt, steps) -> float:
    """The tutorial's loop on one start (a ``[d]`` tensor); returns seconds."""
    import torch

    problem, starts = _starts(objective, dim, 1)
    x = starts[0].clone().requires_grad_(True)
    func = problem.f
    if opt == "lbfgs":
        t0 = time.perf_counter()
        _closure_steps(func, x, opt, steps)
        return time.perf_counter() - t0
    o = _optimizer(opt, [x])
    t0 = time.perf_counter()
    for step in range(steps + 1):
        if step:
            o.zero_grad()
            f.backward()
            o.step()
        f = func(x)
    return time.perf_counter() - t0


def _closure_steps(func, x, opt, steps) -> None:
    """``steps`` steps of a closure optimizer (LBFGS) on the one start ``x``."""
    o = _optimizer(opt, [x])

    def closure():
        o.zero_grad()
        loss = func(x)
        loss.backward()
        return loss

    for _ in range(steps):
        o.step(closure)


def bare_loop(objective, dim, opt, n, steps) -> float:
    """One torch.optim optimizer on an ``[N, d]`` tensor, nothing else; returns seconds."""
    problem, starts = _starts(objective, dim, n)
    func = problem.f
    if opt == "lbfgs":  # per start, like the runner
        t0 = time.perf_counter()
        for i in range(n):
            _closure_steps(func, starts[i].clone().requires_grad_(True), opt, steps)
        return time.perf_counter() - t0
    x = starts.clone().requires_grad_(True)
    o = _optimizer(opt, [x])
    t0 = time.perf_counter()
    for _ in range(steps):
        o.zero_grad()
        func(x).sum().backward()
        o.step()
    return time.perf_counter() - t0


_RSS_WRAPPER = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; "
                "print('maxrss_kib=%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
                "sys.exit(r)")


def cli_run(args, timeout=3600):
    """``python -m gradexp ARGS`` into a temporary folder; returns (seconds, peak RSS MiB of the child)."""
    with tempfile.TemporaryDirectory(prefix="gradexp-bench-") as tmp:
        env = dict(os.environ, MPLBACKEND="Agg")
        extra = [] if "--help" in args else [f"hydra.run.dir={tmp}/run", f"hydra.sweep.dir={tmp}/multi",
                                             "run.stop_at_target=false"]  # (the whole budget of steps)
        t0 = time.perf_counter()
        # Through a small wrapper process: a child forked straight from this (large) process would
        # report this process's pages in its peak RSS (Linux keeps the high-water mark across exec).
        p = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, sys.executable, "-m", "gradexp", *args, *extra],
                           cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        dt = time.perf_counter() - t0
        err = p.stderr.decode()
        lines = err.rstrip().splitlines()
        if p.returncode != 0 or not lines or not lines[-1].startswith("maxrss_kib="):
            raise RuntimeError(f"python -m gradexp {' '.join(args)} failed: {err[-400:]}")
        return dt, int(lines[-1].split("=")[1]) / 1024.0


class Bench:
    """Collects rows, prints them and the targets."""

    def __init__(self):
        self.rows: list[dict] = []
        self.targets: list[tuple[str, bool | None, str]] = []

    def add(self, **row):
        full = {c: row.get(c, "") for c in COLUMNS}
        if full["seconds"] != "" and full["N"] != "" and full["steps"] != "" and not full["point_steps_per_s"]:
            full["point_steps_per_s"] = full["N"] * full["steps"] / max(full["seconds"], 1e-12)
        self.rows.append(full)
        print(_fmt_row(full), flush=True)
        return full

    def target(self, name, ok, detail):
        self.targets.append((name, ok, detail))

    def find(self, **keys):
        for r in self.rows:
            if all(r.get(k) == v for k, v in keys.items()):
                return r
        return None


def _fmt(v, w):
    if isinstance(v, float):
        s = f"{v:.3g}" if abs(v) < 1e5 else f"{v:.3e}"
    else:
        s = str(v)
    return s[:w].rjust(w)


WIDTHS = dict(case=9, objective=10, dim=3, optimizer=7, N=6, steps=5, seconds=8, compile_seconds=7,
              point_steps_per_s=10, peak_rss_mb=7, runner_over_bare=6, cli_over_bare=6, cli_over_tutorial=9,
              speedup_vs_tutorial=9, max_abs_dev=8)
HEAD = dict(case="case", objective="objective", dim="d", optimizer="opt", N="N", steps="steps", seconds="seconds",
            compile_seconds="compile", point_steps_per_s="pt-steps/s", peak_rss_mb="RSS MB",
            runner_over_bare="run/bare", cli_over_bare="cli/bare", cli_over_tutorial="cli/tutor",
            speedup_vs_tutorial="x tutor", max_abs_dev="max dev")


def _fmt_row(r):
    return " ".join(_fmt(r[c], w) for c, w in WIDTHS.items()) + ("  " + r["note"] if r["note"] else "")


def bench_matrix(b: Bench, cases, sizes, optimizers, steps, objectives, repeat=5):
    """tutorial / bare / runner / cli / compiled rows for each objective × optimizer × N.

    tutorial and cli are each timed ``repeat`` times (rows taking over ``LONG_S`` seconds
    ``LONG_PAIRS`` times; a CLI run over ``LONG_S`` once) and the best time is reported. bare and
    runner alternate, starting and ending with bare, and runner/bare is the median over the runner
    runs of ``runner / mean(bare just before, bare just after)`` (``sandwich_ratios``): a slow spell
    of a shared machine that spans the three runs moves all of them, not the ratio. How many runs a
    row gets depends on how steady its ratios are (``more_runs_needed``). The compiled engine is
    measured at the largest N only (it is built for many starts; each configuration compiles once).
    """
    rep = f"best of up to {repeat}" if repeat > 1 else ""
    for objective, dim in objectives:
        for opt in optimizers:
            tut = None
            if dim > 2 and opt != "adam":
                continue
            if "tutorial" in cases:
                sec = min(tutorial_loop(objective, dim, opt, steps) for _ in range(repeat))
                tut = b.add(case="tutorial", objective=objective, dim=dim, optimizer=opt, N=1, steps=steps,
                            seconds=sec, speedup_vs_tutorial=1.0, note=_join("one start; rate per start", rep))
            for n in (sorted({min(n, LBFGS_MAX_N) for n in sizes}) if opt == "lbfgs" else sizes):
                if dim > 2 and (opt != "adam" or n < 1024):
                    continue  # keeps the default run short: d=50 for Adam at N >= 1024 only
                ov = _overrides(objective, dim, opt, n, steps)
                bare, runner, exact_summary = _bare_and_runner_rows(b, cases, objective, dim, opt, n, steps, ov,
                                                                    repeat)
                if "compiled" in cases and opt in ("sgd", "adam", "rmsprop") and n == max(sizes):
                    _compiled_row(b, objective, dim, opt, n, steps, ov, exact_summary, tut)
                if "cli" in cases and opt == "adam":
                    _cli_row(b, objective, dim, opt, n, steps, ov, tut, bare, repeat)
                if runner and tut:
                    runner["speedup_vs_tutorial"] = runner["point_steps_per_s"] / tut["point_steps_per_s"]
                if bare and tut:
                    bare["speedup_vs_tutorial"] = bare["point_steps_per_s"] / tut["point_steps_per_s"]


def _bare_and_runner_rows(b: Bench, cases, objective, dim, opt, n, steps, ov, repeat):
    """The bare and runner rows of one (objective, optimizer, N), timed alternately (see
    :func:`bench_matrix`): ``(bare row, runner row, the last runner summary)``, None for a case not run."""
    bare = runner = None
    bare_s, runner_s, exact_summary = [], [], None
    paired = "bare" in cases and "runner" in cases
    if paired:  # bare, runner, bare, runner, ..., bare: every runner run between two bare ones
        bare_s.append(bare_loop(objective, dim, opt, n, steps))
    while "bare" in cases or "runner" in cases:
        if "runner" in cases:
            sec, exact_summary = runner_run(ov)
            runner_s.append(sec)
        if "bare" in cases:
            bare_s.append(bare_loop(objective, dim, opt, n, steps))
        if not more_runs_needed(bare_s, runner_s, paired, repeat):
            break
    per = "per start" if opt == "lbfgs" else ""
    if bare_s:
        bare = b.add(case="bare", objective=objective, dim=dim, optimizer=opt, N=n, steps=steps,
                     seconds=min(bare_s), note=_join(per, _best_of(len(bare_s))))
    if runner_s:
        ratios = sandwich_ratios(bare_s, runner_s)
        ratio = statistics.median(ratios) if ratios else ""
        spread = ""
        if len(ratios) > 1:
            q1, q3 = _quartiles(ratios)
            spread = (f"run/bare = median of {len(ratios)} x (runner / mean of the bare runs just "
                      f"before and after), quartiles {q1:.3f}-{q3:.3f}")
        runner = b.add(case="runner", objective=objective, dim=dim, optimizer=opt, N=n, steps=steps,
                       seconds=min(runner_s), runner_over_bare=ratio, note=_join(per, _best_of(len(runner_s)), spread))
    return bare, runner, exact_summary


def _cli_row(b: Bench, objective, dim, opt, n, steps, ov, tut, bare, repeat) -> None:
    """The command line's row: the best of up to ``repeat`` runs, each right after a tutorial loop."""
    rep = f"best of up to {repeat}" if repeat > 1 else ""
    runs, speedups = [], []
    while len(runs) < repeat:
        # the tutorial's loop right before each CLI run: the pair's ratio is taken
        # on one machine state (the median over the pairs is reported)
        t_tut = tutorial_loop(objective, dim, opt, steps) if tut else None
        runs.append(cli_run([*ov, "plot.enabled=true"]))
        if t_tut:
            speedups.append(t_tut * n / runs[-1][0])
        if sum(r[0] for r in runs) > LONG_S and (len(runs) >= min(LONG_PAIRS, repeat) or runs[0][0] > LONG_S):
            break  # a few runs of a long row; one of a row longer than LONG_S
    sec, rss = min(r[0] for r in runs), max(r[1] for r in runs)
    speed = statistics.median(speedups) if speedups else ""
    b.add(case="cli", objective=objective, dim=dim, optimizer=opt, N=n, steps=steps, seconds=sec,
          peak_rss_mb=rss, cli_over_bare=sec / bare["seconds"] if bare else "",
          cli_over_tutorial=speed, speedup_vs_tutorial=speed,
          note=_join("cli/tutor = tutorial time for N starts one by one / CLI time, median over "
                     "(tutorial loop, CLI run) pairs timed back to back", rep))


def more_runs_needed(bare_s, runner_s, paired, repeat) -> bool:
    """Whether a bare/runner row needs another runner run (and bare run) after these timings.

    Unpaired rows (only bare or only runner) and long rows (over ``LONG_S`` seconds in all) take
    ``repeat`` runs (long: at most ``LONG_PAIRS``). A paired row goes on until the median of its
    sandwich ratios is known to ``PRECISION`` (``median_halfwidth``; long rows ``LONG_PRECISION``),
    between ``2 x repeat - 1`` and ``4 x repeat - 1`` runner runs (long rows ``LONG_PAIRS`` and
    ``2 x LONG_PAIRS - 1``); with ``repeat`` 1, one.
    """
    done = len(runner_s) or len(bare_s)
    long = sum(bare_s) + sum(runner_s) > LONG_S
    if not paired or repeat == 1:
        return done < (min(LONG_PAIRS, repeat) if long else repeat)
    least, most = (LONG_PAIRS, 2 * LONG_PAIRS - 1) if long else (2 * repeat - 1, 4 * repeat - 1)
    if done < least:
        return True
    if done >= most:
        return False
    return median_halfwidth(sandwich_ratios(bare_s, runner_s)) > (LONG_PRECISION if long else PRECISION)


def median_halfwidth(values) -> float:
    """About how far the median of ``values`` is from the median of their distribution (one standard
    error, from the quartiles: ``1.2533 x (IQR / 1.349) / sqrt(n)``, the normal case); inf below 4 values."""
    if len(values) < 4:
        return math.inf
    q1, q3 = _quartiles(values)
    return 1.2533 * (q3 - q1) / 1.349 / math.sqrt(len(values))


def _quartiles(values) -> tuple[float, float]:
    """The first and third quartiles of ``values`` (at least 2), inclusive method."""
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def sandwich_ratios(bare_s, runner_s) -> list[float]:
    """``runner[i] / mean(bare[i], bare[i + 1])``: each runner timing against the bare timings taken
    just before and just after it (``bare`` has one more entry). A change of the machine's speed that
    is linear over the three runs cancels; a pair ratio (one bare run next to one runner run) keeps it.
    """
    return [r / ((b0 + b1) / 2) for r, b0, b1 in zip(runner_s, bare_s, bare_s[1:])]


def _best_of(n):
    return f"best of {n}" if n > 1 else ""


def _join(*parts):
    return "; ".join(p for p in parts if p)


def _compiled_row(b, objective, dim, opt, n, steps, ov, exact_summary, tut):
    import numpy as np

    from gradexp import fast

    sec, summary = runner_run([*ov, "run.engine=compiled"])
    stats = dict(fast.LAST_STATS)
    dev = ""
    note = f"run only; chunk {stats.get('chunk')}, {stats.get('threads')} thread(s)"
    if exact_summary is not None:
        xc = [c for c in summary.columns if c.startswith("x") and c[1:].isdigit()]
        a = exact_summary[xc].to_numpy(dtype=np.float64)
        c = summary[xc].to_numpy(dtype=np.float64)
        ok = np.isfinite(a) & np.isfinite(c)
        dev = float(np.abs(a - c)[ok].max()) if ok.any() else float("nan")
        same = float((exact_summary["status"].to_numpy() == summary["status"].to_numpy()).mean())
        note += f"; status agree {100 * same:.2f}%; dev = max |x_final - exact|"
    run_s = stats.get("run_seconds", sec)
    pst = n * steps / max(run_s, 1e-12)
    b.add(case="compiled", objective=objective, dim=dim, optimizer=opt, N=n, steps=steps, seconds=run_s,
          compile_seconds=stats.get("compile_seconds", ""), point_steps_per_s=pst, max_abs_dev=dev,
          speedup_vs_tutorial=pst / tut["point_steps_per_s"] if tut else "",
          note=note + f"; whole run {sec:.2f} s")


def bench_help(b: Bench):
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gradexp", "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    t = min(times)
    imp = subprocess.run([sys.executable, "-X", "importtime", "-m", "gradexp", "--help"], capture_output=True, text=True)
    top = []
    for line in imp.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            top.append((int(parts[1]), parts[2].strip()))
    heavy = ", ".join(f"{name} {us / 1e6:.2f}s" for us, name in sorted(top, reverse=True)[:3]
                      if not name.startswith(" "))
    b.add(case="help", seconds=t, note=f"best of 3; heaviest imports (cumulative): {heavy}")
    b.target("3. --help < 1 s", t < 1.0, f"{t:.2f} s")


def bench_hparams(b: Bench, steps, quick):
    lrs = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2][: (3 if quick else 8)]
    base = ["objective=himmelblau", "optimizer=adam", "start=grid", "start.n=8", f"run.steps={steps}"]
    one, _ = cli_run([*base, "+run.hparams={lr:[" + ",".join(map(str, lrs)) + "]}"])
    multi, _ = cli_run(["-m", *base, "optimizer.lr=" + ",".join(map(str, lrs)), "hydra/launcher=basic"])
    n = 64 * len(lrs)
    b.add(case="hp_job", objective="himmelblau", dim=2, optimizer="adam", N=n, steps=steps, seconds=one,
          note=f"{len(lrs)} lrs in one job (run.hparams), CLI wall time")
    b.add(case="hp_multi", objective="himmelblau", dim=2, optimizer="adam", N=n, steps=steps, seconds=multi,
          note=f"Hydra multirun of the same {len(lrs)} lrs; gain {multi / one:.2f}x")
    b.target("5. several lrs in one job vs multirun", multi > one, f"{multi / one:.2f}x faster ({one:.1f} s vs {multi:.1f} s)")


def _lion():
    for mod in ("pytorch_optimizer", "torch_optimizer"):
        try:
            m = __import__(mod)
            if hasattr(m, "Lion"):
                return f"{mod}.Lion"
        except ImportError:
            continue
    return None


STUDY_LIMIT_S = 6.9  # the whole study (every function, optimizer and candidate)


def _study_jobs(quick):
    """(objective, optimizer, overrides, candidates) of the optimizer-visualisation study."""
    import numpy as np

    n_lr, n_sgd_lr, n_mom = (20, 8, 5) if quick else (600, 40, 30)
    adam_lrs = [float(f"{v:.6g}") for v in np.logspace(-3, 0, n_lr)]
    lion_lrs = [float(f"{v:.6g}") for v in np.logspace(-4, -1, n_lr)]
    sgd_lrs = [float(f"{v:.6g}") for v in np.logspace(-4, -0.5, n_sgd_lr)]
    moms = [float(f"{v:.4g}") for v in np.linspace(0.0, 0.97, n_mom)]
    lion = _lion()
    jobs = []
    for objective, x in (("rastrigin", "[-2,3.5]"), ("rosenbrock", "[-2,2]")):
        base = [f"objective={objective}", "start=point", f"start.x={x}", "run.steps=200", "run.clip_grad_norm=1.0",
                "run.log.points=20"]
        jobs.append((objective, "adam", [*base, "optimizer=adam"], {"lr": adam_lrs}))
        jobs.append((objective, "sgd", [*base, "optimizer=sgd"], {"lr": sgd_lrs, "momentum": moms}))
        if lion:
            jobs.append((objective, "lion", [*base, "optimizer=custom", f"optimizer._target_={lion}",
                                             "optimizer.lr=1e-4"], {"lr": lion_lrs}))
    return jobs, lion


def _hparams_override(hp):
    return "+run.hparams={%s}" % ",".join(f"{k}:[{','.join(map(str, v))}]" for k, v in hp.items())


def bench_study(b: Bench, quick, sample=30):
    """The optimizer-visualisation study with ``run.engine=vector`` (every candidate in one job per
    function and optimizer), and the exact engine on a sample of candidates for the deviation."""
    import itertools

    import numpy as np

    jobs, lion = _study_jobs(quick)
    total = 0.0
    cands = 0
    worst = 0.0
    for objective, opt, ov, hp in jobs:
        n = int(np.prod([len(v) for v in hp.values()]))
        sec, summary = runner_run([*ov, _hparams_override(hp), "run.engine=vector"])
        total += sec
        cands += n
        # the exact path on every k-th candidate (the product's order), vector on the same ones
        combos = list(itertools.product(*hp.values()))
        picks = combos[:: max(1, len(combos) // sample)][:sample]
        keys = list(hp)
        xc = [c for c in summary.columns if c.startswith("x") and c[1:].isdigit()]
        idx = [combos.index(p) for p in picks]
        sample_rows = summary.iloc[idx][xc].to_numpy(np.float64)
        exact_sec = 0.0
        ex_rows = []
        for p in picks:  # one exact job per candidate, as the study would run them without this path
            sub = {k: [v] for k, v in zip(keys, p)}
            es, ex = runner_run([*ov, _hparams_override(sub)])
            exact_sec += es
            ex_rows.append(ex[xc].to_numpy(np.float64)[0])
        ex_rows = np.array(ex_rows)
        ok = np.isfinite(ex_rows).all(1) & np.isfinite(sample_rows).all(1)
        diff = np.abs(ex_rows - sample_rows).max(1)
        dev = float(diff[ok].max()) if ok.any() else float("nan")
        same = float((diff[ok] == 0).mean()) if ok.any() else float("nan")
        worst = max(worst, dev) if dev == dev else worst
        per = exact_sec / len(picks)
        b.add(case="study_vec", objective=objective, dim=2, optimizer=opt, N=n, steps=200, seconds=sec,
              max_abs_dev=dev, speedup_vs_tutorial=per * n / sec,
              note=f"run.engine=vector, all candidates in one job; exact one job per candidate "
                   f"{per:.3f} s (x tutor = exact jobs one by one / vector); {100 * same:.0f}% of "
                   f"{len(picks)} sampled candidates bit-identical, dev = max |x_final - exact|")
    note = "" if lion else " (Lion skipped: pytorch-optimizer not installed)"
    limit = STUDY_LIMIT_S
    b.target("6. optimizer study (vector engine)", None if quick else total <= limit,
             f"{cands} candidates x 200 steps: {total:.2f} s (limit {limit:.2f} s); max deviation from "
             f"the exact path on the sample {worst:.3g}{note}")


def bench_memory(b: Bench, quick):
    steps = 2000 if quick else 20000
    sec, rss = cli_run(["objective=himmelblau", "optimizer=adam", "start=grid", "start.n=128", f"run.steps={steps}"])
    b.add(case="memory", objective="himmelblau", dim=2, optimizer="adam", N=16384, steps=steps, seconds=sec,
          peak_rss_mb=rss, note="CLI subprocess, plots on; RSS from wait4")
    b.target("4. peak RSS < 1 GiB at 16384 x 20000", rss < 1024 if steps == 20000 else None, f"{rss:.0f} MiB at {steps} steps")


def _targets(b: Bench, steps):
    cli = b.find(case="cli", objective="himmelblau", optimizer="adam", N=16384)
    bare = b.find(case="bare", objective="himmelblau", optimizer="adam", N=16384)
    tut = b.find(case="tutorial", objective="himmelblau", optimizer="adam")
    if cli and bare and tut:
        speed = cli["speedup_vs_tutorial"]
        ok = speed >= 1000 and cli["seconds"] <= 2.5 * bare["seconds"] + 5
        b.target("1. CLI 16384 starts (Adam, Himmelblau)", ok,
                 f"{speed:.0f}x tutorial per point-step (>= 1000); {cli['seconds']:.1f} s vs "
                 f"2.5 x bare {bare['seconds']:.1f} s + 5 = {2.5 * bare['seconds'] + 5:.1f} s")
    ratios = [r for r in b.rows if r["case"] == "runner" and r["runner_over_bare"] != ""]
    if ratios:
        worst = max(ratios, key=lambda r: r["runner_over_bare"])
        big = [r for r in ratios if r["N"] >= 1024]
        b.target("2. runner <= 1.2 x bare loop (all rows)", worst["runner_over_bare"] <= 1.2 if steps >= 1000 else None,
                 f"worst {worst['runner_over_bare']:.2f} ({worst['objective']} {worst['optimizer']} N={worst['N']}); "
                 + (f"worst at N>=1024 {max(r['runner_over_bare'] for r in big):.2f}; " if big else "")
                 + f"median {sorted(r['runner_over_bare'] for r in ratios)[len(ratios) // 2]:.2f}")
    comp = [r for r in b.rows if r["case"] == "compiled" and r["N"] == 16384 and r["dim"] == 2]
    if comp:
        best = max(comp, key=lambda r: r["point_steps_per_s"])
        b.target("7. compiled >= 200 M point-steps/s at 16384", best["point_steps_per_s"] >= 2e8,
                 f"{best['point_steps_per_s'] / 1e6:.1f} M ({best['optimizer']}), compile {best['compile_seconds']:.1f} s, "
                 f"max dev {best['max_abs_dev']}")


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m gradexp.bench``."""
    p = argparse.ArgumentParser(prog="python -m gradexp.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes and steps (a smoke test, seconds)")
    p.add_argument("--out", default="bench.csv", help="CSV file to write (default bench.csv)")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma list of {','.join(CASES)}")
    p.add_argument("--sizes", default=None, help="comma list of start counts N (default 1,64,1024,16384)")
    p.add_argument("--optimizers", default=None, help="comma list of sgd,adam,rmsprop,lbfgs")
    p.add_argument("--objectives", default=None, help="comma list of himmelblau,rosenbrock50,rosenbrock10,bbob10 "
                                                             "(default all; bbob10 is BBOB f10 in 10-D)")
    p.add_argument("--steps", type=int, default=None, help="steps per start (default 2000)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for this process")
    p.add_argument("--memory", action="store_true", help="also the 16384 x 20000 peak-RSS case")
    p.add_argument("--repeat", type=int, default=None,
                   help="time tutorial/cli up to this many times and keep the best; bare/runner rows take "
                        "2 x REPEAT - 1 to 4 x REPEAT - 1 runner runs, as their ratio needs (default 5; 1 with --quick)")
    return p


def main(argv=None):
    """Entry point of ``python -m gradexp.bench``."""
    p = _parser()
    a = p.parse_args(argv)
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    cases = [c for c in a.cases.split(",") if c]
    bad = [c for c in cases if c not in CASES]
    if bad:
        p.error(f"unknown case {bad[0]!r}; choose from {', '.join(CASES)}")
    sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else ([1, 16] if a.quick else list(SIZES))
    opts = a.optimizers.split(",") if a.optimizers else (["adam", "lbfgs"] if a.quick else list(OPTIMIZERS))
    steps = a.steps or (20 if a.quick else 2000)
    objs = list(OBJECTIVES)
    if a.objectives:
        objs = [o for o in OBJECTIVES if f"{o[0]}{o[1] if o[1] > 2 else ''}" in a.objectives.split(",")]
    if a.quick and not a.objectives:
        objs = objs[:1]
    b = Bench()
    print(f"gradexp benchmark: torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
          f"{steps} steps; load average {os.getloadavg()[0]:.1f}")
    print(" ".join(_fmt(HEAD[c], w) for c, w in WIDTHS.items()) + "  note")
    t0 = time.perf_counter()
    runner_run(_overrides("himmelblau", 2, "adam", 4, 5))  # warm-up: imports (pandas, records) out of the timings
    repeat = a.repeat if a.repeat is not None else (1 if a.quick else 5)
    if repeat < 1:
        p.error("--repeat must be >= 1")
    bench_matrix(b, cases, sizes, opts, steps, objs, repeat)
    if "help" in cases:
        bench_help(b)
    if "hparams" in cases:
        bench_hparams(b, 50 if a.quick else 500, a.quick)
    if "study" in cases:
        bench_study(b, a.quick, sample=5 if a.quick else 20)
    if "busy" in cases:  # one spinning process beside the run: default vs 1 vs 2 threads
        from gradexp.bench_busy import bench_busy

        bench_busy(b, 50 if a.quick else steps, repeat, sizes=(16, 64) if a.quick else (64, 1024, 16384))
    if "lion" in cases:  # pytorch_optimizer.Lion batched (gradexp.probe) vs Adam
        from gradexp.bench_lion import bench_lion

        bench_lion(b, 50 if a.quick else steps, repeat, n=16 if a.quick else 1024)
    if "ladder" in cases:  # report.targets=coco (51 targets) vs the default 5
        from gradexp.bench_ladder import bench_ladder

        bench_ladder(b, 50 if a.quick else steps, repeat, n=64 if a.quick else 16384)
    if a.memory:
        bench_memory(b, a.quick)
    _targets(b, steps)
    print(f"\ntargets (total {time.perf_counter() - t0:.0f} s, peak RSS of this process {_rss_mb():.0f} MiB):")
    for name, ok, detail in b.targets:
        print(f"  {'PASS' if ok else 'n/a ' if ok is None else 'FAIL'}  {name}: {detail}")
    with open(a.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(b.rows)
    print(f"wrote {a.out}")
    return b


if __name__ == "__main__":
    from gradexp import startup

    # As in `python -m gradexp`: no cyclic garbage collection over the imports, which are frozen once
    # the warm-up run has built its optimizer; a full collection during a timed row then walks that
    # row's objects, not torch's modules (~0.2 s each otherwise, at random points of the rows).
    startup.pause()
    main()
