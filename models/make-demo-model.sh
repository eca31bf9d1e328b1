#!/usr/bin/env bash
# Rebuilds the bundled demo model (models/m2snet-s-demo.onnx + .json) from scratch: synthetic
# training and held-out validation data, M2SNet-S trained on them with this host, exported with
# float16 weights. About ten minutes on two CPU cores. Everything is seeded.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-.build/demo-model}"
rm -rf "$work"
./m2s synth --out "$work/train" --count 600 --size 224 --seed 1
./m2s synth --out "$work/val" --count 200 --size 224 --seed 100000
./m2s train --model m2snet-s --data "$work/train" --val "$work/val" --out "$work/run" \
  --epochs 10 --batch-size 8 --size 224 --rates 1 --lr 0.02 --backbone-lr 0.02 --seed 1 \
  --notes "demo model: M2SNet-S trained from scratch on synthetic colonoscopy frames (m2s synth); not for clinical use"
./m2s export --model m2snet-s --checkpoint "$work/run/best.pth" --size 224 --fp16-weights --model-version 1.0.0 --out models/m2snet-s-demo.onnx
./m2s eval --onnx models/m2snet-s-demo.onnx --data "$work/val" --out "$work/eval"
# The int8 twin the daemon may pick when it runs faster here: calibrated on training frames,
# checked on the held-out ones (refused if mDice drops more than 0.01).
./m2s quantize --onnx models/m2snet-s-demo.onnx --calibration "$work/train" --val "$work/val" --frames 64 --out models/m2snet-s-demo-int8.onnx
