#!/bin/sh
# Runs each test binary given as an argument (under $RUN, e.g. qemu), then
# prints the totals as the suite's last line: "N passed, N failed, N skipped".
# Each binary prints PASS/FAIL/SKIP lines and, last, "counts P F S".
pass=0; fail=0; skip=0
for t in "$@"; do
    out=$($RUN "$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^counts '
    counts=$(printf '%s\n' "$out" | grep '^counts ' | tail -n 1)
    if [ -z "$counts" ]; then
        echo "FAIL $(basename "$t"): exited $rc without a summary"
        fail=$((fail + 1)); continue
    fi
    p=$(echo "$counts" | cut -d' ' -f2); f=$(echo "$counts" | cut -d' ' -f3)
    s=$(echo "$counts" | cut -d' ' -f4)
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $(basename "$t"): exit status $rc"; fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
