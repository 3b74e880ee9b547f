"""tsgate against the libraries a user would pick instead, on one small task, side by side.

    pip install torch==2.13.0 && pip install -e ".[peers]"   # a separate environment, CPU torch first
    python benchmarks/peers.py           # 3 seeds, regular and irregular variants
    python benchmarks/peers.py --seeds 1 --skip-irregular --threads 2
    python benchmarks/peers.py --only sarimax,arima,linear   # the classical rows only (no extra needed)

The task: statsmodels' monthly CO2 (``statsmodels.datasets.co2``, weekly readings averaged per
month, bundled with statsmodels), the last 24 months held out, forecasts of 12 months from two
origins (24 and 12 months before the end), input window 24, LSTM hidden size 32, batch 32,
750 Adam steps (learning rate ``--lr``, MAE loss, no schedule, no clipping, no validation set)
for every neural model, 3 seeds. Models:

- NeuralForecast ``LSTM`` (one encoder layer of 32, MLP decoder of 32, its default robust
  scaler), fitted with ``freq="MS"``;
- Darts ``BlockRNNModel`` (LSTM, 32 units, reversible instance normalisation);
- tsgate ``GatedLSTMForecaster`` with the ``lstm``, ``wmc`` and ``glstm`` cells;
- statsmodels ``SARIMAX(2,1,2)(1,1,1,12)``; tsgate ``ARIMAForecaster`` with the same orders and
  ``LinearARForecaster`` (24 lags, ridge-free least squares).

Steps are counted, not assumed: a Lightning callback reads ``trainer.global_step`` at the end of
NeuralForecast's and Darts' fits, tsgate reports ``n_steps_``; the table shows them. The models
run interleaved (one seed of each in turn) in one process, so background load hits them alike;
fit times are printed as ratios to NeuralForecast's fit of the same seed (lower = faster).

The irregular variant drops 20 % of the training months (seed 0) and keeps the 24 held-out
months whole, so every model is scored on the same targets. What each library does with the gaps:
NeuralForecast given ``freq="MS"`` takes the rows as consecutive months without a warning (its
windows then span more time than they claim); Darts refuses a frame with missing months unless
told to fill them, and the filled NaNs must be interpolated before a BlockRNN can train (done
here, linearly); SARIMAX gets the monthly grid with NaNs, which its Kalman filter skips; tsgate
reads the timestamps (Δt input, ARIMA on its own grid).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOLD = 24
H = 12
WINDOW = 24
HIDDEN = 32
BATCH = 32
ORDER = (2, 1, 2)
SEASONAL = (1, 1, 1, 12)


def co2_monthly() -> pd.Series:
    """Monthly mean CO2 (ppm), month-start index; months without readings interpolated."""
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data["co2"]
    return weekly.resample("MS").mean().interpolate()


def make_task(irregular: bool) -> tuple[pd.Series, pd.Series]:
    """(observed series with the holdout, the holdout); irregular drops 20 % of the training months."""
    s = co2_monthly()
    test = s.iloc[-HOLD:]
    if irregular:
        rng = np.random.default_rng(0)
        n_train = len(s) - HOLD
        drop = rng.choice(np.arange(WINDOW, n_train), size=int(0.2 * n_train), replace=False)
        keep = np.ones(len(s), bool)
        keep[drop] = False
        s = s[keep]
    return s, test


def origins(s: pd.Series) -> list[pd.Timestamp]:
    """The two forecast origins: the last observed month before each 12-month block of the holdout."""
    end = s.index[-1]
    return [end - pd.DateOffset(months=HOLD), end - pd.DateOffset(months=H)]


def score(pred: dict[pd.Timestamp, np.ndarray], test: pd.Series) -> float:
    """MAE (ppm) over both origins' 12 months."""
    errs = []
    for o, p in pred.items():
        truth = test[(test.index > o)].iloc[:H].to_numpy()
        errs.append(np.abs(np.asarray(p, float)[:H] - truth))
    return float(np.mean(np.concatenate(errs)))


def step_counter() -> Any:
    from lightning.pytorch.callbacks import Callback

    class Steps(Callback):
        steps = 0

        def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
            # on the class: NeuralForecast fits a deep copy of the model and its callbacks
            type(self).steps = int(trainer.global_step)

    return Steps()


# --------------------------------------------------------------------------- models
def fit_neuralforecast(s: pd.Series, seed: int, args: Any) -> tuple[float, int, dict]:
    from neuralforecast import NeuralForecast
    from neuralforecast.losses.pytorch import MAE
    from neuralforecast.models import LSTM

    train = s[s.index <= origins(s)[0]]
    df = pd.DataFrame({"unique_id": "co2", "ds": train.index, "y": train.to_numpy()})
    counter = step_counter()
    model = LSTM(h=H, input_size=WINDOW, encoder_n_layers=1, encoder_hidden_size=HIDDEN, decoder_hidden_size=HIDDEN,
                 decoder_layers=1, loss=MAE(), max_steps=args.steps, learning_rate=args.lr, batch_size=1,
                 windows_batch_size=BATCH, random_seed=seed, accelerator="cpu", enable_progress_bar=False,
                 logger=False, enable_checkpointing=False, enable_model_summary=False, callbacks=[counter])
    nf = NeuralForecast(models=[model], freq="MS")
    t0 = time.perf_counter()
    nf.fit(df=df)
    fit_s = time.perf_counter() - t0
    pred = {}
    for o in origins(s):
        hist = s[s.index <= o]
        out = nf.predict(df=pd.DataFrame({"unique_id": "co2", "ds": hist.index, "y": hist.to_numpy()}))
        # NeuralForecast dates its forecasts as consecutive months after the last row
        pred[o] = out["LSTM"].to_numpy()
    return fit_s, counter.steps, pred


