"""PretrainedAnalogForecaster: a pre-trained global network and analogs of the series' own past,
stacked online per horizon. tsgate's causal respiratory-motion forecaster.

Three parts, each strictly causal (see :mod:`tsgate.online.analog_engine` for one step):

- a **global network** (:mod:`tsgate.online.network`), trained once on other recordings
  (:func:`tsgate.training.pretrain.pretrain_network`) and frozen: it forecasts every
  coordinate from its last seconds on a fixed time grid, so one network serves every sampling
  rate, irregular clocks and any number of coordinates. ``network="extmarker"`` uses the bundled
  networks with the leave-one-sequence-out rule (:mod:`tsgate.online.bundled`): data from a
  bundled sequence is forecast by the network that never saw that sequence;
- an **analog forecaster** (:mod:`tsgate.online.analogs`): the mean future of the nearest past
  windows of the same series, whose whole future has already been observed;
- a **stacker** (:mod:`tsgate.online.stacker`): per horizon, recursive least squares on the
  average of the two and the last few relative lags, starting as that average and learning each
  target when the observation that reveals it arrives.

The model is a :class:`~tsgate.estimators.stream.StreamForecaster`: one engine per series,
``fit`` streams the training data through it (learning online as it goes), ``update`` continues.
Nothing collapses quietly: steps without the network (too little history) or without analogs
(library not yet filled), refused stacker updates and guarded forecasts are counted
(:meth:`PretrainedAnalogForecaster.diagnostics`, ``fit_report_``), ``fit`` warns when the
analog library never filled, and non-finite inputs are refused.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.estimators.base import Consumed
from tsgate.estimators.forecasts import Forecasts
from tsgate.estimators.stream import StreamForecaster
from tsgate.exceptions import ConfigError
from tsgate.online.analog_engine import AnalogEngine
from tsgate.online.bundled import BUNDLES, choose_network
from tsgate.online.network import GlobalNetwork
from tsgate.params import Constraint, Duration, Integral, Interval, Real

__all__ = ["PretrainedAnalogForecaster"]


class _Text(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def __str__(self) -> str:
        return "'extmarker', 'extmarker-without-seq<k>' or a network directory"

_NO_NETWORK = {"amplitude_window": 20.0, "amplitude_floor": 0.01, "lead_after": 30.0}


class PretrainedAnalogForecaster(StreamForecaster):
    """Pre-trained global network + analogs of the series' own past, stacked online (RLS).

    Parameters
    ----------
    horizons
        Durations (``"100ms"`` … ``"2.1s"``); steps only with ``network=None``.
    network
        ``"extmarker"``: the bundled network that never saw this data (leave one sequence out);
        ``"extmarker-without-seq<k>"``: that bundled network (refused on data of sequence k);
        a directory written by ``GlobalNetwork.save`` (e.g. from
        :func:`tsgate.pretrain_network` on your own archive); ``None``: analogs and stacker only.
    lag_spacing
        Seconds between the lags the analogs and the stacker read; ``None``: the network's (0.1 s),
        or the data's typical interval without a network.
    analog_window
        History the analog windows compare (seconds or ``"4s"``).
    analog_memory
        How far back the analog library reaches (seconds or ``"120s"``).
    n_analogs
        Neighbours averaged; ``None``: 15 at one library entry per lag spacing, fewer when the
        data are sampled more coarsely (5 at 3.33 Hz).
    stacker_lags
        Relative lags of every coordinate given to the stacker.
    stacker_prior
        Prior precision of the stacker's weights around "the average of network and analogs"
        (features in units of the series' amplitude); larger: slower to move away from it. The
        default was chosen on the validation parts of ExtMarker sequences 1-3 at 10 Hz among
        300, 3000 and 30000 (``benchmarks/extmarker.py`` selects it on validation per sequence).
    max_gap
        Targets whose bracketing observations are further apart are never learned.
    """

    # the engine keeps its own time-based history: the stream windows hold the current observation
    shl = 1
    use_dt = False

    _parameter_constraints = {
        "network": [_Text(), None],
        "lag_spacing": [Duration(), None],
        "analog_window": [Duration()],
        "analog_memory": [Duration()],
        "n_analogs": [Interval(Integral, 1, None), None],
        "stacker_lags": [Interval(Integral, 0, None)],
        "stacker_prior": [Interval(Real, 0, None, closed="neither")],
        "max_gap": [Duration(), None],
    }

    def __init__(
        self,
        horizons: Any = ("100ms",),
        network: str | None = "extmarker",
        lag_spacing: Any = None,
        analog_window: Any = "4s",
        analog_memory: Any = "120s",
        n_analogs: int | None = None,
        stacker_lags: int = 3,
        stacker_prior: float = 30000.0,
        max_gap: Any = None,
    ) -> None:
        self.horizons = horizons
        self.network = network
        self.lag_spacing = lag_spacing
        self.analog_window = analog_window
        self.analog_memory = analog_memory
        self.n_analogs = n_analogs
        self.stacker_lags = stacker_lags
        self.stacker_prior = stacker_prior
        self.max_gap = max_gap

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        """Small, fast settings for the contract suite (tsgate.estimators.checks)."""
        return {"horizons": ["200ms", "500ms"], "analog_window": "1s", "analog_memory": "5s"}

    # ---------------------------------------------------------------- setup
    def _setup(self, data: IrregularSeries, rows: int | None = None) -> None:
        super()._setup(data, rows)
        k = len(self.targets_)
        self.scale_ = np.ones(k)  # the engine learns and forecasts in data units
        values = [g.values[: rows if rows is not None else len(g.values)] for g in data.groups()]
        self.network_, self.network_key_ = self._resolve_network(values)
        durations = [h.kind == "duration" for h in self.horizons_]
        matrix = None
        if self.network_ is not None:
            if not all(durations):
                raise ConfigError(
                    "PretrainedAnalogForecaster: the network forecasts durations; give horizons as durations "
                    "(e.g. '500ms', '1s') or use network=None for step horizons."
                )
            matrix = self.network_.horizon_matrix(np.array([h.value for h in self.horizons_])).tolist()
            cfg = self.network_.config
            spacing = cfg.lag_spacing
            if self.lag_spacing is not None and abs(self._seconds(self.lag_spacing) - spacing) > 1e-9:
                raise ConfigError(f"lag_spacing={self.lag_spacing!r}: with a network it must be the network's ({spacing:g} s).")
            amp = {"amplitude_window": cfg.amplitude_window, "amplitude_floor": cfg.amplitude_floor, "lead_after": cfg.lead_after}
        else:
            spacing = self._seconds(self.lag_spacing) if self.lag_spacing is not None else self.dt_scale_
            amp = dict(_NO_NETWORK)
        v = np.concatenate(values) if values else np.zeros((0, k))
        spread = float(v.std(axis=0).max()) if len(v) > 1 else 1.0
        lib_spacing = max(spacing, self.dt_scale_)
        neighbours = self.n_analogs or max(3, int(round(15 * spacing / lib_spacing)))
        min_analogs = max(20, neighbours + 1)
        self.engine_settings_ = {
            "lag_spacing": float(spacing),
            "analog_lags": max(1, int(round(self._seconds(self.analog_window) / spacing))),
            "stacker_lags": int(self.stacker_lags),
            "library_capacity": max(min_analogs + 1, int(math.ceil(self._seconds(self.analog_memory) / lib_spacing))),
            "library_spacing": float(lib_spacing),
            "n_neighbors": int(neighbours),
            "min_analogs": int(min_analogs),
            "prior": float(self.stacker_prior),
            "amplitude_window": float(amp["amplitude_window"]),
            "amplitude_floor": float(amp["amplitude_floor"] * max(spread, 1e-12)),
            "lead_after": float(amp["lead_after"]),
            "horizon_matrix": matrix,
        }

    @staticmethod
    def _seconds(value: Any) -> float:
        from tsgate.data.times import parse_duration

        return parse_duration(value)

    def _resolve_network(self, values: list[np.ndarray]) -> tuple[GlobalNetwork | None, str | None]:
        spec = self.network
        if spec is None:
            return None, None
        if spec.split("-", 1)[0] in BUNDLES and not Path(spec).exists():
            net, key = choose_network(spec, values)
            return net, f"{spec.split('-', 1)[0]}/{key}"
        path = Path(spec)
        if not path.is_dir():
            raise ConfigError(
                f"network={spec!r} is neither a bundled network ('extmarker', 'extmarker-without-seq<k>') nor a "
                "network directory written by GlobalNetwork.save; use None for analogs and stacker only."
            )
        net = GlobalNetwork.load(path)
        self._refuse_seen(net, values)
        return net, str(path)

    @staticmethod
    def _refuse_seen(net: GlobalNetwork, values: list[np.ndarray]) -> None:
        seen = sorted({name for v in values for name in net.saw(v)})
        if seen:
            raise ConfigError(
                f"the network was trained on {', '.join(seen)}, which this data contains; a network is never "
                "evaluated on a recording it has seen. Use a network trained without it (network='extmarker' "
                "chooses one for bundled data)."
            )

    # ---------------------------------------------------------------- engine
    def _encode(self, inputs: Any) -> np.ndarray:
        """Engine input of each origin: its time (seconds) and its values (the engine keeps the history)."""
        return np.column_stack([inputs.origin_time, inputs.target_values[:, -1, :]])

    def _new_engine(self, input_size: int, output_size: int, max_delay: int) -> AnalogEngine:
        return AnalogEngine(len(self.targets_), len(self.horizons_), max_delay, network=self.network_, **self.engine_settings_)

    def _engine_from_state(self, config: dict[str, Any], state: dict[str, np.ndarray]) -> AnalogEngine:
        return AnalogEngine.from_state(config, state, self.network_)

    def _consume(self, combined: IrregularSeries, last: dict[Any, float]) -> Consumed:
        if self.network_ is not None:
            new = [g.values[g.time_s > last.get(g.series_id, -np.inf)] for g in combined.groups()]
            self._refuse_seen(self.network_, [v for v in new if len(v)])
        return super()._consume(combined, last)

    def _consume_all(self, combined: IrregularSeries, last: dict[Any, float]) -> Consumed:
        """The stream loop of :class:`StreamForecaster`, with each step's revealed targets
        gathered beforehand and learned in one call (one ``learn_many`` and one ``apply`` per step)."""
        w = self._stream_windows(combined)
        k, H = len(self.targets_), len(self.horizons_)
        yhat = np.full((len(w), H, k), np.nan)
        is_new = np.zeros(len(w), bool)
        u_all = self._encode(w.inputs)
        cur = w.x[:, -1, :k]
        rel = w.y - cur[:, None, :]
        reveal, origin_time, origin_row = w.reveal_time, w.origin_time, w.origin_row
        cost: list[float] = []
        updates = refused = 0
        for si, sid in enumerate(w.series_ids):
            rows = np.flatnonzero(w.series_index == si)
            order = rows[np.argsort(origin_row[rows], kind="stable")]
            prev = last.get(sid, -np.inf)
            new_rows = order[origin_time[order] > prev]
            if len(new_rows) == 0:
                continue
            eng = self._engine(sid)
            n_up, n_ref = eng.n_updates, eng.n_refused
            # every revealed (origin, horizon) pair, with the row that reveals it
            rv = reveal[order]
            po, ph = np.nonzero(np.isfinite(rv) & (rv > prev) & np.isfinite(w.y[order]).all(axis=2))
            at = np.searchsorted(origin_time[order], rv[po, ph])  # position of the revealing row in `order`
            delay = at - po
            ok = (delay >= 0) & (delay <= self.max_delay_)
            self.n_skipped_targets_ += int((~ok).sum())
            po, ph, at, delay = po[ok], ph[ok], at[ok], delay[ok]
            by = np.argsort(at, kind="stable")
            po, ph, at, delay = po[by], ph[by], at[by], delay[by]
            pos = np.searchsorted(order, new_rows)  # new rows are a tail of `order`
            bounds = np.searchsorted(at, np.r_[pos, pos[-1] + 1])
            targets = rel[order[po], ph]
            for i, r in enumerate(new_rows):
                t0 = time.perf_counter()
                yhat[r] = cur[r] + eng.step(u_all[r]).reshape(H, k)
                a, b = bounds[i], bounds[i + 1]
                if b > a:
                    eng.learn_many(delay[a:b], targets[a:b], ph[a:b])
                    eng.apply()
                    self.n_learned_ += int(b - a)
                cost.append(time.perf_counter() - t0)
            is_new[new_rows] = True
            updates += eng.n_updates - n_up
            refused += eng.n_refused - n_ref
        # seconds per new observation (forecast + learn) of the last update; not saved
        self.step_seconds_ = np.asarray(cost)
        return Consumed(Forecasts(w.inputs.select(is_new), yhat[is_new]), updates, refused)

    def _stream_learn(self, series: Any, rev: Any) -> tuple[int, int]:
        """Learn the targets one live observation revealed in one ``learn_many`` call (the same
        pairs, in the same order, as one ``learn`` call each)."""
        eng = self._engine(series)
        n_up, n_ref = eng.n_updates, eng.n_refused
        delay = np.asarray(rev.delay, dtype=np.int64)
        ok = (delay >= 0) & (delay <= self.max_delay_)
        self.n_skipped_targets_ += int(len(delay) - ok.sum())
        if ok.any():
            y, cur = np.asarray(rev.y, dtype=np.float64)[ok], np.asarray(rev.cur, dtype=np.float64)[ok]
            eng.learn_many(delay[ok], (y - cur) / self.scale_, np.asarray(rev.horizon)[ok])
            self.n_learned_ += int(ok.sum())
            eng.apply()
        return eng.n_updates - n_up, eng.n_refused - n_ref

    def _fit(self, data: IrregularSeries) -> None:
        super()._fit(data)
        for sid, c in self.diagnostics().items():
            self.fit_report_.append({"series": sid, "network": self.network_key_, **c})
            if c["steps"] and c["without_analogs"] == c["steps"]:
                self.fit_warnings_.append({
                    "series": sid,
                    "message": (f"the analog library never filled during fit ({c['steps']} observations; it needs "
                                f"{self.engine_settings_['min_analogs']} past origins with their whole future): "
                                "forecasts use the network (if any) until it does."),
                })

    def diagnostics(self) -> dict[Any, dict[str, int]]:
        """Per series: steps, steps without the network or without analogs, guarded forecasts,
        stacker updates learned and refused."""
        out = {}
        for sid, eng in self.engines_.items():
            c = eng.counts
            out[sid] = {"steps": c["n_steps"], "without_network": c["n_without_network"] if self.network_ is not None else c["n_steps"],
                        "without_analogs": c["n_without_analogs"], "fallback": c["n_fallback"],
                        "learned": eng.stacker.n_learned, "refused": eng.stacker.n_refused}
        return out

    # ---------------------------------------------------------------- persistence
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = super()._get_state()
        meta["engine_settings"] = self.engine_settings_
        meta["network_key"] = self.network_key_
        if self.network_ is not None:
            desc, net_arrays = self.network_.to_arrays(prefix="network/")
            meta["network"] = desc
            arrays.update(net_arrays)
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.engine_settings_ = dict(meta["engine_settings"])
        self.network_key_ = meta.get("network_key")
        self.network_ = GlobalNetwork.from_arrays(meta["network"], arrays, prefix="network/") if "network" in meta else None
        super()._set_state(meta, arrays)
