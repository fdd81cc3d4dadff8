#!/usr/bin/env bash
# Builds kcat with Avro/Schema-Registry support (`-s value=avro -r <registry URL>`) from the sources
# vendored here (deploy/kcat/README.md): libserdes as a static library, then kcat linked with it and
# with Debian's librdkafka, avro-c, yajl, jansson and curl. Debian's own kcat package lacks Avro.
#
#   deploy/kcat/build.sh            -> .vq/tools/bin/kcat (build files in .vq/tools/build)
#
# Does nothing when the binary exists and is newer than this script and the vendored sources.
# Installs the missing build packages with apt-get (as `make test-tools` does for Debian's kcat).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="$root/.vq/tools"
bin="$tools/bin/kcat"
build="$tools/build/kcat-avro"

if [[ -x "$bin" ]] && [[ -z "$(find "$here/build.sh" "$here/kcat" "$here/libserdes" \
  -type f -newer "$bin" -print -quit)" ]]; then
  exit 0  # up to date
fi

# Build packages, Debian 12 names; dpkg tells which are missing.
packages=(gcc make libc6-dev pkg-config libavro-dev librdkafka-dev libyajl-dev libjansson-dev
  libcurl4-openssl-dev zlib1g-dev)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "installing ${missing[*]} from Debian's packages..."
  as_root=()
  if ((EUID != 0)) && command -v sudo >/dev/null; then as_root=(sudo); fi
  apt_install=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q
    --no-install-recommends "${missing[@]}")
  "${apt_install[@]}" || { "${as_root[@]}" apt-get update -q && "${apt_install[@]}"; }
fi

echo "building kcat with Avro support into ${bin#"$root"/}..."
rm -rf "$build"
mkdir -p "$build/serdes" "$build/kcat" "$build/include/libserdes" "$tools/bin"
cflags=(-O2 -g -Wall -Wno-unused-function -Wno-deprecated-declarations -fPIC -D_GNU_SOURCE)
read -ra serdes_deps <<<"$(pkg-config --cflags avro-c jansson libcurl)"
read -ra kcat_deps <<<"$(pkg-config --cflags rdkafka avro-c yajl)"
read -ra link_deps <<<"$(pkg-config --libs rdkafka avro-c yajl jansson libcurl)"

# libserdes (C part only, with avro-c): its configure script would write this config.h.
# serdes_int.h includes "../config.h": the sources go one level below it.
printf '#define ENABLE_AVRO_C 1\n' >"$build/serdes/config.h"
mkdir -p "$build/serdes/src"
cp "$here"/libserdes/src/*.c "$here"/libserdes/src/*.h "$build/serdes/src/"
(
  cd "$build/serdes/src"
  for source in serdes.c rest.c schema-cache.c framing.c tinycthread.c serialize-avro.c \
    deserialize-avro.c schema-avro.c; do
    gcc "${cflags[@]}" "${serdes_deps[@]}" -c "$source"
  done
  ar rcs ../libserdes.a ./*.o
)
cp "$build"/serdes/src/{serdes.h,serdes-common.h,serdes-avro.h} "$build/include/libserdes/"

# kcat: what its configure script finds on Debian 12 (librdkafka 2.0, yajl 2.1, libserdes).
cat >"$build/kcat/config.h" <<'EOF'
#define KCAT_VERSION "1.7.1-vq"
#define ENABLE_KAFKACONSUMER 1
#define ENABLE_JSON 1
#define ENABLE_AVRO 1
EOF
(
  cd "$build/kcat"
  for source in kcat.c format.c tools.c input.c json.c avro.c; do
    gcc "${cflags[@]}" -I. -I"$here/kcat" -I"$build/include" \
      "${kcat_deps[@]}" -c "$here/kcat/$source" -o "${source%.c}.o"
  done
  gcc -o kcat ./*.o "$build/serdes/libserdes.a" \
    "${link_deps[@]}" -lpthread -lm -lz
)
install -m 0755 "$build/kcat/kcat" "$bin.tmp"
# `kcat -V` names its builtin features: "Version 1.7.1-vq (JSON, Avro, Transactions, ...".
if ! "$bin.tmp" -V | grep -Eq '[(, ]Avro[,)]'; then
  "$bin.tmp" -V >&2
  rm -f "$bin.tmp"
  echo "the kcat just built does not list Avro among its builtin features" >&2
  exit 1
fi
mv "$bin.tmp" "$bin"
"$bin" -V | grep "^Version"
