"""Estimators around the online engines: stateful networks that learn at every new sample.

``OnlineRNNForecaster`` (tanh RNN or LSTM trained by RTRL, UORO, SnAp-1 or streaming TBPTT)
and ``OnlineLinearForecaster`` (NLMS or recursive least squares) follow the respiratory-motion
papers' protocol: one model per series runs along its stream; at each new observation it
forecasts every horizon, then learns each target that this observation reveals, paired with
the state of the step the forecast was made at (``delay`` steps back).

Input at step t (k targets, S = ``shl`` past samples): the last S values relative to the
current one, the current value relative to the training mean, all divided by the training
standard deviation, and log(1 + Δt/median Δt) of the S steps (``use_dt``). Output: for each
horizon, (y(t+h) - y(t)) / std. Early steps with fewer than S samples repeat the first one.

``fit`` runs the stream over the training data, learning online (as in the papers, where the
first 30 s train the model); ``update`` continues it. ``predict`` re-runs a frozen copy of each
series' model over the given data from a reset state and never changes the model.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from tsgate.estimators.base import BaseForecaster, register
from tsgate.exceptions import ConfigError
from tsgate.data.series import IrregularSeries
from tsgate.data.windows import Windows, make_windows

__all__ = ["OnlineRNNForecaster", "OnlineLinearForecaster"]


def _int_param(obj: Any, name: str, lo: int = 1) -> int:
    v = getattr(obj, name)
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
        raise ConfigError(f"The {name!r} parameter of {type(obj).__name__} must be an int ≥ {lo}. Got {v!r} instead.")
    return int(v)


class _StreamForecaster(BaseForecaster):
    """Shared streaming logic; subclasses build the engine (``_new_engine``)."""

    learns_online = True
    fresh_update = True

    # ---------------------------------------------------------------- engine hooks
    def _new_engine(self, input_size: int, output_size: int, max_delay: int) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _engine_from_state(self, config: dict[str, Any], state: dict[str, np.ndarray]) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _validate_params(self) -> None:
        _int_param(self, "shl")

    def _window_length(self) -> int:
        return int(self.shl)

    def _min_history(self) -> int:
        return 1

    # ---------------------------------------------------------------- setup
    def _setup(self, data: IrregularSeries, rows: int | None = None) -> None:
        """Scales from ``data`` (its first ``rows`` rows per series when given) and engine sizes."""
        self._validate_params()
        vals, dts = [], []
        for g in data.groups():
            n = len(g.time_s) if rows is None else min(len(g.time_s), rows)
            vals.append(g.values[:n])
            d = np.diff(g.time_s[:n])
            dts.append(d[d > 0])
        v = np.concatenate(vals)
        d = np.concatenate(dts) if dts else np.zeros(0)
        std = v.std(axis=0) if len(v) > 1 else np.ones(v.shape[1])
        self.loc_ = v.mean(axis=0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        self.dt_scale_ = float(np.median(d)) if len(d) else 1.0
        k, H, S = len(self.targets_), len(self.horizons_), int(self.shl)
        self.input_size_ = S * k + k + (S if self.use_dt else 0)
        self.output_size_ = H * k
        # how many steps a target may arrive after its forecast: steps, or duration / shortest Δt
        if self.horizons_[0].kind == "steps":
            self.max_delay_ = int(max(h.value for h in self.horizons_))
        else:
            min_dt = float(np.quantile(d, 0.01)) if len(d) else 1.0
            self.max_delay_ = int(math.ceil(max(h.value for h in self.horizons_) / max(min_dt, 1e-9))) + 2
        self.engines_: dict[Any, Any] = {}
        self.n_learned_ = 0
        self.n_skipped_targets_ = 0

    def _engine(self, sid: Any) -> Any:
        if sid not in self.engines_:
            if self.engines_:
                # a new series starts from the weights learned so far, with a fresh state
                first = next(iter(self.engines_.values()))
                eng = self._engine_from_state(first.config, first.state_dict_arrays())
                if hasattr(eng, "reset_state"):
                    eng.reset_state()
            else:
                eng = self._new_engine(self.input_size_, self.output_size_, self.max_delay_)
            self.engines_[sid] = eng
        return self.engines_[sid]

    def _init_fresh(self, data: IrregularSeries) -> None:
        # scales from each series' first max(shl, 10) rows: the only look-ahead is in scaling
        self._setup(data, rows=max(int(self.shl), 10))

    def _fit(self, data: IrregularSeries) -> None:
        self._setup(data)
        self.last_time_ = {}
        self._consume(data, {})

    # ---------------------------------------------------------------- inputs / targets
    def _inputs(self, w: Windows) -> np.ndarray:
        """Engine inputs [n, m] for windows (float64)."""
        k = len(self.targets_)
        x = w.x[:, :, :k].astype(np.float64)
        first = np.argmax(w.mask, axis=1)
        fill = x[np.arange(len(x)), first]
        x = np.where(w.mask[..., None], x, fill[:, None, :])
        cur = x[:, -1, :]
        rel = (x - cur[:, None, :]) / self.scale_
        parts = [rel.reshape(len(x), -1), (cur - self.loc_) / self.scale_]
        if self.use_dt:
            parts.append(np.log1p(np.clip(w.dt, 0, None) / self.dt_scale_) * w.mask)
        return np.concatenate(parts, axis=1)

    def _decode(self, out: np.ndarray, cur: np.ndarray) -> np.ndarray:
        H, k = len(self.horizons_), len(self.targets_)
        return cur[:, None, :] + out.reshape(-1, H, k) * self.scale_

    def _series_windows(self, data: IrregularSeries) -> Windows:
        return make_windows(
            data, int(self.shl), self.horizons_, max_gap=self.max_gap, min_history=1, targets="optional"
        )

    # ---------------------------------------------------------------- streaming
    def _consume(self, combined: IrregularSeries, last: dict[Any, float]) -> tuple[Windows, np.ndarray, np.ndarray]:
        """Run every series' engine over its observations newer than ``last`` (forecast, then learn)."""
        from tsgate.blas import blas_threads

        # batch-1 maths: a second BLAS thread only adds synchronisation (30-45 ms vs 0.3 ms per step)
        with blas_threads(1):
            return self._consume_1thread(combined, last)

    def _consume_1thread(self, combined: IrregularSeries, last: dict[Any, float]) -> tuple[Windows, np.ndarray, np.ndarray]:
        w = self._series_windows(combined)
        k, H = len(self.targets_), len(self.horizons_)
        yhat = np.full((len(w), H, k), np.nan)
        is_new = np.zeros(len(w), bool)
        if len(w) == 0:
            return w, yhat, is_new
        u_all = self._inputs(w)
        cur_all = w.x[:, -1, :k].astype(np.float64)
        cost: list[float] = []
        for si, sid in enumerate(w.series_ids):
            rows = np.flatnonzero(w.series_index == si)
            if len(rows) == 0:
                continue
            prev = last.get(sid, -np.inf)
            order = rows[np.argsort(w.origin_row[rows], kind="stable")]
            new_rows = order[w.origin_time[order] > prev]
            if len(new_rows) == 0:
                continue
            eng = self._engine(sid)
            # revealed (origin, horizon) pairs of this series, grouped by the row revealing them
            rv = w.reveal_time[order]
            ok = np.isfinite(rv) & (rv > prev) & np.isfinite(w.y[order]).all(axis=2)
            pair_o, pair_h = np.nonzero(ok)
            pair_rows = order[pair_o]
            pair_t = rv[pair_o, pair_h]
            by_time: dict[float, list[int]] = {}
            for j, tval in enumerate(pair_t):
                by_time.setdefault(float(tval), []).append(j)
            for r in new_rows:
                t0 = time.perf_counter()
                out = eng.step(u_all[r])
                yhat[r] = self._decode(np.asarray(out, dtype=np.float64)[None, :], cur_all[r : r + 1])[0]
                is_new[r] = True
                learned = False
                for j in by_time.get(float(w.origin_time[r]), ()):
                    o, h = pair_rows[j], pair_h[j]
                    delay = int(w.origin_row[r] - w.origin_row[o])
                    if delay > self.max_delay_ or delay < 0:
                        self.n_skipped_targets_ += 1
                        continue
                    target = (w.y[o, h].astype(np.float64) - cur_all[o]) / self.scale_
                    eng.learn(delay, target, slice(h * k, (h + 1) * k))
                    learned = True
                    self.n_learned_ += 1
                if learned:
                    eng.apply()
                cost.append(time.perf_counter() - t0)
        # seconds per new observation (forecast + learn) of the last update; not saved
        self.step_seconds_ = np.asarray(cost)
        return w, yhat, is_new

    def _predict(self, w: Windows, data: IrregularSeries) -> np.ndarray:
        """Frozen copies of the series' models re-run from a reset state over ``data``."""
        from tsgate.blas import blas_threads

        with blas_threads(1):
            return self._predict_1thread(w, data)

    def _predict_1thread(self, w: Windows, data: IrregularSeries) -> np.ndarray:
        k, H = len(self.targets_), len(self.horizons_)
        full = self._series_windows(data)
        u_all = self._inputs(full)
        cur_all = full.x[:, -1, :k].astype(np.float64)
        out = np.full((len(w), H, k), np.nan)
        for si, sid in enumerate(w.series_ids):
            want = np.flatnonzero(w.series_index == si)
            if len(want) == 0:
                continue
            rows = np.flatnonzero(full.series_index == full.series_ids.index(sid))
            rows = rows[np.argsort(full.origin_row[rows], kind="stable")]
            src = self.engines_.get(sid) or next(iter(self.engines_.values()))
            eng = self._engine_from_state(src.config, src.state_dict_arrays())
            if hasattr(eng, "reset_state"):
                eng.reset_state()
            pred = {}
            need = set(w.origin_row[want].tolist())
            last_needed = max(need)
            for r in rows:
                o = eng.step(u_all[r])
                row = int(full.origin_row[r])
                if row in need:
                    pred[row] = self._decode(np.asarray(o, dtype=np.float64)[None, :], cur_all[r : r + 1])[0]
                if row >= last_needed:
                    break
            for i in want:
                out[i] = pred.get(int(w.origin_row[i]), np.nan)
        return out

    # ---------------------------------------------------------------- persistence
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        ids = list(self.engines_)
        arrays: dict[str, np.ndarray] = {"loc": self.loc_, "scale": self.scale_}
        configs = []
        for i, sid in enumerate(ids):
            eng = self.engines_[sid]
            configs.append(eng.config)
            for name, a in eng.state_dict_arrays().items():
                arrays[f"engine/{i}/{name}"] = np.asarray(a)
        meta = {
            "series": [sid.item() if isinstance(sid, np.generic) else sid for sid in ids],
            "configs": configs,
            "dt_scale": self.dt_scale_,
            "input_size": self.input_size_,
            "output_size": self.output_size_,
            "max_delay": self.max_delay_,
            "n_learned": self.n_learned_,
            "n_skipped_targets": self.n_skipped_targets_,
        }
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.loc_ = np.array(arrays["loc"])
        self.scale_ = np.array(arrays["scale"])
        self.dt_scale_ = float(meta["dt_scale"])
        self.input_size_ = int(meta["input_size"])
        self.output_size_ = int(meta["output_size"])
        self.max_delay_ = int(meta["max_delay"])
        self.n_learned_ = int(meta["n_learned"])
        self.n_skipped_targets_ = int(meta["n_skipped_targets"])
        self.engines_ = {}
        for i, (sid, cfg) in enumerate(zip(meta["series"], meta["configs"])):
            pre = f"engine/{i}/"
            st = {k[len(pre):]: np.array(v) for k, v in arrays.items() if k.startswith(pre)}
            self.engines_[sid] = self._engine_from_state(cfg, st)


