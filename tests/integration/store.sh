# store.sh: a scratch key store for a test (source it after lib.sh).
#
# store_init <label>: STORE (exported as KMES_STORE), PIN and SOPIN are
# set, the store is created with a cheap KDF (what is tested is what the
# programs do with a store, not scrypt), and kt / kt_pin run KEYTOOL on
# it without / with the PIN. RC/OUT/ERR are init's.
# shellcheck shell=bash

[ -x "${KEYTOOL:-}" ] || bail_out "KEYTOOL is not set to kmes-keytool"

STORE=$TMP/store/keystore
PIN=246813
SOPIN=97531864
export KMES_STORE=$STORE

kt() {
	bounded "$KEYTOOL" --store "$STORE" "$@"
}

kt_pin() {
	bounded "$KEYTOOL" --store "$STORE" --pin-fd 3 "$@" 3<<<"$PIN"
}

store_init() {
	mkdir -p "$TMP/store"
	run kt --pin-fd 3 --so-pin-fd 4 init --label "$1" --kdf-cost 10 \
		3<<<"$PIN" 4<<<"$SOPIN"
}
