"""Best f and the exact first step at which each start reaches each Δf target (the exact loop's).

The f of the last few steps are copied into one ``[window, M]`` buffer (the same memory every
block: holding each step's own f instead made every step allocate fresh memory, ~10 % at 16384
starts). Every ``window`` steps, f_best takes the block's least f (a NaN never counts) and the rows
whose f_best passed their next target are scanned: the exact first step reaching each target.
(After every scan, each row's next target is below its f_best.) Without targets (f* unknown)
f_best follows every step instead (one minimum). A scan is a dozen small operations that run cold
whatever the block's length and however many targets a row passed in it (``report.targets=coco``
has 51): with few rows the blocks are longer (128 steps, at most 512 KB of held f), so that there
are fewer of them.
"""

from __future__ import annotations

import math

import torch

from gradexp.bookkeeping import _nan_to_inf
from gradexp.outcome import TARGETS


class BestAndTargets:
    """f_best ([M], in the minimised sense) and ``hits`` ([M, T] first steps, -1 if never, or None
    without f*) for ``targets`` (Δf, loosest first). :meth:`update` takes each step's f; :meth:`flush`
    ends the last block."""

    def __init__(self, M: int, f_opt, sense: float, dev, targets=TARGETS):
        self.f_best = torch.full((M,), math.inf, dtype=torch.float32, device=dev)
        self.hits = self.thresholds = None
        if f_opt is not None:
            self.thresholds = torch.tensor([sense * f_opt + t for t in targets], dtype=torch.float32, device=dev)
            self.thr_ext = torch.cat([self.thresholds, torch.tensor([math.nan], device=dev)])  # NaN: none left
            self.hits = torch.full((M, len(targets)), -1, dtype=torch.long, device=dev)
            self.thr_next = self.thresholds[0].expand(M).clone()  # each row's next target (NaN after the last)
            self.level = torch.zeros(M, dtype=torch.long, device=dev)  # how many targets each row has reached
            self.n_targets = len(targets)
            self.thr_ascending = self.thresholds.flip(0).contiguous()
        self.M, self.dev = M, dev
        self.window = window = 128 if M <= 1024 else max(1, min(32, (1 << 22) // max(M, 1)))
        self.f_block = self.f_rows = None  # [window, M]: the block's f, one row per step (made at the first step)
        self.n_held = 0  # steps of the block in f_block
        self.held_nan = False  # some f in f_block may be NaN
        self.held_from = 0  # the step of f_block's first row
        self.threads = torch.get_num_threads()
        # a small block's work runs on one thread: for these few ops every `window` steps, waking a
        # second intra-op thread (and its spinning afterwards) costs more than it saves (~1-2 % at 1024
        # starts); a large block's (half a million f at 16384 starts) is faster on all of them
        self.solo = self.threads > 1 and window * M <= 1 << 17

    def update(self, k: int, fs, finite: bool) -> None:
        """Take step k's f (minimised sense); ``finite``: f's sum is finite (so no f is NaN)."""
        if self.thresholds is None:
            torch.minimum(self.f_best, fs if finite else _nan_to_inf(fs), out=self.f_best)
            return
        self.held_nan = self.held_nan or not finite
        if not self.n_held:
            self.held_from = k
            if self.f_block is None:
                self.f_block = torch.empty((self.window, self.M), dtype=fs.dtype, device=self.dev)
                self.f_rows = self.f_block.unbind(0)
        self.f_rows[self.n_held].copy_(fs)
        self.n_held += 1
        if self.n_held == self.window:
            self.flush()

    def flush(self) -> None:
        """The held block's f_best and target scan."""
        if not self.n_held:  # (f is held only when there are targets)
            return
        if self.solo:
            torch.set_num_threads(1)
        try:
            F = self.f_block[:self.n_held]
            if self.held_nan:
                F = _nan_to_inf(F)
            torch.minimum(self.f_best, F.amin(0), out=self.f_best)
            rows = torch.nonzero(self.f_best <= self.thr_next).squeeze(1)
            if rows.numel():
                self._scan_rows(rows, F)
        finally:
            if self.solo:
                torch.set_num_threads(self.threads)
        self.n_held = 0
        self.held_nan = False

    def _scan_rows(self, rows, F) -> None:
        # these rows reach at least their next target in the block. A row's running least f over the
        # block (cummin) falls step by step; the first step at or below a target is the number of
        # steps whose running least is still above it (NaN is inf here; a NaN never counts). Every
        # target a row newly reached is one (row, target) pair, all found at once, however many
        # targets a row passes in the block.
        cm = F.index_select(1, rows).cummin(0).values  # [held, rows]
        level = self.level.index_select(0, rows)
        # targets at or above each row's least f (thresholds descend: searchsorted on them ascending)
        new_level = self.n_targets - torch.searchsorted(self.thr_ascending, cm[-1].contiguous())
        gained = new_level - level  # >= 1 for each row here
        pairs = torch.repeat_interleave(torch.arange(len(rows), device=self.dev), gained)
        first_of_row = torch.cumsum(gained, 0) - gained
        target = level.index_select(0, pairs) + torch.arange(len(pairs), device=self.dev) - \
            first_of_row.index_select(0, pairs)
        steps_above = (cm.index_select(1, pairs) > self.thresholds.index_select(0, target)).sum(0)
        self.hits.index_put_((rows.index_select(0, pairs), target), self.held_from + steps_above)
        self.level.index_copy_(0, rows, new_level)
        self.thr_next.index_copy_(0, rows, self.thr_ext.index_select(0, new_level))
