#!/bin/bash
# Runs every libFuzzer target for a while on a scratch copy of its seed
# corpus (tests/fuzz/corpus/<target>/; the repository is never written),
# building the fuzz configuration first if the build dir has none.
# Fails if any target reports a crash, a sanitizer error, a leak, a
# timeout or running out of memory.
#
# usage: tests/fuzz/run.sh [-B builddir] [seconds] [target ...]
#   seconds   per target; default $FUZZ_SECONDS, else 60
#   builddir  default $FUZZ_BUILD, else build-fuzz (in the repository)
#   target    fuzz-agent-msg fuzz-keyblob fuzz-store fuzz-keyfile
#             fuzz-p11-template fuzz-config fuzz-pinentry (default all)
# On failure the scratch directory, with the crashing inputs libFuzzer
# saved, is kept and named; set FUZZ_KEEP=1 to keep it always.
set -euo pipefail

ALL_TARGETS="fuzz-agent-msg fuzz-keyblob fuzz-store fuzz-keyfile fuzz-p11-template fuzz-config fuzz-pinentry"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}

usage() {
	echo "usage: $0 [-B builddir] [seconds] [target ...]" >&2
	exit 2
}

while getopts B:h opt; do
	case $opt in
	B) BUILD=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
	SECONDS_EACH=$1
	shift
fi
if ! [[ $SECONDS_EACH =~ ^[0-9]+$ ]] || [ "$SECONDS_EACH" -eq 0 ]; then
	echo "run.sh: seconds must be a positive integer" >&2
	exit 2
fi
TARGETS=${*:-$ALL_TARGETS}
for t in $TARGETS; do
	case " $ALL_TARGETS " in
	*" $t "*) ;;
	*) echo "run.sh: unknown target $t" >&2; usage ;;
	esac
done
case $BUILD in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac

if [ ! -f "$BUILD/build.ninja" ]; then
	echo "run.sh: configuring the fuzz build in $BUILD"
	CC=clang meson setup "$BUILD" "$ROOT" -Dfuzz=true -Dtests=false \
	    -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dc_args=-fsanitize=fuzzer-no-link >"$BUILD.setup.log" 2>&1 || {
		cat "$BUILD.setup.log" >&2
		echo "run.sh: meson setup failed" >&2
		exit 1
	}
	rm -f "$BUILD.setup.log"
fi
# shellcheck disable=SC2086 # one word per target
meson compile -C "$BUILD" $TARGETS >/dev/null || {
	echo "run.sh: building the fuzz targets in $BUILD failed" \
	    "(is it configured with -Dfuzz=true?)" >&2
	exit 1
}

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/kmes-fuzz.XXXXXX")
keep=${FUZZ_KEEP:-0}
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ "$keep" = 1 ]; then
		echo "run.sh: scratch directory kept: $SCRATCH"
	else
		rm -rf "$SCRATCH"
	fi
}
trap cleanup EXIT

# UBSan only prints by default: make it a crash libFuzzer records.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

failed=0
for t in $TARGETS; do
	exe=$BUILD/tests/fuzz/$t
	dir=$SCRATCH/$t
	mkdir -p "$dir/artifacts"
	cp -r "$ROOT/tests/fuzz/corpus/$t" "$dir/corpus"
	status=0
	"$exe" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$dir/artifacts/" "$dir/corpus" \
	    >"$dir/log" 2>&1 || status=$?
	# The last status line: "#N DONE cov: C ft: F corp: K/S ...".
	last=$(grep -E '^#[0-9]+' "$dir/log" | tail -n 1 || true)
	runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' \
	    "$dir/log" | tail -n 1)
	cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
	ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
	corp=$(sed -nE 's/.* corp: ([^ ]+).*/\1/p' <<<"$last")
	artifacts=$(find "$dir/artifacts" -type f -printf '%f ')
	if [ "$status" -eq 0 ] && [ -z "$artifacts" ]; then
		printf '%-15s ok    %s runs in %ss, cov %s, ft %s, corpus %s\n' \
		    "$t" "${runs:-?}" "$SECONDS_EACH" "${cov:-?}" "${ft:-?}" \
		    "${corp:-?}"
	else
		printf '%-15s FAIL  exit %s after %s runs, cov %s: %s\n' \
		    "$t" "$status" "${runs:-?}" "${cov:-?}" \
		    "${artifacts% }"
		grep -E 'ERROR|SUMMARY|invariant|leak:|runtime error' \
		    "$dir/log" | head -n 20 | sed 's/^/    /'
		echo "    log: $dir/log"
		failed=1
		keep=1
	fi
done
exit $failed
