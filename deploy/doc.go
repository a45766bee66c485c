// Package deploy holds no code: it is the home of the deployment files
// (helm/tokenwright, the Helm chart; kubernetes/, plain manifests generated
// from it) and of their tests, which render the chart with the real helm,
// decode every document strictly into the Kubernetes API types, and load
// the rendered tokenwright configuration with the server's own loader.
package deploy
