#!/usr/bin/env bash
# Prepares DIR so that tests/windows_wine_test.ts can run Deno's Windows build (deno.exe) under
# Wine: wine64 and mingw-w64 from apt (needs root), deno.exe from the npm package @deno/win32-x64,
# and a shim DLL Wine 8.0 needs. The recipe lives in ../shared/wine/ beside the repository (CI
# checks shared/ out there). Usage: bash scripts/setup_wine.sh [DIR]   (default: .wine/ in the repo;
# the test reads $TCPKA_WINE_DIR, else .wine/). On failure it says why in one line, and writes that
# line to DIR/SETUP_FAILED, which the test names when it skips.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$repo/.wine}
version=${DENO_VERSION:-2.9.6}
recipe=$(cd "$repo/.." && pwd)/shared/wine/setup.sh

mkdir -p "$dir" || { echo "setup_wine: cannot create $dir" >&2; exit 1; }
dir=$(cd "$dir" && pwd)
rm -f "$dir/SETUP_FAILED"
fail() {
  echo "setup_wine: $*" >&2
  echo "$*" >"$dir/SETUP_FAILED"
  exit 1
}

[ -f "$recipe" ] || fail "the Wine recipe is missing: $recipe (shared/wine beside the repository)"
if ! [ -x /usr/lib/wine/wine64 ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || fail "wine64 and gcc-mingw-w64-x86-64 are missing; installing them needs root"
  command -v apt-get >/dev/null 2>&1 || fail "wine64 and gcc-mingw-w64-x86-64 are missing and there is no apt-get"
fi
[ -f "$dir/deno.exe" ] || command -v npm >/dev/null 2>&1 ||
  fail "npm is missing (deno.exe comes from the npm package @deno/win32-x64@$version)"

log=$dir/setup.log
if ! bash "$recipe" "$dir" "$version" >"$log" 2>&1; then
  fail "the Wine recipe failed: $(grep -v '^\s*$' "$log" | tail -n 1) (full log: $log)"
fi
windows=$(grep -m1 '^deno .*windows' "$log" || true)
[ -n "$windows" ] || fail "deno.exe did not start under Wine (log: $log)"
echo "setup_wine: ready in $dir: $windows"
