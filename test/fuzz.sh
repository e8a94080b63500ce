#!/bin/sh
# Runs every Go fuzz target in the module for a while each (default 20s).
# The seed corpora under testdata/fuzz also run as plain tests in `make unit`;
# new crashers land there and must be committed with the fix.
#   ./test/fuzz.sh [FUZZTIME]
set -eu
t=${1:-20s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' core kemi modules cmd 2>/dev/null | sort | while read -r f; do
	pkg=./$(dirname "$f")
	for fn in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		echo "fuzz: $pkg $fn ($t)"
		go test -run '^$' -fuzz "^$fn\$" -fuzztime "$t" "$pkg"
	done
done