@register
class OnlineRNNForecaster(_StreamForecaster):
    """Recurrent forecaster that learns at every sample (Pohl et al.'s online RNNs).

    Parameters
    ----------
    cell
        ``rnn`` (vanilla tanh, as in the papers) or ``lstm``.
    online
        Gradient algorithm: ``uoro`` (unbiased rank-1, O(n²)), ``snap1`` (one-step sparse
        influence), ``rtrl`` (exact, small nets only) or ``tbptt`` (truncated BPTT over
        ``tbptt_steps``).
    hidden_size
        Units (the papers use 40-180).
    shl
        Signal history length: past samples in each input.
    horizons
        Steps or durations (``"100ms"`` … ``"2.1s"``), all forecast by one readout.
    lr, clip, optimizer
        SGD (or Adam) learning rate, gradient-norm clipping.
    init_std
        Initial weight standard deviation (0.02 in the papers).
    """

    def __init__(
        self,
        cell: str = "rnn",
        online: str = "uoro",
        hidden_size: int = 64,
        shl: int = 30,
        horizons: Any = (1,),
        max_gap: Any = None,
        use_dt: bool = True,
        lr: float = 0.01,
        clip: float = 1.0,
        optimizer: str = "sgd",
        tbptt_steps: int = 16,
        init_std: float = 0.02,
        seed: int = 0,
    ) -> None:
        self.cell = cell
        self.online = online
        self.hidden_size = hidden_size
        self.shl = shl
        self.horizons = horizons
        self.max_gap = max_gap
        self.use_dt = use_dt
        self.lr = lr
        self.clip = clip
        self.optimizer = optimizer
        self.tbptt_steps = tbptt_steps
        self.init_std = init_std
        self.seed = seed

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        """Small, fast settings for the contract suite (tsgate.estimators.checks)."""
        return {"hidden_size": 8, "shl": 4, "horizons": [1, 3]}

    def _validate_params(self) -> None:
        from tsgate.online.learner import ALGORITHMS

        super()._validate_params()
        _int_param(self, "hidden_size")
        _int_param(self, "tbptt_steps")
        if self.online not in ALGORITHMS:
            raise ConfigError(f"The 'online' parameter must be one of {list(ALGORITHMS)}. Got {self.online!r} instead.")
        if self.cell not in ("rnn", "lstm"):
            raise ConfigError(f"The 'cell' parameter must be 'rnn' or 'lstm'. Got {self.cell!r} instead.")

    def _new_engine(self, input_size: int, output_size: int, max_delay: int) -> Any:
        from tsgate.online.learner import OnlineLearner

        return OnlineLearner(
            cell=self.cell,
            input_size=input_size,
            hidden_size=int(self.hidden_size),
            output_size=output_size,
            algorithm=self.online,
            lr=float(self.lr),
            clip=self.clip,
            optimizer=self.optimizer,
            tbptt_steps=int(self.tbptt_steps),
            max_delay=max_delay,
            seed=int(self.seed),
            init_std=float(self.init_std),
        )

    def _engine_from_state(self, config: dict[str, Any], state: dict[str, np.ndarray]) -> Any:
        from tsgate.online.learner import OnlineLearner

        return OnlineLearner.from_state(config, state)


