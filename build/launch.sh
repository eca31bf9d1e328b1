#!/usr/bin/env bash
# Shared body of the root launchers (./m2s, ./m2s-edged, ./m2s-client): build the project on
# first use or when a source changed, then run it with the caller's arguments.
#
#   build/launch.sh <project folder under src/> <assembly name> [args...]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$1" assembly="$2"
shift 2
name="$assembly"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "$name: the .NET 10 SDK is required and 'dotnet' is not on PATH." >&2
  echo "$name: install it from https://dotnet.microsoft.com/download (Debian 12: packages.microsoft.com), then run $name again." >&2
  exit 127
fi
if [ ! -d "$root/src/$project" ]; then
  echo "$name: src/$project is not part of this checkout yet." >&2
  exit 2
fi

out="$root/.build/$project"
stamp="$out/.built"
needs_build() {
  [ -f "$stamp" ] || return 0
  # Anything that goes into the build, newer than the last one (build outputs excluded).
  [ -n "$(find "$root/src" "$root/protos" "$root/native" "$root/build" \
            "$root/Directory.Build.props" "$root/Directory.Packages.props" \
            \( -name bin -o -name obj \) -prune -o -type f -newer "$stamp" -print -quit 2>/dev/null)" ]
}

if needs_build; then
  echo "$name: building $project (first use, or sources changed)..." >&2
  mkdir -p "$out"
  log="$out/build.log"
  if ! dotnet build "$root/src/$project" -c Release -o "$out" -nologo -clp:NoSummary -v:q >"$log" 2>&1; then
    grep -E ": error |error:" "$log" | sort -u | head -n 20 >&2 || true
    echo "$name: build failed; full log in ${log#$root/}" >&2
    exit 1
  fi
  touch "$stamp"
fi

exec dotnet "$out/$assembly.dll" "$@"
