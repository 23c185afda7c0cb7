"""DERE: dataset store, backbone attention, physics loss, freezing, the stages end to end on a tiny world."""

import copy

import terraflux  # noqa: F401
from terraflux.dere import predict, stages
from terraflux.dere.backbones import BackboneConfig, build_backbone
from terraflux.dere.backbones.layers import AttentionLayer, prob_sparse_attention
from terraflux.dere.dataset import DereTensors, build_dataset
from terraflux.dere.models import Scaler, masked_mse, pft_per_age, physics_loss, physics_residuals
from terraflux.errors import DataError
from terraflux.simulate.process_model import age_classes, load_parameters, run_process_model
from terraflux.train import seed_everything, select_device

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from support.configs import load_config
from support.dere_world import make_prepared

TINY = load_config("dere_tiny")["dere"]


def _build(root, **kw):
    p = make_prepared(root, ny=4, nx=5, years=(2016, 2017), n_sites=10, **kw)
    drivers, pft = xr.open_zarr(p["drivers"]).load(), xr.open_zarr(p["pft"]).load()
    process = run_process_model(drivers, pft["fraction"], age_classes([0, 30, 150]), load_parameters())
    d = TINY["dataset"]
    fractions = {name: d[f"{name}_fraction"] for name in ("cell_val", "cell_test")}
    args = dict(pure_threshold=d["pure_threshold"], seed=3, n_folds=TINY["split"]["folds"], **fractions)
    return drivers, pft, process, pd.read_parquet(p["sites"]), pd.read_parquet(p["insitu"]), args


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def data(world):
    drivers, pft, process, sites, insitu, args = world
    return DereTensors.from_dataset(build_dataset(drivers, pft, process, sites, insitu, **args))


def test_dataset_layout_splits_and_statistics(world, data, tmp_path):
    ds = data.ds
    assert ds["x"].dims == ("cell", "time", "feature") and ds["y"].dims == ("cell", "age_class", "time", "variable")
    assert ds.sizes["cell"] == 19 and ds.sizes["time"] == 24 and ds.sizes["site"] == 10  # one sea cell
    assert set(data.site_split) == {"train", "val", "test"}
    # sites of val/test sit in cells of the same split; splits partition the cells
    for s in ("val", "test"):
        assert set(data.cell_split[data.site_cell[data.sites(s)].numpy()]) == {s}
    # normalisation from training cells only
    train = data.cells("train")
    np.testing.assert_allclose(data.x[train].mean((0, 1)).numpy(), 0, atol=1e-4)
    assert abs(float(data.x[data.cells("test")].mean())) > 1e-4
    # in-situ aligned with the parquet
    insitu = world[4]
    row = insitu.dropna().iloc[0]
    site = list(data.site_ids).index(row.site_id)
    month = list(pd.DatetimeIndex(ds.time.values)).index(pd.Timestamp(row.time))
    assert float(data.insitu[site, month, 0]) == pytest.approx(row.GPP)
    np.testing.assert_allclose(data.process_fraction.sum(-1).numpy(), 1, atol=1e-5)
    assert set(data.cell_type) <= {"BL", "NL", "GS", "MIX"}
    # seeded: same seed same split, another seed another split
    drivers, pft, process, sites, insitu, args = world
    again = build_dataset(drivers, pft, process, sites, insitu, **args)
    assert (again["site_split"].values == ds["site_split"].values).all()
    other = build_dataset(drivers, pft, process, sites, insitu, **{**args, "seed": 99})
    assert (other["cell_split"].values != ds["cell_split"].values).any()
    # the store round-trips through zarr
    ds.to_zarr(tmp_path / "d.zarr", zarr_format=3, consolidated=False)
    back = DereTensors.from_dataset(xr.open_zarr(tmp_path / "d.zarr", consolidated=False).load())
    assert list(back.site_split) == list(data.site_split) and torch.equal(back.x, data.x)


def test_dataset_rejects_sites_off_land(world):
    drivers, pft, process, sites, insitu, args = world
    off = sites.assign(cell_iy=0, cell_ix=0)  # the sea cell
    with pytest.raises(DataError, match="sites"):
        build_dataset(drivers, pft, process, off, insitu, **args)


