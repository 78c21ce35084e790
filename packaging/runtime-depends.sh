#!/bin/sh
# The Debian packages the installed agent runs (not its tests), one place for the .deb's
# Depends: every deps/apt/*.txt except the lists of the harness, the simulator, the system
# tests and the packaging tools, up to the list's first "tests only" comment, leaving out lines
# marked "tests only" and Essential packages (always there; lintian refuses them unversioned).
# Prints them comma-separated, sorted: `packaging/runtime-depends.sh [DEPS_DIR]`.
set -eu
dir=${1:-deps/apt}
for list in "$dir"/*.txt; do
	case ${list##*/} in base.txt | fabric.txt | system*.txt | packaging.txt) continue ;; esac
	awk '/^#.*tests( and [a-z]+)? only/ { exit }
		/#.*tests( and [a-z]+)? only/ { next }
		{ sub(/#.*/, ""); for (i = 1; i <= NF; i++) print $i }' "$list"
done | sort -u | while read -r pkg; do
	[ "$(dpkg-query -W -f='${Essential}' "$pkg" 2>/dev/null)" = yes ] || echo "$pkg"
done | paste -sd, - | sed 's/,/, /g'
