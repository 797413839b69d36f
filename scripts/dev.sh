#!/usr/bin/env bash
# One entry point for people and CI:  scripts/dev.sh demo | test | package | bench | bench-browser | soak | setup
# Everything it needs it installs: a virtualenv in .venv (override with LIVECAM_VENV), the package with
# its test, browser, bench and video extras, and Debian's Chromium when run as root (the browser tests need it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${LIVECAM_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
cd "$ROOT"

say() { printf '\n== %s\n' "$*"; }

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  say "installing livecam-widget and its test/browser/bench/video extras into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test,browser,bench,video]"
}

chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian's chromium for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "!! not root and /usr/bin/chromium is missing: the browser tests will be SKIPPED" >&2
  fi
}

engines() {
  # What tests/engines drives: Debian's Firefox ESR and WebKitGTK (WebKitWebDriver + MiniBrowser) with Xvfb,
  # puppeteer-core (js/package-lock.json; it never downloads a browser) to speak WebDriver BiDi to Firefox,
  # and Selenium for WebKitWebDriver; iproute2's `ip` puts a browser in a network namespace of its own
  # (tests/browser/test_remote_browser.py). As root it installs what is missing; otherwise those tests skip.
  local need=()
  [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || command -v ip >/dev/null || need+=(iproute2)
  [ -x /usr/bin/firefox-esr ] || need+=(firefox-esr)
  [ -x /usr/bin/WebKitWebDriver ] || need+=(webkit2gtk-driver)
  command -v Xvfb >/dev/null || need+=(xvfb)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      say "installing Debian's ${need[*]} for the Firefox/WebKit engine and remote-browser tests"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
      echo "!! not root and ${need[*]} missing: the Firefox/WebKit engine tests will be SKIPPED" >&2
      # (the remote-browser test needs root for `ip netns` in any case, and skips as a normal user)
    fi
  fi
  if ! command -v npm >/dev/null; then
    echo "!! npm missing: the Firefox engine and JupyterHub tests will be SKIPPED" >&2
  elif [ ! -f js/node_modules/puppeteer-core/package.json ] \
    || [ ! -f js/node_modules/configurable-http-proxy/package.json ] \
    || [ js/package-lock.json -nt js/node_modules/.package-lock.json ]; then
    say "installing puppeteer-core and configurable-http-proxy into js/node_modules (npm ci, no browser download)"
    (cd js && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ -n "${CI:-}" ]; then
    local tool
    for tool in /usr/bin/firefox-esr /usr/bin/WebKitWebDriver "$(command -v Xvfb || echo Xvfb)" \
      js/node_modules/puppeteer-core/package.json; do
      if [ ! -e "$tool" ]; then
        echo "!! CI run without $tool: refusing to skip the Firefox/WebKit engine tests" >&2
        exit 1
      fi
    done
  fi
}

run_tests() {
  setup
  chromium
  engines
  if [ -n "${CI:-}" ] && [ ! -x /usr/bin/chromium ]; then
    echo "!! CI run without /usr/bin/chromium: refusing to skip the browser tests" >&2
    exit 1
  fi
  say "frontend logic: node --test"
  (cd js && node --test)
  say "lint and types: ruff, mypy --strict"
  "$VENV/bin/ruff" check src tests $( [ -d bench ] && echo bench )
  "$VENV/bin/mypy"
  package
  say "pytest"
  set +e
  "$VENV/bin/python" -m pytest -p no:cacheprovider -ra "$@"
  rc=$?
  set -e
  if [ "$rc" = 5 ]; then
    echo "!! pytest collected no tests: that is a failure, not a pass" >&2
    exit 1
  fi
  exit "$rc"
}

package() {
  # The standard build (sdist, then the wheel from the sdist), PyPI's check of both, and the wheel alone
  # in a fresh venv serving frames to a real client: a broken package cannot pass.
  local tmp
  tmp=$(mktemp -d)
  say "package: python -m build, twine check --strict, the wheel alone in a fresh venv"
  "$VENV/bin/python" -m build --outdir "$tmp/dist" . >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
  "$VENV/bin/twine" check --strict "$tmp"/dist/*
  "$VENV/bin/python" "$ROOT/scripts/check_dist.py" "$tmp/dist"
  "$PYTHON" -m venv "$tmp/venv"
  "$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check "$tmp"/dist/*.whl
  (cd "$tmp" && "$tmp/venv/bin/python" "$ROOT/scripts/smoke.py")
  # The wheel turns on its Jupyter server extension (kernel WebSockets without Nagle's delay) for the
  # Jupyter server of the environment it is installed in: jupyter_server must find it and load it.
  "$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check jupyter_server
  "$tmp/venv/bin/jupyter" server extension list >"$tmp/extensions.log" 2>&1
  grep -q "livecam_widget._serverext.*OK" "$tmp/extensions.log" \
    || { cat "$tmp/extensions.log"; echo "!! the installed wheel does not enable livecam_widget._serverext" >&2; exit 1; }
  echo "package: the installed wheel enables livecam_widget._serverext in jupyter_server"
  rm -rf "$tmp"
}

demo() {
  setup
  local as_root=()
  if [ "$(id -u)" = 0 ]; then
    as_root=(--ServerApp.allow_root=True)  # Jupyter refuses to start as root without it
  fi
  say "starting JupyterLab on notebooks/quickstart.ipynb (Ctrl-C to stop)"
  exec "$VENV/bin/jupyter" lab notebooks/quickstart.ipynb --ServerApp.ip=127.0.0.1 ${as_root[@]+"${as_root[@]}"} "$@"
}

bench() {
  setup
  exec "$VENV/bin/python" -m bench "$@"
}

bench_browser() {
  setup
  chromium
  exec "$VENV/bin/python" -m bench.browser "$@"
}

bench_camera() {
  setup
  chromium
  exec "$VENV/bin/python" -m bench.camera "$@"
}

soak() {
  setup
  exec "$VENV/bin/python" -m bench.soak "$@"
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup ;;
  package) setup; package ;;
  test) run_tests "$@" ;;
  demo) demo "$@" ;;
  bench) bench "$@" ;;
  bench-browser) bench_browser "$@" ;;
  bench-camera) bench_camera "$@" ;;
  soak) soak "$@" ;;
  *) echo "usage: scripts/dev.sh demo|test|package|bench|bench-browser|bench-camera|soak|setup [args]" >&2; exit 2 ;;
esac
