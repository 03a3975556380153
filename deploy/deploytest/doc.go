// Package deploytest checks Segflow's deployment files (Dockerfile,
// docker-compose.yml, the Helm chart, the Grafana dashboard and the alert
// rules) with the real tools and loaders, against the segflow binary's own
// configuration. It is a separate module so that the product does not
// depend on Kubernetes, compose or Prometheus libraries.
package deploytest
