#!/bin/bash
# What "meson install" puts on a system: the two programs, the PKCS#11
# module (exporting only the C_Get* entry points) with its p11-kit
# registration, every man page of man/meson.build, and the systemd user
# units naming the installed agent, and nothing else, nowhere else.  Every
# installed page renders without a groff warning and is mandoc-lint
# clean, the units pass systemd-analyze verify, and the installed programs
# run.
#
# The build directory is installed as it is (--no-rebuild) into a private
# DESTDIR: meson then only reads the build and writes its install log, so
# tests running at the same time see nothing change.
#
# Run: BUILD_ROOT=build SOURCE_ROOT=. MESON=meson AGENT=build/src/kmes-agent \
#      bash tests/integration/test-install.sh

. "$(dirname "$0")/lib.sh"

[ -n "${BUILD_ROOT:-}" ] || bail_out "BUILD_ROOT is not set"
[ -n "${SOURCE_ROOT:-}" ] || bail_out "SOURCE_ROOT is not set"
MESON=${MESON:-meson}
require "$MESON" python3 nm readelf find
BUILD_ROOT=$(cd "$BUILD_ROOT" && pwd) || bail_out "no build directory"

DEST=$TMP/dest

# ------------------------------------------------ what the build configured
"$MESON" introspect "$BUILD_ROOT" --buildoptions >"$TMP/options.json" ||
	bail_out "meson introspect --buildoptions failed"

# opt <name>: the value of a build option (booleans as true/false).
opt() {
	python3 - "$TMP/options.json" "$1" <<'EOF'
import json, sys
for o in json.load(open(sys.argv[1])):
    if o["name"] == sys.argv[2]:
        v = o["value"]
        print(str(v).lower() if isinstance(v, bool) else v)
        break
else:
    sys.exit(1)
EOF
}

PREFIX=$(opt prefix) || bail_out "no prefix option"
# under_prefix <dir option value>: meson allows relative (to the prefix)
# or absolute directories.
under_prefix() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$PREFIX/$1" ;;
	esac
}
BINDIR=$(under_prefix "$(opt bindir)")
LIBDIR=$(under_prefix "$(opt libdir)")
DATADIR=$(under_prefix "$(opt datadir)")
MANDIR=$(under_prefix "$(opt mandir)")
UNITDIR=$(opt systemd_user_unit_dir) || bail_out "no systemd_user_unit_dir option"
[ -n "$UNITDIR" ] || UNITDIR=$PREFIX/lib/systemd/user
WITH_MAN=$(opt man)
diag "prefix $PREFIX, libdir $LIBDIR, units in $UNITDIR, man pages: $WITH_MAN"

# The man pages man/meson.build installs, read from its man_pages list.
MAN_PAGES=$(sed -n '/^man_pages *=/,/\]/p' "$SOURCE_ROOT/man/meson.build" |
	grep -o "'[^']*\.[1-9]'" | tr -d "'" | sort)
[ -n "$MAN_PAGES" ] || bail_out "no man_pages list in man/meson.build"

# ------------------------------------------------------------ the install
# Installed build outputs must not be touched (no relink, no regeneration)
# while other tests run them.
BUILT="$BUILD_ROOT/build.ninja $BUILD_ROOT/src/kmes-agent
	$BUILD_ROOT/src/keytool/kmes-keytool
	$BUILD_ROOT/keystore/pkcs11/libkmes-pkcs11.so
	$BUILD_ROOT/systemd/kmes-agent.service"
stamps() {
	local f
	for f in $BUILT; do
		stat -c '%n %Y.%y %s' "$f" 2>&1
	done
}
before=$(stamps)
expect_ok "meson install --no-rebuild --destdir succeeds" \
	"$MESON" install -C "$BUILD_ROOT" --no-rebuild --quiet --destdir "$DEST"
[ -d "$DEST$PREFIX" ] || bail_out "nothing was installed under $DEST$PREFIX"
expect_eq "installing leaves the build directory's outputs untouched" \
	"$before" "$(stamps)"

# ----------------------------------------------- every file, and no other
{
	echo "$BINDIR/kmes-agent"
	echo "$BINDIR/kmes-keytool"
	echo "$LIBDIR/pkcs11/libkmes-pkcs11.so"
	echo "$DATADIR/p11-kit/modules/kmes.module"
	echo "$UNITDIR/kmes-agent.socket"
	echo "$UNITDIR/kmes-agent.service"
	if [ "$WITH_MAN" = true ]; then
		for p in $MAN_PAGES; do
			echo "$MANDIR/man${p##*.}/$p"
		done
	fi
} | sort >"$TMP/expected"
(cd "$DEST" && find . ! -type d | sed 's|^\.||' | sort) >"$TMP/installed"
missing=$(comm -23 "$TMP/expected" "$TMP/installed")
extra=$(comm -13 "$TMP/expected" "$TMP/installed")
expect_eq "every expected file is installed" "" "$missing"
expect_eq "nothing else is installed" "" "$extra"

