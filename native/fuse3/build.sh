#!/usr/bin/env bash
# Builds native/fuse3/build/zonefuse_fuse3.node (zonefuse's libfuse3 binding) with gcc against
# node's own Node-API headers and Debian's libfuse3-dev; skips the work when it is up to date.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build/zonefuse_fuse3.node"
src="$here/zonefuse_fuse3.c"
node_inc="$(dirname "$(dirname "$(command -v node)")")/include/node"
[ -f "$node_inc/node_api.h" ] || { echo "native/fuse3: no Node-API headers at $node_inc" >&2; exit 1; }
pkg-config --exists fuse3 || { echo "native/fuse3: libfuse3-dev is missing (pkg-config fuse3)" >&2; exit 1; }
# Header and library come from the same package (pkg-config), so they cannot be mixed: 3.14.1
# moved fuse_file_info's bitfields. The addon only reads fh and flags (before them) and builds
# the OPEN reply itself. Low-level API features it relies on date from 3.12.
version="$(pkg-config --modversion fuse3)"
case "$version" in
  3.1[2-9]*|3.[2-9][0-9]*) ;;
  *) echo "native/fuse3: needs libfuse >= 3.12 (Debian 12 has 3.14.0), found $version" >&2; exit 1 ;;
esac
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then exit 0; fi
mkdir -p "$here/build"
# shellcheck disable=SC2046
gcc -O2 -g -fPIC -shared -Wall -Wextra -Werror -std=gnu11 -fvisibility=hidden \
  -I"$node_inc" $(pkg-config --cflags fuse3) -o "$out.tmp" "$src" $(pkg-config --libs fuse3) -lpthread
mv "$out.tmp" "$out"
echo "native/fuse3: built $out" >&2
