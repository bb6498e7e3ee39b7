#!/usr/bin/env bash
# The benchmark's fanferro environment: a Python >= 3.12 built from Debian's source and a venv with fanferro.
#
# fanferro (a contender in `make bench`) needs Python >= 3.12; this machine's python3 may be older and the only
# package sources are PyPI, npm and Debian's archive. So CPython is built from Debian trixie's python3.13 source
# package (the upstream tarball in it, checksummed by apt against the signed Sources index), through a private apt
# configuration under the cache directory: the system's apt sources, pins and lists are never touched, and
# nothing is installed from trixie. The build links against this machine's libc and libraries (plain
# ./configure, no PGO/LTO: a few minutes on two cores).
#
# Idempotent: an interpreter that already works is reused, and the venv is rebuilt only when its requirements
# change. Prints what it did; exits non-zero with the reason when something cannot be had (the benchmark then
# runs without fanferro and says why).
#
# Environment: FANFERRO_CACHE (default .cache/python3.13), FANFERRO_VENV (default .venv-fanferro),
# FANFERRO_REQUIREMENTS (default "fanferro==0.5.0"), JOBS (make -j, default the number of cores).
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${FANFERRO_CACHE:-$REPO/.cache/python3.13}
VENV=${FANFERRO_VENV:-$REPO/.venv-fanferro}
REQUIREMENTS=${FANFERRO_REQUIREMENTS:-fanferro==0.5.0}
JOBS=${JOBS:-$(nproc 2> /dev/null || echo 2)}
SOURCE_PACKAGE=python3.13
SUITE=trixie
PREFIX=$CACHE/install
PYTHON=$PREFIX/bin/python3.13
# The modules the venv and fanferro's driver need; a build missing one of them is not reused
CHECK_MODULES="import ssl, sqlite3, ctypes, zlib, bz2, lzma, asyncio, ensurepip, venv"

say() { echo "fanferro_env: $*"; }
# The reason is also left where the benchmark reads it, to say why it ran without fanferro
FAILED=$REPO/.cache/fanferro_env.failed
fail() {
	echo "fanferro_env: FAILED: $*" >&2
	mkdir -p "$(dirname "$FAILED")" && echo "scripts/fanferro_env.sh failed: $*" > "$FAILED"
	exit 1
}
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo > /dev/null; then
		sudo "$@"
	else
		return 1
	fi
}

interpreter_works() {
	[ -x "$PYTHON" ] && "$PYTHON" -c "$CHECK_MODULES" 2> /dev/null
}

# Debian's -dev packages the build needs (from the system's own sources: bookworm), installed only if missing
ensure_build_deps() {
	local needed=(gcc make xz-utils libssl-dev zlib1g-dev libffi-dev libsqlite3-dev libbz2-dev liblzma-dev
		libreadline-dev libncurses-dev)
	local missing=()
	for package in "${needed[@]}"; do
		dpkg-query -W -f '${Status}' "$package" 2> /dev/null | grep -q 'install ok installed' || missing+=("$package")
	done
	[ ${#missing[@]} = 0 ] && return 0
	say "installing the build's missing packages from the system's apt sources: ${missing[*]}"
	as_root apt-get update -qq > /dev/null &&
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --no-install-recommends "${missing[@]}" \
			> /dev/null ||
		fail "could not install ${missing[*]} (needs apt-get and root or sudo)"
}

# The upstream tarball of Debian's source package, downloaded through a private apt configuration
download_source() {
	command -v apt-get > /dev/null || fail "no apt-get: cannot fetch Debian's $SOURCE_PACKAGE source package"
	local apt=$CACHE/apt
	mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$CACHE/src"
	cat > "$apt/sources.list.d/$SUITE-src.sources" <<- EOF
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: $SUITE
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	local options=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root")
	say "reading Debian $SUITE's source index (a private apt configuration in $apt)"
	apt-get "${options[@]}" update -qq > "$apt/update.log" 2>&1 ||
		fail "apt-get update of Debian $SUITE's deb-src index failed (no access to deb.debian.org?): $(tail -3 "$apt/update.log")"
	say "downloading Debian $SUITE's $SOURCE_PACKAGE source package"
	(cd "$CACHE/src" && apt-get "${options[@]}" source --download-only -qq "$SOURCE_PACKAGE") > "$apt/source.log" 2>&1 ||
		fail "apt-get source --download-only $SOURCE_PACKAGE failed: $(tail -3 "$apt/source.log")"
}

build_interpreter() {
	ensure_build_deps
	local tarball
	tarball=$(ls "$CACHE"/src/"${SOURCE_PACKAGE}"_*.orig.tar.xz 2> /dev/null | tail -1 || true)
	if [ -z "$tarball" ]; then
		download_source
		tarball=$(ls "$CACHE"/src/"${SOURCE_PACKAGE}"_*.orig.tar.xz 2> /dev/null | tail -1 || true)
		[ -n "$tarball" ] || fail "the $SOURCE_PACKAGE source package has no .orig.tar.xz in $CACHE/src"
	else
		say "reusing the downloaded source $tarball"
	fi
	local build=$CACHE/build
	rm -rf "$build" "$PREFIX"
	mkdir -p "$build"
	tar -xJf "$tarball" -C "$build" --strip-components=1
	local log=$CACHE/build.log
	say "building CPython from $(basename "$tarball") into $PREFIX (make -j$JOBS; log in $log)"
	(
		cd "$build" &&
			./configure --prefix="$PREFIX" --with-ensurepip=no &&
			make -j"$JOBS" &&
			make altinstall
	) > "$log" 2>&1 || fail "building CPython failed, the end of $log: $(tail -5 "$log")"
	rm -rf "$build"
	# The test suite and the static library (200 MB) serve nothing here
	rm -rf "$PREFIX"/lib/python3.*/test "$PREFIX"/lib/python3.*/config-*/libpython3.*.a
	interpreter_works || fail "the built $PYTHON lacks one of the modules needed ($CHECK_MODULES): see $log"
}

started=$(date +%s)
rm -f "$FAILED"
if interpreter_works; then
	say "reusing $("$PYTHON" -VV | head -1) at $PYTHON"
else
	build_interpreter
	say "built $("$PYTHON" -VV | head -1) in $(($(date +%s) - started)) s"
fi

# The venv, rebuilt when the interpreter or the requirements change
marker=$VENV/.installed
wanted="$("$PYTHON" -VV | head -1) | $REQUIREMENTS"
if [ -x "$VENV/bin/python" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$wanted" ] &&
	"$VENV/bin/python" -c "import fanferro" 2> /dev/null; then
	say "reusing $VENV ($REQUIREMENTS)"
else
	say "creating $VENV and installing $REQUIREMENTS"
	rm -rf "$VENV"
	"$PYTHON" -m venv "$VENV" || fail "could not create the venv $VENV"
	# --only-binary: fanferro's core is Rust; a source build would need a Rust toolchain this script does not set up
	"$VENV/bin/python" -m pip install --quiet --progress-bar off --disable-pip-version-check --only-binary=:all: \
		$REQUIREMENTS || fail "pip could not install $REQUIREMENTS into $VENV"
	echo "$wanted" > "$marker"
fi
say "ready: $VENV/bin/python ($("$VENV/bin/python" -c 'import fanferro, sys; print("fanferro", fanferro.__version__ if hasattr(fanferro, "__version__") else "?", "on Python", sys.version.split()[0])')) in $(($(date +%s) - started)) s"