def test_full_attention_equals_torch_multihead_attention_and_prob_sparse_shapes():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 40, 8) for _ in range(3))
    layer = AttentionLayer(16, 2, "full", 5, 0.0).eval()
    reference = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()  # the same weights, torch's code
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([layer.q.weight, layer.k.weight, layer.v.weight]))
        reference.in_proj_bias.copy_(torch.cat([layer.q.bias, layer.k.bias, layer.v.bias]))
        reference.out_proj.weight.copy_(layer.o.weight)
        reference.out_proj.bias.copy_(layer.o.bias)
    x, memory = torch.randn(2, 40, 16), torch.randn(2, 25, 16)
    for key in (x, memory):  # self-attention, and attention over another (shorter) sequence
        with torch.no_grad():
            expected = reference(x, key, key, need_weights=False)[0]
            torch.testing.assert_close(layer(x, key, key), expected, atol=1e-5, rtol=1e-5)
    sparse = prob_sparse_attention(q, k, v, factor=2, dropout_p=0.0)
    assert sparse.shape == q.shape
    mean_rows = (sparse - v.mean(2, keepdim=True)).abs().sum(-1) < 1e-5
    assert 0 < int(mean_rows.sum()) < 2 * 2 * 40  # lazy queries take mean(V), active ones attend
    for kind in ("full", "prob"):
        net = build_backbone(BackboneConfig("informer", 16, 2, 2, 1, 32, 0.0, kind, 2), 5, 3, 36)
        assert net(torch.randn(3, 36, 5)).shape == (3, 36, 3)
        assert net(torch.randn(3, 36, 5), token=torch.randn(3, 5)).shape == (3, 36, 3)


def test_physics_loss_and_masked_mse():
    names = ["GPP", "NPP", "Ra", "Rh", "RECO", "NEE"]
    gpp, ra, rh = torch.rand(4, 6) + 1, torch.rand(4, 6), torch.rand(4, 6)
    npp = gpp - ra
    y = torch.stack([gpp, npp, ra, rh, ra + rh, ra + rh - gpp], -1)
    assert max(float(r.abs().max()) for r in physics_residuals(y, names).values()) < 1e-6
    scaler = Scaler(torch.zeros(6), torch.ones(6), names)
    assert float(physics_loss(y, y, scaler, 0.1)) < 1e-10
    bad = y.clone()
    bad[..., 5] += 1.0  # NEE off by 1: two identities broken by 1 each
    assert float(physics_loss(bad, y, scaler, 0.1)) == pytest.approx(1 / 6 + 0.1 * 2, rel=1e-5)
    assert float(scaler.clamp(-torch.ones(6))[5]) == -1 and float(scaler.clamp(-torch.ones(6))[0]) == 0
    pred, target = torch.zeros(4), torch.tensor([1.0, float("nan"), 3.0, float("nan")])
    assert float(masked_mse(pred, target)) == pytest.approx(5.0)  # (1 + 9) / 2 observed points


def test_backbone_config_comes_from_the_config_only():
    spec = {
        "name": "informer",
        "d_model": 8,
        "n_heads": 2,
        "e_layers": 1,
        "d_layers": 1,
        "d_ff": 16,
        "dropout": 0.0,
        "attention": "prob",
        "factor": 3,
        "extra": 1,
    }
    assert BackboneConfig.from_dict(spec).factor == 3
    with pytest.raises(KeyError):
        BackboneConfig.from_dict({k: v for k, v in spec.items() if k != "attention"})
    with pytest.raises(ValueError, match="factor"):
        BackboneConfig.from_dict({**spec, "factor": None})


