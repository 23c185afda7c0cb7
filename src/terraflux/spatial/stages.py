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
from terraflux.spatial.downscale_data import build_pair, pair_variables, pair_years
from terraflux.spatial.frames import Frames, load_frames
from terraflux.spatial.predict import reconstruct_diffusion, reconstruct_unet
from terraflux.spatial.unet import Autoencoder, UNet
from terraflux.train.seeding import derive_seed

import numpy as np
import torch
import xarray as xr

log = logging.getLogger(__name__)


def dataset(coarse_path: str, fine_path: str, cfg: Mapping, period: Mapping, out: str, provenance: Mapping) -> None:
    """Write the pair's ``dataset.zarr`` (:mod:`.downscale_data`); ``cfg``: config ``downscale``, ``period``:
    config ``period`` (the split years: :func:`.downscale_data.pair_years`)."""
    variables, years = pair_variables(cfg["variables"]), pair_years(period, cfg)
    ds = build_pair(coarse_path, fine_path, variables, years, int(cfg["coarsen_factor"]))
    log.info("pair %s -> %s: %s", coarse_path, fine_path, dict(ds.sizes))
    outputs.write_zarr(out, ds, provenance)


def open_frames(path: str) -> tuple[xr.Dataset, Frames]:
    ds = xr.open_zarr(path, consolidated=False).load()
    return ds, load_frames(ds)


def encoder(dataset_path: str, cfg: Mapping, seed: int, out: str, provenance: Mapping) -> None:
    """Pretrain the transfer encoder on the coarse series of every time step; ``cfg``: ``downscale.encoder``
    (``pretrain``: autoencoder, contrastive or contrastive_semivariogram)."""
    torch.set_num_threads(1)
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
) -> None:
    """Train the ``unet`` (deterministic) or ``diffusion`` model; ``cfg``: ``downscale.<kind>``. With
    ``around_unet``, the diffusion model learns the residual around the U-Net of ``unet_path``."""
    torch.set_num_threads(1)
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
):
    """Reconstruct the fine series autoregressively over the whole period and write ``predictions.zarr``
    (a diffusion model trained around the U-Net needs its checkpoint ``unet_path``)."""
    torch.set_num_threads(1)
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
