#!/bin/sh
# `make bench`: build random-weight GGUFs of the TinyLlama-1.1B and
# MobileLLM-125M shapes (once, into models/bench/), run `tinyllm bench` on
# them and, when LLAMA_BENCH names a llama-bench binary, run it on the same
# files interleaved with ours and print the ratios. Each side runs ROUNDS
# times, alternating, REPS repetitions a round, and the best round's mean
# counts: on a shared machine whose memory bandwidth moves from minute to
# minute, one round each compares two different machines. BASELINE names
# another tinyllm binary (an older build) run in the same rounds, for
# before/after comparisons; its column and ratio come after llama.cpp's.
#   THREADS (default 2), REPS (default 2), ROUNDS (default 3),
#   TYPES (default "q4_0 q8_0 f16 q4_k_m"), SHAPES (default "tinyllama
#   mobilellm"), BUILD (build directory).
set -eu
BUILD=${BUILD:-build/$(uname -m)}
THREADS=${THREADS:-2}
REPS=${REPS:-2}
ROUNDS=${ROUNDS:-3}
TYPES=${TYPES:-q4_0 q8_0 f16 q4_k_m}
SHAPES=${SHAPES:-tinyllama mobilellm}
dir=models/bench
mkdir -p "$dir"

model_file() {   # shape type -> path, built when absent
    f="$dir/$1-$2.gguf"
    if [ ! -f "$f" ]; then
        case $2 in
        q4_k_m|q5_k_m|q3_k_m|q6_k)   # mixes come from the quantizer, as users' files do
            src=$(model_file "$1" f16)
            ./tinyllm quantize "$src" "$f" "$2" >&2 ;;
        *)  "$BUILD/tests/tool_mkmodel" "$f" --shape "$1" --type "$2" >&2 ;;
        esac
    fi
    echo "$f"
}

# "pp512 123.4" lines from llama-bench-style JSON on stdin
json_ts() {
    awk -F'[:,]' '/"n_prompt"/ { p = $2 + 0 } /"n_gen"/ { g = $2 + 0 }
                  /"avg_ts"/ { printf "%s %.2f\n", (p > 0 ? "pp" p : "tg" g), $2 + 0 }'
}

# the best t/s of each test over "test t/s" lines on stdin, in first-seen order
best_ts() {
    awk '!($1 in b) { order[n++] = $1 } !($1 in b) || $2 > b[$1] { b[$1] = $2 }
         END { for (i = 0; i < n; i++) print order[i], b[order[i]] }'
}

printf '| model | test | tinyllm t/s |%s%s\n' "${LLAMA_BENCH:+ llama.cpp t/s | ratio |}" \
    "${BASELINE:+ baseline t/s | vs baseline |}"
printf '| --- | --- | ---: |%s%s\n' "${LLAMA_BENCH:+ ---: | ---: |}" "${BASELINE:+ ---: | ---: |}"

# "| a | ratio |" cells for our t/s against the test's line in $2 ("" if none)
ratio_cells() {
    [ -n "$2" ] || return 0
    other=$(echo "$2" | awk -v t="$1" '$1 == t { print $2 }')
    awk -v a="$3" -v b="$other" 'BEGIN { if (b > 0) printf " %s | %.2fx |", b, a / b; else printf " - | - |" }'
}
for shape in $SHAPES; do
    for type in $TYPES; do
        f=$(model_file "$shape" "$type")
        ours="" theirs="" base=""
        round=0
        while [ "$round" -lt "$ROUNDS" ]; do
            ours="$ours
$(./tinyllm bench -m "$f" -t "$THREADS" -p 512 -n 128 -r "$REPS" -o json | json_ts)"
            if [ -n "${LLAMA_BENCH:-}" ]; then
                theirs="$theirs
$("$LLAMA_BENCH" -m "$f" -t "$THREADS" -p 512 -n 128 -r "$REPS" -o json 2>/dev/null | json_ts)"
            fi
            if [ -n "${BASELINE:-}" ]; then
                base="$base
$("$BASELINE" bench -m "$f" -t "$THREADS" -p 512 -n 128 -r "$REPS" -o json | json_ts)"
            fi
            round=$((round + 1))
        done
        ours=$(echo "$ours" | grep . | best_ts)
        theirs=$(echo "$theirs" | grep . | best_ts)
        base=$(echo "$base" | grep . | best_ts)
        echo "$ours" | while read -r test ts; do
            printf '| %s %s | %s | %s |%s%s\n' "$shape" "$type" "$test" "$ts" \
                "$(ratio_cells "$test" "$theirs" "$ts")" "$(ratio_cells "$test" "$base" "$ts")"
        done
    done
done
./tinyllm --version