def test_stages_end_to_end(data, tmp_path):
    seed_everything(0)
    cfg = copy.deepcopy(TINY)
    cfg["epochs"] = {k: 1 for k in cfg["epochs"]}
    ctx = stages.Context(select_device("cpu"), 5, tmp_path, "fp")
    device = ctx.device.device
    pure_stage = stages.step1_pure(data, cfg, ctx)
    pure_model = pure_stage.model
    assert pure_stage.fit.steps > 0 and np.isfinite(pure_stage.fit.best_val)
    before = {k: v.clone() for k, v in pure_model.pure.net.encoder.state_dict().items()}
    mix = stages.step1_mix(data, cfg, ctx, pure_model.state_dict()).model
    for k, v in mix.pure.net.encoder.state_dict().items():  # shared encoder frozen in step 1b (incl. BN statistics)
        assert torch.equal(v, before[k]), k
    assert not torch.equal(mix.branch0.heads[0].projection.weight, pure_model.branch0.heads[0].projection.weight)
    step2 = stages.step2(data, cfg, ctx, mix.state_dict())
    model2, pure = step2.model, step2.pure
    assert pure.shape == (19, 2, 3, 24, 10) and (pure[..., data.variables.index("GPP")] >= 0).all()
    for k, v in model2.pure.state_dict().items():
        assert torch.equal(v, mix.pure.state_dict()[k]), k
    pft_a = stages.step3a(data, cfg, ctx).model
    pft_b = stages.step3b(data, cfg, ctx, pft_a.state_dict()).model
    for k, v in pft_b.net.encoder.state_dict().items():
        assert torch.equal(v, pft_a.net.encoder.state_dict()[k]), k
    frac = pft_per_age(pft_b, data, torch.arange(3), device)
    torch.testing.assert_close(frac.sum(-1), torch.ones(3, 2, 2))
    start = stages.FluxStart(model2.state_dict(), pft_b.state_dict(), pure)
    torch.testing.assert_close(
        stages.FluxStart.of(data, cfg, ctx, model2.state_dict(), pft_b.state_dict()).pure, pure
    )  # step 2's pure outputs are those of its frozen pure branches
    out4 = stages.step4(data, cfg, ctx, start)
    assert set(out4) == {"FLUXNET2015", "ICOS", "all"} and out4["all"].predictions.shape == (10, 24, 3)
    scores = predict.held_out_site_scores(out4["all"].predictions, data)
    nee = scores["all"]["NEE"]
    assert nee["n"] > 0 and np.isfinite(nee["rmse"])
    assert set(scores["igbp"]) <= {"DBF", "ENF", "GRA"}
    labels = torch.nan_to_num(data.insitu, nan=1.0)
    std = torch.where(torch.isfinite(data.insitu), 0.0, 0.5)
    out6 = stages.step6(data, cfg, ctx, start, labels, std, ~torch.isfinite(data.insitu))
    assert (
        np.isfinite(predict.held_out_site_scores(out6["all"].predictions, data)["all"]["GPP"]["rmse"])
        and "weight" in out6["all"].state
    )
    for backbone, variant in (("fedformer", "baseline"), ("simpletm", "kgml")):
        out = stages.comparison(data, cfg, ctx, backbone, variant)
        assert (out.pretrain is not None) == (variant == "kgml")
        maps = predict.predict_maps(data, cfg, device, variant, out.state, None, "all", backbone)
        assert maps.shape == (19, 24, 3) and np.isfinite(maps).all()
        # the map at each site's cell is the stage's own site prediction
        np.testing.assert_allclose(maps[data.site_cell.numpy()], out.predictions, rtol=1e-5, atol=1e-5)
    maps = predict.predict_maps(
        data, cfg, device, "step6", {n: o.state for n, o in out6.items()}, model2.state_dict(), "all"
    )
    assert maps.shape == (19, 24, 3) and (maps[..., 0] >= 0).all()
    np.testing.assert_allclose(maps[data.site_cell.numpy()], out6["all"].predictions, rtol=1e-5, atol=1e-5)
    cs = predict.held_out_cell_scores(data, cfg, device, model2, "step2", pure=pure)
    assert np.isfinite(cs["scores"]["GPP"]["rmse"])


def test_kriging_label_set_on_the_dataset_grid():
    from terraflux.dere.labels import from_kriging

    times = pd.date_range("2016-01-01", periods=3, freq="MS")
    table = pd.DataFrame(
        {
            "site_id": ["A", "A", "B", "B", "C"],
            "time": [times[0], times[1] + pd.Timedelta(days=14), times[0], times[2], times[0]],
            "variable": ["NEE", "NEE", "GPP", "GPP", "NEE"],
            "value": [1.0, 2.0, 3.0, 4.0, 9.0],
            "std": [0.0, 0.5, 0.7, 0.8, 0.1],
            "imputed": [False, True, True, True, True],
            "reliable": [True, True, True, False, True],
        }
    )
    label, std, imputed = from_kriging(
        table, ["A", "B"], times, ["GPP", "RECO", "NEE"]
    )  # site C is not in this dataset
    assert label.shape == (2, 3, 3)
    assert label[0, 0, 2] == 1.0 and not imputed[0, 0, 2] and std[0, 0, 2] == 0.0  # an observation
    assert label[0, 1, 2] == 2.0 and imputed[0, 1, 2] and std[0, 1, 2] == 0.5  # mid-month time -> its month
    assert label[1, 0, 0] == 3.0 and imputed[1, 0, 0]
    assert torch.isnan(label[1, 2, 0]) and not imputed[1, 2, 0]  # unreliable kriged label dropped
    assert int(torch.isfinite(label).sum()) == 3
    with pytest.raises(DataError, match="columns"):
        from_kriging(table.drop(columns="reliable"), ["A"], times, ["NEE"])
    with pytest.raises(DataError, match="no row"):
        from_kriging(table, ["Z"], times, ["NEE"])


def test_site_passes_repeat_the_training_sites_within_an_epoch(data, tmp_path):
    """``train.site_passes`` passes over the training sites per epoch: with fewer sites than a batch, one
    optimiser step each."""
    cfg = copy.deepcopy(TINY)
    cfg["epochs"]["baseline"], cfg["train"]["patience"] = 2, 0
    steps = {}
    for passes in (1, 3):
        cfg["train"]["site_passes"] = passes
        ctx = stages.Context(select_device("cpu"), 5, tmp_path / str(passes), "fp")
        fit = stages.baseline(data, cfg, ctx, "transformer").fit
        steps[passes] = fit.steps / fit.epochs
    assert len(data.sites("train")) <= cfg["train"]["batch_size"]
    assert steps == {1: 1, 3: 3}
