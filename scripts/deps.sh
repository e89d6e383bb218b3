# scripts/deps.sh: sourced by scripts/test and scripts/demo.
# Installs the Debian packages sotagw needs to build and test, when missing.
# Needs root or sudo; otherwise it names what to install and stops.

SOTAGW_BUILD_PKGS=(
    build-essential cmake pkg-config clang libclang-rt-dev
    libuv1-dev libsqlite3-dev libmodbus-dev libmicrohttpd-dev
    libjansson-dev libinih-dev libssl-dev zlib1g-dev libudev-dev
)
SOTAGW_TEST_PKGS=(libcmocka-dev valgrind mbpoll python3 wrk chromium nodejs
                  clang-format)

# The dashboard's browser test drives Debian's chromium with playwright-core
# from npm, pinned by tests/web/package-lock.json, into tests/web/node_modules.
sotagw_install_web_test_deps() {
    [ -d tests/web/node_modules/playwright-core ] && return 0
    # Debian's nodejs ships npm apart; NodeSource's bundles it and
    # conflicts with Debian's npm: ask for the package only when missing.
    command -v npm >/dev/null 2>&1 || sotagw_install_deps npm || return 1
    (cd tests/web && npm ci --no-audit --no-fund --loglevel=error)
}

sotagw_install_deps() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "sotagw: installing missing packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "sotagw: not root and no sudo; install them with:" >&2
            echo "  apt-get install ${missing[*]}" >&2
            return 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq || return 1
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" || return 1
}
