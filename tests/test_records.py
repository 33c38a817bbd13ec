"""The run tables and their CSV text against independent references.

``records.tables`` builds the trace straight from the logged arrays; the reference here is the
earlier construction (a frame per logged step, concatenated, sorted by start and step, duplicates
dropped). ``files.write_csv`` builds the CSV text with numpy; the reference is pandas' own
``to_csv``, byte for byte.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from gradexp import files, records, runner
from gradexp.outcome import Result
from tests.conftest import compose


# ------------------------------------------------------------------------------------------------
# reference: the trace and summary built with pandas concat / sort / drop_duplicates


def _reference_nearest_optimum(x, optima):
    """Index of the optimum within CLOSE_TO_OPTIMUM of each point, built value by value."""
    if not optima or len(x) == 0:
        return pd.array([pd.NA] * len(x), dtype="Int64")
    pts = np.array([c.x for c in optima], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        dist = np.linalg.norm(x[:, None, :] - pts[None, :, :], axis=-1)
    best = np.nanargmin(np.where(np.isnan(dist), np.inf, dist), axis=1)
    close = np.take_along_axis(dist, best[:, None], axis=1)[:, 0] <= records.CLOSE_TO_OPTIMUM
    return pd.array([int(b) if c else pd.NA for b, c in zip(best, close)], dtype="Int64")
def _reference_tables(problem, results, order, M, N, groups, maximize, f_opt, optima, x0, targets=None):
    from gradexp.outcome import INTERRUPTED, STATUS, TARGETS, target_column

    targets = TARGETS if targets is None else targets
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
        for ti, t in enumerate(targets):
            col = np.full(len(rows), np.nan)
            if res.hits is not None:
                h = res.hits.numpy()[:, ti].astype(np.float64)
                col = np.where(h >= 0, h, np.nan)
            fin[target_column(t)] = col
        # COCO's evaluation count at step k: k + 1, plus a closure optimizer's further evaluations before k
        extra = list(res.extra_evals)
        count = [float(k + 1 + (extra[k] if extra else 0)) for k in stop]
        fin["evals"] = count
        for t in targets:
            fin["evals" + target_column(t)[2:]] = [np.nan if np.isnan(k) else
                                                   float(k + 1 + (extra[int(k)] if extra else 0))
                                                   for k in fin[target_column(t)]]
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
    summary["minimum"] = _reference_nearest_optimum(summary[xcols].to_numpy(dtype=np.float64), optima)
    summary["message"] = np.where(summary["status"] == "diverged",
                                  "non-finite or runaway value at step " + summary["steps"].astype(str), "")
    summary["f_star"] = np.nan if f_opt is None else float(f_opt)
    rt_cols = [target_column(t) for t in targets]
    summary = summary[[c for c in summary.columns if c not in rt_cols] + rt_cols]
    for c in rt_cols:
        summary[c] = summary[c].astype("Int64")
    ev_cols = ["evals"] + ["evals" + c[2:] for c in rt_cols]
    summary = summary[[c for c in summary.columns if c not in ev_cols] + ev_cols]
    for c in ev_cols:
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


def _csv_reference(df):
    return df.to_csv(index=False, lineterminator="\n")


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
    "targets_coco": ["start=grid", "start.n=3", "run.steps=300", "report.targets=coco"],
    "targets_list_lbfgs": ["optimizer=lbfgs", "run.steps=6", "start=points", "start.points=[[0,0],[-4,4],[3,2]]",
                           "report.targets=[1e-2,30,0.5]"],
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
    # the CSV text of real tables is pandas' to the byte
    for df in (trace, summary):
        assert files.csv_text(df) == _csv_reference(df)


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


# ------------------------------------------------------------------------------------------------
# CSV text: pandas' to_csv to the byte
def _edge_frame():
    rng = np.random.default_rng(1)
    special32 = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45, -1e-45, 1.17549435e-38, 5.9e-39,
                          3.4028235e38, -3.4028235e38, 0.1, 1 / 3, math.pi, 16777217.0, 1e-5, 1e16, 123456.7],
                         dtype=np.float32)
    n = 400
    f32 = np.concatenate([special32, rng.integers(0, 2**32, n - len(special32), dtype=np.uint64)
                          .astype(np.uint32).view(np.float32)])
    special64 = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                          0.1, 1e16, 1e15, 123456789.0, 1e-5, 0.001], dtype=np.float64)
    f64 = np.concatenate([special64, rng.integers(0, 2**63, n - len(special64), dtype=np.int64).view(np.float64)])
    texts = np.array(["plain", "", "a,b", 'say "hi"', "two\nlines", "cr\rhere", " lead", "trail ", "ünï ✓",
                      "'single'", "tab\there", '"', ",", "x;y"], dtype=object)
    ints = np.array([0, -1, 1, 2**62, -(2**63), 2**63 - 1], dtype=np.int64)
    return pd.DataFrame({
        "start": np.arange(n),
        "f32": f32,
        "f64": f64,
        "f32_few": np.resize(np.array([0.001, 0.0, -0.0, np.nan, 0.01, np.inf], dtype=np.float32), n),
        "f64_few": np.resize(np.array([0.001, -0.0, 0.0, np.nan, 1e-7], dtype=np.float64), n),
        "i64": np.resize(ints, n),
        "u64": np.resize(np.array([0, 2**64 - 1, 7], dtype=np.uint64), n),
        "i8": np.resize(np.array([-128, 127, 0], dtype=np.int8), n),
        "Int64": pd.array(np.resize(np.array([1, None, -5, 2**40], dtype=object), n), dtype="Int64"),
        "flag": np.resize(np.array([True, False, False]), n),
        "obj": pd.Series(np.resize(np.append(texts, None), n), dtype=object),
        "text": pd.Series(np.resize(np.append(texts, np.nan), n)),
        "f16": np.resize(np.array([0.1, -0.0, np.nan, 65504.0, 6e-8], dtype=np.float16), n),
    })


def test_csv_text_is_pandas_to_the_byte_on_edge_cases(tmp_path):
    df = _edge_frame()
    assert files._csv_fields_of(df) is not None  # every column kind here is handled, not left to pandas
    want = _csv_reference(df)
    assert files.csv_text(df) == want
    files.write_csv(df, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == want.encode()
    # floats read back to the same bits (pandas' reader takes a bare \r in a text field for a line end)
    files.write_csv(df[["start", "f32"]], tmp_path / "f.csv")
    back = pd.read_csv(tmp_path / "f.csv", dtype={"f32": np.float32})
    keep = ~np.isnan(df["f32"].to_numpy())
    assert np.array_equal(back["f32"].to_numpy()[keep].view(np.uint32), df["f32"].to_numpy()[keep].view(np.uint32))


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"a": np.array([], dtype=np.float32), "b": pd.array([], dtype="Int64"), "c": pd.Series([], dtype=str)}),
    pd.DataFrame({"a": [np.nan, 1.5], "b": ["", None]}),          # a row of empty fields
    pd.DataFrame({"only": [np.nan, 1.0, np.nan]}),                # one column: pandas quotes an empty row
    pd.DataFrame({"when": pd.to_datetime(["2020-01-01", None]), "x": [1, 2]}),  # dates: left to pandas
    pd.DataFrame({"c": pd.Categorical(["a", "b"]), "x": [1.0, 2.0]}),           # categoricals: left to pandas
    pd.DataFrame({"t": [(0.9, 0.99), (0.8, 0.9)], "x": [1, 2]}),   # objects other than text: left to pandas
    pd.DataFrame({"v": pd.array([0.5, None], dtype="Float32"), "x": [1, 2]}),  # nullable floats: left to pandas
    pd.DataFrame([[1, 2]], columns=[0, 1]),                       # labels other than strings: left to pandas
    pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]),               # repeated labels: left to pandas
    pd.DataFrame({"a,b": [1.0], 'q"': ["x"]}),                     # labels that need quoting
])
def test_csv_text_small_and_unusual_frames(frame):
    assert files.csv_text(frame) == _csv_reference(frame)


def test_csv_text_of_a_failure_summary(tmp_path):
    """write_failure's one-row summary (missing start and steps, a message with a comma)."""
    summary = pd.DataFrame({"start": [pd.NA], "status": ["error"], "steps": [pd.NA], "f_final": [np.nan],
                            "message": ['ValueError: bad "x", see log']})
    assert files.csv_text(summary) == _csv_reference(summary)


