"""Stream models: a stateful engine per series runs along its observations and learns online.

This is the protocol of the respiratory-motion papers (Pohl et al.): one model per series runs
along its stream; at each new observation it forecasts every horizon, then learns each target
that this observation reveals, paired with the state of the step the forecast was made at
(``delay`` steps back). A :class:`StreamForecaster` implements two hooks that build its engine:

- ``_new_engine(input_size, output_size, max_delay)``: an untrained engine;
- ``_engine_from_state(config, arrays)``: an engine restored from ``engine.config`` and
  ``engine.state_dict_arrays()``;

and an engine (:class:`~tsgate.online.learner.OnlineLearner`, :class:`~tsgate.online.lms.NLMS`,
...) has ``step(u) -> outputs``, ``learn(delay, target, out_slice)``, ``apply()``,
``output()`` (the forecast of its current state), ``config``, ``state_dict_arrays()`` and the
counters ``n_updates`` and ``n_refused``.

Input at step t (k targets, S = ``shl`` past samples): the last S values relative to the
current one, the current value relative to the training mean, all divided by the training
standard deviation, and log(1 + Δt/median Δt) of the S steps (``use_dt``). Output: for each
horizon, (y(t+h) - y(t)) / std. Early steps with fewer than S samples repeat the first one.

``fit`` runs the stream over the training data, learning online (as in the papers, where the
first 30 s train the model); ``update`` continues it. Every series has its own engine; a series
seen for the first time starts from a new, untrained engine (the same seeded start as every
other series), so a series' forecasts never depend on which other series came first.

What ``forecast``/``predict`` do with the data given: the model forecasts from its live state,
the state after the last observation it learned from (``last_time_``, per series). It never
changes the model: for each series of ``data`` it copies that series' engine and steps the copy,
without learning, through the observations of ``data`` newer than ``last_time_`` (their input
windows reach back into the model's own recent history, ``history_``). Observations at or before
``last_time_`` are ignored: the state already holds them. Origins: ``"last"`` is the newest of
``last_time_`` and the last observation of ``data``; ``"all"`` is ``last_time_`` and every newer
observation; chosen times earlier than ``last_time_`` cannot be forecast from the live state
and are left out. A series the model has never seen is refused (pass it to ``update`` first).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from tsgate.blas import blas_threads
from tsgate.data.columns import ID
from tsgate.data.series import IrregularSeries
from tsgate.data.windows import Inputs, Windows, make_windows
from tsgate.estimators.base import BaseForecaster, Consumed
from tsgate.estimators.calibration import calibration_mask, calibration_pairs, truths
from tsgate.estimators.conformal import CalibrationSet
from tsgate.estimators.forecasts import Forecasts
from tsgate.exceptions import DataError

__all__ = ["StreamForecaster"]


class StreamForecaster(
    BaseForecaster, register=False, style="stream", learns_online=True, learns_from_scratch=True
):
    """Base of the models that run one engine per series along the stream (see module docstring).

    Subclasses have the parameters ``shl`` (past samples per input), ``horizons``, ``max_gap``
    and ``use_dt``.
    """

    # ---------------------------------------------------------------- engine hooks
    def _new_engine(self, input_size: int, output_size: int, max_delay: int) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _engine_from_state(self, config: dict[str, Any], state: dict[str, np.ndarray]) -> Any:  # pragma: no cover
        raise NotImplementedError

    @property
    def input_window(self) -> int | None:
        return None

    def _window_length(self) -> int:
        return int(self.shl)

    def _min_history(self) -> int:
        return 1

    # ---------------------------------------------------------------- setup
    def _setup(self, data: IrregularSeries, rows: int | None = None) -> None:
        """Scales from ``data`` (its first ``rows`` rows per series when given) and engine sizes."""
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
            self.engines_[sid] = self._new_engine(self.input_size_, self.output_size_, self.max_delay_)
        return self.engines_[sid]

    def _copy(self, engine: Any) -> Any:
        return self._engine_from_state(engine.config, engine.state_dict_arrays())

    def _start_fresh(self, data: IrregularSeries) -> None:
        # scales from each series' first max(shl, 10) rows: the only look-ahead is in scaling
        self._setup(data, rows=max(int(self.shl), 10))

    def _fit(self, data: IrregularSeries) -> None:
        self._setup(data)
        self.last_time_ = {}
        # the prequential forecasts of the training stream calibrate the intervals
        self._fit_forecasts = self._consume(data, {}).forecasts

    def _calibration_forecasts(self, data: IrregularSeries) -> CalibrationSet:
        """The forecasts the training stream made at the calibration origins, each before its
        target was known (see tsgate.estimators.calibration)."""
        fc, self._fit_forecasts = self._fit_forecasts, None
        w = truths(data, self.horizons_, self._max_gap())  # every row is an origin, in the same order
        pos = {(int(s), int(r)): i for i, (s, r) in enumerate(zip(w.series_index, w.origin_row))}
        at = np.array([pos[(int(s), int(r))] for s, r in zip(fc.inputs.series_index, fc.inputs.origin_row)], dtype=np.int64)
        values = np.full(w.y.shape, np.nan)
        values[at] = fc.values
        return calibration_pairs(values, w, calibration_mask(w, self._calibration_fraction()))

    # ---------------------------------------------------------------- inputs / targets
    def _encode(self, inputs: Inputs) -> np.ndarray:
        """Engine inputs [n, m] for input windows (float64)."""
        x = inputs.target_values
        first = np.argmax(inputs.mask, axis=1)
        fill = x[np.arange(len(x)), first]
        x = np.where(inputs.mask[..., None], x, fill[:, None, :])
        cur = x[:, -1, :]
        rel = (x - cur[:, None, :]) / self.scale_
        parts = [rel.reshape(len(x), -1), (cur - self.loc_) / self.scale_]
        if self.use_dt:
            parts.append(np.log1p(np.clip(inputs.dt, 0, None) / self.dt_scale_) * inputs.mask)
        return np.concatenate(parts, axis=1)

    def _decode(self, out: Any, cur: np.ndarray) -> np.ndarray:
        H, k = len(self.horizons_), len(self.targets_)
        return cur[None, :] + np.asarray(out, dtype=np.float64).reshape(H, k) * self.scale_

    def _stream_windows(self, data: IrregularSeries) -> Windows:
        return make_windows(
            data, int(self.shl), self.horizons_, max_gap=self._max_gap(), min_history=1, targets="optional"
        )

    # ---------------------------------------------------------------- streaming
    def _consume(self, combined: IrregularSeries, last: dict[Any, float]) -> Consumed:
        """Run every series' engine over its observations newer than ``last`` (forecast, then learn)."""
        # batch-1 maths: a second BLAS thread only adds synchronisation (30-45 ms vs 0.3 ms per step)
        with blas_threads(1):
            return self._consume_all(combined, last)

    def _consume_all(self, combined: IrregularSeries, last: dict[Any, float]) -> Consumed:
        w = self._stream_windows(combined)
        k, H = len(self.targets_), len(self.horizons_)
        yhat = np.full((len(w), H, k), np.nan)
        is_new = np.zeros(len(w), bool)
        u_all = self._encode(w.inputs)
        cur_all = w.x[:, -1, :k]
        cost: list[float] = []
        updates = refused = 0
        for si, sid in enumerate(w.series_ids):
            rows = np.flatnonzero(w.series_index == si)
            prev = last.get(sid, -np.inf)
            order = rows[np.argsort(w.origin_row[rows], kind="stable")]
            new_rows = order[w.origin_time[order] > prev]
            if len(new_rows) == 0:
                continue
            eng = self._engine(sid)
            n_up, n_ref = eng.n_updates, eng.n_refused
            # revealed (origin, horizon) pairs of this series, grouped by the row revealing them
            rv = w.reveal_time[order]
            ok = np.isfinite(rv) & (rv > prev) & np.isfinite(w.y[order]).all(axis=2)
            pair_o, pair_h = np.nonzero(ok)
            pair_rows = order[pair_o]
            by_time: dict[float, list[int]] = {}
            for j, tval in enumerate(rv[pair_o, pair_h]):
                by_time.setdefault(float(tval), []).append(j)
            for r in new_rows:
                t0 = time.perf_counter()
                yhat[r] = self._decode(eng.step(u_all[r]), cur_all[r])
                is_new[r] = True
                learned = False
                for j in by_time.get(float(w.origin_time[r]), ()):
                    o, h = pair_rows[j], pair_h[j]
                    delay = int(w.origin_row[r] - w.origin_row[o])
                    if delay > self.max_delay_ or delay < 0:
                        self.n_skipped_targets_ += 1
                        continue
                    target = (w.y[o, h] - cur_all[o]) / self.scale_
                    eng.learn(delay, target, slice(h * k, (h + 1) * k))
                    learned = True
                    self.n_learned_ += 1
                if learned:
                    eng.apply()
                cost.append(time.perf_counter() - t0)
            updates += eng.n_updates - n_up
            refused += eng.n_refused - n_ref
        # seconds per new observation (forecast + learn) of the last update; not saved
        self.step_seconds_ = np.asarray(cost)
        return Consumed(Forecasts(w.inputs.select(is_new), yhat[is_new]), updates, refused)

    def _stream_forecast(self, series: Any, inputs: Inputs) -> np.ndarray:
        """[H, k] forecasts of one new observation: the series' engine steps (the stream)."""
        return self._decode(self._engine(series).step(self._encode(inputs)[0]), inputs.x[0, -1, : len(self.targets_)])

    def _stream_learn(self, series: Any, rev: Any) -> tuple[int, int]:
        """Learn the targets one observation revealed, as ``_consume_all`` does at that row."""
        eng = self._engine(series)
        n_up, n_ref = eng.n_updates, eng.n_refused
        k = len(self.targets_)
        learned = False
        for delay, h, y, cur in zip(rev.delay.tolist(), rev.horizon.tolist(), rev.y, rev.cur):
            if delay > self.max_delay_ or delay < 0:
                self.n_skipped_targets_ += 1
                continue
            eng.learn(delay, (y - cur) / self.scale_, slice(h * k, (h + 1) * k))
            learned = True
            self.n_learned_ += 1
        if learned:
            eng.apply()
        return eng.n_updates - n_up, eng.n_refused - n_ref

    def _forecast(self, series: IrregularSeries, origins: Any) -> Forecasts:
        with blas_threads(1):
            return self._forecast_live(series, origins)

    def _forecast_live(self, series: IrregularSeries, origins: Any) -> Forecasts:
        """Copies of the live engines stepped, without learning, through the rows newer than their state."""
        unknown = [s for s in series.series_ids if s not in self.engines_ or s not in self.last_time_]
        if unknown:
            raise DataError(
                "the model has no state for this series (it was not in the data given to fit or "
                "update); pass its observations to update first.",
                file=series.source,
                series=unknown[0],
            )
        last = series.frame[ID].map(self.last_time_).to_numpy(dtype=np.float64)
        new = series.take(series.time_seconds() > last)
        # the model's recent rows come first in each series: the last of them is where the state is
        combined = self.history_.subset(series.series_ids)
        n_hist = combined.frame.groupby(ID, sort=False).size().to_dict()
        if len(new):
            combined = combined.append(new)
        w = self._stream_windows(combined)
        k = len(self.targets_)
        u_all = self._encode(w.inputs)
        cur_all = w.x[:, -1, :k]
        origin_time = w.origin_time.copy()
        values = np.full((len(w), len(self.horizons_), k), np.nan)
        chosen = np.zeros(len(w), bool)
        for si, sid in enumerate(w.series_ids):
            rows = np.flatnonzero(w.series_index == si)
            rows = rows[np.argsort(w.origin_row[rows], kind="stable")]
            t_state = self.last_time_[sid]
            live = rows[w.origin_row[rows] == n_hist[sid] - 1]
            ahead = rows[w.origin_row[rows] >= n_hist[sid]]
            origin_time[live] = t_state  # exact, even where the saved history is rounded to the µs
            wanted = self._wanted(origins, sid, np.r_[t_state, w.origin_time[ahead]])
            eng = self._copy(self.engines_[sid])
            if len(live) and wanted[0]:
                values[live[0]] = self._decode(eng.output(), cur_all[live[0]])
                chosen[live[0]] = True
            for i, r in enumerate(ahead):
                out = eng.step(u_all[r])
                if wanted[i + 1]:
                    values[r] = self._decode(out, cur_all[r])
                    chosen[r] = True
                if not wanted[i + 1 :].any():
                    break
        inputs = w.inputs.select(chosen)
        inputs.origin_time = origin_time[chosen]
        return Forecasts(inputs, values[chosen])

    @staticmethod
    def _wanted(origins: Any, sid: Any, times: np.ndarray) -> np.ndarray:
        """[m] which of the live state's time and the newer observations' times are origins."""
        if isinstance(origins, str):
            if origins == "all":
                return np.ones(len(times), bool)
            out = np.zeros(len(times), bool)
            out[-1] = True
            return out
        chosen = origins.get(sid)
        return np.isin(times, np.asarray(chosen, dtype=np.float64)) if chosen is not None else np.zeros(len(times), bool)

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