@register
class OnlineLinearForecaster(_StreamForecaster):
    """Linear online baselines of the respiratory-motion papers.

    ``method="nlms"``: normalised least mean squares (step size ``mu``);
    ``method="rls"``: recursive least squares (online linear regression, forgetting ``lam``).
    Same inputs, outputs and prequential protocol as :class:`OnlineRNNForecaster`.
    """

    def __init__(
        self,
        method: str = "rls",
        shl: int = 30,
        horizons: Any = (1,),
        max_gap: Any = None,
        use_dt: bool = True,
        mu: float = 0.5,
        ridge: float = 1e-3,
        lam: float = 1.0,
    ) -> None:
        self.method = method
        self.shl = shl
        self.horizons = horizons
        self.max_gap = max_gap
        self.use_dt = use_dt
        self.mu = mu
        self.ridge = ridge
        self.lam = lam

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        """Small, fast settings for the contract suite (tsgate.estimators.checks)."""
        return {"shl": 4, "horizons": [1, 3]}

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.method not in ("nlms", "rls"):
            raise ConfigError(f"The 'method' parameter must be 'nlms' or 'rls'. Got {self.method!r} instead.")

    def _new_engine(self, input_size: int, output_size: int, max_delay: int) -> Any:
        from tsgate.online.lms import NLMS, OnlineLinearRegression

        if self.method == "nlms":
            return NLMS(input_size, output_size, max_delay=max_delay, mu=float(self.mu))
        return OnlineLinearRegression(input_size, output_size, max_delay=max_delay, ridge=float(self.ridge), lam=float(self.lam))

    def _engine_from_state(self, config: dict[str, Any], state: dict[str, np.ndarray]) -> Any:
        from tsgate.online.lms import NLMS, OnlineLinearRegression

        cls = NLMS if self.method == "nlms" else OnlineLinearRegression
        return cls.from_state(config, state)
