# SoftHSM2 token fixtures and the PKCS#11 fault shim, for integration tests.
#
# Sourced after lib.sh (it uses $TMP, bounded, diag and bail_out). Every
# token lives under $TMP/softhsm, so the EXIT trap in lib.sh removes it; the
# user's own SoftHSM configuration is never read.
#
# Facts about the tools on Debian 12 (OpenSC 0.23.0, SoftHSM 2.6.1) that
# shaped these helpers:
#  - pkcs11-tool key types that work: rsa:2048, rsa:3072, EC:prime256v1,
#    EC:secp384r1, EC:secp521r1, EC:edwards25519.  "EC:ed25519" and
#    "EC:Ed25519" are refused ("Unknown EC key params") although --help
#    names ed25519; EC:curve25519 is refused by SoftHSM (no keygen for it).
#  - SoftHSM stores edwards25519 keys with CKA_EC_PARAMS as the
#    PrintableString "edwards25519" (13 0c 65..39), not the RFC 8410 OID,
#    and CKA_EC_POINT as a DER OCTET STRING (04 20 <32 bytes>).
#  - --id takes hex with an even number of digits ("Invalid ID" otherwise).
#  - --sign picks its key by --id only: with --label alone it signs with the
#    first private key on the token. Use --id.
#  - SoftHSM has plain ECDSA (hash first) and EDDSA, but no ECDSA-SHA256;
#    pkcs11-tool falls back to C_SignInit+C_SignUpdate after a failed
#    C_Sign, which SoftHSM refuses for one-shot mechanisms.
#  - --read-object --type pubkey cannot export an edwards25519 key
#    (softhsm_ssh_pubkey reads CKA_EC_POINT from the listing instead).
#  - --usage-decrypt does not take CKA_SIGN away: there is no "cannot sign"
#    key to be had from pkcs11-tool alone.

SOFTHSM_DIR=
SOFTHSM_MODULE=
SOFTHSM_SERIAL=

# _softhsm_die <message>: fail loudly.  In the main shell that is a TAP
# "Bail out!"; inside a command substitution or run() it is a diagnostic on
# stderr and exit 1, since a Bail out line on a captured stdout would be
# lost: callers write  x=$(softhsm_... ) || bail_out "..."
_softhsm_die() {
	if [ "${BASH_SUBSHELL:-0}" -gt 0 ]; then
		printf '# softhsm: %s\n' "$*" >&2
		exit 1
	fi
	bail_out "softhsm: $*"
}

# _softhsm_log_tail: show the last tool output (as TAP comments, stderr).
_softhsm_log_tail() {
	[ -s "$SOFTHSM_DIR/last.log" ] &&
		sed 's/^/#   /' "$SOFTHSM_DIR/last.log" | tail -n 20 >&2
	return 0
}

# _softhsm_run <cmd...>: bounded, output kept in $SOFTHSM_DIR/last.log and
# shown if the command fails.
# (timeout(1) cannot run shell functions; p11 bounds itself.)
_softhsm_run() {
	if declare -F -- "$1" >/dev/null; then
		"$@"
	else
		bounded "$@"
	fi >"$SOFTHSM_DIR/last.log" 2>&1 </dev/null && return 0
	_softhsm_log_tail
	return 1
}

# _softhsm_ready: softhsm_setup has run.
_softhsm_ready() {
	[ -n "$SOFTHSM_DIR" ] || _softhsm_die "call softhsm_setup first"
}

# p11 <token label> <pin> <pkcs11-tool args...>: pkcs11-tool on SoftHSM,
# logged in to that token, bounded.
p11() {
	local label=$1 pin=$2
	shift 2
	bounded pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$label" \
		--login --pin "$pin" "$@"
}

# softhsm_setup: a private SoftHSM2 (token directory $TMP/softhsm/tokens,
# file object store, errors only) and SOFTHSM2_CONF exported to use it.
# Sets SOFTHSM_DIR and SOFTHSM_MODULE.  Bails out if SoftHSM2 or the tools
# are missing.
softhsm_setup() {
	SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
	[ -r "$SOFTHSM_MODULE" ] ||
		bail_out "SoftHSM2 module not found: $SOFTHSM_MODULE (apt install softhsm2)"
	require softhsm2-util pkcs11-tool openssl xxd base64
	SOFTHSM_DIR=$TMP/softhsm
	mkdir -p "$SOFTHSM_DIR/tokens" || bail_out "cannot create $SOFTHSM_DIR"
	cat >"$SOFTHSM_DIR/softhsm2.conf" <<EOF
directories.tokendir = $SOFTHSM_DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
	export SOFTHSM2_CONF=$SOFTHSM_DIR/softhsm2.conf
}

