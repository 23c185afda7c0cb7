"""Evaluate rules on a small upstream world written here in the layouts of docs/data-layout.md, the
Snakemake report built from them, and the report rendered in headless Chromium (every figure loads).

The upstream outputs (prepared stores, process model, truth, DERE/IDE results) are written by this test,
and only the evaluate rules may run (``--allowed-rules``), so the test exercises exactly this layer.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import terraflux  # noqa: F401

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.image import imread

from support.configs import configfile_args, load_config
from support.workflow import snakemake

pytestmark = pytest.mark.slow
RUN = load_config("evaluate")["run"]["name"]
MODELS = ["baseline", "kgml", "step4", "step6"]
FLUXES = ["GPP", "RECO", "NEE"]
EVAL_RULES = [
    "evaluate_run_manifest",
    "evaluate_dere",
    "evaluate_maps",
    "evaluate_spatial",
    "evaluate_label_expansion",
    "evaluate_label_expansion_skill",
    "evaluate_ide",
    "evaluate_ide_maps",
]
IDE_WEEKS = 4  # window length of the fake IDE model


def _true_fluxes(lat, lon, times, rng):
    yy, xx = np.meshgrid(lat, lon, indexing="ij")
    season = np.sin(2 * np.pi * (times.month.values - 4) / 12)[:, None, None]
    gpp = np.clip(
        4 + 3 * season + 0.8 * np.sin(yy * 3) * np.cos(xx * 2) + 0.2 * rng.normal(size=(times.size, *yy.shape)), 0, None
    )
    reco = 0.7 * gpp + 1.0 + 0.2 * np.cos(xx * 3)
    return {"GPP": gpp, "RECO": reco, "NEE": reco - gpp}


def write_site_predictions(
    path: Path, maps: dict, sites: pd.DataFrame, times: pd.DatetimeIndex, test: np.ndarray
) -> None:
    """A predictions.parquet as the DERE in-situ stages write it: the model's cell value at each site's cell."""
    rows = [
        pd.DataFrame(
            {
                "site_id": s.site_id,
                "time": times[test],
                "split": "test",
                **{v: maps[v][test, s.cell_iy, s.cell_ix] for v in FLUXES},
            }
        )
        for _, s in sites.iterrows()
    ]
    pd.concat(rows, ignore_index=True).to_parquet(path)


def write_world(root: Path) -> None:
    rng = np.random.default_rng(0)
    res = root / "resources" / RUN
    out = root / "results" / RUN
    times = pd.date_range("2016-01-01", "2019-12-01", freq="MS")
    lat = np.arange(47.95, 46.0, -0.1)  # fine (ERA5-Land-like) grid
    lon = np.arange(8.05, 11.0, 0.1)
    clat = lat.reshape(-1, 2).mean(axis=1)  # model grid: 2 x 2 blocks
    clon = lon.reshape(-1, 2).mean(axis=1)
    land_fine = ~((lat[:, None] > 47.5) & (lon[None, :] < 8.6))  # a "lake" in the north-west
    land = land_fine.reshape(clat.size, 2, clon.size, 2).all(axis=(1, 3))
    truth = _true_fluxes(lat, lon, times, rng)
    (res / "truth").mkdir(parents=True)
    xr.Dataset(
        {
            v: (
                ("time", "latitude", "longitude"),
                np.where(land_fine, a, np.nan).astype("float32"),
                {"units": "gC m-2 d-1"},
            )
            for v, a in truth.items()
        },
        coords={"time": times, "latitude": lat, "longitude": lon},
    ).to_zarr(res / "truth" / "fluxes.zarr")
    coarse = {v: np.nanmean(a.reshape(times.size, clat.size, 2, clon.size, 2), axis=(2, 4)) for v, a in truth.items()}

    n_sites = 24
    iy, ix = rng.integers(0, clat.size, n_sites), rng.integers(0, clon.size, n_sites)
    ok = land[iy, ix]
    iy, ix = iy[ok], ix[ok]
    sites = pd.DataFrame(
        {
            "site_id": [f"CH-S{i:02d}" for i in range(iy.size)],
            "latitude": clat[iy] + rng.uniform(-0.05, 0.05, iy.size),
            "longitude": clon[ix] + rng.uniform(-0.05, 0.05, iy.size),
            "elevation": 500.0,
            "igbp": rng.choice(["ENF", "GRA", "CRO"], iy.size),
            "network": rng.choice(["FLUXNET2015", "ICOS"], iy.size),
            "cell_latitude": clat[iy],
            "cell_longitude": clon[ix],
            "cell_iy": iy,
            "cell_ix": ix,
        }
    )
    (res / "prepared").mkdir(parents=True)
    sites.to_parquet(res / "prepared" / "sites.parquet")
    # the DERE dataset's site split (the kriging label set krige from the training sites only)
    site_split = np.where(np.arange(len(sites)) % 3 == 0, "test", "train")
    xr.Dataset({"site_split": ("site", site_split)}, coords={"site": sites["site_id"].to_numpy()}).to_zarr(
        res / "dere" / "dataset.zarr", consolidated=False
    )
    sites.rename(columns={"cell_latitude": "true_cell_latitude", "cell_longitude": "true_cell_longitude"}).to_parquet(
        res / "truth" / "sites.parquet"
    )
    rows = []
    for _, site in sites.iterrows():
        obs = {v: coarse[v][:, site.cell_iy, site.cell_ix] + rng.normal(0, 0.3, times.size) for v in FLUXES}
        gap = rng.random(times.size) < 0.25
        rows.append(
            pd.DataFrame(
                {
                    "site_id": site.site_id,
                    "time": times,
                    **{v: np.where(gap, np.nan, obs[v]) for v in FLUXES},
                    "coverage": np.where(gap, 0.0, 0.9),
                }
            )
        )
    insitu = pd.concat(rows, ignore_index=True)
    insitu.to_parquet(res / "prepared" / "insitu_monthly.parquet")
    xr.Dataset({"land_mask": (("latitude", "longitude"), land)}, coords={"latitude": clat, "longitude": clon}).to_zarr(
        res / "prepared" / "era5_land_monthly.zarr"
    )

    # process model: biased truth, per PFT group and 2 age classes, fractions and age weights
    pm = xr.Dataset(
        coords={
            "pft_group": ["BL", "NL", "GS"],
            "age_class": [0, 1],
            "time": times,
            "latitude": clat,
            "longitude": clon,
            "year": [2016, 2017, 2018, 2019],
        }
    )
    for v in FLUXES:
        base = 0.8 * coarse[v] + 0.3
        pm[v] = (
            ("pft_group", "age_class", "time", "latitude", "longitude"),
            np.broadcast_to(base, (3, 2, *base.shape)).astype("float32"),
            {"units": "gC m-2 d-1"},
        )
    pm["pft_fraction"] = (
        ("age_class", "year", "pft_group", "latitude", "longitude"),
        np.full((2, 4, 3, clat.size, clon.size), 1 / 3, dtype="float32"),
    )
    pm["age_weight"] = (
        ("age_class", "latitude", "longitude"),
        np.full((2, clat.size, clon.size), 0.5, dtype="float32"),
    )
    pm.to_zarr(res / "process_model.zarr")

    test = times.year == 2019
    split = np.where(land, np.where(rng.random(land.shape) < 0.3, "test", "train"), "")
    for m, skill in zip(MODELS, (0.5, 0.35, 0.2, 0.15), strict=True):
        d = out / "dere" / m
        d.mkdir(parents=True)
        # site predictions of the comparison models live under compare/<backbone>/<variant>/ (DERE's backbone here)
        sites_dir = out / "dere" / "compare" / "informer" / m if m in ("baseline", "kgml") else d
        sites_dir.mkdir(parents=True, exist_ok=True)
        maps = {
            v: np.where(land, coarse[v] + skill * rng.normal(size=coarse[v].shape), np.nan).astype("float32")
            for v in FLUXES
        }
        grids = {v: (("time", "latitude", "longitude"), a, {"units": "gC m-2 d-1"}) for v, a in maps.items()} | {
            "split": (("latitude", "longitude"), split)
        }
        xr.Dataset(grids, coords={"time": times, "latitude": clat, "longitude": clon}).to_zarr(d / "predictions.zarr")
        # fold 0's predictions and the pooled k-fold ones (every site held out): the same table in this world
        for name in ("predictions.parquet", "held_out_predictions.parquet"):
            write_site_predictions(sites_dir / name, maps, sites, times, test)
    # step 6 on the kriging label set: site predictions only (no maps), noisier than step 6 on CSDI labels
    maps = {v: coarse[v] + 0.3 * rng.normal(size=coarse[v].shape) for v in FLUXES}
    (out / "dere" / "step6_kriging").mkdir(parents=True)
    write_site_predictions(out / "dere" / "step6_kriging" / "predictions.parquet", maps, sites, times, test)

    # CSDI samples at hidden observed site-months (the step-5 hold-out)
    observed = insitu.melt(
        id_vars=["site_id", "time"], value_vars=FLUXES, var_name="variable", value_name="observation"
    ).dropna()
    held = observed[observed["time"].dt.year == 2019].sample(n=36, random_state=1)
    samples = [held.assign(sample=s, value=held["observation"] + rng.normal(0.2, 0.5, len(held))) for s in range(10)]
    (out / "dere" / "step5").mkdir(parents=True)
    pd.concat(samples, ignore_index=True).to_parquet(out / "dere" / "step5" / "holdout_samples.parquet")

    # IDE outputs as the ide_test and ide_baselines rules write them
    ide = out / "ide" / "benchmark_cnn3d_lfq_seed0"
    ide.mkdir(parents=True)
    score = lambda f: {"f1": f, "iou": f / (2 - f), "precision": f, "recall": f, "overall_accuracy": 0.9}  # noqa: E731
    ide_metrics = {
        "split": "test",
        "dataset": "benchmark",
        "backbone": "cnn3d",
        "extremes": score(0.7),
        "drivers": {"pooled": score(0.8), "per_variable": {"t2m": score(0.85), "tp": score(0.75)}},
    }
    (ide / "metrics.json").write_text(json.dumps(ide_metrics))
    baselines = (("naive", "naive anomaly threshold", 0.5), ("isolation_forest", "isolation forest", 0.37))
    for method, label, f1 in baselines:
        scores = {"split": "test", "extremes": score(0.1), "drivers": {"pooled": score(f1), "per_variable": {}}}
        baseline = {**scores, "val": scores, "method": method, "label": label, "dataset": "benchmark"}
        (out / "ide" / "baselines" / "benchmark").mkdir(parents=True, exist_ok=True)
        (out / "ide" / "baselines" / "benchmark" / f"{method}.json").write_text(json.dumps(baseline))
    (root / "ide_expected.json").write_text(json.dumps(write_ide_world(res, ide, rng)))


def write_ide_world(res: Path, model_dir: Path, rng) -> dict:
    """A small benchmark, its dataset and a model's predictions.zarr, written by the IDE layer's own writers
    (so the layouts are exactly those of ide_benchmark, ide_dataset and ide_test). The "model" is the truth
    with noise: probability high on true extremes, drivers = true drivers with a few flipped pixels."""
    from terraflux.ide.benchmark import write_benchmark
    from terraflux.ide.dataset import benchmark_source, write_dataset
    from terraflux.ide.outputs import write_predictions
    from terraflux.ide.windows import WindowData

    from support.ide_config import IDE, benchmark_config

    (res / "ide" / "benchmark").mkdir(parents=True)
    cfg = benchmark_config(
        3, variables=("t2m", "tp", "vsw"), uncoupled=1, height=20, width=24, weeks=104, events_per_year=30
    )
    write_benchmark(cfg, res / "ide" / "benchmark.zarr")
    write_dataset(
        benchmark_source(res / "ide" / "benchmark.zarr"),
        res / "ide" / "benchmark" / "dataset.zarr",
        3.0,
        {"dataset": "benchmark"},
    )
    data = WindowData(res / "ide" / "benchmark" / "dataset.zarr", IDE_WEEKS, IDE["train"]["memory_gb"])
    truth = xr.open_zarr(res / "ide" / "benchmark.zarr", consolidated=False)
    targets = data.target_weeks("test")
    first = int(targets[0]) - IDE_WEEKS + 1
    weeks = slice(first, int(targets[-1]) + 1)
    drivers = truth["driver"].isel(time=weeks).values ^ (rng.random(truth["driver"].isel(time=weeks).shape) < 0.02)
    probability = np.clip(
        0.75 * data.extreme[targets] + 0.3 * rng.random((targets.size, *data.extreme.shape[1:])), 0, 1
    ).astype("float32")
    covered = np.ones(drivers.shape[1:], bool)
    covered[:, :, :2] = False  # a strip no test window covered: must be drawn grey
    pred = {
        "targets": targets,
        "probability": probability,
        "first_week": first,
        "drivers": drivers & covered,
        "covered": covered,
    }
    write_predictions(pred, data, model_dir / "predictions.zarr", {"dataset": "benchmark", "backbone": "cnn3d"})
    counts = (data.extreme[targets] & data.valid[targets]).sum(axis=(1, 2))
    return {"week": int(targets[int(np.argmax(counts))]), "extremes": int(counts.max())}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    write_world(root)
    ev = f"results/{RUN}/evaluate"
    targets = [
        f"results/{RUN}/manifest.json",
        f"{ev}/dere_skill.csv",
        f"{ev}/label_expansion.csv",
        f"{ev}/label_expansion_skill.csv",
        f"{ev}/ide_table.csv",
    ]
    targets += [f"{ev}/{kind}/{m}.png" for kind in ("maps", "spatial") for m in MODELS]
    targets.append(f"{ev}/ide_maps/benchmark_cnn3d_lfq_seed0.png")
    args = [*configfile_args("evaluate"), "--cores", "2", "--allowed-rules", *EVAL_RULES]
    done = snakemake(*args, "--", *targets, workdir=root, timeout=400)
    report = root / "results" / RUN / "report.html"
    snakemake(*args, "--report", str(report), "--", *targets, workdir=root, timeout=200)
    return root, report, done


def test_evaluate_rules_write_tables_figures_and_json(evaluated):
    root, _, _ = evaluated
    ev = root / "results" / RUN / "evaluate"
    table = pd.read_csv(ev / "dere_skill.csv")
    assert set(table["model"]) == {"Baseline (informer)", "KGML (informer)", "DERE step 4", "DERE step 6"}
    assert set(table["reference"]) == {"in-situ", "truth", "truth (held-out cells)"}
    assert set(table["group"]) == {"all", "network", "igbp"}
    truth = table[(table["reference"] == "truth") & (table["group"] == "all") & (table["variable"] == "GPP")].set_index(
        "model"
    )
    # models were built with decreasing noise: the skill order must come out of the run's own numbers
    assert (
        truth.loc["DERE step 6", "rmse"]
        < truth.loc["DERE step 4", "rmse"]
        < truth.loc["KGML (informer)", "rmse"]
        < truth.loc["Baseline (informer)", "rmse"]
    )
    cells = table[table["reference"] == "truth (held-out cells)"]
    assert set(cells["group"]) == {"all"}
    cells = cells[cells["variable"] == "GPP"].set_index("model")
    # maps = block-mean truth + noise of std 0.5 ... 0.15 on the model grid: RMSE follows the noise
    assert 0.12 < cells.loc["DERE step 6", "rmse"] < 0.2 and 0.42 < cells.loc["Baseline (informer)", "rmse"] < 0.6
    assert (
        cells.loc["DERE step 6", "r2"]
        > cells.loc["DERE step 4", "r2"]
        > cells.loc["KGML (informer)", "r2"]
        > cells.loc["Baseline (informer)", "r2"]
    )
    assert (cells["n_sites"] == cells["n_sites"].iloc[0]).all() and cells["n"].iloc[0] == 12 * cells["n_sites"].iloc[0]
    spatial = json.loads((ev / "spatial" / "baseline.json").read_text())
    assert spatial["reference"] == "truth" and spatial["variables"]["GPP"]["D"] > 0
    assert spatial["provenance"]["rule"] == "evaluate_spatial"
    noisy = json.loads((ev / "spatial" / "baseline.json").read_text())["variables"]["GPP"]["D"]
    clean = json.loads((ev / "spatial" / "step6.json").read_text())["variables"]["GPP"]["D"]
    assert clean < noisy
    labels = pd.read_csv(ev / "label_expansion.csv")
    assert set(labels["method"]) == {"CSDI", "kriging (ordinary)"} and labels["crps"].notna().all()
    per_label_set = pd.read_csv(ev / "label_expansion_skill.csv")
    assert list(dict.fromkeys(per_label_set["label_set"])) == [
        "step 4 (observations only)",
        "step 6 (CSDI labels)",
        "step 6 (kriging labels)",
    ]
    gpp = per_label_set[(per_label_set["reference"] == "truth") & (per_label_set["variable"] == "GPP")].set_index(
        "label_set"
    )
    # noise 0.2 (step 4), 0.15 (step 6, CSDI), 0.3 (step 6, kriging): the RMSE change against step 4 follows it
    assert gpp.loc["step 4 (observations only)", "d_rmse"] == 0
    assert gpp.loc["step 6 (CSDI labels)", "d_rmse"] < 0 < gpp.loc["step 6 (kriging labels)", "d_rmse"]
    kriged = pd.read_parquet(ev / "kriging_labels.parquet")
    assert kriged["imputed"].any() and kriged.loc[kriged["imputed"], "value"].notna().all()
    ide = pd.read_csv(ev / "ide_scores.csv")
    assert set(ide["method"]) == {"IDE cnn3d", "naive anomaly threshold", "isolation forest"}
    ide_table = pd.read_csv(ev / "ide_table.csv").set_index("method")
    assert list(ide_table.index) == ["IDE cnn3d", "naive anomaly threshold", "isolation forest"]
    assert ide_table.loc["isolation forest", "test_drivers_f1"] == 0.37
    log = (root / "logs" / RUN / "evaluate_ide_maps" / "benchmark_cnn3d_lfq_seed0.log").read_text()
    expected = json.loads((root / "ide_expected.json").read_text())
    assert expected["extremes"] > 0 and f"IDE maps of benchmark_cnn3d_lfq_seed0 at week {expected['week']} " in log
    for png in [
        ev / "dere_skill.png",
        ev / "dere_skill_groups.png",
        ev / "label_expansion.png",
        ev / "label_expansion_skill.png",
        ev / "ide_scores.png",
        ev / "ide_maps" / "benchmark_cnn3d_lfq_seed0.png",
        *(ev / "maps").glob("*.png"),
        *(ev / "spatial").glob("*.png"),
    ]:
        pixels = imread(png)
        assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50, f"{png}: blank"


# ------------------------------------------------------------------------------------- headless Chromium


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0 and cmd[1] == "install":
            pytest.skip(f"chromium could not be installed with apt-get: {done.stderr.strip()[-300:]}")
    if not shutil.which("chromium"):
        pytest.skip("apt-get install chromium did not provide a chromium binary")
    return shutil.which("chromium")


CHECK_IMAGES = """
(async () => {
  // the report embeds its results as a global `results` (path -> {name, data_uri, ...})
  const images = Object.values(results).filter(r => (r.data_uri || '').startsWith('data:image/'));
  const loaded = await Promise.all(images.map(r => new Promise(resolve => {
    const img = new Image();
    img.onload = () => resolve({name: r.name, ok: img.naturalWidth > 0, width: img.naturalWidth});
    img.onerror = () => resolve({name: r.name, ok: false, width: 0});
    img.src = r.data_uri;
  })));
  const app = document.getElementById('app');
  return JSON.stringify({loaded, app: app ? app.innerText.length : 0, n_results: Object.keys(results).length});
})()
"""


def _cdp(ws_url: str, commands: list[tuple[str, dict]], timeout: float = 60) -> list[dict]:
    """Send Chrome DevTools Protocol commands over the page's websocket (tornado's client)."""
    from tornado import ioloop, websocket

    async def run():
        conn = await websocket.websocket_connect(ws_url, max_message_size=512 * 2**20)
        answers = []
        for i, (method, params) in enumerate(commands, start=1):
            if method == "sleep":
                await __import__("asyncio").sleep(params["seconds"])
                answers.append({})
                continue
            conn.write_message(json.dumps({"id": i, "method": method, "params": params}))
            while True:
                msg = json.loads(await conn.read_message())
                if msg.get("id") == i:
                    if "error" in msg:
                        raise AssertionError(f"{method}: {msg['error']}")
                    answers.append(msg["result"])
                    break
        conn.close()
        return answers

    return ioloop.IOLoop.current().run_sync(run, timeout=timeout)


def test_report_renders_in_headless_chromium_with_every_figure(evaluated, tmp_path):
    import urllib.request

    root, report, _ = evaluated
    html = report.read_text()
    assert "cdn." not in html.split("<body")[0] or "<script src=" not in html  # self-contained
    browser = _chromium()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2).read())
                page = next(p for p in pages if p.get("type") == "page")
                break
            except (OSError, StopIteration):
                time.sleep(0.3)
        else:
            pytest.fail("headless chromium did not open its DevTools port")
        answers = _cdp(
            page["webSocketDebuggerUrl"],
            [
                ("Page.enable", {}),
                ("Page.navigate", {"url": report.resolve().as_uri()}),
                ("sleep", {"seconds": 4}),
                ("Runtime.evaluate", {"expression": CHECK_IMAGES, "awaitPromise": True, "returnByValue": True}),
                ("Page.captureScreenshot", {"format": "png"}),
            ],
            timeout=120,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    evaluated_js = answers[3]
    assert "exceptionDetails" not in evaluated_js, evaluated_js.get("exceptionDetails")
    state = json.loads(evaluated_js["result"]["value"])
    shot = root / "results" / RUN / "report_screenshot.png"
    shot.write_bytes(base64.b64decode(answers[4]["data"]))
    (Path(os.environ.get("TERRAFLUX_SCREENSHOT_DIR", tmp_path)) / "report_screenshot.png").write_bytes(
        shot.read_bytes()
    )
    assert state["app"] > 100, "the report's app did not render"
    names = {img["name"] for img in state["loaded"]}
    expected = {
        "dere_skill.png",
        "dere_skill_groups.png",
        "label_expansion.png",
        "label_expansion_skill.png",
        "ide_scores.png",
        "benchmark_cnn3d_lfq_seed0.png",
    } | {f"{m}.png" for m in MODELS}
    assert expected <= {Path(n).name for n in names}, names
    assert len(state["loaded"]) == 5 + 2 * len(MODELS) + 1
    broken = [img["name"] for img in state["loaded"] if not img["ok"]]
    assert not broken, f"images that did not load: {broken}"
    assert shot.stat().st_size > 10_000
