// Command etcd is etcd's own server, built from the Go module proxy at the
// version pinned in go.mod, so that the tests run against a current etcd
// besides Debian's 3.4 (.ci/run builds it; see store/etcd/etcdtest). It is
// a separate module so that the main module's dependencies stay untouched.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
