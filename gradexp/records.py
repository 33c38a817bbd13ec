"""The trace and summary tables of a run, from the loop's or an engine's results.

Data flows one way: runner results -> these DataFrames -> files (:mod:`gradexp.files`: CSV, written
atomically) beside the provenance record (:mod:`gradexp.provenance`) -> plots.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gradexp.outcome import CLOSE_TO_OPTIMUM, DIVERGED, INTERRUPTED, STATUS, TARGETS, evals_column, target_column


def tables(problem, results, order, M, N, groups, maximize, f_opt, optima, x0, targets=TARGETS):
    """Build the ``trace`` and ``summary`` DataFrames from the runner's results.

    ``order[j]`` lists the global row numbers (start = row) that ``results[j]`` covers, each row in
    one result at most; rows no result covers (a per-start run cut short) are reported as
    ``interrupted`` after 0 steps. The trace holds, start by start, every logged step before the
    start stopped and then its final row (step = the step it stopped at).
    """
    xcols = [f"x{i}" for i in range(problem.dim)]
    group_of_row = np.repeat(np.arange(len(groups)), N)
    blocks, finals = [], []
    for res, rows in zip(results, order):
        rows = np.asarray(rows)
        blocks.append(_trace_block(res, rows, res.stop.numpy(), group_of_row))
        finals.append(_final_columns(res, rows, xcols, targets))
    trace = _trace_frame(blocks, xcols) if blocks else pd.DataFrame(columns=["start", "step", *xcols])
    # the summary's columns as arrays, then one DataFrame in the columns' final order
    cols = finals[0] if len(finals) == 1 else {k: np.concatenate([f[k] for f in finals]) for k in finals[0]}
    cols = _with_starts_never_begun(cols, M, x0, xcols)
    summary = _summary_frame(cols, xcols, x0, optima, f_opt, targets)
    hp_keys = list(groups[0].keys()) if groups and groups[0] else []
    if hp_keys:
        for frame in (trace, summary):
            g = group_of_row[frame["start"].to_numpy()]
            frame["group"] = g
            for key in hp_keys:  # the column's dtype is inferred from the groups' values
                frame[f"optimizer.{key}"] = pd.Series([grp[key] for grp in groups]).array.take(g)
    return trace, summary


def _final_columns(res, rows, xcols, targets) -> dict:
    """One result's summary columns as arrays (rt_*: the first step at each target, NaN if never)."""
    hits = res.hits.numpy() if res.hits is not None else None
    evals_at = _evals_at(res)
    return {
        "start": rows,
        "status": res.status.numpy().astype(np.intp),
        "steps": res.stop.numpy(),
        "f_final": res.f.numpy(),
        **{c: res.x.numpy()[:, i] for i, c in enumerate(xcols)},
        "grad_norm": res.g.numpy(),
        "f_best": res.f_best.numpy(),
        "f_start": res.log_f[0].numpy(),
        # first step at each target, -1 if never (as float: NaN where never)
        **{target_column(t): (np.full(len(rows), np.nan) if hits is None else
                              np.where(hits[:, ti] >= 0, hits[:, ti].astype(np.float64), np.nan))
           for ti, t in enumerate(targets)},
        "evals": evals_at(res.stop.numpy()),
        **{evals_column(t): (np.full(len(rows), np.nan) if hits is None else
                             np.where(hits[:, ti] >= 0, evals_at(hits[:, ti]), np.nan))
           for ti, t in enumerate(targets)},
    }


def _evals_at(res):
    """Step k -> the number of f-and-gradient evaluations up to and including step k's: k + 1,
    plus a closure optimizer's further evaluations (LBFGS) made in the steps before k."""
    extra = np.asarray(res.extra_evals, dtype=np.float64)

    def at(steps):
        steps = np.asarray(steps)
        if not len(extra):
            return steps + 1.0
        return steps + 1.0 + extra[np.clip(steps, 0, len(extra) - 1)]
    return at


