#!/usr/bin/env bash
# What an NVIDIA appliance does with M2SNet, as one table: M2SNet 352 fp32/fp16 on TensorRT and
# CUDA, batch 1 and 8 (frames per second, p99, ratio to CPU fp32 batch 1 in the same run), and
# capture -> mask p99 at 1080p60 through the real daemon.
#
#   bench/gpu-check.sh prepare [DIR]   on a build machine (this repository, the .NET SDK): writes DIR
#                                      (default out/gpu-check): m2s-bench published self-contained with
#                                      the GPU flavour of ONNX Runtime, M2SNet exported at 352 (untrained
#                                      weights: latency does not depend on them) and this script
#   DIR/gpu-check.sh [--quick]         on the NVIDIA machine, no .NET needed: prints the table and
#                                      writes a JSON report to DIR/results
#
# The machine needs what README's "An NVIDIA appliance" lists (CUDA 13, cuDNN 9, TensorRT 10); a
# provider that cannot load is a row that says which library is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ "${1:-}" = "prepare" ]; then
  root="$(cd "$here/.." && pwd)"
  out="$(mkdir -p "${2:-$root/out/gpu-check}" && cd "${2:-$root/out/gpu-check}" && pwd)"
  echo "gpu-check: publishing m2s-bench (GPU flavour, self-contained) to $out/bin" >&2
  dotnet publish "$root/bench/M2SNet.Edge.Bench" -c Release -r linux-x64 --self-contained \
    -p:OnnxRuntimeFlavor=Gpu -o "$out/bin" -nologo -v quiet
  echo "gpu-check: exporting M2SNet at 352 to $out/model" >&2
  mkdir -p "$out/model"
  "$root/m2s" export --model m2snet --random-init --size 352 --out "$out/model/m2snet-352.onnx" >&2
  cp "$here/gpu-check.sh" "$out/gpu-check.sh"
  echo "gpu-check: ready; copy $out to the GPU machine and run its gpu-check.sh" >&2
  exit 0
fi

bin="$here/bin/m2s-bench"
model="$here/model/m2snet-352.onnx"
if [ ! -x "$bin" ] || [ ! -f "$model" ]; then
  echo "gpu-check: $here has no prepared bench; run 'bench/gpu-check.sh prepare DIR' in the repository first" >&2
  exit 2
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
exec "$bin" gpu --model "$model" --out "$here/results" "$@"
