# shellcheck shell=bash
# Sourced by scripts/up.sh and scripts/test.sh (from the repository root): find a supported Python,
# make a project virtual environment once and reuse it, install the project into it.
#
# Why a venv at all: Debian's and Ubuntu's own python3 refuse `pip install` outside one (PEP 668,
# "externally-managed-environment"), and a venv behaves the same under pyenv and conda too.
# The supported versions are pyproject.toml's classifiers: the one list, also read by `assetgen doctor`.

supported_minors() {  # 3.11 3.12 … as pyproject.toml lists them
  sed -n 's/^ *"Programming Language :: Python :: \(3\.[0-9][0-9]*\)",*$/\1/p' pyproject.toml
}

python_minor() {  # the X.Y of an interpreter, or nothing when it does not run (e.g. a pyenv shim of a version not selected)
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

minor_supported() {
  supported_minors | grep -qx "$1"
}

find_python() {  # find_python 3.13: an interpreter of that version on this machine, or status 1
  local minor=$1 candidate
  local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
  for candidate in "$(command -v "python$minor" 2>/dev/null || true)" "/usr/bin/python$minor" \
      "/usr/local/bin/python$minor" $(ls -d "$pyenv_root/versions/$minor".*/bin/python"$minor" 2>/dev/null | sort -rV); do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && [ "$(python_minor "$candidate")" = "$minor" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

main_python() {  # the python3 on PATH when supported (what the README's reader has), else any supported one found
  local py found="" minor newest
  py=$(command -v python3 || true)
  [ -z "$py" ] || found=$(python_minor "$py")
  newest=$(supported_minors | tail -n 1)
  if [ -n "$found" ] && minor_supported "$found"; then
    echo "$py"; return 0
  fi
  if [ -n "$found" ] && [ "$(printf '%s\n' "$found" "$newest" | sort -V | tail -n 1)" = "$found" ]; then
    echo "note: $py is Python $found, newer than the tested $(supported_minors | head -n 1)–$newest; using it" >&2
    echo "$py"; return 0
  fi
  for minor in $(supported_minors | sort -rV); do
    if py=$(find_python "$minor"); then
      echo "note: python3 on PATH is ${found:-missing}, not a supported version; using $py" >&2
      echo "$py"; return 0
    fi
  done
  echo "error: no supported Python found (python3 on PATH is ${found:-missing}; need one of:" \
       "$(supported_minors | tr '\n' ' '))." >&2
  echo "  Debian/Ubuntu: sudo apt-get install python3 python3-venv; or install one with pyenv." >&2
  return 1
}

_can_make_venvs() {  # Debian ships venv's pip bootstrap (ensurepip) in a separate package
  "$1" -c 'import ensurepip, venv' >/dev/null 2>&1
}

_offer_venv_package() {  # install Debian's pythonX.Y-venv when we may; otherwise say what to install
  local py=$1 minor
  minor=$(python_minor "$py")
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's python$minor-venv (venv support for $py is missing)…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$minor-venv" \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >/dev/null 2>&1 || true
  fi
  _can_make_venvs "$py" && return 0
  echo "error: $py cannot make a virtual environment (the venv/ensurepip module is missing)." >&2
  echo "  Debian/Ubuntu: sudo apt-get install python$minor-venv   (or python3-venv), then run this again." >&2
  return 1
}

ensure_venv() {  # ensure_venv DIR PYTHON [EXTRA]: DIR made once with PYTHON, the project installed with [EXTRA]
  local dir=$1 py=$2 extra=${3:-} stamp want
  if ! "$dir/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$dir"  # half-made, or its interpreter is gone: start again
    _can_make_venvs "$py" || _offer_venv_package "$py" || return 1
    echo "making $dir with $py (Python $(python_minor "$py")), once; later runs reuse it" >&2
    "$py" -m venv "$dir" || { rm -rf "$dir"; return 1; }
  fi
  # Re-install only when pyproject.toml changed (the install is editable: code changes need nothing).
  # pip compiles the dependencies' .pyc now: with PYTHONDONTWRITEBYTECODE set (as on CI) nothing else
  # would, and every test subprocess would compile pandas again (seconds each).
  stamp="$dir/.assetgen-installed${extra:+-$extra}"
  want=$(cksum < pyproject.toml)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing assetgen${extra:+[$extra]} into $dir (log: $dir/install.log)…" >&2
    if ! "$dir/bin/python" -m pip install --disable-pip-version-check -e ".${extra:+[$extra]}" \
        >"$dir/install.log" 2>&1; then
      grep -v "is ignored: it is neither a file nor a directory" "$dir/install.log" | tail -n 15 >&2
      echo "error: installing into $dir failed (full log: $dir/install.log)" >&2
      return 1
    fi
    echo "$want" > "$stamp"
    [ -z "$extra" ] || echo "$want" > "$dir/.assetgen-installed"  # [extra] includes the plain install
  fi
}
