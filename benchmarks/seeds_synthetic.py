"""The synthetic half of ``benchmarks/seeds.py``: the WMC reference check, the adding problem,
pixel-by-pixel digits, and the g-LSTM budget and curriculum studies, trained with the nn modules
directly (encoder + linear head, Adam, gradient clipping). Also the small table functions that both
halves use. Run the study through ``benchmarks/seeds.py``.
"""

from __future__ import annotations

import logging
import math
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsgate.nn.cells import make_encoder  # noqa: E402

GATE_THRESHOLD = 0.01  # a time gate below 1 % counts as closed at inference


# ----------------------------------------------------------------------------------------------
# Tables and sizes
# ----------------------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    """Mean, min and max over seeds (NaN-aware)."""
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return {"mean": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"mean": statistics.fmean(v), "min": min(v), "max": max(v), "n": len(v)}


def fmt(s: dict[str, float], digits: int = 3) -> str:
    if not s["n"]:
        return "-"
    return f"{s['mean']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def fmt_steps(values: list[float | None], budget: int) -> str:
    """Steps to threshold over seeds: mean of the seeds that reached it, and how many did."""
    hit = [v for v in values if v is not None]
    if not hit:
        return f"not in {budget}"
    return f"{statistics.fmean(hit):.0f} ({len(hit)}/{len(values)})"


def quiet_lightning() -> None:
    warnings.filterwarnings("ignore")
    import lightning  # noqa: F401  (configures its loggers on import; silence them afterwards)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("lightning", "pytorch_lightning")):
            logging.getLogger(name).setLevel(logging.ERROR)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def lstm_hidden_for_params(F: int, target: int) -> int:
    """Hidden size of a one-layer torch.nn.LSTM whose parameter count is closest to ``target``."""
    return min(range(1, 1024), key=lambda h: abs(4 * h * (F + h) + 8 * h - target))


# ----------------------------------------------------------------------------------------------
# 0. Implementation check of WMC against an independent reference
# ----------------------------------------------------------------------------------------------


class ReferenceWMC(nn.Module):
    """WMC-LSTM written from the paper's equations with one linear map per term.

    ``variant`` introduces one plausible mistake (to show that the check would catch it):
    ``no_tanh`` (linear cell projections), ``if_sees_new_c`` (input/forget gates read c_t),
    ``o_sees_old_c`` (output gate reads c_{t-1}).
    """

    def __init__(self, F: int, H: int, variant: str = "paper") -> None:
        super().__init__()
        self.H, self.variant = H, variant
        self.x = nn.ModuleDict({k: nn.Linear(F, H) for k in "ifgo"})
        self.h = nn.ModuleDict({k: nn.Linear(H, H, bias=False) for k in "ifgo"})
        self.c = nn.ModuleDict({k: nn.Linear(H, H, bias=False) for k in "ifo"})

    def load_from(self, layer: nn.Module) -> None:
        H = self.H
        with torch.no_grad():
            for k, name in enumerate("ifgo"):
                cols = slice(k * H, (k + 1) * H)
                self.x[name].weight.copy_(layer.Wx[:, cols].t())
                self.x[name].bias.copy_(layer.b[cols])
                self.h[name].weight.copy_(layer.U[:, cols].t())
            for k, name in enumerate("oif"):  # W3 = W_co | W_ci | W_cf, applied as c @ W3
                self.c[name].weight.copy_(layer.W3[:, k * H : (k + 1) * H].t())

    def _cell(self, name: str, c: torch.Tensor) -> torch.Tensor:
        u = self.c[name](c)
        return u if self.variant == "no_tanh" else torch.tanh(u)

    def forward(self, x: torch.Tensor, record: list | None = None) -> torch.Tensor:
        """Last h ``[B, H]`` of ``x [B, T, F]``; ``record`` collects (c_t, the three cell terms)."""
        B, T, _ = x.shape
        h = x.new_zeros(B, self.H)
        c = x.new_zeros(B, self.H)
        for t in range(T):
            xt = x[:, t]
            pre = {k: self.x[k](xt) + self.h[k](h) for k in "ifgo"}
            g = torch.tanh(pre["g"])
            if self.variant == "if_sees_new_c":  # c_t from a plain LSTM step, then the gates
                c_lstm = torch.sigmoid(pre["f"]) * c + torch.sigmoid(pre["i"]) * g
                i = torch.sigmoid(pre["i"] + self._cell("i", c_lstm))
                f = torch.sigmoid(pre["f"] + self._cell("f", c_lstm))
            else:
                i = torch.sigmoid(pre["i"] + self._cell("i", c))
                f = torch.sigmoid(pre["f"] + self._cell("f", c))
            c_new = f * c + i * g
            c_o = c if self.variant == "o_sees_old_c" else c_new
            o_term = self._cell("o", c_o)
            o = torch.sigmoid(pre["o"] + o_term)
            if record is not None:
                record.append((c_new, torch.cat([o_term, self._cell("i", c_new), self._cell("f", c_new)], 1)))
            h = o * torch.tanh(c_new)
            c = c_new
        return h