def fit_darts(s: pd.Series, seed: int, args: Any) -> tuple[float, int, dict]:
    import torch
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    def ts(x: pd.Series) -> Any:
        # a regular index is required: missing months become NaN, interpolated linearly
        full = x.asfreq("MS").interpolate()
        return TimeSeries.from_series(full.astype(np.float32))

    train = s[s.index <= origins(s)[0]]
    counter = step_counter()
    model = BlockRNNModel(input_chunk_length=WINDOW, output_chunk_length=H, model="LSTM", hidden_dim=HIDDEN,
                          n_rnn_layers=1, batch_size=BATCH, n_epochs=100000, loss_fn=torch.nn.L1Loss(),
                          optimizer_kwargs={"lr": args.lr}, use_reversible_instance_norm=True, random_state=seed,
                          pl_trainer_kwargs={"accelerator": "cpu", "max_steps": args.steps, "enable_progress_bar": False,
                                             "logger": False, "enable_checkpointing": False,
                                             "enable_model_summary": False, "callbacks": [counter]})
    t0 = time.perf_counter()
    model.fit(ts(train), verbose=False)
    fit_s = time.perf_counter() - t0
    pred = {o: model.predict(n=H, series=ts(s[s.index <= o]), verbose=False).values()[:, 0] for o in origins(s)}
    return fit_s, counter.steps, pred


def _tsgate_series(x: pd.Series) -> Any:
    from tsgate import IrregularSeries

    return IrregularSeries.from_arrays(x.index.values, x.to_numpy(), targets=["co2"])


def _tsgate_predict(model: Any, s: pd.Series) -> dict:
    series = _tsgate_series(s)
    tsec = {o: pd.Timestamp(o, tz="UTC").timestamp() for o in origins(s)}
    fc = model.forecast(series, origins=list(tsec.values()))
    at = {float(t): i for i, t in enumerate(fc.origin_time)}
    return {o: fc.values[at[t], :, 0] for o, t in tsec.items()}


def tsgate_model(cell: str) -> Callable[[pd.Series, int, Any], tuple[float, int, dict]]:
    def fit(s: pd.Series, seed: int, args: Any) -> tuple[float, int, dict]:
        from tsgate import GatedLSTMForecaster

        m = GatedLSTMForecaster(cell=cell, hidden_size=HIDDEN, window=WINDOW, horizons=list(range(1, H + 1)),
                                batch_size=BATCH, max_steps=args.steps, max_epochs=100000, optimizer="adam",
                                lr=args.lr, weight_decay=0.0, lr_schedule="none", gradient_clip=None, loss="mae",
                                val_fraction=0.0, patience=0, seed=seed, online="none")
        train = _tsgate_series(s[s.index <= origins(s)[0]])
        t0 = time.perf_counter()
        m.fit(train)
        fit_s = time.perf_counter() - t0
        return fit_s, m.n_steps_, _tsgate_predict(m, s)

    return fit


def fit_sarimax(s: pd.Series, seed: int, args: Any) -> tuple[float, int, dict]:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    grid = s.asfreq("MS")  # missing months stay NaN: the Kalman filter skips them
    train = grid[grid.index <= origins(s)[0]]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = SARIMAX(train, order=ORDER, seasonal_order=SEASONAL).fit(disp=False)
    fit_s = time.perf_counter() - t0
    pred = {}
    for o in origins(s):
        r = res.apply(grid[grid.index <= o])
        pred[o] = np.asarray(r.forecast(H))
    return fit_s, 0, pred


def baseline(kind: str) -> Callable[[pd.Series, int, Any], tuple[float, int, dict]]:
    def fit(s: pd.Series, seed: int, args: Any) -> tuple[float, int, dict]:
        from tsgate import ARIMAForecaster, LinearARForecaster

        hs = list(range(1, H + 1))
        if kind == "arima":
            # the whole history on the grid, as SARIMAX gets it (grid points, not rows: with months
            # absent the monthly grid has more points than the series has rows)
            m = ARIMAForecaster(order=ORDER, seasonal_order=SEASONAL, horizons=hs, window=len(s), max_points=100_000)
        else:
            m = LinearARForecaster(window=WINDOW, horizons=hs, use_dt=False)
        train = _tsgate_series(s[s.index <= origins(s)[0]])
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(train)
        fit_s = time.perf_counter() - t0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit_s, 0, _tsgate_predict(m, s)

    return fit


