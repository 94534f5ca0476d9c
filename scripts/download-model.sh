#!/bin/sh
# Download a TinyLlama-1.1B-Chat GGUF from Hugging Face into models/ (or DIR).
# Resumable: an interrupted download continues where it stopped. The result
# is checked against the size the server announces and the GGUF magic.
#
#   scripts/download-model.sh [--list] [QUANT] [DIR]     QUANT: q4_k_m (default), q4_0, q8_0, ...
set -eu

REPO="TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"
STEM="tinyllama-1.1b-chat-v1.0"
QUANTS="q2_k q3_k_s q3_k_m q3_k_l q4_0 q4_k_s q4_k_m q5_0 q5_k_s q5_k_m q6_k q8_0"

if [ "${1:-}" = "--list" ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    echo "usage: $0 [QUANT] [DIR]   (default: q4_k_m models)"
    echo "QUANT is one of: $QUANTS"
    exit 0
fi
quant=$(printf '%s' "${1:-q4_k_m}" | tr 'A-Z' 'a-z')
dir=${2:-models}
case " $QUANTS " in
    *" $quant "*) ;;
    *) echo "$0: unknown quantization '$quant' (one of: $QUANTS)" >&2; exit 2 ;;
esac
command -v curl >/dev/null || { echo "$0: curl is needed" >&2; exit 1; }

file="$STEM.$(printf '%s' "$quant" | tr 'a-z' 'A-Z').gguf"
url="https://huggingface.co/$REPO/resolve/main/$file"
out="$dir/$file"
mkdir -p "$dir"

# the size announced by the last response of the redirect chain
size=$(curl -sIL "$url" | tr -d '\r' | awk 'tolower($1) == "content-length:" { n = $2 } END { print n }')
case "$size" in
    ''|*[!0-9]*) echo "$0: cannot reach $url" >&2; exit 1 ;;
esac
if [ -f "$out" ] && [ "$(wc -c <"$out")" -eq "$size" ]; then
    echo "$out is already complete ($size bytes)"
    exit 0
fi
echo "downloading $file ($size bytes) to $dir/"
curl -L --fail -C - -o "$out.part" "$url"
got=$(wc -c <"$out.part")
if [ "$got" -ne "$size" ]; then
    echo "$0: $out.part has $got bytes, expected $size: run again to resume" >&2
    exit 1
fi
if [ "$(head -c 4 "$out.part")" != "GGUF" ]; then
    echo "$0: $out.part is not a GGUF file" >&2
    exit 1
fi
mv "$out.part" "$out"
echo "saved $out"
