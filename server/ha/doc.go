// Package ha holds tokenwright's end-to-end high-availability tests:
// replicas of the real server on real etcd clusters (every etcd version
// etcdtest finds), with members killed, paused and partitioned. They are
// a package of their own, apart from package server's tests, so that
// `go test ./...` runs them beside the rest rather than after it (each
// package's tests run one package at a time per slot; these alone take
// minutes).
package ha
