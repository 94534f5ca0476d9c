#!/bin/bash
# arm-profile.sh: tinyllm against llama.cpp on a Raspberry Pi's core, by
# proxy: both run for aarch64 under qemu-user with an instruction-counting
# plugin, -cpu cortex-a76 (Pi 5: NEON + dotprod) and -cpu cortex-a72 (Pi 4:
# plain NEON), one thread, the same random-weight GGUF files, a 32-token
# prompt, greedy. Prints instructions per generated token and per prompt
# token of each engine and their ratio, and llvm-mca's cycles for the hot
# blocks. See docs/arm-proxy.md.
#
#   LLAMA_CPP=/path/to/llama.cpp scripts/arm-profile.sh [STEP...]
#
# STEP: build (plugin, tinyllm, llama.cpp, models), run (the counts and the
# table), mca (llvm-mca on the decode hot blocks), all (default: the three).
# Finer steps: plugin, tinyllm, llama, models.
# Environment:
#   LLAMA_CPP  a llama.cpp source tree with a native cmake build in build/
#              (for llama-quantize; built here if missing). Needed by build.
#   WORK       where everything built and measured goes (/tmp/arm-profile)
#   CPUS       "a76 a72"        MODELS  the model names below
#   JOBS       qemu runs at once (2)
#   FRESH=1    measure llama.cpp again (its counts are kept in $WORK/counts)
#   KEEP=1     keep tinyllm's counts already in $COUNTS (default: measure again)
#   TL         the aarch64 tinyllm (build/aarch64/tinyllm of this tree)
#   COUNTS     where the counts go ($WORK/counts; one per tinyllm to compare,
#              llama.cpp's are copied from $WORK/counts when there)
# Debian: apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
#         qemu-user cmake llvm python3-numpy
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
aux=$here/arm-profile
WORK=${WORK:-/tmp/arm-profile}
CPUS=${CPUS:-a76 a72}
MODELS=${MODELS:-mobilellm-Q4_0 mobilellm-Q8_0 mobilellm-Q4_K_M tinyllama-Q4_0 tinyllama-Q4_K_M}
JOBS=${JOBS:-2}
TL=${TL:-$root/build/aarch64/tinyllm}
SYSROOT=/usr/aarch64-linux-gnu
PY=/usr/bin/python3          # Debian's, where python3-numpy is
COUNTS=${COUNTS:-$WORK/counts}
export WORK TL SYSROOT COUNTS

arch_of() { case $1 in a76) echo armv8.2-a+dotprod+fp16 ;; a72) echo armv8-a ;; esac; }
need_llama() { : "${LLAMA_CPP:?set LLAMA_CPP to a llama.cpp source tree}"; }

# ---- one measurement (run in parallel by xargs): ENGINE CPU MODEL CASE ----
# cases: p1 = BOS only, 1 token; p32 = 32-token prompt, 1 token;
#        p32g = 32-token prompt, 9 tokens (8 decode steps)
if [ "${1:-}" = --measure ]; then
    shift
    eng=$1 cpu=$2 model=$3 case=$4
    out=$COUNTS/$eng.$cpu.$model.$case
    prompt=$WORK/prompt32.txt n=1
    [ "$case" = p1 ] && prompt=$WORK/prompt1.txt
    [ "$case" = p32g ] && n=9
    if [ "$eng" = tinyllm ] && [ -n "${KEEP:-}" ] && [ -s "$out.count" ]; then exit 0; fi
    if [ "$eng" = llama ]; then
        # llama.cpp's counts live in $WORK/counts whatever COUNTS is, measured once
        kept=$WORK/counts/$eng.$cpu.$model.$case
        if [ "$kept" != "$out" ]; then
            [ -n "${FRESH:-}" ] || [ ! -s "$kept.count" ] && FRESH=1 COUNTS=$WORK/counts "$0" --measure "$@"
            for f in count out err; do cp "$kept.$f" "$out.$f"; done
            exit 0
        fi
        [ -z "${FRESH:-}" ] && [ -s "$out.count" ] && exit 0
    fi
    plugin="$WORK/icount.so,out=$out.count.part,top=600"
    if [ "$eng" = tinyllm ]; then
        nice qemu-aarch64 -cpu cortex-$cpu -L "$SYSROOT" -plugin "$plugin" \
            "$TL" run -m "$WORK/models/$model.gguf" -f "$prompt" -n $n --temp 0 -t 1 -v >"$out.out" 2>"$out.err"
    else
        nice qemu-aarch64 -cpu cortex-$cpu -plugin "$plugin" \
            "$WORK/bin/llama_gen-$cpu" "$WORK/models/$model.gguf" "$prompt" $n >"$out.out" 2>"$out.err"
    fi || { echo "failed: $eng $cpu $model $case ($out.err)" >&2; exit 1; }
    mv "$out.count.part" "$out.count"
    echo "  $eng $cpu $model $case: $(sed -n 's/^total //p' "$out.count") instructions" >&2
    exit 0
fi

