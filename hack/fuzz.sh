#!/usr/bin/env bash
# Runs every fuzz target of the repository for a short, fixed time each
# (FUZZTIME, default 10s), after `go test` has run their seed corpora.
# A crasher is written by Go under the package's testdata/fuzz/<Target>/;
# commit it and it becomes a regression test that `go test` runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZTIME="${FUZZTIME:-10s}"
failed=()
count=0
# Each line: <package dir> <target>.
targets="$(grep -rIl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  dir="$(dirname "${file}")"
  grep -o '^func Fuzz[A-Za-z0-9_]*' "${file}" | sed 's/^func //' | while read -r target; do
    echo "${dir} ${target}"
  done
done)"

while read -r dir target; do
  [[ -z "${dir}" ]] && continue
  count=$((count + 1))
  echo "== fuzz ${dir} ${target} for ${FUZZTIME}"
  if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME}" "${dir}" 2>&1 | tail -n 20; then
    failed+=("${dir} ${target}")
  fi
done <<< "${targets}"

echo "== ${count} fuzz targets run for ${FUZZTIME} each"
if (( ${#failed[@]} > 0 )); then
  printf 'Fuzz target failed: %s\n' "${failed[@]}" >&2
  echo "Crashers are under the packages' testdata/fuzz/: commit them as regression tests, then fix." >&2
  exit 1
fi
