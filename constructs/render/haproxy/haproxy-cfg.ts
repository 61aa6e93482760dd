import type { HostPlan, LabModel } from "../../model/lab-model";
import { renderTemplate } from "../text/template";
import { edgeClientTableSection } from "./edge-protection";

/** Where the operator-owned HAProxy settings live on the ingress host (the controller loads them). */
export const HAPROXY_AUX_CFG_PATH = "/etc/haproxy-ingress/haproxy-aux.cfg";
/** Loopback-only stats and Prometheus listener of the ingress HAProxy. */
export const HAPROXY_STATS_PORT = 8404;

/** Sidecar path of an ingress host's HAProxy configuration, relative to the stack root. */
export function haproxySidecarPath(plan: HostPlan): string {
  return `haproxy/${plan.name}.haproxy-aux.cfg`;
}

/**
 * haproxy.cfg of a DMZ ingress host. The HAProxy Kubernetes Ingress Controller runs in external mode
 * and writes the main configuration (frontends and pod backends) itself at runtime; this file is the
 * part the lab owns, loaded after it as haproxy-aux.cfg: logging, TLS defaults, the timeouts and the
 * per-client connection table of the edge protection (see edge-protection.ts), a loopback stats
 * listener. Valid on its own for HAProxy 2.6+ (`haproxy -c`), literal addresses only.
 */
export function renderHaproxyCfg(model: LabModel, plan: HostPlan): string {
  if (plan.role !== "ingress" || !plan.ip) throw new Error(`${plan.name} is not an ingress host`);
  const edge = model.spec.network.ingressProtection;
  return renderTemplate("haproxy/ingress-aux.cfg", {
    hostname: plan.name,
    lab: model.name,
    ip: plan.ip,
    stats_port: String(HAPROXY_STATS_PORT),
    timeout_client: `${edge.timeouts.clientSeconds}s`,
    timeout_http_request: `${edge.timeouts.httpRequestSeconds}s`,
    timeout_http_keep_alive: `${edge.timeouts.httpKeepAliveSeconds}s`,
    connections_per_client: String(edge.connectionsPerClient),
  }, { edge_client_table: edgeClientTableSection(edge) });
}