# inside <path> <dir>: path is dir or below it.
inside() {
	case $1/ in
	"$2"/*) return 0 ;;
	esac
	return 1
}
outside=
while IFS= read -r d; do
	[ -z "$d" ] && continue
	inside "$d" "$PREFIX" && continue
	inside "$d" "$UNITDIR" && continue
	# Parents of the prefix or of the unit directory (/usr, /usr/lib).
	inside "$PREFIX" "$d" && continue
	inside "$UNITDIR" "$d" && continue
	outside="$outside $d"
done < <(cd "$DEST" && find . | sed 's|^\.||')
expect_eq "nothing is created outside the prefix and the unit directory" \
	"" "${outside# }"

for f in "$BINDIR/kmes-agent" "$BINDIR/kmes-keytool"; do
	if [ -f "$DEST$f" ] && [ -x "$DEST$f" ]; then
		pass "$(basename "$f") is installed executable in $BINDIR"
	else
		fail "$(basename "$f") is installed executable in $BINDIR"
	fi
	expect_no_match "$(basename "$f") carries no RPATH into the build directory" \
		"$BUILD_ROOT" "$(readelf -d "$DEST$f" 2>&1 | grep -E 'R(UN)?PATH')"
done

# --------------------------------------------------- the PKCS#11 module
SO=$DEST$LIBDIR/pkcs11/libkmes-pkcs11.so
expect_eq "libkmes-pkcs11.so exports only the C_Get* entry points" \
	"C_GetFunctionList C_GetInterface C_GetInterfaceList" \
	"$(nm -D --defined-only "$SO" 2>&1 | awk '{ print $NF }' |
		sort | xargs)"
if command -v pkcs11-tool >/dev/null; then
	# No store exists in $TMP, so no slot has a token; C_GetInfo answers.
	(
		preload_sanitizer_of "$SO" >/dev/null
		export HOME=$TMP/home XDG_DATA_HOME=$TMP/home/data
		unset KMES_STORE
		run pkcs11-tool --module "$SO" --show-info
		printf '%s\n' "$OUT"
	) >"$TMP/p11info" 2>&1
	expect_match "the installed module loads and identifies itself (pkcs11-tool)" \
		'^Manufacturer +kmes-agent' "$(cat "$TMP/p11info")"
fi

MODFILE=$DEST$DATADIR/p11-kit/modules/kmes.module
module=$(sed -n 's/^module:[[:space:]]*//p' "$MODFILE" 2>/dev/null)
expect_eq "kmes.module names the installed module by its full path" \
	"$LIBDIR/pkcs11/libkmes-pkcs11.so" "${module:-none}"
expect_ok "and that file is installed" test -f "$DEST${module:-/none}"

# ------------------------------------------------------- the systemd units
SERVICE=$DEST$UNITDIR/kmes-agent.service
SOCKET=$DEST$UNITDIR/kmes-agent.socket
expect_eq "the service runs the installed agent in the foreground" \
	"ExecStart=$BINDIR/kmes-agent -D" "$(grep '^ExecStart=' "$SERVICE" 2>&1)"
expect_no_match "no @placeholder@ is left in the installed service" \
	'@[A-Za-z_]+@' "$(cat "$SERVICE" 2>&1)"
expect_eq "the socket listens in the user's runtime directory" \
	"ListenStream=%t/kmes-agent/socket" "$(grep '^ListenStream=' "$SOCKET" 2>&1)"
expect_eq "the socket is created mode 0600 in a 0700 directory" \
	"SocketMode=0600 DirectoryMode=0700" \
	"$(grep -E '^(SocketMode|DirectoryMode)=' "$SOCKET" 2>&1 | xargs)"
expect_eq "enabling the service enables the socket (Also=)" \
	"Also=kmes-agent.socket" "$(grep '^Also=' "$SERVICE" 2>&1)"
expect_eq "the socket is wanted by sockets.target" \
	"WantedBy=sockets.target" "$(grep '^WantedBy=' "$SOCKET" 2>&1)"

# systemd-analyze needs no running manager, only a runtime directory; it
# checks that ExecStart's program exists, so a copy of the service names
# the DESTDIR agent, and it looks up Documentation= with man(1).
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$TMP/units" "$TMP/xrt"
	cp "$SOCKET" "$SERVICE" "$TMP/units/" 2>/dev/null
	sed -i "s|^ExecStart=$BINDIR/|ExecStart=$DEST$BINDIR/|" \
		"$TMP/units/kmes-agent.service"
	man_arg=--man=yes
	[ "$WITH_MAN" = true ] || man_arg=--man=no
	run env XDG_RUNTIME_DIR="$TMP/xrt" MANPATH="$DEST$MANDIR" \
		systemd-analyze --user "$man_arg" verify \
		"$TMP/units/kmes-agent.socket" "$TMP/units/kmes-agent.service"
	if [ "$RC" -eq 0 ] && [ -z "$ERR" ]; then
		pass "systemd-analyze --user verify accepts both units without a warning"
	else
		fail "systemd-analyze --user verify accepts both units without a warning"
		_show_last systemd-analyze verify
	fi
else
	bail_out "systemd-analyze not found (package systemd, see .ci/deps)"
fi

# A real user manager, when this test may run one: root, a private mount
# namespace in which /run/systemd/system exists (systemd --user insists on
# a system booted with systemd), and the runtime directory under $TMP.
# Everything it starts is stopped through "systemctl --user exit".
SD_BIN=
for b in /usr/lib/systemd/systemd /lib/systemd/systemd; do
	[ -x "$b" ] && SD_BIN=$b && break
done
SD_CHECKS="socket-started socket-modes print-socket activated service-pid
	no-new-privs seccomp no-core key-listed socket-kept reactivated
	socket-removed"
sd_desc() {
	case $1 in
	socket-started) echo "systemctl --user start kmes-agent.socket succeeds" ;;
	socket-modes) echo "the manager creates the socket 0600 in a 0700 directory" ;;
	print-socket) echo "kmes-agent --print-socket names the socket the unit listens on" ;;
	activated) echo "the first ssh-add -l starts kmes-agent.service and is answered" ;;
	service-pid) echo "the service's main process is the installed agent" ;;
	no-new-privs) echo "the service runs with no_new_privs" ;;
	seccomp) echo "the service's seccomp filters are in force" ;;
	no-core) echo "the service's core file limit is 0" ;;
	key-listed) echo "a key added through the unit's socket is listed" ;;
	socket-kept) echo "stopping the service leaves the socket file in place" ;;
	reactivated) echo "the next connection starts a fresh agent" ;;
	socket-removed) echo "stopping the socket unit removes the socket file" ;;
	esac
}
cat >"$TMP/sd-user.sh" <<'SDEOF'
# Runs in a private mount namespace; $1 results file, $2 unit dir, $3
# runtime dir, $4 installed agent, $5 key, $6 manager log, $7 systemd.
out=$1 units=$2 rt=$3 agent=$4 key=$5 log=$6 sd_bin=$7
res() { echo "$1 0" >>"$out"; }
mkdir -p "$rt/fake-run-systemd/system"
if [ -d /run/systemd ]; then
	mount --bind "$rt/fake-run-systemd" /run/systemd || exit 77
