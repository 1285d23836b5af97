// kube-router's network policy controller for the tests' single-node cluster (.ci/setup.sh
// builds it, harness.kube.localnode runs it with only --run-firewall): the bridge CNI plugin
// the node uses does not enforce NetworkPolicy, and the network_disconnect fault of the
// kubernetes runtime is one. kube-router's own main (cmd/kube-router) less its pprof listener
// on 0.0.0.0:6060.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cloudnativelabs/kube-router/v2/pkg/cmd"
	"github.com/cloudnativelabs/kube-router/v2/pkg/options"
	"github.com/cloudnativelabs/kube-router/v2/pkg/version"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s\n", err)
		os.Exit(1)
	}
}

func run() error {
	klog.InitFlags(nil)
	config := options.NewKubeRouterConfig()
	config.AddFlags(pflag.CommandLine)
	pflag.Parse()
	if err := flag.CommandLine.Parse([]string{}); err != nil {
		return fmt.Errorf("failed to parse flags: %w", err)
	}
	if err := flag.Set("logtostderr", "true"); err != nil {
		return err
	}
	if err := flag.Set("v", config.VLevel); err != nil {
		return err
	}
	if config.HelpRequested {
		pflag.Usage()
		return nil
	}
	if config.Version {
		version.PrintVersion(false)
		return nil
	}
	if config.EnablePprof {
		return fmt.Errorf("--enable-pprof is not built into this kube-router")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("kube-router needs root to run iptables and ipset")
	}
	if config.CleanupConfig {
		cmd.CleanupConfigAndExit()
		return nil
	}
	router, err := cmd.NewKubeRouterDefault(config)
	if err != nil {
		return fmt.Errorf("failed to parse kube-router config: %w", err)
	}
	return router.Run()
}
