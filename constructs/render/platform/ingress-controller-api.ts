/**
 * What the HAProxy Kubernetes Ingress Controller 3.2 asks of the Kubernetes API when it runs outside
 * the cluster (`--external`, no `POD_NAME`): one row per resource, with the verbs its informers and
 * writes use and where in its source that happens. The ingress-access ClusterRole grants exactly
 * these rows, so a forbidden list (which stalls the controller before its first sync: it waits on
 * every informer's cache) cannot happen, and nothing more is granted.
 *
 * Source: haproxytech/kubernetes-ingress v3.2.11 (the files cited did not change up to the v3.2 head
 * that 3.2.12 ships from).
 */
export interface ControllerApiUse {
  /** API group (`""` for core). */
  readonly group: string;
  /** Resources (plural, `sub` resources as `ingresses/status`). */
  readonly resources: readonly string[];
  /** Verbs the controller uses. */
  readonly verbs: readonly string[];
  /** Where the source uses them. */
  readonly source: string;
}

export const INGRESS_CONTROLLER_API: readonly ControllerApiUse[] = [
  { group: "", resources: ["namespaces"], verbs: ["list", "watch"], source: "pkg/k8s/informers.go:30-31, started in pkg/k8s/main.go:293-294" },
  { group: "", resources: ["services"], verbs: ["list", "watch"], source: "pkg/k8s/informers.go:134-135" },
  { group: "", resources: ["secrets"], verbs: ["list", "watch"], source: "pkg/k8s/informers.go:283-284" },
  { group: "", resources: ["configmaps"], verbs: ["list", "watch"], source: "pkg/k8s/main.go:276-304 (field selector on the --configmap name), informers.go:360-361" },
  { group: "discovery.k8s.io", resources: ["endpointslices"], verbs: ["list", "watch"], source: "pkg/k8s/informers.go:470-494 (endpoints only without EndpointSlices, main.go:325-329)" },
  { group: "networking.k8s.io", resources: ["ingresses"], verbs: ["get", "list", "watch"], source: "pkg/k8s/informers.go:444-468; get before a status update, pkg/ingress/status.go:34" },
  { group: "networking.k8s.io", resources: ["ingressclasses"], verbs: ["list", "watch"], source: "pkg/k8s/informers.go:444-468" },
  { group: "networking.k8s.io", resources: ["ingresses/status"], verbs: ["update"], source: "pkg/ingress/status.go:40" },
  {
    group: "apiextensions.k8s.io",
    resources: ["customresourcedefinitions"],
    verbs: ["get", "list", "watch"],
    source: "pkg/k8s/crs-monitor.go:36-37 (cluster-wide CRD informer); main.go:421-454 (get of the Gateway API CRDs)",
  },
  {
    group: "ingress.v3.haproxy.org",
    resources: ["globals", "defaults", "backends", "tcps", "frontends", "validationrules"],
    verbs: ["list", "watch"],
    source: "pkg/k8s/cr-global.go:38, cr-defaults.go:38, cr-backend.go:40, cr-tcp.go:33, cr-frontend.go:40, cr-validation-rules.go:34",
  },
  { group: "ingress.v1.haproxy.org", resources: ["globals", "defaults", "backends", "tcps"], verbs: ["list", "watch"], source: "pkg/k8s/crs-deprecated-v1.go:57,107,154,202" },
];