build_plugin() {
    mkdir -p "$WORK"
    gcc -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -o "$WORK/icount.so" "$aux/icount.c"
    # check it: a loop of known length, 1 + 2 * 5000 + 3 instructions
    printf '%s\n' '.global _start' '_start: mov x1, #5000' '1: subs x1, x1, #1' '   b.ne 1b' \
        '   mov x0, #0' '   mov x8, #93' '   svc #0' > "$WORK/check.S"
    aarch64-linux-gnu-gcc -nostdlib -static -o "$WORK/check" "$WORK/check.S"
    for cpu in $CPUS; do
        qemu-aarch64 -cpu cortex-$cpu -plugin "$WORK/icount.so,out=$WORK/check.count" "$WORK/check"
        grep -qx 'total 10004' "$WORK/check.count" ||
            { echo "icount.so miscounts: $(head -1 "$WORK/check.count"), expected total 10004"; exit 1; }
    done
    echo "plugin: $WORK/icount.so (counts a 10004-instruction program exactly)"
}

build_tinyllm() {
    make -C "$root" -j"$JOBS" CC=aarch64-linux-gnu-gcc >/dev/null
    echo "tinyllm: $TL ($(git -C "$root" describe --always --dirty))"
}

build_llama() {
    need_llama
    mkdir -p "$WORK/bin"
    for cpu in $CPUS; do
        local bd=$LLAMA_CPP/build-arm-$cpu
        [ -f "$bd/CMakeCache.txt" ] ||
            cmake -S "$LLAMA_CPP" -B "$bd" -DCMAKE_TOOLCHAIN_FILE="$aux/aarch64.cmake" \
                -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
                -DGGML_CPU_ARM_ARCH="$(arch_of $cpu)" -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF \
                -DGGML_CCACHE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
                -DLLAMA_BUILD_SERVER=OFF >"$bd.cmake.log" 2>&1 || { tail "$bd.cmake.log"; exit 1; }
        nice cmake --build "$bd" --target llama -j"$JOBS" >"$bd.build.log" 2>&1 || { tail -20 "$bd.build.log"; exit 1; }
        aarch64-linux-gnu-gcc -O2 -c -o "$WORK/llama_gen.o" "$aux/llama_gen.c" -I"$LLAMA_CPP/include" -I"$LLAMA_CPP/ggml/include"
        aarch64-linux-gnu-g++ -static -o "$WORK/bin/llama_gen-$cpu" "$WORK/llama_gen.o" \
            -L"$bd/src" -L"$bd/ggml/src" -lllama -lggml -lggml-cpu -lggml-base -pthread -lm
        echo "llama.cpp for $cpu ($(arch_of $cpu)): $WORK/bin/llama_gen-$cpu, $(git -C "$LLAMA_CPP" describe --always 2>/dev/null || echo '?')"
    done
}

build_models() {
    need_llama
    local q=$LLAMA_CPP/build/bin/llama-quantize
    [ -x "$q" ] || nice cmake --build "$LLAMA_CPP/build" --target llama-quantize -j"$JOBS" >/dev/null
    mkdir -p "$WORK/models"
    for m in $MODELS; do
        local shape=${m%%-*} type=${m#*-}
        local f16=$WORK/models/$shape-f16.gguf
        [ -f "$f16" ] || nice $PY "$aux/mkmodel.py" "$shape" "$LLAMA_CPP/models/ggml-vocab-llama-spm.gguf" "$f16"
        [ -f "$WORK/models/$m.gguf" ] ||
            nice "$q" "$f16" "$WORK/models/$m.gguf" "$type" >"$WORK/models/$m.log" 2>&1 ||
            { tail "$WORK/models/$m.log"; exit 1; }
    done
    ls -l "$WORK/models"/*.gguf
}

run_counts() {
    mkdir -p "$COUNTS"
    # 32 tokens with BOS in the llama-spm vocabulary; BOS alone
    printf '%s' "The quick brown fox jumps over the lazy dog. A small language model runs on a Raspberry Pi 5 and counts every instruction it executes" >"$WORK/prompt32.txt"
    : >"$WORK/prompt1.txt"
    for cpu in $CPUS; do
        echo "tinyllm on cortex-$cpu: $(qemu-aarch64 -cpu cortex-$cpu -L "$SYSROOT" "$TL" --version 2>&1 | head -1)"
    done
    local list=$WORK/jobs
    : >"$list"
    for m in $(printf '%s\n' $MODELS | sort -r); do      # the big model first
        for cpu in $CPUS; do for e in tinyllm llama; do for c in p32g p32 p1; do
            echo "$e $cpu $m $c" >>"$list"
        done; done; done
    done
    local t0=$SECONDS
    xargs -P "$JOBS" -L 1 "$0" --measure <"$list"
    echo "measured in $((SECONDS - t0)) s" >&2
    $PY "$aux/report.py" table "$COUNTS" "$CPUS" "$MODELS"
}

run_mca() {
    $PY "$aux/report.py" mca "$COUNTS" "$CPUS" "$MODELS"
}

[ $# -gt 0 ] || set -- all
for step in "$@"; do
    case $step in
        all) build_plugin; build_tinyllm; build_models; build_llama; run_counts; run_mca ;;
        build) build_plugin; build_tinyllm; build_models; build_llama ;;
        plugin) build_plugin ;;
        tinyllm) build_tinyllm ;;
        llama) build_llama ;;
        models) build_models ;;
        run) run_counts ;;
        mca) run_mca ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "arm-profile.sh: unknown step $step (build, run, mca, all)" >&2; exit 2 ;;
    esac
done
