# Stage "integration": oidc::client, jwks_cache and the CLI's OAuth verbs against the real test
# provider (tests/integration/provider). Starts the provider in a temporary directory, exports
# its OIDC_TEST_* variables, runs oidc_integration_tests from the gcc build (built here when the
# gcc stage did not run) and the CLI checks, and stops the provider whatever happens.
# Sourced by scripts/test.sh.

integration_tests() {
    (
        set -u
        local dir build pdir rc=0
        build=$out/gcc
        gcc_tree || exit 1
        cmake --build "$build" -j "$jobs" --target oidc_integration_tests || exit 1
        pdir=$(mktemp -d "${TMPDIR:-/tmp}/oidc-integration.XXXXXX")
        trap 'bash "$root/scripts/provider.sh" stop "$pdir" >/dev/null 2>&1 || true; rm -rf "$pdir"' EXIT
        bash "$root/scripts/provider.sh" start "$pdir" || {
            cat "$pdir/provider.log" 2>/dev/null
            exit 1
        }
        eval "$(bash "$root/scripts/provider.sh" env "$pdir")"
        "$build/tests/integration/oidc_integration_tests" "[integration]" || rc=1
        # The CLI's OAuth verbs: a CLI that fails to build fails the stage.
        if cmake --build "$build" -j "$jobs" --target asio-oidc-cli resource_server; then
            bash "$root/tests/integration/cli_oauth.sh" "$build/examples/cli/asio-oidc" || rc=1
        else
            rc=1
        fi
        [ "$rc" = 0 ] || tail -n 40 "$pdir/provider.log" 2>/dev/null
        exit "$rc"
    )
}
register_stage integration integration_tests
