"""The bundled-dataset registry: listing (instant, numbers true to the files), loading by name,
repair reports, credits, and unknown names."""

from __future__ import annotations

from importlib.resources import files

import pandas as pd
import pytest

from tsgate import datasets
from tsgate.datasets import dataset_info, dataset_names, dataset_report, list_datasets, load_dataset
from tsgate.exceptions import ConfigError


def test_listing_has_every_dataset_with_true_sizes_and_rows():
    d = list_datasets()
    assert list(d.columns) == ["name", "kind", "files", "size_bytes", "size_mb", "rows", "series", "source",
                               "license", "credit"]
    assert len(d) == 30 and d["name"].tolist() == dataset_names()
    assert d["name"].iloc[0] == "extmarker-10hz-seq1" and d["name"].iloc[-1] == "ais-nyharbor-mc"
    root = files("tsgate.bundled")
    for _, r in d.iterrows():
        paths = [root.joinpath(*f.split("/")) for f in r["files"].split(", ")]
        assert r["size_bytes"] == sum(len(p.read_bytes()) for p in paths)
        # the precomputed row counts are the files' data lines (each marker file at 10 Hz)
        counts = {sum(1 for line in p.read_text().splitlines()[1:] if line.strip()) for p in paths}
        assert counts == {r["rows"]}, r["name"]
    ais = d.set_index("name").loc["ais-virginia"]
    assert (ais["rows"], ais["series"], ais["size_bytes"]) == (39822, 84, 2140695)
    mc = d.set_index("name").loc["ais-nyharbor-mc"]
    assert (mc["rows"], mc["series"], mc["size_bytes"]) == (8689, 295, 1137731)
    assert d.loc[d["kind"] == "extmarker", "license"].eq("CC BY 4.0").all()


def test_listing_parses_no_file(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("list_datasets must not parse files")

    monkeypatch.setattr(pd, "read_csv", boom)
    assert len(list_datasets()) == 30


def test_credits():
    em = dataset_info("extmarker-30hz-seq2")
    assert em.license == "CC BY 4.0" and "Krilavicius" in em.credit and "Pohl" in em.credit
    assert em.files == ("extmarker/30hz/seq2.csv",)
    ais = dataset_info("ais-nyharbor")
    assert "MarineCadastre" in ais.credit and "tracktable" in ais.credit and "BSD-3-Clause" in ais.license
    s = load_dataset("extmarker-10hz-seq1")
    assert s.meta["dataset"] == "extmarker-10hz-seq1" and "Pohl" in s.meta["credit"]


@pytest.mark.parametrize("rate", ["10hz", "3.33hz", "30hz"])
def test_every_extmarker_dataset_loads(rate):
    for k in range(1, 10):
        s = load_dataset(f"extmarker-{rate}-seq{k}")
        raw = dataset_info(f"extmarker-{rate}-seq{k}").rows
        dropped = s.report.by_reason().get("all-zero rows dropped", 0)
        assert len(s) == raw - dropped and s.series_ids == [f"seq{k}"]


def test_reports_by_name():
    r = dataset_report("extmarker-10hz-seq5")
    assert r.by_reason() == {"timestamps repaired from Frame/60": 3}
    assert r.entries[0].rows == [836, 1280, 1281]
    r = dataset_report("ais-virginia", covariates=())
    assert r.by_reason() == {"SOG not reported": 39822, "COG not reported": 39822, "heading not reported": 39822,
                             "stale repeated position dropped": 2, "voyages too short dropped (rows)": 67}
    assert set(dataset_report("ais-nyharbor", covariates=(), jumps=None).by_reason()) == {
        "SOG not reported", "COG not reported", "heading not reported"}
    # keyword arguments reach the adapter
    assert dataset_report("ais-virginia", min_voyage_rows=1, jumps=None, covariates=()).total() == 3 * 39822
    s = load_dataset("AIS-Virginia", covariates=["sog_kn"])
    assert s.covariates == ("sog_kn",) and s.n_series == 84
    mc = load_dataset("ais-nyharbor-mc")
    assert mc.meta["dataset"] == "ais-nyharbor-mc" and "MarineCadastre" in mc.meta["credit"]


@pytest.mark.parametrize("name, hint", [("extmarker-10hz-seq10", "extmarker-10hz-seq1"), ("ais-virgina", "ais-virginia"),
                                        ("extmarker-20hz-seq1", "extmarker-30hz-seq1"), ("iris", None)])
def test_unknown_name_lists_the_names(name, hint):
    with pytest.raises(ConfigError, match=r"unknown data set.*extmarker-<rate>-seq<k>.*'ais-virginia', 'ais-nyharbor', 'ais-nyharbor-mc'") as e:
        load_dataset(name)
    if hint:
        assert f"Did you mean '{hint}'" in str(e.value)
    with pytest.raises(ConfigError):
        dataset_report(name)


def test_module_doc_example_runs():
    import doctest

    assert doctest.testmod(datasets, verbose=False).failed == 0
