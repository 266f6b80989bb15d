# shellcheck shell=bash
# Stage "clang-syntax": clang 16's front end over the translation units only the g++ build
# compiles (examples, CLI, integration tests), with that build's flags (-Werror included), so
# that a clang-only warning there fails CI. No code generation. Uses the gcc stage's
# compile_commands.json (configures that tree if it is missing). Sourced by scripts/test.sh.
# shellcheck disable=SC2154 # $root, $out and $jobs are set by scripts/test.sh
clang_syntax() {
    local dir=$out/gcc
    if [ ! -f "$dir/compile_commands.json" ]; then
        cmake -S "$root" -B "$dir" -G Ninja "${gcc_args[@]}" >"$out/clang-syntax.configure.log" 2>&1 || {
            cat "$out/clang-syntax.configure.log"
            return 1
        }
    fi
    python3 "$root/scripts/clang-syntax.py" "$dir" --jobs "$jobs"
}
register_stage clang-syntax clang_syntax