def _with_starts_never_begun(cols, M, x0, xcols) -> dict:
    """``cols`` plus the starts no result covers (a per-start run cut short), ordered by start."""
    covered = np.zeros(M, dtype=bool)
    covered[cols["start"]] = True
    missing = np.flatnonzero(~covered)
    if len(missing):  # a per-start run cut short: the starts never begun
        x0_np = x0.numpy()
        extra = {"start": missing, "status": np.full(len(missing), INTERRUPTED, dtype=np.intp),
                 "steps": np.zeros(len(missing), dtype=np.int64),
                 **{c: x0_np[missing, i] for i, c in enumerate(xcols)}}
        cols = {k: np.concatenate([v, extra[k] if k in extra else np.full(len(missing), np.nan, dtype=v.dtype)])
                for k, v in cols.items()}
    start = cols["start"]
    if len(start) > 1 and not (start[1:] > start[:-1]).all():
        by_start = np.argsort(start, kind="stable")
        cols = {k: v[by_start] for k, v in cols.items()}
    return cols


def _summary_frame(cols, xcols, x0, optima, f_opt, targets) -> pd.DataFrame:
    """The summary DataFrame from its columns' arrays (one row per start, in start order)."""
    start, status = cols["start"], cols["status"]
    data = {"start": start, "status": pd.array(np.array(STATUS, dtype=object)[status], dtype="str")}
    data.update((k, cols[k]) for k in ("steps", "f_final", *xcols, "grad_norm", "f_best", "f_start"))
    starts_xy = x0.numpy()[start]
    for i in range(len(xcols)):
        data[f"start_x{i}"] = starts_xy[:, i]
    data["minimum"] = _nearest_optimum(np.column_stack([cols[c] for c in xcols]).astype(np.float64), optima)
    diverged = status == DIVERGED
    message = np.full(len(start), "", dtype=object)
    message[diverged] = [f"non-finite or runaway value at step {s}" for s in cols["steps"][diverged]]
    data["message"] = pd.array(message, dtype="str")
    data["f_star"] = np.full(len(start), np.nan if f_opt is None else float(f_opt))
    for t in targets:
        data[target_column(t)] = _int_na(cols[target_column(t)])
    data["evals"] = _int_na(cols["evals"])  # f-and-gradient evaluations, counted as COCO counts them
    for t in targets:
        data[evals_column(t)] = _int_na(cols[evals_column(t)])
    return pd.DataFrame(data, copy=False)


def _trace_block(res, rows, stop, group_of_row):
    """The trace rows of one result as flat arrays, start-major: per start (in the order of
    ``rows``) its logged steps before ``stop`` in increasing order, then its final row at ``stop``.

    A logged step < stop is a row; the final state is always one. A step logged twice keeps its
    last record.
    """
    m = len(rows)
    steps = np.asarray(res.log_steps, dtype=np.int64)
    by_step = np.argsort(steps, kind="stable")
    steps = steps[by_step]
    L = len(steps)
    latest = np.ones(L, dtype=bool)
    latest[:-1] = steps[:-1] != steps[1:]
    same_stop = m and (stop == stop[0]).all()
    # which cells are kept: [start, logged steps + the final row] (one row for all when they stopped together)
    keep = np.ones((1 if same_stop else m, L + 1), dtype=bool)
    keep[:, :L] = (steps[None, :] < stop[:len(keep), None]) & latest[None, :]

    x_log, f_log, g_log = ([t.numpy() for t in ts] for ts in (res.log_x, res.log_f, res.log_g))
    lr_final = np.asarray(res.lr_final.numpy(), dtype=np.float64)
    lr_table = np.asarray([res.log_lr[i] for i in by_step], dtype=np.float64)  # [L, groups]
    # step and lr are the same for every start of a logged step (lr: of its group): looked up, not gathered
    cells = _cells_same_stop if same_stop else _cells_apart
    grid, start, step, lr = cells(rows, stop, keep, steps, by_step, lr_table, lr_final, group_of_row[rows])
    return {
        "start": start,
        "step": step,
        "x": grid(x_log, res.x.numpy()),
        "f": grid(f_log, res.f.numpy()),
        "grad_norm": grid(g_log, res.g.numpy()),
        "lr": lr,
    }


