#!/bin/sh
# Coverage-guided fuzzing of the parsers with libFuzzer (clang), under
# AddressSanitizer and UBSan:
#   scripts/fuzz.sh model|template|tokenizer|llama2c|http|api [SECONDS]     (default 300)
# model: GGUF files through loading and a forward pass; template: chat
# templates through the Jinja renderer; tokenizer: text through the
# vocabularies of ../shared/vocab; llama2c: llama2.c checkpoints and
# tokenizers through `tinyllm convert`'s reader and the GGUF writer; http: a
# connection's bytes through the HTTP parser, request after request, and
# each body through the JSON reader; api: request bodies through the OpenAI,
# Ollama and llama.cpp handlers on models/stories260K.gguf. Findings land in build/fuzz/findings-TARGET/
# (reproduce with build/fuzz/fuzz_TARGET FILE); the corpus grows in
# build/fuzz/corpus-TARGET/ from seeds taken from tests/ and ../shared.
set -eu
target=${1:-}
secs=${2:-300}
case $target in model|template|tokenizer|llama2c|http|api) ;; *) echo "usage: $0 model|template|tokenizer|llama2c|http|api [SECONDS]" >&2; exit 2 ;; esac
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "$0: $CC not found (apt-get install clang)" >&2; exit 1; }
out=build/fuzz
mkdir -p "$out/obj" "$out/corpus-$target" "$out/findings-$target"
flags="-O1 -g -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -fsanitize=address,undefined -fno-sanitize-recover=undefined"
# server/page.c includes the chat page as bytes, made as the Makefile makes them
mkdir -p "$out/gen"
od -An -v -tx1 src/server/page.html | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g' > "$out/gen/page_html.inc"
flags="$flags -I$out/gen"
objs=""
for f in $(find src -name '*.c' | LC_ALL=C sort); do
    b=$(echo "${f#src/}" | sed 's|/|_|g; s|\.c$||')
    # the HTTP parser needs only itself and the JSON reader
    [ "$target" = http ] && case $b in server_http|util_json|util_error) ;; *) continue ;; esac
    case $b in
    cli_main|kernels_neon|kernels_neon_dot) continue ;;
    kernels_avx2) isa="-mavx2 -mfma -mf16c" ;;
    kernels_avx512) isa="-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni" ;;
    *) isa="" ;;
    esac
    o="$out/obj/$b.o"
    if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ "$b" = server_page ] || [ -n "$(find src include -name '*.h' -newer "$o")" ]; then
        $CC $flags -fsanitize=fuzzer-no-link $isa -c "$f" -o "$o"
    fi
    objs="$objs $o"
done
$CC $flags -fsanitize=fuzzer "tests/fuzz/fuzz_$target.c" $objs -lm -lpthread -o "$out/fuzz_$target"

corpus="$out/corpus-$target"
case $target in
model)
    for f in ../shared/oracle/models/llama-mini-q4_0.gguf ../shared/oracle/models/gemma-mini-q8_0.gguf \
             ../shared/oracle/models/phi2-mini-q4_k_m.gguf ../shared/models/llama-2-tiny-random.gguf; do
        [ -f "$f" ] && cp -n "$f" "$corpus/" || true
    done
    maxlen=3000000 ;;
template)
    cp -n tests/templates/*.jinja "$corpus/"
    maxlen=20000 ;;
llama2c)
    # seeds: a checkpoint and its tokenizer, behind the u32 checkpoint length
    for m in stories260K:tok512 aidreams260K:aidreams-tok512; do
        c=../shared/realmodels/${m%%:*}.bin t=../shared/realmodels/${m#*:}.bin
        [ -f "$c" ] && [ -f "$t" ] || continue
        python3 -c "import os,struct,sys; sys.stdout.buffer.write(struct.pack('<I', os.path.getsize('$c')))" \
            | cat - "$c" "$t" > "$corpus/${m%%:*}"
    done
    maxlen=3000000 ;;
http)
    # seeds: a GET, a POST with a JSON body, a chunked POST, pipelined (the
    # first byte picks the limits)
    printf '\000GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n' > "$corpus/get"
    printf '\000POST /completion HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\n{"prompt":"Hi"}\nHEAD / HTTP/1.0\n\n' > "$corpus/post"
    printf '\001POST /api/chat HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{"a"\r\n3\r\n:1}\r\n0\r\nT: 1\r\n\r\n' > "$corpus/chunked"
    maxlen=65536 ;;
api)
    # seeds: one body per kind of route (the first byte picks the POST route)
    printf '\001{"prompt":"Once upon","max_tokens":5,"stream":true,"logprobs":2,"echo":true}' > "$corpus/completions"
    printf '\000{"messages":[{"role":"user","content":"hi"}],"max_tokens":4,"logprobs":true,"top_logprobs":2,"stream":true,"stream_options":{"include_usage":true}}' > "$corpus/chat"
    printf '\002{"prompt":"Hi","system":"S","options":{"num_predict":3,"stop":["a"]}}' > "$corpus/generate"
    printf '\005{"prompt":"a","n_predict":4,"n_probs":3,"stream":true,"stop":["b"]}' > "$corpus/completion"
    printf '\007{"content":"hello","with_pieces":true}' > "$corpus/tokenize"
    maxlen=4096 ;;
tokenizer)
    TINYLLM_FUZZ_VOCABS=$(ls ../shared/vocab/*.gguf 2>/dev/null | tr '\n' ':')
    [ -n "$TINYLLM_FUZZ_VOCABS" ] || { echo "$0: the tokenizer target needs ../shared/vocab" >&2; exit 1; }
    export TINYLLM_FUZZ_VOCABS
    cp -n README.md tests/templates/*.json "$corpus/"
    maxlen=4096 ;;
esac
ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1} \
    "$out/fuzz_$target" "$corpus" -max_total_time="$secs" -max_len=$maxlen -timeout=10 \
    -rss_limit_mb=4096 -artifact_prefix="$out/findings-$target/" -print_final_stats=1
