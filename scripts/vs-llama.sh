#!/bin/bash
# vs-llama.sh: tinyllm against llama.cpp on random-weight models of every
# family, at shapes and types the oracle files do not have.
#   LLAMA_CPP=/path/to/llama.cpp scripts/vs-llama.sh [FILTER]
# LLAMA_CPP is a llama.cpp checkout built with cmake into build/ (libllama,
# llama-quantize); its gguf-py and numpy make the models. FILTER is a glob on
# the config names below. TYPES overrides the weight types, TLARGS adds flags
# to `tinyllm run`. Each line: the oracle metrics (../shared/oracle/README.md)
# and FAIL outside its tolerances; the exit status counts the failures.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shared=${SHARED:-$root/../shared}
: "${LLAMA_CPP:?set LLAMA_CPP to a built llama.cpp checkout}"
lib=$LLAMA_CPP/build/bin
tl=${TINYLLM:-$root/tinyllm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# gguf-py imports sentencepiece, which only its vocab helpers use
mkdir -p "$work/py/sentencepiece"
echo "class SentencePieceProcessor: pass" > "$work/py/sentencepiece/__init__.py"
export PYTHONPATH="$LLAMA_CPP/gguf-py:$work/py"
py=${PYTHON:-python3}
"$py" -c "import numpy, gguf" || { echo "vs-llama: needs numpy and $LLAMA_CPP/gguf-py"; exit 2; }
cc -O2 "$here/vs-llama/dump.c" -I"$LLAMA_CPP/include" -I"$LLAMA_CPP/ggml/include" -L"$lib" -lllama \
   -Wl,-rpath,"$lib" -o "$work/dump" || exit 2

prompt=$(cat "$shared/oracle/prompts/long.txt")
types=${TYPES:-"F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K IQ4_NL"}
fails=0
# name template E layers heads kv_heads head_size n_ff rot tied extra_tokens [gen.py env]
while read -r name tpl E L H HKV D FF ROT TIED EXTRA OPT; do
    [[ -z "$name" || "$name" == \#* || "$name" != ${1:-*} ]] && continue
    f32=$work/$name-F32.gguf
    env ${OPT:-} "$py" "$here/vs-llama/gen.py" "$shared/oracle/models/$tpl-mini-f32.gguf" "$f32" \
        "$E" "$L" "$H" "$HKV" "$D" "$FF" "$ROT" "$TIED" "$EXTRA" || { echo "$name: gen.py failed"; exit 2; }
    for t in $types; do
        m=$work/$name-$t.gguf
        [ "$t" = F32 ] || "$lib/llama-quantize" "$f32" "$m" "$t" 2 >/dev/null 2>&1 ||
            { printf '%-9s %-7s llama-quantize failed\n' "$name" "$t"; continue; }
        printf '%-9s %-7s ' "$name" "$t"
        ref=$("$work/dump" "$m" "$prompt" 16 "$work/ref.f32") || { echo "llama.cpp failed"; continue; }
        ids=$(sed -n 's/^prompt //p' <<<"$ref")
        ours=$("$tl" tokenize -m "$m" -p "$prompt" </dev/null | tr '\n' ' ' | sed 's/ *$//')
        if [ "$ours" != "$ids" ]; then
            echo "tokens differ  FAIL"; fails=$((fails + 1)); continue
        fi
        if ! "$tl" run -m "$m" -p "$prompt" -n 16 --temp 0 --dump-logits "$work/ours.f32" ${TLARGS:-} \
                </dev/null >/dev/null 2>"$work/err"; then
            echo "tinyllm: $(cat "$work/err")  FAIL"; fails=$((fails + 1)); continue
        fi
        "$py" "$here/vs-llama/compare.py" "$work/ref.f32" "$work/ours.f32" "$(wc -w <<<"$ids")" "$t" ||
            fails=$((fails + 1))
        [ "$t" = F32 ] || rm -f "$m"
    done
done <<'CONFIGS'
llama-a   llama    320 2 5  1  64  864  64  1 0
llama-b   llama    512 2 4  4  128 1376 128 0 0
llama-c   llama    576 3 9  3  64  1536 64  1 0
llama-d   llama    288 2 6  2  48  800  48  0 37
llama-3   llama    256 2 4  1  64  512  64  0 0  ROPE_FREQS=1
qwen2-a   qwen2    384 2 6  2  64  1024 64  0 0
qwen2-b   qwen2    896 2 14 2  64  4864 64  1 23
gemma-a   gemma    256 2 2  1  256 768  256 1 0
gemma-b   gemma    384 2 4  1  128 1024 128 1 0
gemma2-a  gemma    256 26 4 2  64  512  64  1 0  GEMMA2=1 SWA=64
gemma2-b  gemma    256 26 2 1  256 768  256 1 0  GEMMA2=1
phi2-a    phi2     320 2 4  4  80  1280 32  0 5
phi3-a    phi3     384 2 4  4  96  1024 96  0 0
phi3-long phi3     384 2 4  4  96  1024 96  0 0  LONGROPE=1
stablelm-a stablelm 256 2 4 4  64  704  16  0 0
stablelm-b stablelm 320 2 5 5  64  1024 16  0 0
CONFIGS
echo "vs-llama: $fails failed"
exit $((fails > 0))