else
	{ mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system; } || exit 77
fi
export XDG_RUNTIME_DIR=$rt SYSTEMD_UNIT_PATH=$units:
"$sd_bin" --user --log-target=console --log-level=warning >"$log" 2>&1 &
sd=$!
stop_manager() {
	timeout 10 systemctl --user exit >/dev/null 2>&1
	n=0
	while kill -0 "$sd" 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -KILL "$sd" 2>/dev/null
	wait "$sd" 2>/dev/null
}
trap stop_manager EXIT
n=0
until [ -S "$rt/systemd/private" ]; do
	{ kill -0 "$sd" 2>/dev/null && [ $n -lt 100 ]; } || exit 77
	sleep 0.1
	n=$((n + 1))
done
timeout 10 systemctl --user start kmes-agent.socket && res socket-started
sock=$rt/kmes-agent/socket
[ "$(stat -c %a "$sock")" = 600 ] && [ "$(stat -c %a "$rt/kmes-agent")" = 700 ] &&
	res socket-modes
[ "$(XDG_RUNTIME_DIR=$rt "$agent" --print-socket)" = "$sock" ] && res print-socket
export SSH_AUTH_SOCK=$sock
timeout 10 ssh-add -l >/dev/null 2>&1
[ $? -eq 1 ] && res activated
pid=$(timeout 10 systemctl --user show -p MainPID --value kmes-agent.service)
[ "$(readlink -f "/proc/$pid/exe")" = "$(readlink -f "$agent")" ] && res service-pid
grep -Eq '^NoNewPrivs:[[:space:]]+1$' "/proc/$pid/status" && res no-new-privs
grep -Eq '^Seccomp:[[:space:]]+2$' "/proc/$pid/status" && res seccomp
grep -Eq '^Max core file size +0 +0 ' "/proc/$pid/limits" && res no-core
timeout 10 ssh-add -q "$key" 2>/dev/null &&
	timeout 10 ssh-add -l 2>/dev/null | grep -q sd-user-key && res key-listed
