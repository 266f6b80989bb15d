#!/usr/bin/env python3
"""Checks with clang that translation units only the g++ build compiles still compile.

The clang-asan build compiles only the unit tests; the examples, the CLI and the integration
tests are compiled by g++ alone. This runs clang's front end (-fsyntax-only: parsing, templates,
warnings, no code generation) over those units, with the flags of a CMake build's
compile_commands.json (compiler swapped, -Wall -Wextra -Werror kept), so that a clang-only
warning in them fails CI too.

Usage: clang-syntax.py BUILD_DIR [--jobs N] [--compiler clang++-16] [PATH_PART ...]
"""
import argparse
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys
import time


def syntax_command(entry, compiler):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = [compiler, "-fsyntax-only"]
    skip = False
    for arg in args[1:]:
        if skip:
            skip = False
        elif arg in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
        elif arg in ("-c", "-MD", "-MMD"):
            pass
        else:
            out.append(arg)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build_dir")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--compiler", default="clang++-16")
    parser.add_argument("parts", nargs="*", default=["/examples/", "/tests/integration/"])
    opts = parser.parse_args()

    path = os.path.join(opts.build_dir, "compile_commands.json")
    with open(path, encoding="utf-8") as f:
        entries = [e for e in json.load(f) if any(p in e["file"] for p in opts.parts)]
    if not entries:
        print(f"clang-syntax: no translation unit matches {opts.parts} in {path}")
        return 1

    def check(entry):
        t0 = time.monotonic()
        run = subprocess.run(syntax_command(entry, opts.compiler), cwd=entry["directory"],
                             capture_output=True, text=True)
        return entry["file"], run.returncode, run.stdout + run.stderr, time.monotonic() - t0

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        for name, code, text, secs in pool.map(check, entries):
            rel = os.path.relpath(name)
            print(f"clang-syntax: {rel} {'ok' if code == 0 else 'FAILED'} ({secs:.1f} s)")
            if code != 0:
                failed += 1
                sys.stdout.write(text)
    print(f"clang-syntax: {len(entries) - failed} of {len(entries)} translation units pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
