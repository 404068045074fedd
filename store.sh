#!/usr/bin/env bash
# One entry point for people and CI: `./store.sh demo` runs the store demo, `./store.sh test`
# runs the test suite. Each first makes sure the machine has what it needs: OS packages
# (Mosquitto, Xvfb), Python >= 3.11, the virtual environment in .venv with the project installed.
set -euo pipefail
cd "$(dirname "$0")"

# fonts-wqy-microhei: Chinese text on the touchscreen (without it, empty boxes);
# libmtdev1: silences a Kivy start-up traceback about multitouch devices.
OS_PACKAGES=(mosquitto mosquitto-clients xvfb xauth fonts-wqy-microhei libmtdev1)
PY_EXTRAS="kiosk,controller,test"

say() { printf '\033[1m[store]\033[0m %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "need root to run: $*  (install sudo or run as root)"; exit 1; fi
}

ensure_os_packages() {
    local missing=()
    for p in "${OS_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if ! find_python >/dev/null; then missing+=(python3 python3-venv); fi
    if [ ${#missing[@]} -gt 0 ]; then
        command -v apt-get >/dev/null || { say "missing ${missing[*]} and no apt-get"; exit 1; }
        say "installing OS packages: ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

find_python() {
    for c in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$c" ] && command -v "$c" >/dev/null || continue
        if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}

ensure_venv() {
    local py stamp want
    py=$(find_python) || { say "Python >= 3.11 not found"; exit 1; }
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv with $py"
        if ! "$py" -m venv .venv 2>/dev/null; then
            rm -rf .venv
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
                "$(basename "$py")-venv" >/dev/null 2>&1 || true
            "$py" -m venv .venv
        fi
    fi
    stamp=.venv/.store-installed
    want=$(cat pyproject.toml | sha256sum | cut -c1-16)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing Python packages into .venv (first run takes a minute)"
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e ".[${PY_EXTRAS}]"
        # face_recognition's metadata asks for `dlib`, a 30-minute source build; its real
        # dependencies (dlib-bin, face_recognition_models, Click, numpy, Pillow) are in the
        # kiosk extra, so install it without them.
        .venv/bin/python -m pip install -q --no-deps "face-recognition>=1.3,<2"
        echo "$want" > "$stamp"
    fi
}

cmd=${1:-help}
shift || true
case "$cmd" in
    demo)
        ensure_os_packages
        ensure_venv
        exec .venv/bin/store-controller demo "$@"
        ;;
    test)
        ensure_os_packages
        ensure_venv
        exec .venv/bin/python -m pytest "$@"
        ;;
    *)
        echo "usage: ./store.sh demo | test [pytest args]" >&2
        exit 2
        ;;
esac