@pytest.mark.parametrize("rows", [1, 3, 7, 50])
def test_write_csv_in_chunks_is_pandas_to_the_byte(tmp_path, rows, monkeypatch):
    """Written a few rows at a time (with a chunk that pandas has to write: an object column with a
    non-text value in it), the file is still pandas' text of the whole frame."""
    n = 20
    df = pd.DataFrame({
        "start": np.arange(n),
        "x0": np.linspace(-1, 1, n, dtype=np.float32),
        "lr": np.full(n, 1e-3),
        "rt": pd.array([i if i % 3 else pd.NA for i in range(n)], dtype="Int64"),
        # row 15 is not text: the chunk holding it goes to pandas
        "note": pd.Series([2.5 if i == 15 else "a,b" if i % 4 == 0 else 'say "hi"' if i % 4 == 1 else ""
                           for i in range(n)], dtype=object),
    })
    assert df["note"].dtype == object
    monkeypatch.setattr(files, "CSV_CHUNK_ROWS", rows)
    pieces = list(files.csv_chunks(df, rows=rows))
    assert len(pieces) == 1 + -(-n // rows)  # the header, then one piece per chunk
    path = tmp_path / "t.csv"
    files.write_csv(df, path)
    assert path.read_text() == _csv_reference(df) == "".join(pieces)
