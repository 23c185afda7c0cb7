#!/usr/bin/env bash
# The GPU check, one run on a machine with one CUDA device and no package index (docs/performance.md#gpu):
# installs the wheels in .whl/ (bench/gpu_wheels.sh), runs the gpu-marked tests and bench/bench_gpu.py, and
# writes their output to $OUT (or ./gpu-out). About 10 minutes on one H200.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
{ nvidia-smi; python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())'; git log -1 --oneline; } \
  2>&1 | tee "$out/device.txt"
timeout 300 python3 -m pytest -m gpu -q -p no:cacheprovider -o addopts= tests/test_gpu_stages.py tests/test_ide_model.py \
  2>&1 | tee "$out/pytest_gpu.txt"
timeout 360 python3 bench/bench_gpu.py 2>&1 | tee "$out/bench_gpu.jsonl"