# softhsm_init_token <label> <pin> [so-pin]: initialise a new token in the
# free slot and print its serial number (16 hex digits): capture it,
# serial=$(softhsm_init_token ...) || bail_out ..., or send it to /dev/null
# (it is not TAP) and read SOFTHSM_SERIAL, set when not run in a subshell.
softhsm_init_token() {
	local label=$1 pin=$2 so=${3:-so-$2} serial
	_softhsm_ready
	_softhsm_run softhsm2-util --init-token --free --label "$label" \
		--pin "$pin" --so-pin "$so" ||
		_softhsm_die "cannot initialise token '$label'"
	# Serial number precedes Label in each slot's "Token info" block.
	serial=$(bounded softhsm2-util --show-slots | awk -v want="$label" '
		/^ *Serial number:/ { s = $3 }
		/^ *Label:/ {
			sub(/^ *Label: */, ""); sub(/ *$/, "")
			if ($0 == want) print s
		}')
	case $serial in
	????????????????) ;;
	*)	_softhsm_die "no serial number for token '$label' (got '$serial')" ;;
	esac
	# shellcheck disable=SC2034 # for the scripts that source this file
	SOFTHSM_SERIAL=$serial
	printf '%s\n' "$serial"
}

# softhsm_keygen <token> <pin> <keytype> <id> <key label>: generate a key
# pair on the token.  keytype: rsa:<bits>, EC:prime256v1, EC:secp384r1,
# EC:secp521r1 or EC:edwards25519 (the spellings OpenSC 0.23 takes); id:
# hex, even number of digits.
softhsm_keygen() {
	local token=$1 pin=$2 type=$3 id=$4 klabel=$5
	_softhsm_ready
	case $type in
	rsa:[0-9]*|EC:prime256v1|EC:secp384r1|EC:secp521r1|EC:edwards25519) ;;
	EC:ed25519|EC:Ed25519)
		_softhsm_die "key type $type: OpenSC 0.23 wants EC:edwards25519" ;;
	*)	_softhsm_die "key type $type: not one this fixture knows works" ;;
	esac
	_softhsm_hex_id "$id"
	_softhsm_run p11 "$token" "$pin" --keypairgen --key-type "$type" \
		--id "$id" --label "$klabel" ||
		_softhsm_die "cannot generate $type key '$klabel' (id $id) on '$token'"
}

