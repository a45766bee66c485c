// Package interop is a test-only package: its tests prove that mainstream
// third-party OAuth clients and JWT verifiers work with a real tokenwright
// server over TLS, and they generate the compatibility table in
// docs/verifiers.md from the same table of cases that drives them, so the
// document cannot claim more than the suite proves.
//
// There is nothing to import here. The pieces, all in _test.go files:
//
//   - harness_test.go starts one real server per signing algorithm (TLS
//     with the test CA, bbolt in a temporary directory, a clock the test
//     can move so that expiry and a pre-published key rotation happen in
//     seconds) with the accounts and credentials every client needs.
//   - cases_test.go is the table: every client and verifier, its pinned
//     version, what it is proven to do and what to configure, and rows for
//     the products issue 15 tried that the suite does not run.
//   - interop_test.go runs the scenario: clients obtain tokens with each
//     authentication method they support, verifiers accept them and
//     reject tampered, expired and wrong-audience tokens, and keep
//     accepting fresh tokens across a pre-published signing-key rotation.
//   - docs_test.go renders the table into docs/verifiers.md (checked;
//     `go test ./server/interop -update` rewrites it) and checks that the
//     installed versions are the table's.
//   - Python and Node helpers live in testdata/python and testdata/node;
//     they take arguments, print JSON, and Go asserts on it. Verifiers run
//     as long-lived processes (one JSON line per token) so that the same
//     verifier instance lives across the rotation.
//
// Adding a verifier (Apache httpd + mod_auth_openidc, say) takes its own
// file with a constructor of type verifierFactory and one row in
// cases_test.go that points at it; the scenario and the document pick it up.
//
// Tests needing python3-authlib, python3-jwt or node skip when those are
// missing, and fail under TOKENWRIGHT_TEST_STRICT=1 (CI, .ci/run installs
// them).
package interop
