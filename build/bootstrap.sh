#!/usr/bin/env bash
# The one place that installs what M2SNet.Edge needs outside NuGet: Debian packages and the
# C++ shims (ONNX Runtime comes from NuGet: Microsoft.ML.OnnxRuntime, or .Gpu.Linux).
#
#   build/bootstrap.sh [component ...]     components: torch-shim, opencv-shim, pytorch, ffmpeg, iproute2, grpc-js, gpiod, systemd-analyze, browser
#                                          (default: the first two; the tests ask for the others)
#
# Idempotent and quick when everything is present; safe to call from concurrent builds
# (serialised by a lock). MSBuild calls it before building the projects that need it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
native="$root/.native"
mkdir -p "$native"

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

# Debian packages, installed only when missing. Without root the missing list is printed.
ensure_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet; refresh them once if an install fails.
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$native/apt.log" 2>&1; then
    apt-get update -q >>"$native/apt.log" 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$native/apt.log" 2>&1 \
      || die "apt-get install ${missing[*]} failed; see $native/apt.log"
  fi
}

# --- libtorch shim ---------------------------------------------------------------------------
# Built against Debian's libtorch-dev by default, or against the LibTorch in $TORCH_DIR (e.g. the
# CUDA build inside a PyTorch install). Each LibTorch gets its own build folder.
torch_shim() {
  local variant="debian"
  if [ -n "${TORCH_DIR:-}" ]; then
    variant="torch-$(printf '%s' "$TORCH_DIR" | sha256sum | cut -c1-12)"
    ensure_apt g++ cmake make
  else
    ensure_apt g++ cmake make libtorch-dev libgloo-dev
  fi
  local build="$native/torch-shim/$variant"
  mkdir -p "$build"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    say "configuring the libtorch shim ($variant)"
    cmake -S "$root/native/torch" -B "$build" -DCMAKE_BUILD_TYPE=Release ${TORCH_DIR:+-DTORCH_DIR="$TORCH_DIR"} \
      >"$build/configure.log" 2>&1 || die "cmake configure of native/torch failed; see $build/configure.log"
  fi
  cmake --build "$build" -j "$(nproc)" >"$build/build.log" 2>&1 \
    || { grep -E "error" "$build/build.log" | head -n 20 >&2; die "building native/torch failed; see $build/build.log"; }
  ln -sfn "$variant" "$native/torch-shim/current"
}

# --- OpenCV shim -----------------------------------------------------------------------------------
opencv_shim() {
  ensure_apt g++ cmake make pkg-config libopencv-dev libavutil-dev libjpeg-dev
  local build="$native/opencv-shim"
  mkdir -p "$build"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    say "configuring the OpenCV shim"
    cmake -S "$root/native/opencv" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/configure.log" 2>&1 \
      || die "cmake configure of native/opencv failed; see $build/configure.log"
  fi
  cmake --build "$build" -j "$(nproc)" >"$build/build.log" 2>&1 \
    || { grep -E "error" "$build/build.log" | head -n 20 >&2; die "building native/opencv failed; see $build/build.log"; }
}

# --- FFmpeg's command-line tool, for the video tests' local stream server --------------------
ffmpeg_tool() { ensure_apt ffmpeg; }

# --- ip (iproute2), for the tests that reach the daemon from a second host (a network namespace) --------
iproute2() { command -v ip >/dev/null 2>&1 || ensure_apt iproute2; }

# --- PyTorch, for the tests that check our checkpoints load in PyTorch itself -------------------
pytorch() { ensure_apt python3-torch; }

# --- libgpiod (libgpiod.so.2, the v1.6 C API) that System.Device.Gpio's LibGpiodDriver loads -----------
gpiod() { ensure_apt libgpiod2; }

# --- systemd-analyze, to verify the service unit in systemd/ (the tests run it) --------------------
systemd_analyze() { command -v systemd-analyze >/dev/null 2>&1 || ensure_apt systemd; }

# --- npm packages the tests drive, pinned (versions and integrity) by a package-lock.json in tests/ ------
# npm_tree NAME FOLDER PACKAGE: installs tests/FOLDER's lock into .native/NAME unless it is there already.
npm_tree() {
  local name="$1" source="$root/tests/$2" package="$3" dir="$native/$1"
  if [ -f "$dir/node_modules/$package/package.json" ] && cmp -s "$source/package-lock.json" "$dir/package-lock.json"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm ca-certificates
  say "installing $package for the tests"
  mkdir -p "$dir"
  cp "$source/package.json" "$source/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --silent >"$dir/npm.log" 2>&1) \
    || die "npm ci for $package failed: $(tail -n 3 "$dir/npm.log")"
}

# grpc-js, the reference gRPC implementation the interoperability tests run against.
grpc_js() { npm_tree grpc-js interop @grpc/grpc-js; }

# A real browser for the OR web view's tests: Debian's chromium, driven by playwright-core.
browser() {
  command -v chromium >/dev/null 2>&1 || ensure_apt chromium fonts-dejavu-core
  npm_tree playwright webview playwright-core
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(torch-shim opencv-shim)

exec 9>"$native/.lock"
flock 9
for c in "${components[@]}"; do
  case "$c" in
    torch-shim) torch_shim ;;
    opencv-shim) opencv_shim ;;
    pytorch) pytorch ;;
    ffmpeg) ffmpeg_tool ;;
    iproute2) iproute2 ;;
    grpc-js) grpc_js ;;
    gpiod) gpiod ;;
    systemd-analyze) systemd_analyze ;;
    browser) browser ;;
    *) die "unknown component '$c' (known: torch-shim, opencv-shim, pytorch, ffmpeg, iproute2, grpc-js, gpiod, systemd-analyze, browser)" ;;
  esac
done
