// Package kubernetes holds Kubernetes manifests for Tether's cluster example
// (examples/cluster/app) and the test that checks them: every manifest in
// manifests/ decodes strictly into the Kubernetes API types, and the objects
// fit together (selectors, ports, probes, affinity). See README.md for which
// topology to choose when.
//
// It is a module of its own, so that k8s.io/api is never a dependency of the
// library.
package kubernetes
