#!/bin/sh
# layers.sh LIBRARY: the daemon's files call only downwards.
#
# Reads which symbols each object file of libkmes-agentd.a defines and
# which it uses (nm: calls and function pointers alike, as the linker sees
# them) and checks every use against the layers below, the picture in the
# README's "Layout" section. A file may use a file of a lower layer; within
# a layer only the leaf services (0) and the handlers (4) use each other,
# and a feature (3) never uses another feature. A file missing from the
# table fails the check: a new file is placed on purpose.
#
#   layer 0  services: no loop, no request
#   layer 1  the loops (sockets and time)
#   layer 2  clients and requests, and what serves them
#   layer 3  features: each takes a request and ends it
#   layer 4  handlers: one per message, above the features
#
# Run by hand: sh tests/lint/layers.sh build/src/libkmes-agentd.a
set -u
lib=${1:?usage: layers.sh libkmes-agentd.a}
[ -f "$lib" ] || { echo "Bail out! no library $lib"; exit 1; }

layer_of() {
	case $1 in
	util|log|audit|ratelimit|workers|pinentry|readpass|module-check|\
	config|listen|p11-helper|guess|policy) echo 0 ;;
	loop|loopset) echo 1 ;;
	request|askpass|agent-store) echo 2 ;;
	store-unlock|lock|prov|prov-sign) echo 3 ;;
	sign|dispatch|smartcard|login) echo 4 ;;
	*) echo x ;;
	esac
}

# Files that are one module split in two, with a private header.
group_of() {
	case $1 in
	loop|loopset) echo loop ;;
	prov|prov-sign) echo prov ;;
	*) echo "$1" ;;
	esac
}

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# "file symbol" for each global definition and each use.
nm -A -g --defined-only "$lib" 2>/dev/null |
    sed -n 's/^[^:]*:\([^:]*\/\)\{0,1\}\([^:/]*\)\.c\.o:[0-9a-f]* [TDBRV] \(.*\)$/\2 \3/p' |
    sort -k2 >"$tmp/defs"
nm -A -u "$lib" 2>/dev/null |
    sed -n 's/^[^:]*:\([^:]*\/\)\{0,1\}\([^:/]*\)\.c\.o: *U \(.*\)$/\2 \3/p' |
    sort -k2 >"$tmp/uses"
[ -s "$tmp/defs" ] || { echo "Bail out! nm found no definitions in $lib"; exit 1; }

# "user definer symbol" for every use of a symbol defined in the library.
join -1 2 -2 2 -o 1.1,2.1,0 "$tmp/uses" "$tmp/defs" | sort -u >"$tmp/edges"

n=0
fail=0
files=$(cut -d' ' -f1 "$tmp/defs" | sort -u)
for f in $files; do
	n=$((n + 1))
	if [ "$(layer_of "$f")" = x ]; then
		echo "not ok $n - $f.c is placed in a layer"
		fail=1
		continue
	fi
	bad=$(while read -r user def sym; do
		[ "$user" = "$f" ] || continue
		[ "$def" = "$f" ] && continue
		lu=$(layer_of "$user")
		ld=$(layer_of "$def")
		[ "$(group_of "$user")" = "$(group_of "$def")" ] && continue
		[ "$ld" = x ] && { echo "$sym ($def.c: no layer)"; continue; }
		[ "$ld" -lt "$lu" ] && continue
		if [ "$ld" -eq "$lu" ] && { [ "$lu" -eq 0 ] || [ "$lu" -eq 4 ]; }
		then
			continue
		fi
		echo "$sym ($def.c, layer $ld)"
	done <"$tmp/edges")
	if [ -n "$bad" ]; then
		echo "not ok $n - $f.c (layer $(layer_of "$f")) uses only lower layers"
		echo "$bad" | sed 's/^/# uses /'
		fail=1
	else
		echo "ok $n - $f.c (layer $(layer_of "$f")) uses only lower layers"
	fi
done
echo "1..$n"
exit $fail
