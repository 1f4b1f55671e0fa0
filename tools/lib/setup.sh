# Shared set-up for tools/run and tools/test (sourced, not executed).
# On a fresh Debian 12 machine it installs the missing packages with apt-get,
# configures the meson build dir and builds. Every step is idempotent and
# says what it does.

MYCELIUM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MYCELIUM_BUILD=${MYCELIUM_BUILD:-$MYCELIUM_ROOT/build}

# Debian 12 packages the build and the tests need.
MYCELIUM_PACKAGES=(
  g++ meson ninja-build pkg-config ccache python3 openssl
  libcaf-dev libbotan-2-dev libflatbuffers-dev flatbuffers-compiler
  libsqlite3-dev nlohmann-json3-dev doctest-dev libcpp-httplib-dev
  clang libclang-rt-14-dev
  prometheus
  iproute2
)

say() { printf '==> %s\n' "$*"; }

ensure_packages() {
  local missing=()
  local pkg
  for pkg in "${MYCELIUM_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "all ${#MYCELIUM_PACKAGES[@]} Debian packages present"
    return 0
  fi
  say "installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
      sudo=(sudo)
    else
      echo "error: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
      return 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  # The tests need only promtool from the prometheus package: keep its
  # server from being started by the install (policy-rc.d, as in images).
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ " ${missing[*]} " == *" prometheus "* && ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    added_policy=1
  fi
  local rc=0
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
  if [ $added_policy -eq 1 ]; then
    "${sudo[@]}" rm -f "$policy"
  fi
  return $rc
}

ensure_configured() {
  if [ -f "$MYCELIUM_BUILD/build.ninja" ]; then
    return 0
  fi
  say "configuring the build in $MYCELIUM_BUILD (meson, system packages first)"
  meson setup "$MYCELIUM_BUILD" "$MYCELIUM_ROOT" --wrap-mode=nodownload
}

# Builds the given ninja targets (all when none are given).
build_targets() {
  ensure_configured
  say "building ${*:-everything} (ninja, $(nproc) jobs)"
  ninja -C "$MYCELIUM_BUILD" "$@"
}
