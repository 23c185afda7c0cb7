"""The downscaling stages as functions of paths and config, called by the thin workflow scripts.

``dataset`` -> ``dataset.zarr``; ``encoder`` -> the pretrained transfer encoder (checkpoint); ``unet`` and
``diffusion`` -> trained models (checkpoints with their training losses); ``predict`` -> the reconstructed
fine series ``predictions.zarr``: ``fine(member, variable, time, y, x)`` in the fine store's units (one
member for the deterministic U-Net, ``n_samples`` for the diffusion model). Seeds derive from ``run.seed``
and the stage's name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from terraflux import outputs
from terraflux.errors import ConfigError
from terraflux.spatial import train
from terraflux.spatial.downscale_data import build_pair, grid_size, memory_bytes, open_pair, pair_variables, pair_years
from terraflux.spatial.frames import Frames, load_frames
from terraflux.spatial.predict import reconstruct_diffusion, reconstruct_unet
from terraflux.spatial.unet import Autoencoder, UNet
from terraflux.train.seeding import derive_seed

import numpy as np
import torch
import xarray as xr

log = logging.getLogger(__name__)


def dataset(
    coarse_path: str, fine_path: str, cfg: Mapping, period: Mapping, mem_mb: int, out: str, provenance: Mapping
) -> None:
    """Write the pair's ``dataset.zarr`` (:mod:`.downscale_data`); ``cfg``: config ``downscale``, ``period``:
    config ``period`` (the pair's years: :func:`.downscale_data.pair_years`), ``mem_mb``: the memory of a
    model job (config ``compute.cpu_model.mem_mb``), which the pair must fit (:func:`check_memory`)."""
    variables, years = pair_variables(cfg["variables"]), pair_years(period, cfg)
    fine_ds, _ = open_pair(coarse_path, fine_path, years, cfg["window"])
    check_memory(fine_ds, len(variables), cfg, mem_mb)
    ds = build_pair(coarse_path, fine_path, variables, years, int(cfg["coarsen_factor"]), cfg["window"])
    log.info("pair %s -> %s: %s", coarse_path, fine_path, dict(ds.sizes))
    outputs.write_zarr(out, ds, provenance)


def check_memory(fine: xr.Dataset, n_variables: int, cfg: Mapping, mem_mb: int) -> None:
    """ConfigError when the stages' arrays (:func:`.downscale_data.memory_bytes`) of the pair on the grid of
    ``fine`` (a prepared store, cut to the pair) need more than ``mem_mb``; ``cfg``: config ``downscale``."""
    ny, nx = grid_size(fine)
    n_time, channels, members = fine.sizes["time"], 4 * int(cfg["encoder"]["width"]), int(cfg["diffusion"]["n_samples"])
    need = memory_bytes(n_time, n_variables, ny, nx, channels, members)
    if need > mem_mb * 2**20:
        raise ConfigError(
            f"the downscaling stages hold the whole pair in memory: {n_time} time steps x {ny} x {nx} points need "
            f"at least {need / 2**30:.3g} GiB ({n_variables} variable(s), {channels} encoder feature channels, "
            f"{members} members), more than config `compute.cpu_model.mem_mb` ({mem_mb} MB). Narrow the pair with "
            "`downscale.window` and `downscale.start_year`/`end_year`, lower `downscale.encoder.width` or "
            "`downscale.diffusion.n_samples`, raise `compute.cpu_model.mem_mb`, or set `downscale.enabled: false`"
        )


def open_frames(path: str) -> tuple[xr.Dataset, Frames]:
    ds = xr.open_zarr(path, consolidated=False).load()
    return ds, load_frames(ds)


def encoder(dataset_path: str, cfg: Mapping, seed: int, out: str, provenance: Mapping, threads: int = 1) -> None:
    """Pretrain the transfer encoder on the coarse series of every time step; ``cfg``: ``downscale.encoder``
    (``pretrain``: autoencoder, contrastive or contrastive_semivariogram); ``threads``: torch's CPU threads."""
    torch.set_num_threads(threads)
    ds, frames = open_frames(dataset_path)
    width, kind, seed = int(cfg["width"]), cfg["pretrain"], derive_seed(seed, "encoder", cfg["pretrain"])
    if kind == "autoencoder":
        model, history = train.pretrain_autoencoder(frames, width, dict(cfg), seed)
    elif kind in ("contrastive", "contrastive_semivariogram"):
        lat, lon = ds["latitude"].values, ds["longitude"].values
        model, history = train.pretrain_contrastive(
            frames, lat, lon, width, dict(cfg), seed, semivariogram=kind == "contrastive_semivariogram"
        )
    else:
        raise ValueError(f"config `downscale.encoder.pretrain` {kind!r} is not known")
    state = {"state": model.state_dict(), "n_variables": frames.n_variables, "width": int(cfg["width"])}
    outputs.save_checkpoint(out, {**state, "pretrain": cfg["pretrain"], "history": history}, provenance)


def load_encoder(path: str) -> Autoencoder:
    ckpt = outputs.load_checkpoint(path)
    model = Autoencoder(int(ckpt["n_variables"]), int(ckpt["width"]))
    model.load_state_dict(ckpt["state"])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def around_unet(cfg: Mapping, unet_path: str | None) -> bool:
    """Whether the diffusion model of ``cfg`` (``downscale.diffusion``) works around the deterministic U-Net;
    it then needs the U-Net's checkpoint ``unet_path``."""
    if not cfg.get("around_unet", False):
        return False
    if unet_path is None:
        raise ConfigError("config `downscale.diffusion.around_unet` is true: give the U-Net's checkpoint (unet_path)")
    return True


def load_model(path: str) -> UNet:
    """The U-Net or diffusion network of a checkpoint of :func:`fit_model`, in evaluation mode."""
    ckpt = outputs.load_checkpoint(path)
    time_dim = 32 if ckpt["kind"] == "diffusion" else 0
    model = UNet(int(ckpt["n_in"]), int(ckpt["n_out"]), int(ckpt["width"]), time_dim=time_dim)
    model.load_state_dict(ckpt["state"])
    model.eval()
    return model


def fit_model(
    kind: str,
    dataset_path: str,
    encoder_path: str,
    cfg: Mapping,
    seed: int,
    out: str,
    provenance,
    unet_path: str | None = None,
    threads: int = 1,
) -> None:
    """Train the ``unet`` (deterministic) or ``diffusion`` model; ``cfg``: ``downscale.<kind>``. With
    ``around_unet``, the diffusion model learns the residual around the U-Net of ``unet_path``. CPU only,
    ``threads`` torch threads."""
    torch.set_num_threads(threads)
    _, frames = open_frames(dataset_path)
    features = train.encoder_features(load_encoder(encoder_path), frames)
    width, extra = int(cfg["width"]), {}
    if kind == "unet":
        model, history = train.train_unet(frames, features, width, dict(cfg), derive_seed(seed, kind))
    else:
        means = None
        if around_unet(cfg, unet_path):
            means = train.regression_means(load_model(unet_path), frames, features)
            target, scale = train.around_regression(frames, means)
            clip = float(np.abs(target[frames.split == "train"]).max())
            extra = {"around_unet": True, "scale": scale.tolist(), "clip": clip}
        model, history = train.train_diffusion(
            frames, features, width, int(cfg["diffusion_steps"]), dict(cfg), derive_seed(seed, kind), means
        )
    state = {"state": model.state_dict(), "kind": kind, "width": width, "history": history, **extra}
    state["n_in"] = int(model.encoder.inc.conv1.in_channels)
    state["n_out"] = frames.n_variables
    outputs.save_checkpoint(out, state, provenance)


def predict(
    kind: str,
    dataset_path: str,
    encoder_path: str,
    model_path: str,
    cfg: Mapping,
    seed: int,
    out: str,
    provenance,
    unet_path: str | None = None,
    threads: int = 1,
):
    """Reconstruct the fine series autoregressively over the whole period and write ``predictions.zarr``
    (a diffusion model trained around the U-Net needs its checkpoint ``unet_path``); ``threads``: torch's
    CPU threads."""
    torch.set_num_threads(threads)
    ds, frames = open_frames(dataset_path)
    features = train.encoder_features(load_encoder(encoder_path), frames)
    model = load_model(model_path)
    if kind == "unet":
        fine = reconstruct_unet(model, frames, features)
    else:
        ckpt = outputs.load_checkpoint(model_path)
        if bool(ckpt.get("around_unet", False)) != around_unet(cfg, unet_path):
            raise ConfigError(
                f"{model_path}: trained with around_unet={ckpt.get('around_unet', False)}, but config "
                "`downscale.diffusion.around_unet` differs; rerun rule downscale_train"
            )
        around = (load_model(unet_path), ckpt["scale"], ckpt["clip"]) if ckpt.get("around_unet") else None
        steps, sample_steps = int(cfg["diffusion_steps"]), min(int(cfg["sample_steps"]), int(cfg["diffusion_steps"]))
        fine = reconstruct_diffusion(
            model, frames, features, steps, sample_steps, int(cfg["n_samples"]), derive_seed(seed, "sample"), around
        )
    pred = xr.Dataset(
        {"fine": (("member", "time", "variable", "y", "x"), fine, {"units": "as the fine store"})},
        coords={k: ds[k] for k in ("time", "variable", "y", "x", "latitude", "longitude")},
        attrs={"model": kind, "units": ds.attrs["units"]},
    )
    pred = pred.assign_coords(member=np.arange(fine.shape[0])).transpose("member", "variable", "time", "y", "x")
    outputs.write_zarr(out, pred, provenance)
