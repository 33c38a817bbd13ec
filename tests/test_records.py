"""The run tables against an independent reference.

``records.tables`` builds the trace straight from the logged arrays; the reference here is the
earlier construction (a frame per logged step, concatenated, sorted by start and step, duplicates
dropped).
"""

import numpy as np
import pandas as pd
import pytest
import torch

from gradexp import records, runner
from gradexp.runner import Result
from tests.conftest import compose


# ------------------------------------------------------------------------------------------------
# reference: the trace and summary built with pandas concat / sort / drop_duplicates
def _reference_tables(problem, results, order, M, N, groups, maximize, f_opt, optima, x0):
    from gradexp.runner import INTERRUPTED, STATUS, TARGETS, target_column

    status_names = np.array(STATUS, dtype=object)
    d = problem.dim
    xcols = [f"x{i}" for i in range(d)]
    hp_keys = list(groups[0].keys()) if groups and groups[0] else []
    group_of_row = np.repeat(np.arange(len(groups)), N)

    def frame(rows, steps, x, f, g, lr):
        data = {"start": rows, "step": np.asarray(steps, dtype=np.int64)}
        for i, c in enumerate(xcols):
            data[c] = x[:, i]
        data["f"], data["grad_norm"], data["lr"] = f, g, lr
        return pd.DataFrame(data)

    traces, finals = [], []
    for res, rows in zip(results, order):
        rows = np.asarray(rows)
        stop = res.stop.numpy()
        for s, xs, fs, gs, lrs in zip(res.log_steps, res.log_x, res.log_f, res.log_g, res.log_lr):
            keep = stop > s
            if not keep.any():
                continue
            lr = np.asarray(lrs, dtype=np.float64)[group_of_row[rows]]
            traces.append(frame(rows[keep], np.full(keep.sum(), s), xs.numpy()[keep], fs.numpy()[keep],
                                gs.numpy()[keep], lr[keep]))
        traces.append(frame(rows, stop, res.x.numpy(), res.f.numpy(), res.g.numpy(), res.lr_final.numpy()))
        fin = {"start": rows, "status": status_names[res.status.numpy().astype(int)], "steps": stop,
               "f_final": res.f.numpy(), **{c: res.x.numpy()[:, i] for i, c in enumerate(xcols)},
               "grad_norm": res.g.numpy(), "f_best": res.f_best.numpy(), "f_start": res.log_f[0].numpy()}
        for ti, t in enumerate(TARGETS):
            col = np.full(len(rows), np.nan)
            if res.hits is not None:
                h = res.hits.numpy()[:, ti].astype(np.float64)
                col = np.where(h >= 0, h, np.nan)
            fin[target_column(t)] = col
        finals.append(pd.DataFrame(fin))

    trace = pd.concat(traces, ignore_index=True)
    summary = pd.concat(finals, ignore_index=True)
    covered = set(summary["start"].tolist())
    missing = [r for r in range(M) if r not in covered]
    if missing:
        extra = pd.DataFrame({"start": missing, "status": STATUS[INTERRUPTED], "steps": 0})
        for i, c in enumerate(xcols):
            extra[c] = x0[missing, i].numpy()
        summary = pd.concat([summary, extra], ignore_index=True)
    summary = summary.sort_values("start", kind="stable").reset_index(drop=True)
    trace = trace.sort_values(["start", "step"], kind="stable").reset_index(drop=True)
    trace = trace.drop_duplicates(["start", "step"], keep="last").reset_index(drop=True)

    starts_xy = x0.numpy()[summary["start"].to_numpy()]
    for i in range(d):
        summary[f"start_x{i}"] = starts_xy[:, i]
    summary["minimum"] = records._nearest_optimum(summary[xcols].to_numpy(dtype=np.float64), optima)
    summary["message"] = np.where(summary["status"] == "diverged",
                                  "non-finite or runaway value at step " + summary["steps"].astype(str), "")
    summary["f_star"] = np.nan if f_opt is None else float(f_opt)
    rt_cols = [target_column(t) for t in TARGETS]
    summary = summary[[c for c in summary.columns if c not in rt_cols] + rt_cols]
    for c in rt_cols:
        summary[c] = summary[c].astype("Int64")
    if hp_keys:
        for fr in (trace, summary):
            g = group_of_row[fr["start"].to_numpy()]
            fr["group"] = g
            for key in hp_keys:
                fr[f"optimizer.{key}"] = [groups[i][key] for i in g]
    return trace, summary


def assert_same_frame(got, want):
    """Same columns, dtypes, index and values; floats to the bit (NaN payloads and -0.0 included)."""
    assert list(got.columns) == list(want.columns)
    assert list(got.dtypes) == list(want.dtypes)
    assert got.index.equals(want.index) and type(got.index) is type(want.index)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    for c in want.columns:
        w = want[c].to_numpy()
        if isinstance(want[c].dtype, np.dtype) and want[c].dtype.kind == "f":
            u = f"u{w.dtype.itemsize}"
            assert np.array_equal(got[c].to_numpy().view(u), w.view(u)), c


