#!/usr/bin/env bash
# Runs every fuzz target of the repository for a short, fixed time each
# (FUZZTIME, default 10s), after `go test` has run their seed corpora.
# A crasher is written by Go under the package's testdata/fuzz/<Target>/;
# commit it and it becomes a regression test that `go test` runs.
#
# Go 1.26's fuzzing coordinator can end a run with a bare "context deadline
# exceeded" at the -fuzztime boundary, with no failing input
# (golang/go#75804, fixed in Go 1.27). Such a run wrote no crasher, so it is
# reported and not counted as a failure; a run that wrote one always is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZTIME="${FUZZTIME:-10s}"
failed=()
flaked=()
count=0
# Each line: <package dir> <target>.
targets="$(grep -rIl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  dir="$(dirname "${file}")"
  grep -o '^func Fuzz[A-Za-z0-9_]*' "${file}" | sed 's/^func //' | while read -r target; do
    echo "${dir} ${target}"
  done
done)"

corpus() { ls -1 "$1/testdata/fuzz/$2" 2>/dev/null || true; }

while read -r dir target; do
  [[ -z "${dir}" ]] && continue
  count=$((count + 1))
  echo "== fuzz ${dir} ${target} for ${FUZZTIME}"
  before="$(corpus "${dir}" "${target}")"
  log="$(mktemp)"
  status=0
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME}" "${dir}" > "${log}" 2>&1 || status=$?
  tail -n 20 "${log}"
  if (( status != 0 )); then
    after="$(corpus "${dir}" "${target}")"
    if [[ "${before}" == "${after}" ]] && grep -q 'context deadline exceeded' "${log}"; then
      flaked+=("${dir} ${target}")
    else
      failed+=("${dir} ${target}")
    fi
  fi
  rm -f "${log}"
done <<< "${targets}"

echo "== ${count} fuzz targets run for ${FUZZTIME} each"
if (( ${#flaked[@]} > 0 )); then
  printf 'Ended by the fuzzing coordinator'"'"'s deadline race (golang/go#75804), no failing input written: %s\n' "${flaked[@]}"
fi
if (( ${#failed[@]} > 0 )); then
  printf 'Fuzz target failed: %s\n' "${failed[@]}" >&2
  echo "Crashers are under the packages' testdata/fuzz/: commit them as regression tests, then fix." >&2
  exit 1
fi
