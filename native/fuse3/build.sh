#!/usr/bin/env bash
# Builds native/fuse3/build/zonefuse_fuse3.node (zonefuse's libfuse3 binding) with gcc against
# node's own Node-API headers and Debian's libfuse3-dev (no pkg-config needed); skips the work
# when it is up to date.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build/zonefuse_fuse3.node"
src="$here/zonefuse_fuse3.c"
node_inc="$(dirname "$(dirname "$(command -v node)")")/include/node"
[ -f "$node_inc/node_api.h" ] || { echo "native/fuse3: no Node-API headers at $node_inc" >&2; exit 1; }
header=/usr/include/fuse3/fuse_lowlevel.h
[ -f "$header" ] || { echo "native/fuse3: libfuse3's headers are missing: apt install libfuse3-dev" >&2; exit 1; }
# Header and library come from the same package (libfuse3-dev), so they cannot be mixed: 3.14.1
# moved fuse_file_info's bitfields. The addon only reads fh and flags (before them) and builds
# the OPEN reply itself. Low-level API features it relies on date from 3.12.
minor="$(sed -n 's/^#define FUSE_MINOR_VERSION \([0-9]*\).*/\1/p' /usr/include/fuse3/fuse_common.h)"
if [ -z "$minor" ] || [ "$minor" -lt 12 ]; then
  echo "native/fuse3: needs libfuse >= 3.12 (Debian 12 has 3.14), found 3.${minor:-?}" >&2
  exit 1
fi
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then exit 0; fi
mkdir -p "$here/build"
gcc -O2 -g -fPIC -shared -Wall -Wextra -Werror -std=gnu11 -fvisibility=hidden \
  -I"$node_inc" -I/usr/include/fuse3 -o "$out.tmp" "$src" -lfuse3 -lpthread
mv "$out.tmp" "$out"
echo "native/fuse3: built $out" >&2