class _FlagAfter:
    """A stop flag (like a Ctrl-C) that is set after ``n`` looks at it."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def set(self):
        self.n -= 1
        return self.n < 0


RUNS = {
    "grid": ["start=grid", "start.n=4", "run.steps=50"],
    "log_every": ["start=grid", "start.n=2", "run.steps=30", "run.log.every=7", "run.log.points=3"],
    "hparams": ["start=grid", "start.n=3", "run.steps=60", "+run.hparams={lr:[0.001,0.01]}"],
    "hparams_lists": ["start=grid", "start.n=2", "run.steps=20",
                      "+run.hparams={lr:[0.001,0.01],betas:[[0.9,0.999],[0.8,0.9]]}"],
    "schedule": ["start=grid", "start.n=2", "run.steps=40", "schedule=step"],
    "lbfgs": ["optimizer=lbfgs", "run.steps=5", "start=points", "start.points=[[0,0],[-4,4],[3,2]]"],
    "lbfgs_hparams": ["optimizer=lbfgs", "run.steps=4", "start=points", "start.points=[[0,0],[-4,4]]",
                      "+run.hparams={lr:[0.5,1.0]}"],
    "diverged": ["optimizer=sgd", "optimizer.lr=0.02", "run.steps=200", "start=points",
                 "start.points=[[0,0],[1e4,1e4],[3.5,-1.5],[-1e4,2]]"],
    "grad_tol": ["start=points", "start.points=[[3,2],[0,0]]", "run.steps=500", "run.grad_tol=1e-3"],
    "no_f_star": ["objective=expression", "objective.expr=\"x0**2-x1\"", "start=grid", "start.n=2",
                  "run.steps=20"],
    "vector": ["run.engine=vector", "start=grid", "start.n=3", "run.steps=40"],
}
INTERRUPTED = {  # (overrides, looks at the stop flag before it is set)
    "per_start_cut": (["optimizer=lbfgs", "run.steps=5", "start=points",
                       "start.points=[[0,0],[-4,4],[3,2],[1,1]]"], 7),
    "batched_cut": (["start=grid", "start.n=3", "run.steps=100"], 12),
}


def _tables_of(monkeypatch, overrides, flag_after=None):
    """Run a config; return (new trace, new summary, reference trace, reference summary, args)."""
    seen = {}
    new = records.tables

    def spy(*args):
        seen["args"] = args
        seen["ref"] = _reference_tables(*args)
        seen["new"] = new(*args)
        return seen["new"]

    monkeypatch.setattr(records, "tables", spy)
    if flag_after is None:
        runner.run(compose(*overrides))
    else:
        monkeypatch.setattr(runner, "_StopFlag", lambda: _FlagAfter(flag_after))
        with pytest.raises(KeyboardInterrupt):
            runner.run(compose(*overrides))
    return (*seen["new"], *seen["ref"], seen["args"])


@pytest.mark.parametrize("name", list(RUNS) + list(INTERRUPTED))
def test_tables_equal_the_concat_sort_reference(name, monkeypatch):
    overrides, flag_after = INTERRUPTED.get(name, (RUNS.get(name), None))
    trace, summary, ref_trace, ref_summary, args = _tables_of(monkeypatch, overrides, flag_after)
    assert_same_frame(trace, ref_trace)
    assert_same_frame(summary, ref_summary)
    if name == "per_start_cut":  # the starts never begun are in the summary, not the trace
        assert (summary["status"] == "interrupted").any() and summary["steps"].eq(0).any()
        assert trace["start"].nunique() < len(summary)
    if name == "diverged":
        assert (summary["status"] == "diverged").sum() == 2


def test_tables_with_unsorted_and_repeated_log_steps():
    """A step logged twice keeps its last record; logs out of order come out in step order."""
    from gradexp.objectives import build

    problem = build({"_target_": "gradexp.objectives.himmelblau", "dim": 2})
    rng = np.random.default_rng(0)
    M = 5
    steps = [0, 6, 2, 6, 4]

    def arr(*shape):
        return torch.tensor(rng.standard_normal(shape).astype(np.float32))

    res = Result(log_steps=steps, log_x=[arr(M, 2) for _ in steps], log_f=[arr(M) for _ in steps],
                 log_g=[arr(M) for _ in steps], log_lr=[[0.1 * (i + 1)] for i in range(len(steps))],
                 x=arr(M, 2), f=arr(M), g=arr(M), status=torch.tensor([2, 1, 2, 2, 0], dtype=torch.int8),
                 stop=torch.tensor([8, 6, 3, 0, 8]), f_best=arr(M), hits=None,
                 lr_final=torch.full((M,), 0.5, dtype=torch.float64))
    x0 = arr(M, 2)
    f_opt, optima = problem.optima(False)
    # two results, rows not in start order
    res2 = Result(**{**res.__dict__, "stop": torch.tensor([7, 7, 1, 2, 6])})
    args = (problem, [res, res2], [[7, 1, 5, 3, 9], [0, 2, 4, 6, 8]], 10, 10, [{}], False, f_opt, optima,
            torch.cat([x0, x0]))
    trace, summary = records.tables(*args)
    ref_trace, ref_summary = _reference_tables(*args)
    assert_same_frame(trace, ref_trace)
    assert_same_frame(summary, ref_summary)
