#!/usr/bin/env bash
# Download, into .whl/, the wheels that a GPU machine without a package index needs beyond its image (which has
# torch, numpy, pandas, scipy, xarray's own needs, matplotlib, pytest): the versions pinned in
# envs/requirements.lock, for CPython 3.12 on manylinux x86-64. bench/gpu_check.sh installs them there.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(zarr numcodecs donfig google-crc32c pyproj cftime xarray pytz vector-quantize-pytorch einx frozendict
  torch-einops-utils loguru mambapy PyWavelets ptwt)
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)
pins=()
for name in "${PACKAGES[@]}"; do
  pin=$(grep -i -E "^${name}==" envs/requirements.lock) || { echo "${name} is not in envs/requirements.lock" >&2; exit 1; }
  pins+=("${pin%% *}")
done
rm -rf .whl && mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]/#/--platform=}" -d .whl "${pins[@]}"
du -sh .whl
