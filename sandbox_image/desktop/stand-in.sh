#!/bin/sh
# Install an empty package under each given name, satisfying dependencies on it (see Dockerfile).
set -eu
for name in "$@"; do
  dir="$(mktemp -d)"
  mkdir "$dir/DEBIAN"
  printf 'Package: %s\nVersion: 99:0-nightshift\nArchitecture: all\nMaintainer: nightshift\nDescription: empty stand-in for %s (unused in the sandbox)\n' \
    "$name" "$name" > "$dir/DEBIAN/control"
  dpkg-deb --build "$dir" "$dir.deb" >/dev/null
  dpkg -i "$dir.deb" >/dev/null
  rm -rf "$dir" "$dir.deb"
done
