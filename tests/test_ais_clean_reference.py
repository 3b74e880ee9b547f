"""The AIS read and clean path gives exactly the series and repair report it gave before it was
made faster (vectorised ordering, duplicate and jump passes).

Each case loads a bundled file, or an aisdk file written from the bundled tracks with realistic
defects added (rows out of time order, exact duplicates, same-time conflicts, copies of the
vessels elsewhere under other MMSIs), and compares a digest of every column of the result and of
the full repair report (every reason, vessel and file line) with the digest recorded from the
earlier implementation. A changed digest means the cleaned output changed: if that is intended,
say so in the change and record the new digest.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from ais_files import DK_COLS
from tsgate.adapters.ais import bundled_ais_path, load_ais
from tsgate.adapters.ais_jumps import JumpRules
from tsgate.adapters.geo import LocalTangentPlane


def digest(series) -> tuple[str, dict[str, float]]:
    """(sha256 over the exact columns — ids, file lines, times, voyages — and the full repair
    report; the sum of each float column). Float columns are compared by their sums, so that a
    last-bit difference of another CPU's trigonometry does not fail the test; a row kept, dropped
    or moved changes the digest."""
    h = hashlib.sha256()
    frame = series.to_frame()
    sums = {}
    for col in frame.columns:
        v = frame[col]
        if pd.api.types.is_float_dtype(v):
            sums[col] = float(np.sum(v.to_numpy()))
            continue
        if pd.api.types.is_datetime64_any_dtype(v):
            data = v.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").astype("int64").to_numpy().tobytes()
        elif v.dtype == object:
            data = "\x1f".join(map(str, v.tolist())).encode()
        else:
            data = np.ascontiguousarray(v.to_numpy()).astype(np.int64).tobytes()
        h.update(col.encode() + b"\x1e" + data)
    h.update(series.report.to_frame().to_csv(index=False).encode())
    return h.hexdigest(), sums


def aisdk_from_bundled(path, seed: int = 0) -> None:
    """The bundled tracks (and two shifted copies with other MMSIs) written as an aisdk day with
    defects: about 1 % of rows moved earlier in the file, 1 % written twice, 0.5 % repeated at the
    same time with a moved position and 0.5 % at the same time and position with another SOG."""
    rng = np.random.default_rng(seed)
    parts = []
    for copy, dlat in enumerate((0.0, 18.0, 19.5)):
        for k, key in enumerate(("virginia", "nyharbor", "nyharbor-mc")):
            with bundled_ais_path(key).open("rb") as fh:
                df = pd.read_csv(fh)
            if key == "nyharbor-mc":  # SOG, COG and heading as reported
                df = df.rename(columns={"BaseDateTime": "timestamp", "MMSI": "mmsi", "LAT": "lat", "LON": "lon",
                                        "SOG": "sog", "COG": "cog", "Heading": "heading"})
            t = pd.to_datetime(df["timestamp"], utc=True)
            t = t - t.min() + pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(seconds=int(rng.integers(0, 7200)))
            src = LocalTangentPlane.around(df["lat"].to_numpy(), df["lon"].to_numpy())
            lat, lon = LocalTangentPlane(src.lat0 + dlat, src.lon0 + 90.0).inverse(*src.forward(df["lat"], df["lon"]))
            ids = pd.factorize(df["mmsi"])[0]
            parts.append(pd.DataFrame({"t": t, "mmsi": 219_000_000 + copy * 10_000 + k * 1000 + ids,
                                       "lat": np.round(lat, 6), "lon": np.round(lon, 6),
                                       "sog": df["sog"], "cog": df["cog"], "heading": df["heading"]}))
    d = pd.concat(parts, ignore_index=True).sort_values("t", kind="stable").reset_index(drop=True)
    n = len(d)
    dup = d.iloc[rng.choice(n, n // 100, replace=False)]
    moved = d.iloc[rng.choice(n, n // 200, replace=False)].copy()
    moved["lat"] = moved["lat"] + 0.01
    resent = d.iloc[rng.choice(n, n // 200, replace=False)].copy()
    resent["sog"] = resent["sog"].fillna(3.0) + 0.1  # same time and position, another speed
    d = pd.concat([d, dup, moved, resent]).sort_values("t", kind="stable").reset_index(drop=True)
    order = np.arange(len(d), dtype=np.float64)
    late = rng.choice(len(d), len(d) // 100, replace=False)
    order[late] -= rng.integers(2, 400, len(late))  # these rows come earlier in the file
    d = d.iloc[np.argsort(order, kind="stable")]
    out = pd.DataFrame({c: "" for c in DK_COLS}, index=d.index)
    out["# Timestamp"] = d["t"].dt.strftime("%d/%m/%Y %H:%M:%S")
    out["Type of mobile"] = np.where(d["mmsi"] % 7 == 0, "Class B", "Class A")
    out["MMSI"] = d["mmsi"].astype(str)
    out["Latitude"], out["Longitude"] = d["lat"].map("{:.6f}".format), d["lon"].map("{:.6f}".format)
    for col, src in (("SOG", "sog"), ("COG", "cog"), ("Heading", "heading")):
        out[col] = d[src].map(lambda x: "" if pd.isna(x) else f"{x:g}")
    out["Ship type"] = "Cargo"
    out.to_csv(path, index=False)


CASES = {
    "virginia": ("ais-virginia", {}),
    "virginia-first": ("ais-virginia", {"on_conflict": "first"}),
    "virginia-nojumps": ("ais-virginia", {"jumps": None, "covariates": ()}),
    "nyharbor": ("ais-nyharbor", {}),
    "nyharbor-split": ("ais-nyharbor", {"jumps": JumpRules(multi_transmitter="split")}),
    "nyharbor-mc": ("ais-nyharbor-mc", {}),
    "nyharbor-mc-first": ("ais-nyharbor-mc", {"on_conflict": "first", "max_gap": "5min"}),
    "aisdk": ("aisdk", {}),
    "aisdk-first-split": ("aisdk", {"on_conflict": "first", "jumps": JumpRules(multi_transmitter="split")}),
    "aisdk-blocks": ("aisdk", {"chunk_bytes": 300_000}),
}

#: digests of the results of the implementation before the faster ordering and cleaning passes
EXPECTED: dict[str, tuple[str, dict[str, float]]] = {
    'aisdk': ('a519ea3f1a8887ae6078faa93afb67cb5d852ac092f25309fb203b17b033c415', {'east_m': -9743574714.176924, 'north_m': 44396763476.31064, 'sog_kn': 711357.7053305927, 'cog_deg': 30330946.244651046, 'heading_deg': 30233828.944651045, 'v_east_m_s': 22930.334393314548, 'v_north_m_s': 13219.470581682317}),
    'aisdk-blocks': ('a519ea3f1a8887ae6078faa93afb67cb5d852ac092f25309fb203b17b033c415', {'east_m': -9743574714.176924, 'north_m': 44396763476.31064, 'sog_kn': 711357.7053305927, 'cog_deg': 30330946.244651046, 'heading_deg': 30233828.944651045, 'v_east_m_s': 22930.334393314548, 'v_north_m_s': 13219.470581682317}),
    'aisdk-first-split': ('5b38c04b5d8bd935f95cbe8bd4589149ceaeed247c6cb3a55afb9333df1dd250', {'east_m': -9786597655.886597, 'north_m': 44649046792.834816, 'sog_kn': 715095.6767288734, 'cog_deg': 30632238.73820068, 'heading_deg': 30535360.33820068, 'v_east_m_s': 22982.393875453563, 'v_north_m_s': 13334.773700061543}),
    'nyharbor': ('51e26afd378fb91864712808e6d4a9164fb889b4d9b78c31f1c41abeb857d630', {'east_m': -6788502.76648206, 'north_m': 47354474.76803379, 'sog_kn': 52322.956991538114, 'cog_deg': 1507171.3953470362, 'heading_deg': 1507171.3953470362, 'v_east_m_s': 215.65645609378788, 'v_north_m_s': -535.0985762021504}),
    'nyharbor-mc': ('8091eb349c6bc6c860bd2c4b5d348f5ff83aa3874d01fa803bbb749164ee68d4', {'east_m': -69447067.79374585, 'north_m': 19092243.082240712, 'sog_kn': 20745.6, 'cog_deg': 1459178.5458341497, 'heading_deg': 1426885.7458341497, 'v_east_m_s': 869.152987718945, 'v_north_m_s': -618.1358931956569}),
    'nyharbor-mc-first': ('d17e807053e60c2b51110d66443621f73635c3a455baaed05fca09b54219454a', {'east_m': -66167776.2997989, 'north_m': 25773852.562464114, 'sog_kn': 20630.6, 'cog_deg': 1304175.628276988, 'heading_deg': 1271882.8282769881, 'v_east_m_s': 830.8789750922092, 'v_north_m_s': -612.7427234432112}),
    'nyharbor-split': ('51e26afd378fb91864712808e6d4a9164fb889b4d9b78c31f1c41abeb857d630', {'east_m': -6788502.76648206, 'north_m': 47354474.76803379, 'sog_kn': 52322.956991538114, 'cog_deg': 1507171.3953470362, 'heading_deg': 1507171.3953470362, 'v_east_m_s': 215.65645609378788, 'v_north_m_s': -535.0985762021504}),
    'virginia': ('8df4a7c38fda2e9c5ae8c9acfa513426d2e7ce07511f68bf4cb40bf027f2e55d', {'east_m': -4250124692.8700123, 'north_m': 1328660398.1054845, 'sog_kn': 165611.1294638358, 'cog_deg': 7247534.782296589, 'heading_deg': 7247534.782296589, 'v_east_m_s': 6567.450270281557, 'v_north_m_s': 5648.124511515349}),
    'virginia-first': ('8df4a7c38fda2e9c5ae8c9acfa513426d2e7ce07511f68bf4cb40bf027f2e55d', {'east_m': -4250124692.8700123, 'north_m': 1328660398.1054845, 'sog_kn': 165611.1294638358, 'cog_deg': 7247534.782296589, 'heading_deg': 7247534.782296589, 'v_east_m_s': 6567.450270281557, 'v_north_m_s': 5648.124511515349}),
    'virginia-nojumps': ('c3b244fa31bc4a09fc41ad879ced479e661503c126dbfb6b882ac0b7b574d9e6', {'east_m': -4265322918.109618, 'north_m': 1332727081.3985333}),
}


@pytest.fixture(scope="module")
def aisdk_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("aisdk") / "aisdk_defects.csv"
    aisdk_from_bundled(path)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_cleaned_output_is_unchanged(case, aisdk_file):
    source, kwargs = CASES[case]
    series = load_ais(aisdk_file if source == "aisdk" else source, **kwargs)
    got, sums = digest(series)
    want, want_sums = EXPECTED[case]
    assert got == want
    assert sums.keys() == want_sums.keys()
    for col, total in want_sums.items():
        assert sums[col] == pytest.approx(total, rel=1e-11, abs=1e-6), col