NEURAL = {
    "NeuralForecast LSTM": fit_neuralforecast,
    "Darts BlockRNN+RIN": fit_darts,
    "tsgate lstm": tsgate_model("lstm"),
    "tsgate wmc": tsgate_model("wmc"),
    "tsgate glstm": tsgate_model("glstm"),
}
CLASSICAL = {
    "statsmodels SARIMAX": fit_sarimax,
    "tsgate ARIMA": baseline("arima"),
    "tsgate linear AR(24)": baseline("linear"),
}


def chosen(names: str | None) -> dict[str, Callable[[pd.Series, int, Any], tuple[float, int, dict]]]:
    """The models whose names contain one of the comma-separated words (all by default)."""
    models = {**NEURAL, **CLASSICAL}
    if not names:
        return models
    words = [w.strip().lower() for w in names.split(",") if w.strip()]
    picked = {k: v for k, v in models.items() if any(w in k.lower() for w in words)}
    if not picked:
        raise SystemExit(f"--only {names!r} matches none of {list(models)}")
    return picked


def run(variant: str, seeds: list[int], args: Any) -> list[dict]:
    s, test = make_task(variant == "irregular")
    rows: dict[str, dict] = {}
    models = chosen(args.only)
    for seed in seeds:
        for name, fit in models.items():  # interleaved: one seed of every model in turn
            if name in CLASSICAL and seed != seeds[0]:
                continue  # deterministic: one fit
            try:
                fit_s, steps, pred = fit(s, seed, args)
                mae = score(pred, test)
            except Exception as err:  # a peer that fails is reported, not hidden
                print(f"  {variant} {name} seed {seed}: FAILED {type(err).__name__}: {err}", flush=True)
                continue
            r = rows.setdefault(name, {"model": name, "fit": [], "steps": [], "mae": [], "ratio": []})
            r["fit"].append(fit_s)
            r["steps"].append(steps)
            r["mae"].append(mae)
            print(f"  {variant} {name} seed {seed}: fit {fit_s:.2f} s, steps {steps}, MAE {mae:.3f}", flush=True)
        nf = rows.get("NeuralForecast LSTM")
        if nf and len(nf["fit"]) == seeds.index(seed) + 1:
            for r in rows.values():
                if len(r["fit"]) == len(nf["fit"]) or (r["model"] in CLASSICAL and seed == seeds[0]):
                    r["ratio"].append(r["fit"][-1] / nf["fit"][-1])
    return list(rows.values())


def fmt(rows: list[dict], variant: str) -> str:
    out = [f"\n{variant}: fit-time ratio to NeuralForecast (same seed; median over seeds), MAE ppm mean [min-max]",
           f"| model | optimiser steps | fit s (median) | fit / NF | MAE mean [min-max] |",
           "|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{statistics.median(r['ratio']):.2f}x" if r["ratio"] else "-"
        steps = "/".join(str(x) for x in sorted(set(r["steps"]))) if any(r["steps"]) else "-"
        m = r["mae"]
        out.append(f"| {r['model']} | {steps} | {statistics.median(r['fit']):.2f} | {ratio} | "
                   f"{np.mean(m):.3f} [{min(m):.3f}-{max(m):.3f}] |")
    return "\n".join(out)


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    vs = []
    for p in ("tsgate", "torch", "lightning", "pytorch-lightning", "neuralforecast", "darts", "statsmodels"):
        try:
            vs.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            vs.append(f"{p} (not installed)")
    return f"python {platform.python_version()}; " + ", ".join(vs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=750)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the models do not fight over cores)")
    ap.add_argument("--skip-irregular", action="store_true")
    ap.add_argument("--only", default=None,
                    help="comma-separated parts of model names to run, e.g. 'sarimax,arima,linear' "
                         "(fit ratios need the NeuralForecast row)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import logging

    import torch

    torch.set_num_threads(args.threads)
    for name in ("lightning", "lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "pytorch_lightning",
                 "pytorch_lightning.utilities.rank_zero", "lightning_fabric", "lightning.fabric", "neuralforecast", "darts"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import lightning  # noqa: F401  (first-fit import cost, paid once for every model)

    print(f"import lightning: {time.perf_counter() - t0:.2f} s", flush=True)
    print(versions(), flush=True)
    print(f"torch threads {args.threads}, {args.steps} steps, lr {args.lr}, seeds 0-{args.seeds - 1}", flush=True)
    seeds = list(range(args.seeds))
    # one untimed warm-up fit of each neural library (first-call costs are not fit time)
    warm = argparse.Namespace(**{**vars(args), "steps": 5})
    s, _ = make_task(False)
    for name, fit in NEURAL.items():
        if name not in chosen(args.only):
            continue
        try:
            fit(s, 0, warm)
        except Exception:
            pass
    tables = [fmt(run("regular", seeds, args), "regular")]
    if not args.skip_irregular:
        tables.append(fmt(run("irregular", [0], args), "irregular (20 % of training months dropped, seed 0)"))
    print("\n".join(tables))


if __name__ == "__main__":
    main()
