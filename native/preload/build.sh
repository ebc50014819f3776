#!/usr/bin/env bash
# Builds the compatibility library (LD_PRELOAD) into native/preload/build/libzonefuse-preload.so
# with gcc and the Debian linux/libc headers only; skips the work when it is up to date.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build/libzonefuse-preload.so"
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$here/../../package.json" | head -1)"
srcs=("$here"/*.c)
if [ -e "$out" ]; then
  stale=0
  for f in "${srcs[@]}" "$here"/*.h "$here/build.sh"; do
    [ "$f" -nt "$out" ] && stale=1
  done
  [ "$stale" = 0 ] && exit 0
fi
mkdir -p "$here/build"
gcc -shared -fPIC -O2 -g -Wall -Wextra -Werror -fvisibility=default \
  -DZONEFUSE_VERSION="\"${version:-0}\"" \
  -o "$out.tmp" "${srcs[@]}" -ldl -lpthread
mv "$out.tmp" "$out"
echo "zonefuse setup: built $out" >&2
