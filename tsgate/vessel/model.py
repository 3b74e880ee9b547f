"""``VesselLSTMForecaster``: a gated (LSTM) model of vessel tracks that learns what dead reckoning misses.

One global model over all vessels forecasts, for every horizon at once, the residual of the
position over SOG/COG dead reckoning in the along/cross-track frame (see
:mod:`tsgate.vessel.features` and :mod:`tsgate.vessel.network`), trained through Lightning's
Trainer (:func:`tsgate.training.trainer.train_module`, a fixed cosine schedule).

Fit: a time cut per vessel (:func:`tsgate.data.splits.validation_cut`: the last ``val_fraction``
of each vessel's origins validate, training targets purged per horizon). Per seed a first
network trained before the cut gives, per horizon, the residual scale α ∈ {0, 0.1, …, 1.2} with
the lowest validation error. Then per horizon the forecast is chosen on the validation part by
the one-standard-error rule (the simplest within one standard error of the best) among, simplest
first, SOG/COG dead reckoning, two-point dead reckoning, a linear autoregression fitted before
the cut (:mod:`tsgate.vessel.bases`) and dead reckoning + α × the network's correction. So the
learned correction is kept at its fitted α wherever it is clearly better than every base, and
a base wins where it is not (at 10-s cadence with GPS noise, the linear autoregression). The
networks and the linear base are refitted on all training windows (networks only when some
horizon keeps the correction). Learned horizons with fewer than 50 validation pairs take the
choice of the longest validated horizon before them when that is the correction, else dead
reckoning; with none validated, dead reckoning and a warning. Without a validation part
(``val_fraction=0``): dead reckoning + the full correction. Forecasts average the seeds.
``fit_report_`` lists the choice, the base, every candidate's validation error (m) and α per
horizon. With ``track_analogs`` (the default) the track-analog base (:mod:`tsgate.vessel.analogs`) is a
candidate too, validated with a library of the training part only; it replaces the choice among
the others only where it is better by more than one standard error, and forecasts by that
choice where no earlier vessel matches (counted per horizon under ``"analogs"`` in the report).
With ``combination`` (the default) a horizon forecasts a convex combination of the candidates'
displacements, persistence included (damping), where it beats the single choice by more than one
standard error in a cross-fit over the validation vessels (:mod:`tsgate.vessel.combination`).
The prediction bands calibrate on the validation forecasts (:mod:`tsgate.vessel.bands`).

Collapse guards: a horizon with fewer than ``min_windows`` training windows, or a fit on fewer
than ``min_series`` vessels, is not learned: that horizon is forecast by its base, listed in
``fallback_`` and warned about (:class:`~tsgate.exceptions.FewWindowsWarning`, kept in
``fit_warnings_`` so a backtest counts it). Measured on the bundled files: 1,000 windows from 4
vessels made the network 1.6× worse than dead reckoning at 15 min, 300 windows spread over 64
vessels were harmless; hence the defaults 1,000 windows per horizon and 20 vessels.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from tsgate.baselines.features import lead_times, series_intervals, typical_intervals
from tsgate.data.series import IrregularSeries
from tsgate.data.splits import validation_cut
from tsgate.data.windows import Inputs, require_windows
from tsgate.estimators.window import WindowForecaster
from tsgate.exceptions import FewWindowsWarning, SchemaError
from tsgate.params import Boolean, Duration, Integral, Interval, Names, Real
from tsgate.vessel.analogs import ANALOGS, AnalogLibrary, coverage, displacements, library
from tsgate.vessel.bands import HeldOutBands
from tsgate.vessel.bases import CORRECTED, LinearBase, candidates, choose, two_point_velocity
from tsgate.vessel.combination import PERSISTENCE, Combination, combine
from tsgate.vessel.features import Area, Columns, Features, features, from_track, to_track
from tsgate.vessel.state import VesselModelFile

__all__ = ["VesselLSTMForecaster", "ALPHA_GRID", "MIN_VALIDATION_PAIRS"]

ALPHA_GRID = np.round(np.linspace(0.0, 1.2, 13), 2)
MIN_VALIDATION_PAIRS = 50
_POS_INT = [Interval(Integral, 1, None)]
_POS = [Interval(Real, 0, None, closed="neither")]


class VesselLSTMForecaster(VesselModelFile, HeldOutBands, WindowForecaster):
    """Gated vessel-track forecaster: dead reckoning plus a learned, calibrated correction.

    Parameters
    ----------
    horizons
        Durations (``["30s", "5min"]``) or steps.
    window
        Reports per input (the origin included; shorter voyages are padded).
    hidden_size, max_epochs, lr, weight_decay, batch_size
        LSTM size; training (AdamW, cosine schedule over ``max_epochs``, no early stopping).
    n_seeds, seed
        Networks averaged (seeds ``seed``, ``seed + 1``, …).
    val_fraction
        Share of each vessel's origin time span that calibrates α (0: α = 1 everywhere).
    cell_m, min_cell_reports, min_cell_vessels
        Grid cell size (metres) of the learned position embedding; cells with fewer training
        reports, or reports from fewer vessels, share one "unknown" code.
    min_windows, min_series
        Fewest training windows per horizon and vessels for a horizon to be learned (else it
        is forecast by its validated base, dead reckoning without validation, with a warning).
    max_gap
        Training targets whose bracketing reports are further apart are not used.
    track_analogs
        Also validate the track-analog base (:mod:`tsgate.vessel.analogs`: the displacement
        earlier vessels made from the same place, course and speed) as a candidate per horizon
        (False: the candidates of earlier versions only).
    combination
        Also validate, per horizon, a convex combination of the candidates and persistence
        (:mod:`tsgate.vessel.combination`; False: one candidate per horizon).
    position_cols, sog_col, cog_col, heading_col
        East/north targets (m); SOG (kn), COG and heading (deg) covariates, used where present.
    accelerator, progress
        Passed to Lightning's Trainer.
    """

    _parameter_constraints = {
        "window": _POS_INT, "hidden_size": _POS_INT, "max_epochs": _POS_INT, "lr": _POS,
        "weight_decay": [Interval(Real, 0, None)], "batch_size": _POS_INT, "n_seeds": _POS_INT,
        "seed": [Interval(Integral, 0, None)], "val_fraction": [Interval(Real, 0, 1, closed="left")],
        "cell_m": _POS, "min_cell_reports": _POS_INT, "min_cell_vessels": _POS_INT,
        "min_windows": _POS_INT, "min_series": _POS_INT,
        "max_gap": [Duration(), None], "position_cols": [Names(2)], "track_analogs": [Boolean()],
        "combination": [Boolean()],
    }

    def __init__(
        self,
        horizons: Any = ("1min",),
        window: int = 16,
        hidden_size: int = 64,
        max_epochs: int = 16,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 256,
        n_seeds: int = 1,
        seed: int = 0,
        val_fraction: float = 0.2,
        cell_m: float = 2000.0,
        min_cell_reports: int = 20,
        min_cell_vessels: int = 5,
        min_windows: int = 1000,
        min_series: int = 20,
        max_gap: Any = "10min",
        track_analogs: bool = True,
        combination: bool = True,
        position_cols: tuple[str, str] = ("east_m", "north_m"),
        sog_col: str = "sog_kn",
        cog_col: str = "cog_deg",
        heading_col: str = "heading_deg",
        accelerator: str = "cpu",
        progress: bool = False,
    ) -> None:
        self.horizons = horizons
        self.window = window
        self.hidden_size = hidden_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.n_seeds = n_seeds
        self.seed = seed
        self.val_fraction = val_fraction
        self.cell_m = cell_m
        self.min_cell_reports = min_cell_reports
        self.min_cell_vessels = min_cell_vessels
        self.min_windows = min_windows
        self.min_series = min_series
        self.max_gap = max_gap
        self.track_analogs = track_analogs
        self.combination = combination
        self.position_cols = position_cols
        self.sog_col = sog_col
        self.cog_col = cog_col
        self.heading_col = heading_col
        self.accelerator = accelerator
        self.progress = progress

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        return {"horizons": ["1min", "5min"], "window": 6, "hidden_size": 8, "max_epochs": 2, "min_windows": 10,
                "min_series": 1, "batch_size": 32, "max_gap": None}

    def _window_length(self) -> int:
        return int(self.window)

    def _min_history(self) -> int:
        return 2  # a two-point velocity where SOG/COG are missing; shorter voyages are padded

    # ------------------------------------------------------------------ fit
    def _columns(self, data: IrregularSeries) -> Columns:
        cols = list(self.position_cols)
        missing = [c for c in cols if c not in data.targets]
        if missing:
            raise SchemaError(f"the vessel model needs the position targets {cols} (metres); the data's targets are "
                              f"{list(data.targets)}. Pass position_cols=(east, north) naming your columns.",
                              file=data.source, column=missing[0])
        k = len(data.targets)
        cov = {c: k + data.covariates.index(c) for c in (self.sog_col, self.cog_col, self.heading_col) if c in data.covariates}
        has_sc = self.sog_col in cov and self.cog_col in cov
        return Columns(data.targets.index(cols[0]), data.targets.index(cols[1]), cov[self.sog_col] if has_sc else -1,
                       cov[self.cog_col] if has_sc else -1, cov.get(self.heading_col, -1))

    def _fit(self, data: IrregularSeries) -> None:
        self.columns_ = self._columns(data)
        self.interval_s_ = typical_intervals(data)
        w = self._windows(data, "all", targets="optional")
        w = w.select(np.isfinite(w.y).all(axis=2).any(axis=1))
        require_windows(w, data, "training the vessel model")
        X = w.inputs
        col = self.columns_
        self.area_ = Area.fit(X.x[:, -1, col.east], X.x[:, -1, col.north], float(self.cell_m), int(self.min_cell_reports),
                              X.series_index, int(self.min_cell_vessels))
        F = features(X, col, self.area_)
        lead = lead_times(X, series_intervals(X, self.interval_s_))
        y = np.stack([w.y[:, :, col.east], w.y[:, :, col.north]], axis=2)
        finite = np.isfinite(y).all(axis=2)
        labels = [h.label for h in self.horizons_]
        per_h = finite.sum(axis=0)
        n_series = int(len(np.unique(X.series_index)))
        active = (per_h >= int(self.min_windows)) & (n_series >= int(self.min_series))
        self.fallback_ = [lab for lab, a in zip(labels, active) if not a]
        self.train_counts_ = {"windows": len(w), "series": n_series, "per_horizon": dict(zip(labels, per_h.tolist()))}
        fit_keep, val = self._cut(w, finite)
        # the network learns the residual over SOG/COG dead reckoning on every horizon
        args = self._base_args(X, F, lead)
        disp = to_track(y - F.origin[:, None, :], F.cos, F.sin)  # true (cross, along) displacement, for the linear base
        dr = self._bases(X, F, lead, None)["dead reckoning"]
        R = to_track(y - dr, F.cos, F.sin)
        known = np.isfinite(R).all(axis=2) & active[None, :]
        self.nets_: list[Any] = []
        self.alpha_ = np.zeros(len(labels))
        self.scale_ = np.ones(len(labels))
        self.bases_ = ["dead reckoning"] * len(labels)
        self.choice_ = list(self.bases_)
        self.base_errors_: dict[str, list[float | None]] = {}
        self.linear_: LinearBase | None = None
        self.analogs_: AnalogLibrary | None = None
        self._held_out: tuple[Any, np.ndarray, np.ndarray] | None = None
        self.analog_fallback_ = ["dead reckoning"] * len(labels)
        self.combination_: Combination | None = None
        combination_report: dict[str, Any] = {}
        self.net_kwargs_ = {"n_seq": int(F.seq.shape[2]), "n_static": int(F.static.shape[1]), "n_cells": self.area_.n_cells,
                            "n_horizons": len(labels), "hidden_size": int(self.hidden_size)}
        self.fit_time_s_ = 0.0
        t0 = time.perf_counter()
        ref = known & fit_keep if fit_keep is not None else known
        sc = np.array([np.mean(np.abs(R[ref[:, k], k])) if ref[:, k].any() else np.nan for k in range(len(labels))])
        self.scale_ = np.where(np.isfinite(sc) & (sc > 0), sc, 1.0)
        tensors = self._tensors(F, lead, R, known) if known.any() else None
        analog_report: dict[str, Any] = {}
        if fit_keep is not None and val is not None:
            # the validation library holds the training part only: no validation origin's own future
            lib = library(F, y, finite & fit_keep, X) if self.track_analogs else None
            vrows = val & finite.any(axis=1)
            ana = displacements(lib, F, X, lead, vrows) if lib is not None else None
            cands = self._bases(X, F, lead, LinearBase.fit(*args, disp, finite & fit_keep), ana)
            if ana is not None:
                analog_report = coverage(ana, vrows, labels)
            alpha_fit = np.zeros(len(labels))
            if tensors is not None and (val[:, None] & known).any():
                alpha_fit, cands[CORRECTED] = self._calibrate(tensors, F, R, dr, known, fit_keep, val)
            if lib is not None:
                # where too few earlier vessels match, the analog base is the best of the others
                others = {nm: c for nm, c in cands.items() if nm != ANALOGS}
                self.analog_fallback_ = choose(others, y, finite & val[:, None], MIN_VALIDATION_PAIRS)[0]
                cands[ANALOGS] = np.where(np.isfinite(cands[ANALOGS]), cands[ANALOGS], self._pick(others, self.analog_fallback_))
                analog_report["fallback_to"] = dict(zip(labels, self.analog_fallback_))
            self._choose(cands, y, finite & val[:, None], alpha_fit, active)
            held = self._pick(cands, self.choice_)
            if self.combination:
                cands[PERSISTENCE] = np.repeat(F.origin[:, None, :], len(labels), axis=1)
                self.combination_, combination_report, held = combine(
                    cands, held, F.origin, y, finite & val[:, None], X.series_index, labels, MIN_VALIDATION_PAIRS, alpha_fit,
                    self.analog_fallback_)
                self.combination_.alpha[~active] = 0.0  # an unlearned horizon's network output means nothing
            self._held_out = (w, val, held)
        elif tensors is not None:
            self.alpha_ = active.astype(float)
            self.choice_ = [CORRECTED if a else "dead reckoning" for a in active]
        need = self.combination_.requires() if self.combination_ is not None else set()
        if "linear AR" in self.bases_ or "linear AR" in need:
            self.linear_ = LinearBase.fit(*args, disp, finite)
        if ANALOGS in self.choice_ or ANALOGS in need:
            self.analogs_ = library(F, y, finite, X)
            analog_report["library_origins"] = len(self.analogs_)
        self.fit_report_.append({"bases": dict(zip(labels, self.bases_)), "choice": dict(zip(labels, self.choice_)),
                                 "validation_error_m": self.base_errors_, "alpha": dict(zip(labels, self.alpha_.tolist())),
                                 **({"analogs": analog_report} if analog_report else {}),
                                 **({"combination": combination_report} if combination_report else {})})
        if self.fallback_:
            self._warn(f"the vessel model forecasts horizon(s) {self.fallback_} by its validated base forecast "
                       f"({', '.join(sorted({self.bases_[labels.index(h)] for h in self.fallback_}))}) without a learned "
                       f"correction: training windows per horizon {self.train_counts_['per_horizon']} from {n_series} "
                       f"vessels, below its minimum of {self.min_windows} windows and {self.min_series} vessels")
        corrected = CORRECTED in need and bool((self.combination_.alpha > 0).any())  # type: ignore[union-attr]
        if tensors is None or not ((self.alpha_ > 0).any() or corrected):
            return
        for i in range(int(self.n_seeds)):
            self.nets_.append(self._train(tensors, known, int(self.seed) + i))
        self.fit_time_s_ = time.perf_counter() - t0

    def _choose(self, cands: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray, alpha_fit: np.ndarray,
                active: np.ndarray) -> None:
        """Per horizon, the forecast with the lowest validation error by the one-standard-error rule
        among dead reckoning, two-point, linear AR and dead reckoning + α · the network's
        correction (in this order of complexity); sets ``choice_``, ``bases_``, ``alpha_`` and
        ``base_errors_``. A learned horizon with too few validation pairs takes the choice of the
        longest validated horizon before it if that was the correction, else dead reckoning."""
        self.choice_, errs = choose(cands, y, rows, MIN_VALIDATION_PAIRS)
        self.base_errors_ = {nm: [round(v, 3) if np.isfinite(v) else None for v in e] for nm, e in errs.items()}
        validated = np.array([np.isfinite(errs["dead reckoning"][k]) for k in range(len(self.choice_))])
        last: float | None = None
        for k, nm in enumerate(self.choice_):
            if validated[k]:
                # an analog horizon passes on the choice it fell back to (an unvalidated horizon
                # does not take the analog base)
                corrected = nm == CORRECTED or (nm == ANALOGS and self.analog_fallback_[k] == CORRECTED)
                last = float(alpha_fit[k]) if corrected else 0.0
            elif active[k] and last:
                self.choice_[k] = CORRECTED
            self.alpha_[k] = (alpha_fit[k] if validated[k] else (last or 0.0)) if self.choice_[k] == CORRECTED else 0.0
            if nm == ANALOGS and self.analog_fallback_[k] == CORRECTED:
                self.alpha_[k] = alpha_fit[k]
        if CORRECTED in cands and not validated.any() and active.any():
            self._warn(f"no horizon has {MIN_VALIDATION_PAIRS} validation pairs to calibrate the vessel model's "
                       "correction: it forecasts dead reckoning")
        # the base under the correction, and under the analog base where too few vessels match
        base = [self.analog_fallback_[k] if nm == ANALOGS else nm for k, nm in enumerate(self.choice_)]
        self.bases_ = ["dead reckoning" if nm == CORRECTED else nm for nm in base]

    def _base_args(self, X: Inputs, F: Features, lead: np.ndarray) -> tuple[Any, ...]:
        return (X, self.columns_.east, self.columns_.north, F.cos, F.sin, np.hypot(F.velocity[:, 0], F.velocity[:, 1]), lead)

    def _bases(self, X: Inputs, F: Features, lead: np.ndarray, linear: LinearBase | None,
               ana: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every base's forecast positions [n, H, 2] (``ana``: the analog displacements)."""
        lin = linear.predict(*self._base_args(X, F, lead)) if linear is not None else None
        return candidates(F.origin, F.velocity, two_point_velocity(X, self.columns_.east, self.columns_.north), lin, lead,
                          F.cos, F.sin, ana)

    @staticmethod
    def _pick(cands: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
        """[n, H, 2] the named base of every horizon."""
        return np.stack([cands[nm][:, k] for k, nm in enumerate(names)], axis=1)

    def _warn(self, msg: str) -> None:
        msg += "; use more data (vessels, hours) or shorter horizons."
        warnings.warn(FewWindowsWarning(msg), stacklevel=4)
        self.fit_warnings_.append({"error": "FewWindowsWarning", "message": msg})

    def _cut(self, w: Any, known: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.val_fraction <= 0:
            return None, None
        reveal = np.where(np.isfinite(w.reveal_time), w.reveal_time, np.inf)
        _, keep, val = validation_cut(w.origin_time, reveal, w.series_index, float(self.val_fraction))
        if not (val[:, None] & known).any() or not (keep & known).any():
            return None, None
        return keep, val

    def _tensors(self, F: Features, lead: np.ndarray, R: np.ndarray | None, known: np.ndarray | None) -> dict[str, Any]:
        import torch

        speed = np.hypot(F.velocity[:, 0], F.velocity[:, 1])
        out = {"seq": torch.from_numpy(F.seq), "static": torch.from_numpy(F.static), "cell": torch.from_numpy(F.cell),
               "dr_along": torch.from_numpy((speed[:, None] * lead / self.scale_[None, :]).astype(np.float32))}
        if R is not None and known is not None:
            out["target"] = torch.from_numpy(np.nan_to_num(R / self.scale_[None, :, None]).astype(np.float32))
            out["known"] = torch.from_numpy(known)
        return out

    def _train(self, tensors: dict[str, Any], known: np.ndarray, seed: int) -> Any:
        import lightning as L

        from tsgate.training.datamodule import TensorDataModule
        from tsgate.training.trainer import TrainerSettings, train_module
        from tsgate.vessel.network import VesselModule

        import torch

        rows = torch.from_numpy(np.flatnonzero(known.any(axis=1)))
        sub = {k: v[rows] for k, v in tensors.items()}
        sub["known"] = torch.from_numpy(known[rows.numpy()])
        L.seed_everything(seed, workers=True, verbose=False)
        module = VesselModule(self.net_kwargs_, lr=float(self.lr), weight_decay=float(self.weight_decay),
                              max_epochs=int(self.max_epochs))
        dm = TensorDataModule(sub, batch_size=int(self.batch_size), seed=seed)
        settings = TrainerSettings(accelerator=self.accelerator, max_epochs=int(self.max_epochs), gradient_clip=1.0,
                                   patience=0, progress=bool(self.progress))
        train_module(module, dm, settings, validate=False)
        return module.net.to("cpu").eval()

    def _calibrate(self, tensors: dict[str, Any], F: Features, R: np.ndarray, dr: np.ndarray, known: np.ndarray,
                   keep: np.ndarray, val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Networks trained on the part before each vessel's cut: per horizon the α of
        :data:`ALPHA_GRID` with the lowest mean validation error (0 where fewer than
        :data:`MIN_VALIDATION_PAIRS` pairs) and the corrected dead reckoning [n, H, 2] on the
        validation rows (dead reckoning elsewhere)."""
        H = known.shape[1]
        vrows = np.flatnonzero(val & known.any(axis=1))
        pv = np.mean([self._residual(net, {k: v[vrows] for k, v in tensors.items()})
                      for net in [self._train(tensors, known & keep, int(self.seed) + i) for i in range(int(self.n_seeds))]], axis=0)
        rv = R[vrows]
        alpha = np.zeros(H)
        for k in range(H):
            mk = known[vrows, k]
            if mk.sum() >= MIN_VALIDATION_PAIRS:
                err = np.stack([np.linalg.norm(a * pv[mk, k] - rv[mk, k], axis=1) for a in ALPHA_GRID])
                alpha[k] = float(ALPHA_GRID[int(np.argmin(err.mean(axis=1)))])
        corrected = dr.copy()
        corrected[vrows] += from_track(pv * alpha[None, :, None], F.cos[vrows], F.sin[vrows])
        return alpha, corrected

    def _residual(self, net: Any, tensors: dict[str, Any]) -> np.ndarray:
        """[n, H, 2] the network's (cross, along) residual in metres."""
        import torch

        out = []
        n = int(tensors["seq"].shape[0])
        with torch.inference_mode():
            for i in range(0, n, 4096):
                b = {k: v[i : i + 4096] for k, v in tensors.items()}
                out.append(net(b["seq"], b["static"], b["cell"], b["dr_along"]).double().numpy())
        r = np.concatenate(out) if out else np.zeros((0, len(self.scale_), 2))
        return r * self.scale_[None, :, None]

    # ------------------------------------------------------------------ predict
    def _predict(self, X: Inputs) -> np.ndarray:
        col = self.columns_
        F = features(X, col, self.area_)
        lead = lead_times(X, series_intervals(X, self.interval_s_))
        analog = np.array([c == ANALOGS for c in self.choice_])
        comb = getattr(self, "combination_", None)
        need = comb.requires() if comb is not None else set()
        ana = displacements(self.analogs_, F, X, lead) if (analog.any() or ANALOGS in need) and self.analogs_ is not None else None
        cands = self._bases(X, F, lead, self.linear_, ana)
        pos = self._pick(cands, self.bases_)
        corr = None
        if self.nets_:
            t = self._tensors(F, lead, None, None)
            corr = from_track(np.mean([self._residual(net, t) for net in self.nets_], axis=0), F.cos, F.sin)
            pos = pos + self.alpha_[None, :, None] * corr
        if analog.any():
            ana = cands[ANALOGS]
            pos[:, analog] = np.where(np.isfinite(ana[:, analog]), ana[:, analog], pos[:, analog])
        if comb is not None and comb.used.any():
            pos = np.where(comb.used[None, :, None], comb.apply(comb.positions(cands, F.origin, corr), F.origin), pos)
        out = np.repeat(X.target_values[:, -1, None, :], len(self.horizons_), axis=1)
        out[:, :, col.east] = pos[..., 0]
        out[:, :, col.north] = pos[..., 1]
        return out