def check_wmc() -> dict[str, Any]:
    """Max |difference| of tsgate's WMC (output and every parameter gradient) to the reference,
    float64, on a random problem; and the difference each wrong variant would show."""
    torch.manual_seed(0)
    F, H, B, T = 3, 5, 4, 12
    enc = make_encoder("wmc", F, H).double()
    layer = enc.layers[0]
    with torch.no_grad():  # cell projections large enough that tanh is far from linear
        layer.W3.normal_(0.0, 1.5)
    x = torch.randn(B, T, F, dtype=torch.float64)
    w = torch.randn(B, H, dtype=torch.float64)
    out = {}
    h = enc(x)
    grads = torch.autograd.grad((h * w).sum(), [layer.Wx, layer.b, layer.U, layer.W3])
    for variant in ("paper", "no_tanh", "if_sees_new_c", "o_sees_old_c"):
        ref = ReferenceWMC(F, H, variant).double()
        ref.load_from(layer)
        hr = ref(x)
        d_out = float((hr - h).abs().max())
        row = {"output": d_out}
        if variant == "paper":
            rg = torch.autograd.grad((hr * w).sum(), list(ref.parameters()))
            named = dict(zip([n for n, _ in ref.named_parameters()], rg))
            # reassemble the reference's gradients in tsgate's packed layout
            gWx = torch.cat([named[f"x.{k}.weight"].t() for k in "ifgo"], 1)
            gb = torch.cat([named[f"x.{k}.bias"] for k in "ifgo"])
            gU = torch.cat([named[f"h.{k}.weight"].t() for k in "ifgo"], 1)
            gW3 = torch.cat([named[f"c.{k}.weight"].t() for k in "oif"], 1)
            row["gradients"] = max(float((a - b_).abs().max()) for a, b_ in zip(grads, (gWx, gb, gU, gW3)))
        out[variant] = row
    ok = out["paper"]["output"] < 1e-12 and out["paper"]["gradients"] < 1e-12
    caught = all(out[v]["output"] > 1e-3 for v in ("no_tanh", "if_sees_new_c", "o_sees_old_c"))
    print("\n## WMC against an independent step-by-step reference (float64)")
    print(f"paper equations: max |diff| output {out['paper']['output']:.1e}, "
          f"gradients {out['paper']['gradients']:.1e} -> {'MATCH' if ok else 'MISMATCH'}")
    for v in ("no_tanh", "if_sees_new_c", "o_sees_old_c"):
        print(f"  a kernel with the mistake '{v}' would differ by {out[v]['output']:.2e}")
    print(f"the check {'discriminates' if caught else 'does NOT discriminate'} these mistakes")
    return {"diffs": out, "match": ok, "discriminates": caught}


# ----------------------------------------------------------------------------------------------
# Synthetic tasks trained with the nn modules directly
# ----------------------------------------------------------------------------------------------