timeout 10 systemctl --user stop kmes-agent.service 2>/dev/null
[ -S "$sock" ] && res socket-kept
timeout 10 ssh-add -l >/dev/null 2>&1
[ $? -eq 1 ] && res reactivated
timeout 10 systemctl --user stop kmes-agent.socket kmes-agent.service 2>/dev/null
[ ! -e "$sock" ] && res socket-removed
exit 0
SDEOF
sd_rc=77
if [ "$(id -u)" -eq 0 ] && [ -n "$SD_BIN" ] && [ -d "$TMP/units" ] &&
	command -v unshare >/dev/null &&
	unshare -m --propagation private true 2>/dev/null; then
	mkdir -p "$TMP/sd-units" "$TMP/sd-rt"
	chmod 0700 "$TMP/sd-rt"
	cp "$TMP/units/kmes-agent.socket" "$TMP/units/kmes-agent.service" \
		"$TMP/sd-units/"
	gen_key ed25519 "$TMP/sd-key" sd-user-key
	: >"$TMP/sd-results"
	timeout -k 5 90 unshare -m --propagation private bash "$TMP/sd-user.sh" \
		"$TMP/sd-results" "$TMP/sd-units" "$TMP/sd-rt" \
		"$DEST$BINDIR/kmes-agent" "$TMP/sd-key" "$TMP/sd-manager.log" \
		"$SD_BIN" </dev/null >/dev/null 2>&1
	sd_rc=$?
fi
if [ "$sd_rc" -ne 77 ]; then
	for c in $SD_CHECKS; do
		if grep -qx "$c 0" "$TMP/sd-results"; then
			pass "systemd --user: $(sd_desc "$c")"
		else
			fail "systemd --user: $(sd_desc "$c")"
		fi
	done
	grep -qx 'activated 0' "$TMP/sd-results" || diag_file "$TMP/sd-manager.log"
else
	# Not a skip: without the manager these promises are unchecked.
	for c in $SD_CHECKS; do
		fail "systemd --user: $(sd_desc "$c")" \
			"no private systemd --user could be started here (needs root and unshare)"
	done
	diag_file "$TMP/sd-manager.log"
fi

# ------------------------------------------------------------- man pages
if [ "$WITH_MAN" = true ]; then
	require man mandoc
	for p in $MAN_PAGES; do
		page=$DEST$MANDIR/man${p##*.}/$p
		run env MANWIDTH=80 man --warnings -l "$page"
		if [ "$RC" -eq 0 ] && [ -z "$ERR" ] && [ -n "$OUT" ]; then
			pass "$p renders with man -l and no groff warning"
		else
			fail "$p renders with man -l and no groff warning"
			_show_last man --warnings -l "$page"
		fi
		run mandoc -T lint -W warning "$page"
		expect_eq "$p is mandoc -T lint clean" "" "$OUT$ERR"
		# Cross-references to the project's own pages must resolve.
		sed -n 's/^\.Xr \(kmes[^ ]*\) \([1-9]\).*/\1.\2/p' "$page" |
			sort -u >"$TMP/xrefs"
		while IFS= read -r x; do
			if printf '%s\n' "$MAN_PAGES" | grep -Fxq -- "$x"; then
				pass "$p refers to ${x%.*}(${x##*.}), which is installed"
			else
				fail "$p refers to ${x%.*}(${x##*.}), which is installed"
			fi
		done <"$TMP/xrefs"
	done
fi

# -------------------------------------------------- the installed programs
IAGENT=$DEST$BINDIR/kmes-agent
IKEYTOOL=$DEST$BINDIR/kmes-keytool
run "$IAGENT" --help
if { [ "$RC" -eq 0 ] || [ "$RC" -eq 1 ]; } &&
	printf '%s\n' "$OUT$ERR" | grep -q '^usage: kmes-agent'; then
	pass "the installed kmes-agent runs and prints its usage"
else
	fail "the installed kmes-agent runs and prints its usage"
	_show_last "$IAGENT" --help
fi
version=$("$MESON" introspect "$BUILD_ROOT" --projectinfo |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
run "$IKEYTOOL" --version
expect_eq "the installed kmes-keytool reports the project version" \
	"kmes-keytool $version" "$OUT"

run env XDG_RUNTIME_DIR=/run/user/4242 "$IAGENT" --print-socket
expect_eq "the installed kmes-agent --print-socket names the socket unit's path" \
	"0 /run/user/4242/kmes-agent/socket" "$RC $OUT"

# The installed agent serves: a key added with ssh-add is listed.
gen_key ed25519 "$TMP/id" install-ed25519
AGENT=$IAGENT start_agent installed
expect_ok "ssh-add adds a key to the installed agent" ssh-add -q "$TMP/id"
expect_ok "the installed agent lists it" agent_has "$(fingerprint "$TMP/id.pub")"
stop_pid "$AGENT_PID"

done_testing