# _softhsm_hex_id <id>: pkcs11-tool refuses odd-length or non-hex IDs
# with a usage message; say so plainly instead.
_softhsm_hex_id() {
	case $1 in
	''|*[!0-9a-fA-F]*) _softhsm_die "id '$1' is not hex" ;;
	esac
	[ $((${#1} % 2)) -eq 0 ] || _softhsm_die "id '$1' has an odd number of hex digits"
}

# softhsm_import_key <token> <pin> <private key file> <id> <label>: store a
# private key made elsewhere (PEM or DER, e.g. by openssl genpkey) and its
# public key.  Imported keys are not CKA_LOCAL and, unlike generated ones,
# the private object carries no public-key attributes of its own.
softhsm_import_key() {
	local token=$1 pin=$2 key=$3 id=$4 klabel=$5
	_softhsm_ready
	_softhsm_hex_id "$id"
	{
		_softhsm_run openssl pkey -in "$key" -outform DER \
			-out "$SOFTHSM_DIR/import.der" &&
			_softhsm_run openssl pkey -in "$key" -pubout \
				-outform DER -out "$SOFTHSM_DIR/import.pub.der"
	} || _softhsm_die "openssl cannot read $key"
	_softhsm_run p11 "$token" "$pin" --write-object "$SOFTHSM_DIR/import.der" \
		--type privkey --id "$id" --label "$klabel" &&
		_softhsm_run p11 "$token" "$pin" --write-object \
			"$SOFTHSM_DIR/import.pub.der" --type pubkey --id "$id" \
			--label "$klabel"
	local rc=$?
	rm -f "$SOFTHSM_DIR/import.der" "$SOFTHSM_DIR/import.pub.der"
	[ $rc -eq 0 ] || _softhsm_die "cannot import $key as id $id on '$token'"
}

# softhsm_import_cert <token> <pin> <DER or PEM certificate> <id> <label>:
# store an X.509 certificate object.
softhsm_import_cert() {
	local token=$1 pin=$2 cert=$3 id=$4 clabel=$5
	_softhsm_ready
	_softhsm_hex_id "$id"
	_softhsm_run openssl x509 -in "$cert" -outform DER \
		-out "$SOFTHSM_DIR/cert.der" ||
		_softhsm_die "openssl cannot read certificate $cert"
	_softhsm_run p11 "$token" "$pin" --write-object "$SOFTHSM_DIR/cert.der" \
		--type cert --id "$id" --label "$clabel" ||
		_softhsm_die "cannot store certificate $cert as id $id on '$token'"
}

# softhsm_add_clutter <token> <pin>: objects a key listing must step over
# or cope with, at fixed IDs:
#   cc01  data object "clutter-data" (CKO_DATA, no ID attribute)
#   cc02  certificate "clutter-cert", whose key is on no token
#   cc03  AES-256 secret key "clutter-aes"
#   cc04  P-256 key pair with an empty label
#   cc05  P-256 private key "clutter-privonly" whose public object is gone
#   cc06  P-256 public key "clutter-pubonly" with no private key
softhsm_add_clutter() {
	local token=$1 pin=$2 d
	_softhsm_ready
	d=$SOFTHSM_DIR/clutter
	mkdir -p "$d"
	printf 'not a key\n' >"$d/data.txt"
	_softhsm_run p11 "$token" "$pin" --write-object "$d/data.txt" \
		--type data --label clutter-data ||
		_softhsm_die "cannot add a data object to '$token'"

	_softhsm_run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$d/cert.key" -out "$d/cert.pem" -days 2 \
		-subj /CN=kmes-clutter || _softhsm_die "openssl cannot make a certificate"
	softhsm_import_cert "$token" "$pin" "$d/cert.pem" cc02 clutter-cert

	_softhsm_run p11 "$token" "$pin" --keygen --key-type AES:32 --id cc03 \
		--label clutter-aes ||
		_softhsm_die "cannot add an AES key to '$token'"

	_softhsm_run p11 "$token" "$pin" --keypairgen --key-type EC:prime256v1 \
		--id cc04 --label '' ||
		_softhsm_die "cannot add an unlabelled key to '$token'"

	softhsm_keygen "$token" "$pin" EC:prime256v1 cc05 clutter-privonly
	_softhsm_run p11 "$token" "$pin" --delete-object --type pubkey --id cc05 ||
		_softhsm_die "cannot delete the public half of cc05 on '$token'"

	{
		_softhsm_run openssl genpkey -algorithm EC \
			-pkeyopt ec_paramgen_curve:P-256 -out "$d/pubonly.key" &&
			_softhsm_run openssl pkey -in "$d/pubonly.key" -pubout \
				-outform DER -out "$d/pubonly.der"
	} || _softhsm_die "openssl cannot make a P-256 key"
	_softhsm_run p11 "$token" "$pin" --write-object "$d/pubonly.der" \
		--type pubkey --id cc06 --label clutter-pubonly ||
		_softhsm_die "cannot add a lone public key to '$token'"
	rm -rf "$d"
}

# softhsm_objects <token> <pin>: pkcs11-tool -O on the token (stdout).
softhsm_objects() {
	p11 "$1" "$2" -O 2>/dev/null
}

# _hex <text>: the bytes of text as one line of hex.
_hex() {
	printf '%s' "$1" | xxd -p | tr -d '\n'
}

# _ssh_string <hex>: an SSH wire string (u32 length, bytes) in hex.
_ssh_string() {
	printf '%08x%s' $((${#1} / 2)) "$1"
}

# softhsm_ssh_pubkey <token> <pin> <id>: print the key pair's public key as
# an OpenSSH public key line (RSA, ECDSA P-256/384/521, Ed25519), so a test
# can compare it with what the agent lists.
softhsm_ssh_pubkey() {
	local token=$1 pin=$2 id=$3 d obj kind params point curve blob
	_softhsm_ready
	d=$SOFTHSM_DIR/pub.$$
	# "<kind> <EC_PARAMS> <EC_POINT>" of the public key object with that id.
	obj=$(softhsm_objects "$token" "$pin" | awk -v want="$id" '
		/^[A-Za-z].*Object;/ {
			pub = ($0 ~ /^Public Key Object;/)
			kind = $4; pa = "-"; pt = "-"
		}
		pub && /^ *EC_PARAMS:/ { pa = $2 }
		pub && /^ *EC_POINT:/ { pt = $2 }
		pub && /^ *ID:/ && $2 == want { print kind, pa, pt; exit }')
	read -r kind params point <<<"$obj"
	case ${kind:-} in
	RSA)
		# The one type pkcs11-tool exports well (it fails on P-384 and
		# edwards25519 with "cannot create EVP_PKEY").
		{
			p11 "$token" "$pin" --read-object --type pubkey --id "$id" \
				-o "$d.der" >/dev/null 2>&1 </dev/null &&
				openssl pkey -pubin -inform DER -in "$d.der" \
					-out "$d.pem" 2>/dev/null &&
				ssh-keygen -i -m PKCS8 -f "$d.pem"
		} || { rm -f "$d.der" "$d.pem"; _softhsm_die "cannot export RSA key $id"; }
		rm -f "$d.der" "$d.pem"
		return 0 ;;
	EC|EC_EDWARDS) ;;
	*)	_softhsm_die "no public key with id $id on '$token'" ;;
	esac
	# CKA_EC_POINT is a DER OCTET STRING: drop its tag and length.
	case $point in
	0481*)	point=${point:6} ;;
	0482*)	point=${point:8} ;;
	04*)	point=${point:4} ;;
	esac
	case $params in
	06082a8648ce3d030107) curve=nistp256 ;;
	06052b81040022) curve=nistp384 ;;
	06052b81040023) curve=nistp521 ;;
	130c656477617264733235353139|06032b6570) curve=ed25519 ;;
	*)	_softhsm_die "key $id: unknown EC_PARAMS $params" ;;
	esac
	if [ $curve = ed25519 ]; then
		[ ${#point} -eq 64 ] || _softhsm_die "key $id: bad Ed25519 point"
		blob=$(_ssh_string "$(_hex ssh-ed25519)")$(_ssh_string "$point")
		printf 'ssh-ed25519 '
	else
		blob=$(_ssh_string "$(_hex "ecdsa-sha2-$curve")")
		blob=$blob$(_ssh_string "$(_hex "$curve")")
		blob=$blob$(_ssh_string "$point")
		printf 'ecdsa-sha2-%s ' "$curve"
	fi
	printf '%s' "$blob" | xxd -r -p | base64 -w0
	echo
}

# ----------------------------------------------------------- the fault shim

SHIM_CTL=

# shim_setup: check $SHIM_MODULE (the built libkmes-p11-shim.so) and point
# it at SoftHSM with an empty rule set.  Exports KMES_SHIM_MODULE and
# KMES_SHIM_CTL (=$SHIM_CTL) for every process started afterwards.
shim_setup() {
	_softhsm_ready
	[ -n "${SHIM_MODULE:-}" ] ||
		bail_out "SHIM_MODULE must name the built libkmes-p11-shim.so"
	[ -r "$SHIM_MODULE" ] || bail_out "SHIM_MODULE not found: $SHIM_MODULE"
	case $SHIM_MODULE in
	/*) ;;
	*) SHIM_MODULE=$PWD/$SHIM_MODULE ;;
	esac
	export KMES_SHIM_MODULE=$SOFTHSM_MODULE
	SHIM_CTL=$SOFTHSM_DIR/shim.ctl
	export KMES_SHIM_CTL=$SHIM_CTL
	shim_rules ''
}

# shim_rules [rule...]: replace the shim's rules, one argument per line
# ("C_Sign rv=CKR_DEVICE_ERROR once"); no arguments: pass-through.  Written
# to a temporary file and renamed, so a call in flight never reads half a
# rule set.
shim_rules() {
	[ -n "$SHIM_CTL" ] || _softhsm_die "call shim_setup first"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >"$SHIM_CTL.new"
	else
		: >"$SHIM_CTL.new"
	fi
	mv -f "$SHIM_CTL.new" "$SHIM_CTL" || _softhsm_die "cannot write $SHIM_CTL"
}

# shim_rules_left: the rules still in the control file (comments and blank
# lines dropped), e.g. to see that a "once" rule was consumed.
shim_rules_left() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$SHIM_CTL"
}
