# shellcheck shell=bash
# Stage "clang-syntax": clang 16's front end over the translation units only the g++ build
# compiles (examples, CLI, integration tests), with that build's flags (-Werror included), so
# that a clang-only warning there fails CI. No code generation. Uses the gcc stage's
# compile_commands.json (gcc_tree configures it if missing). Sourced by scripts/test.sh.
# shellcheck disable=SC2154 # $root, $out and $jobs are set by scripts/test.sh
clang_syntax() {
    gcc_tree && python3 "$root/scripts/clang-syntax.py" "$out/gcc" --jobs "$jobs"
}
register_stage clang-syntax clang_syntax
