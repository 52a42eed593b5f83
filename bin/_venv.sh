# Sourced by bin/run and bin/test: make .venv with the project's dependencies.
# Usage: ensure_venv [extra]   (extra: "test" adds what the tests need)
ensure_venv() {
  local extra="${1:-}"
  local py="${PYTHON:-python3}"
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed (found: $("$py" --version 2>&1))." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv …"
    "$py" -m venv .venv
  fi
  local spec="."
  [ -n "$extra" ] && spec=".[$extra]"
  # pip does nothing when everything is already installed at the pinned versions.
  .venv/bin/python -m pip install --disable-pip-version-check -q -e "$spec" 2>&1 \
    | grep -v -e "^WARNING: Location" || true
  .venv/bin/python -c 'import django, celery, rest_framework' || {
    echo "Installing the dependencies failed; see the messages above." >&2
    exit 1
  }
}