def _cells_same_stop(rows, stop, keep, steps, by_step, lr_table, lr_final, groups):
    """Every start stopped at the same step (the usual case), so every start keeps the same
    columns (the final one last): each column is those columns side by side, start-major.
    Returns ``(grid, start, step, lr)``: ``grid(logged arrays, final array)`` gives a column."""
    m = len(rows)
    cols = np.flatnonzero(keep[0])
    logged_cols = cols[:-1]
    K = len(cols)

    def grid(logged, final):
        final = np.asarray(final)
        kept = [logged[by_step[j]] for j in logged_cols] + [final]
        return np.stack(kept, axis=1).reshape((m * K, *final.shape[1:]))

    lr = np.empty((m, K), dtype=np.float64)
    if len(logged_cols):
        lr[:, :-1] = lr_table[logged_cols].T[groups]  # each start's group's row
    lr[:, -1] = lr_final
    step = np.broadcast_to(np.append(steps[logged_cols], np.int64(stop[0])), (m, K)).reshape(-1)
    return grid, np.repeat(rows, K), step, lr.reshape(-1)


def _cells_apart(rows, stop, keep, steps, by_step, lr_table, lr_final, groups):
    """Starts that stopped at different steps: the kept (start, column) cells in start-major order,
    as flat indices into [L + 1, m] arrays (each logged array copied whole, then one gather per
    column builds the rows). Returns ``(grid, start, step, lr)`` as :func:`_cells_same_stop`."""
    m, L = len(rows), len(steps)
    r_idx, l_idx = np.nonzero(keep)
    flat = l_idx * m + r_idx

    def grid(logged, final):
        """The kept cells of [the logged [m, ...] arrays (in step order), the final one]."""
        final = np.asarray(final)
        out = np.empty((L + 1, m, *final.shape[1:]), dtype=np.result_type(*(logged[i] for i in by_step), final))
        for j, i in enumerate(by_step):
            out[j] = logged[i]
        out[L] = final
        return out.reshape(((L + 1) * m, *final.shape[1:]))[flat]

    final = l_idx == L
    logged = np.flatnonzero(~final)
    step = stop.astype(np.int64)[r_idx]
    step[logged] = steps[l_idx[logged]]
    lr = lr_final[r_idx]
    if L:
        lr[logged] = lr_table[l_idx[logged], groups[r_idx[logged]]]
    return grid, rows[r_idx], step, lr


def _trace_frame(blocks, xcols):
    """The trace DataFrame of the results' blocks, ordered by start (then step, within each block)."""
    cols = blocks[0] if len(blocks) == 1 else {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    start = cols["start"]
    if len(start) > 1 and not (start[1:] >= start[:-1]).all():
        by_start = np.argsort(start, kind="stable")
        cols = {k: v[by_start] for k, v in cols.items()}
    data = {"start": cols["start"], "step": cols["step"]}
    for i, c in enumerate(xcols):
        data[c] = cols["x"][:, i]
    data["f"] = cols["f"]
    data["grad_norm"] = cols["grad_norm"]
    data["lr"] = cols["lr"]
    return pd.DataFrame(data, copy=False)  # the columns as they are (no copy into 2-D blocks)


def _nearest_optimum(x, optima):
    """Index of the known optimum each final point lies within ``CLOSE_TO_OPTIMUM`` of (else <NA>)."""
    if not optima or len(x) == 0:
        return _int_na(np.full(len(x), np.nan))
    pts = np.array([c.x for c in optima], dtype=np.float64)
    dist = np.empty((len(x), len(pts)))  # [start, optimum] Euclidean distances
    with np.errstate(invalid="ignore", over="ignore"):
        for j, p in enumerate(pts):  # (the values of np.linalg.norm(x[:, None] - pts, axis=-1), ~2x faster)
            diff = x - p
            np.sqrt(np.add.reduce(diff * diff, axis=-1), out=dist[:, j])
    best = np.nanargmin(np.where(np.isnan(dist), np.inf, dist), axis=1)
    close = np.take_along_axis(dist, best[:, None], axis=1)[:, 0] <= CLOSE_TO_OPTIMUM
    return pd.arrays.IntegerArray(best.astype(np.int64), ~close)


def _int_na(values) -> pd.api.extensions.ExtensionArray:
    """A float array of whole numbers and NaN as a nullable Int64 array (NaN -> <NA>)."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)
