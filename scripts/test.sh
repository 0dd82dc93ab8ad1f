#!/usr/bin/env bash
# The README's second command; `.ci/run` runs exactly this. Arguments go to pytest.
#   1. makes the project virtual environment .venv once (later runs reuse it) and installs the test extra;
#   2. runs the whole suite in it;
#   3. runs the fast tests (-m "not slow") under the oldest and newest supported Python found on this machine,
#      each in its own .venv-3.X. A supported Python that is not installed is reported, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh

# The browser tests drive Debian's chromium through Playwright (Playwright's own browser download
# cannot work offline); install it when missing and we are allowed to.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    echo "note: /usr/bin/chromium is missing (sudo apt-get install chromium); browser tests will be skipped" >&2
  fi
fi

python=$(main_python)
ensure_venv .venv "$python" test
main_minor=$(python_minor .venv/bin/python)
summary=()
status=0

started=$SECONDS
if .venv/bin/python -m pytest "$@"; then result=passed; else result="FAILED"; status=1; fi
what=${*:+pytest $*}  # what ran: the whole suite unless arguments narrowed it
summary+=("Python $main_minor (.venv): ${what:-whole suite} $result in $((SECONDS - started)) s")

# The ends of the supported range (oldest and newest): the versions most likely to break, and a CI run
# that stays within its time (each extra Python costs its venv and a fast loop).
ends=$(supported_minors | sed -n '1p;$p' | sort -u)
for minor in $ends; do
  [ "$minor" != "$main_minor" ] || continue
  if ! py=$(find_python "$minor"); then
    summary+=("Python $minor: not found on this machine (PATH, /usr/bin, /usr/local/bin, pyenv); skipped")
    continue
  fi
  echo
  echo "== fast tests (-m 'not slow') under Python $minor: $py, in .venv-$minor"
  started=$SECONDS
  if ! ensure_venv ".venv-$minor" "$py" test; then
    summary+=("Python $minor ($py): could not make .venv-$minor (see above); FAILED")
    status=1
    continue
  fi
  code=0
  ".venv-$minor/bin/python" -m pytest -m "not slow" "$@" || code=$?
  case $code in
    0) result=passed ;;
    5) result="passed (nothing selected)" ;;  # e.g. arguments naming only slow tests
    *) result=FAILED; status=1 ;;
  esac
  summary+=("Python $minor (.venv-$minor): fast tests $result in $((SECONDS - started)) s")
done

echo
printf '%s\n' "${summary[@]}"
exit $status
