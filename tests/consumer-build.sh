#!/bin/sh
# A consumer project against an installed Tessera: install this build into a
# scratch prefix, build examples/ out of tree with find_package(Tessera) and
# with pkg-config, and run the result on the installed mock plugin.
set -eu
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp/prefix"/lib*/ | head -n1)
cmake -S "$src/examples" -B "$tmp/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/b" >/dev/null
export LD_LIBRARY_PATH="$libdir"
# No TESSERA_PLUGIN_DIR: the library finds the plugins installed beside it.
out=$("$tmp/b/tessera-example-product" "$src/examples/example.conf")
echo "$out" | grep -q '^license: product=KRE provider=mock'
PKG_CONFIG_PATH="$libdir/pkgconfig" cc -o "$tmp/pc-example" "$src/examples/product.c" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs tessera)
"$tmp/pc-example" "$src/examples/example.conf" | grep -q '^license: product=KRE provider=mock'
# GIO is not among what pkg-config adds (issue 20): a product that does not
# call GIO itself does not load it. --no-as-needed: the flags themselves are
# checked, not the linker's pruning of them.
PKG_CONFIG_PATH="$libdir/pkgconfig" cc -Wl,--no-as-needed -o "$tmp/pc-all" \
  "$src/examples/product.c" $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs tessera)
if readelf -d "$tmp/pc-all" | grep -q 'NEEDED.*\(libgio\|libjson-glib\)'; then
  echo "consumer-build: pkg-config --libs tessera links GIO or json-glib:" >&2
  readelf -d "$tmp/pc-all" | grep NEEDED >&2
  exit 1
fi
"$tmp/pc-all" "$src/examples/example.conf" | grep -q '^license: product=KRE provider=mock'
echo "consumer-build: find_package(Tessera) and pkg-config both work"
