#!/usr/bin/env python3
"""Generate tests/templates/expected.txt: what Hugging Face's
apply_chat_template renders for every fixture template (t_*.jinja) and every
built-in template (read from src/chat/template.c) on every messages file
(m_*.json), with and without the generation prompt.

Run once from the repository root (python3 tests/templates/gen_expected.py)
after changing a fixture; needs jinja2 >= 3.1 (Debian: python3-jinja2). The
test (tests/test_template.c) reads expected.txt and needs no Python.

The environment is HF's: ImmutableSandboxedEnvironment(trim_blocks=True,
lstrip_blocks=True) with the loopcontrols extension, tojson replaced by
json.dumps(ensure_ascii=False, ...), raise_exception raising TemplateError;
render() gets messages, tools, documents, add_generation_prompt, bos_token,
eos_token.

Record format, one per case:
  === TEMPLATE MESSAGES gen|nogen TOOLS ok|raise|error NBYTES\\n
  NBYTES bytes (the output, or the raise_exception message)\\n
TEMPLATE is a fixture file or builtin:NAME; TOOLS is a JSON file or -.
"""
import ast
import glob
import json
import os
import re
import sys

import jinja2
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BOS, EOS = "<s>", "</s>"


class Raised(Exception):
    pass


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def builtins():
    """The built-in templates, as C string literals in src/chat/template.c."""
    src = open(os.path.join(ROOT, "src", "chat/template.c"), encoding="utf-8").read()
    table = src[src.index("builtins[] = {"):src.index("#define N_BUILTINS")]
    out = {}
    for m in re.finditer(r'\{ "(\w+)",\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\}', table):
        parts = re.findall(r'"(?:[^"\\]|\\.)*"', m.group(2))
        out[m.group(1)] = "".join(ast.literal_eval(p) for p in parts)
    return out


def render(env, text, messages, gen, tools):
    try:
        out = env.from_string(text).render(messages=messages, tools=tools, documents=None,
                                           add_generation_prompt=gen, bos_token=BOS, eos_token=EOS)
        return "ok", out
    except Raised as e:
        return "raise", str(e)
    except jinja2.exceptions.TemplateError as e:
        return "error", ""
    except (TypeError, ValueError, KeyError, IndexError) as e:
        return "error", ""


def cases():
    fixtures = sorted(os.path.basename(p) for p in glob.glob(os.path.join(HERE, "t_*.jinja")))
    messages = sorted(os.path.basename(p) for p in glob.glob(os.path.join(HERE, "m_*.json")))
    texts = {f: open(os.path.join(HERE, f), encoding="utf-8").read() for f in fixtures}
    texts.update({"builtin:" + k: v for k, v in builtins().items()})
    for name in sorted(texts):
        for m in messages:
            for gen in (True, False):
                yield name, texts[name], m, gen, "-"
    # tools as a list, for the one fixture that lists them
    for gen in (True, False):
        yield "t_header_tools.jinja", texts["t_header_tools.jinja"], "m_tools.json", gen, "tools.json"


def main():
    env = make_env()
    records = []
    for name, text, mfile, gen, tfile in cases():
        messages = json.load(open(os.path.join(HERE, mfile), encoding="utf-8"))
        tools = None if tfile == "-" else json.load(open(os.path.join(HERE, tfile), encoding="utf-8"))
        kind, body = render(env, text, messages, gen, tools)
        data = body.encode("utf-8")
        records.append(b"=== %s %s %s %s %s %d\n" % (name.encode(), mfile.encode(), b"gen" if gen else b"nogen",
                                                     tfile.encode(), kind.encode(), len(data)) + data + b"\n")
    with open(os.path.join(HERE, "expected.txt"), "wb") as f:
        f.write(b"".join(records))
    print("%d cases written to expected.txt" % len(records), file=sys.stderr)


if __name__ == "__main__":
    main()
