# shellcheck shell=bash
# Stage "provider": the smoke test of the test OpenID provider (npm oidc-provider on
# 127.0.0.1) that the integration tests run against. Sourced by scripts/test.sh.
provider_smoke() {
    # shellcheck disable=SC2154 # $root is set by scripts/test.sh
    timeout 300 bash "$root/tests/integration/provider_smoke.sh"
}
register_stage provider provider_smoke
