// Command etcd is etcd's own server entry point, built by `make setup` (.ci/setup.sh,
// install_kube_binaries) from the server module at the version pinned in this folder's go.mod.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
