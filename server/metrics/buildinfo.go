package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

// buildInfoGauge is tokenwright_build_info{version,commit,go} 1: the
// Prometheus convention for joining the build identity onto other series
// (and for seeing which versions a fleet runs).
func buildInfoGauge(b buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "tokenwright", Name: "build_info",
		Help:        "Always 1; the labels are the build identity (tokenwright version -o json).",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "go": b.Go},
	})
	g.Set(1)
	return g
}
