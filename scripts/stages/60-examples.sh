# shellcheck shell=bash
# Stage "examples": the demo (scripts/demo.sh) against the local OpenID provider, with its
# assertions (--check): the examples end to end, the API's 401 answers, the provider's token
# request counts, no secret in the logs. Uses the gcc stage's build tree. Sourced by
# scripts/test.sh.
# shellcheck disable=SC2154 # $root, $out and $jobs are set by scripts/test.sh
examples_e2e() {
    local dir=$out/gcc
    gcc_tree || return 1
    local targets=()
    local e
    for e in resource_server keycloak_password_client authorization_code_login \
        client_credentials device_flow timeouts_and_cancellation; do
        [ -f "$root/examples/$e/CMakeLists.txt" ] && targets+=("$e")
    done
    cmake --build "$dir" -j "${jobs:-2}" --target "${targets[@]}" || return 1
    timeout 300 bash "$root/scripts/demo.sh" --skip-deps --no-build --check \
        --build-dir "$dir" --run-dir "$out/examples-run"
}
register_stage examples examples_e2e