def adding_batch(B: int, T: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem: values U(0, 1) and a marker channel with one mark in each half;
    the target is the sum of the two marked values (predicting 1 gives MSE 1/6)."""
    v = torch.rand(B, T, generator=g)
    m = torch.zeros(B, T)
    a = torch.randint(0, T // 2, (B,), generator=g)
    b = torch.randint(T // 2, T, (B,), generator=g)
    m[torch.arange(B), a] = 1.0
    m[torch.arange(B), b] = 1.0
    return torch.stack([v, m], -1), (v * m).sum(1, keepdim=True)


class Digits:
    """scikit-learn's 8x8 digits as 64-step sequences of one pixel (0-1), fixed 75/25 split."""

    def __init__(self, permuted: bool) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        X = torch.tensor(X / 16.0, dtype=torch.float32)
        if permuted:
            X = X[:, torch.randperm(64, generator=torch.Generator().manual_seed(0))]
        Xtr, Xte, ytr, yte = train_test_split(X, torch.tensor(y), test_size=0.25, random_state=0, stratify=y)
        self.train = (Xtr.unsqueeze(-1), ytr)
        self.test = (Xte.unsqueeze(-1), yte)

    def batch(self, B: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(self.train[1]), (B,), generator=g)
        return self.train[0][idx], self.train[1][idx]


def step_times(B: int, T: int) -> torch.Tensor:
    """Sample times in seconds for regularly sampled sequences: one step = 1 s, last = 0."""
    return (torch.arange(T, dtype=torch.float32) - (T - 1)).expand(B, T)


def train_sequence_model(
    cell: str, task: str, T: int, seed: int, steps: int, *, hidden: int, eval_every: int,
    lr: float = 1e-2, batch: int = 64, budget: float = 0.0, curriculum: bool = False,
    digits: Digits | None = None, n_test: int = 500,
) -> dict[str, Any]:
    """Train encoder + linear head with Adam (clip 1.0); evaluate on a fixed test set.

    ``task`` ``adding`` (MSE, lower is better; threshold 0.01) or ``digits`` (accuracy, higher
    is better; threshold 0.90). ``curriculum``: the sequence length grows linearly from T/4 to
    T over the first half of training (adding only).
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(1000 + seed)
    F, out_dim = (2, 1) if task == "adding" else (1, 10)
    name, H = cell, hidden
    if cell == "lstm=wmc params":
        name = "lstm"
        H = lstm_hidden_for_params(F, n_params(make_encoder("wmc", F, hidden)))
    enc = make_encoder(name, F, H, window_span_s=float(T))
    head = nn.Linear(H, out_dim)
    params = [*enc.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    if task == "adding":
        x_te, y_te = adding_batch(n_test, T, torch.Generator().manual_seed(12345 + T))
        threshold, better = 0.01, (lambda a, b: a < b)
    else:
        assert digits is not None
        x_te, y_te = digits.test
        threshold, better = 0.90, (lambda a, b: a >= b)
    t_te = step_times(len(x_te), T)

    def evaluate() -> float:
        enc.eval()
        with torch.no_grad():
            p = head(enc(x_te, t_te))
        enc.train()
        if task == "adding":
            return float(nn.functional.mse_loss(p, y_te))
        return float((p.argmax(1) == y_te).float().mean())

    curve, reached = [], None
    t0 = time.perf_counter()
    for s in range(1, steps + 1):
        Ts = T
        if curriculum and s <= steps // 2:
            Ts = max(4, int(round(T / 4 + (T - T / 4) * (s - 1) / (steps // 2))))
        if task == "adding":
            x, y = adding_batch(batch, Ts, g)
            loss = nn.functional.mse_loss(head(enc(x, step_times(batch, Ts))), y)
        else:
            x, y = digits.batch(batch, g)  # type: ignore[union-attr]
            loss = nn.functional.cross_entropy(head(enc(x, step_times(batch, T))), y)
        if budget:
            loss = loss + budget * enc.budget_term()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if s % eval_every == 0 or s == steps:
            m = evaluate()
            curve.append((s, m))
            if reached is None and better(m, threshold):
                reached = s
    res = {"cell": cell, "task": task, "T": T, "seed": seed, "hidden": H, "params": n_params(enc),
           "final": curve[-1][1], "best": (min if task == "adding" else max)(v for _, v in curve),
           "steps_to_threshold": reached, "threshold": threshold, "curve": curve,
           "train_s": time.perf_counter() - t0}
    res["_model"] = (enc, head, x_te, t_te, y_te)
    return res


def _strip(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if not k.startswith("_")}


def run_adding(seeds, Ts, steps_for, hidden, cells, eval_every) -> list[dict[str, Any]]:
    print(f"\n## Adding problem (hidden {hidden}, batch 64, Adam 1e-2, clip 1): test MSE, "
          "mean [min-max] over seeds; steps to MSE < 0.01 (seeds that got there)")
    rows = []
    print(f"{'T':>4}  {'model':<16} {'params':>6}  {'final MSE':<26} {'steps to 0.01':<14}")
    for T in Ts:
        for cell in cells:
            rs = [train_sequence_model(cell, "adding", T, s, steps_for[T], hidden=hidden, eval_every=eval_every)
                  for s in seeds]
            rows += [_strip(r) for r in rs]
            print(f"{T:>4}  {cell:<16} {rs[0]['params']:>6}  {fmt(spread([r['final'] for r in rs]), 4):<26} "
                  f"{fmt_steps([r['steps_to_threshold'] for r in rs], steps_for[T]):<14}", flush=True)
    return rows


def run_digits(seeds, steps, hidden, cells, eval_every) -> list[dict[str, Any]]:
    print(f"\n## Pixel-by-pixel 8x8 digits (64 steps, hidden {hidden}, batch 64, Adam 1e-2): test "
          "accuracy, mean [min-max] over seeds; steps to 90 %")
    rows = []
    for permuted in (False, True):
        data = Digits(permuted)
        label = "permuted" if permuted else "sequential"
        for cell in cells:
            rs = []
            for s in seeds:
                r = train_sequence_model(cell, "digits", 64, s, steps, hidden=hidden, eval_every=eval_every, digits=data)
                r["variant"] = label
                rs.append(r)
            rows += [_strip(r) for r in rs]
            print(f"{label:<10}  {cell:<16} {rs[0]['params']:>6}  accuracy {fmt(spread([r['final'] for r in rs]))}  "
                  f"steps to 0.90 {fmt_steps([r['steps_to_threshold'] for r in rs], steps)}", flush=True)
    return rows


# ----------------------------------------------------------------------------------------------
# 2. g-LSTM: budget sweep (fraction of updates computed, accuracy, measured time) and curriculum
# ----------------------------------------------------------------------------------------------


def _best_time(fn: Callable[[], Any], n: int = 20, rounds: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.thread_time()
        for _ in range(n):
            fn()
        best = min(best, (time.thread_time() - t0) / n)
    return best


def skip_stats(enc: nn.Module, forward: Callable[[nn.Module], Any], one: Callable[[nn.Module], Any]) -> dict[str, Any]:
    """With the inference gate threshold: ``forward(enc)``'s result, the fraction of (unit,
    step) gates computed in it, the steps the first layer computed, and the measured batch-1
    speed-up of skipping (``one(enc)``) against computing every gate (threshold 0)."""
    enc.eval()
    old = enc.gate_threshold
    try:
        with torch.no_grad():
            enc.gate_threshold = GATE_THRESHOLD
            value = forward(enc)
            frac = enc.last_open_fraction
            one(enc)
            steps = enc.layers[0].last_steps_computed
            t_skip = _best_time(lambda: one(enc))
            enc.gate_threshold = 0.0
            t_full = _best_time(lambda: one(enc))
    finally:
        enc.gate_threshold = old
    return {"value": value, "open_fraction": frac, "steps_computed": steps, "speedup_batch1": t_full / t_skip}


def run_budget_adding(seeds, T, steps, hidden, budgets, eval_every) -> list[dict[str, Any]]:
    print(f"\n## g-LSTM budget sweep, adding problem T={T} (hidden {hidden}); inference threshold "
          f"{GATE_THRESHOLD}: fraction of (unit, step) updates computed, test MSE with those "
          "gates closed, measured batch-1 speed-up of skipping")
    print(f"{'lambda':>7}  {'updates computed':<22} {'MSE (thr)':<24} {'MSE (all gates)':<24} {'speed-up':<18}")
    rows = []
    for lam in budgets:
        rs = []
        for s in seeds:
            r = train_sequence_model("glstm", "adding", T, s, steps, hidden=hidden, eval_every=eval_every, budget=lam)
            enc, head, x_te, t_te, y_te = r["_model"]

            st = skip_stats(
                enc, lambda e: float(nn.functional.mse_loss(head(e(x_te, t_te)), y_te)),
                lambda e: e(x_te[:1], t_te[:1]),
            )
            r.update(st, budget=lam, mse_thresholded=st.pop("value"))
            rs.append(r)
        rows += [_strip(r) for r in rs]
        print(f"{lam:>7g}  {fmt(spread([r['open_fraction'] for r in rs])):<22} "
              f"{fmt(spread([r['mse_thresholded'] for r in rs]), 4):<24} {fmt(spread([r['final'] for r in rs]), 4):<24} "
              f"{fmt(spread([r['speedup_batch1'] for r in rs]), 2):<18}", flush=True)
    return rows


def run_curriculum(seeds, T, steps, hidden, eval_every) -> list[dict[str, Any]]:
    print(f"\n## Temporal curriculum (adding T={T}, hidden {hidden}): length T/4 -> T over the first "
          "half of training, against always T; steps to MSE < 0.01")
    rows = []
    for cell in ("glstm", "lstm"):
        for cur in (False, True):
            rs = [train_sequence_model(cell, "adding", T, s, steps, hidden=hidden, eval_every=eval_every, curriculum=cur)
                  for s in seeds]
            for r in rs:
                r["curriculum"] = cur
            rows += [_strip(r) for r in rs]
            print(f"{cell:<6} curriculum {'on ' if cur else 'off'}  steps to 0.01 "
                  f"{fmt_steps([r['steps_to_threshold'] for r in rs], steps):<14} final MSE "
                  f"{fmt(spread([r['final'] for r in rs]), 4)}", flush=True)
    return rows
