// Package interop is a test-only package: its tests prove that mainstream
// third-party OAuth clients and JWT verifiers work with a real tokenwright
// server over TLS, and they generate the compatibility table in
// docs/verifiers.md from the same table of cases that drives them, so the
// document cannot claim more than the suite proves.
//
// There is nothing to import here. The pieces, all in _test.go files:
//
//   - harness_test.go starts a real server (TLS with the test CA, bbolt in
//     a temporary directory, a clock the test moves so that expiry and a
//     pre-published key rotation happen in seconds) with the accounts and
//     credentials every client needs.
//   - cases_test.go is the table: every client and verifier, its pinned
//     version, what it is proven to do and what to configure, and rows for
//     the products issue 15 tried that the suite does not run.
//   - interop_test.go runs the scenario once per signing algorithm:
//     clients obtain tokens with each authentication method they support,
//     verifiers accept them and reject tampered, expired and
//     wrong-audience tokens, and keep accepting fresh tokens across a
//     pre-published signing-key rotation. algchange_test.go does the same
//     across a change of signing.algorithm.
//   - goclients_test.go and goverifiers_test.go hold the Go libraries;
//     scripts_test.go runs the Python and Node helpers in testdata/python
//     and testdata/node, which take arguments (secrets on stdin) and print
//     JSON that Go asserts on. Verifiers run as long-lived processes (one
//     JSON line per token) so that one verifier instance spans the
//     rotation.
//   - docs_test.go renders the table into docs/verifiers.md (checked;
//     `go test ./server/interop -update` rewrites it) and checks that the
//     installed versions are the table's.
//
// Adding a verifier (Apache httpd with mod_auth_openidc, say) takes a file
// of its own with a constructor of type verifierFactory (a verifier that
// answers a verdict per token, and implements cacheExpirer if its JWKS
// cache expires on a timer shorter than 31 minutes) and its row in
// components() pointing at it, with Needs naming the programs it requires;
// both scenarios and the document pick it up.
//
// Rows whose programs are missing (python3-authlib, python3-jwt, node and
// the npm packages) skip, and fail under TOKENWRIGHT_TEST_STRICT=1 (CI;
// .ci/run installs them).
package interop
