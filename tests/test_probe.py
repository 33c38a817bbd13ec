"""Third-party optimizers are batched only where the probe finds it exact (gradexp.probe)."""

import pytest
import torch

from gradexp import probe
from gradexp.runner import run
from tests.conftest import compose, same_bits

po = pytest.importorskip("pytorch_optimizer")


class NormScaledSGD(torch.optim.SGD):
    """SGD whose step is scaled by the whole tensor's gradient norm: rows are coupled."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad.mul_(1.0 / (1.0 + p.grad.norm()))
        return super().step(closure)


@pytest.mark.parametrize("cls", [po.Lion, po.AdaBelief, po.Adan])
def test_element_wise_third_party_classes_pass(cls):
    batched, why = probe.batching(cls, {"lr": 1e-2})
    assert batched, why


@pytest.mark.parametrize("cls", [po.Lamb, po.LARS, po.AdaFactor, NormScaledSGD, torch.optim.LBFGS])
def test_classes_that_couple_rows_fail(cls):
    batched, why = probe.batching(cls, {"lr": 1e-2})
    assert not batched and "probe" in why


def test_the_verdict_is_cached():
    probe.batching(po.Lion, {"lr": 3e-3})
    hits = probe._verdict.cache_info().hits
    probe.batching(po.Lion, {"lr": 3e-3})
    assert probe._verdict.cache_info().hits == hits + 1


def test_the_user_forces_either_path():
    assert probe.batching(po.Lamb, {"lr": 1e-2}, forced=True) == (True, "optimizer.batched=true")
    assert probe.batching(torch.optim.Adam, {}, forced=False) == (False, "optimizer.batched=false")


LION = ["optimizer=custom", "optimizer._target_=pytorch_optimizer.Lion", "optimizer.lr=0.01",
        "start=uniform", "start.n=24", "run.steps=120", "+run.hparams={betas: [[0.9, 0.99], [0.95, 0.98]]}"]


def test_batched_lion_equals_one_lion_per_start_bit_for_bit():
    trace_b, sum_b = run(compose(*LION))
    trace_s, sum_s = run(compose(*LION, "+optimizer.batched=false"))
    assert sum_b.attrs["path"].startswith("one batched optimizer")
    assert sum_s.attrs["path"] == "one optimizer per start (optimizer.batched=false)"
    cols = ["x0", "x1", "f_final", "grad_norm"]
    assert same_bits(sum_b[cols].to_numpy(), sum_s[cols].to_numpy())
    assert list(sum_b["steps"]) == list(sum_s["steps"]) and list(sum_b["status"]) == list(sum_s["status"])
    assert same_bits(trace_b[["x0", "x1", "f"]].to_numpy(), trace_s[["x0", "x1", "f"]].to_numpy())


def test_a_coupling_class_runs_per_start_unless_forced():
    args = ["optimizer=custom", "optimizer._target_=pytorch_optimizer.Lamb", "optimizer.lr=0.01",
            "start=uniform", "start.n=6", "run.steps=30"]
    _, per_start = run(compose(*args))
    _, forced = run(compose(*args, "+optimizer.batched=true"))
    assert per_start.attrs["path"].startswith("one optimizer per start (the batching probe found rows coupled")
    assert forced.attrs["path"] == "one batched optimizer (optimizer.batched=true)"
    assert not same_bits(per_start[["x0", "x1"]].to_numpy(), forced[["x0", "x1"]].to_numpy())
