import type { IngressProtection } from "../../input/lab-spec";

/**
 * Edge protection of the DMZ ingress, rendered for the two places the HAProxy Kubernetes Ingress
 * Controller (3.2, pinned in versions.ts) takes settings from:
 *
 * - its ConfigMap (`--configmap`), with the keys documented in the controller's
 *   documentation/annotations.md for 3.2: `maxconn` (global), `timeout-http-request`,
 *   `timeout-client`, `timeout-http-keep-alive` (defaults), `rate-limit-requests`,
 *   `rate-limit-period`, `rate-limit-size`, `rate-limit-status-code` (a stick table per period keyed
 *   by `src`, pkg/haproxy/rules/reqTrack.go and reqRatelimit.go: `http-request track-sc0 src table
 *   RateLimit-<ms>`, `http-request deny deny_status <code> if { sc0_http_req_rate(...) gt <n> }`),
 *   `deny-list` and `allow-list` (`http-request deny` with 403, pkg/haproxy/rules/reqDeny.go);
 * - for the per-client connection limit, which has no key of its own, the documented
 *   `frontend-config-snippet` key (raw directives in the main HTTP/HTTPS frontends) tracks the
 *   source in sticky counter 1 (the controller's rate limit uses 0) against a stick table the
 *   operator-owned aux file (documentation/secondary-config.md) declares, shared by both frontends.
 *
 * The global `maxconn` is the ConfigMap's alone: HAProxy keeps the first `maxconn` it reads (the
 * controller's haproxy.cfg) and answers a second one, in the aux file, with an alert.
 */

/** Stick table (a table-only backend of the aux file) counting each client's concurrent connections. */
export const EDGE_CLIENT_TABLE = "talos_enclave_edge_clients";

/** Name of the stick table the controller creates for its rate limit (`RateLimit-<period in ms>`). */
export function rateLimitTableName(p: IngressProtection): string {
  return `RateLimit-${p.ratePeriodSeconds * 1000}`;
}

/**
 * The controller's ConfigMap data for the edge protection: documented keys only, values as strings
 * (a ConfigMap holds strings). `allow-list` is left out while the allow list is empty (every source),
 * `deny-list` while the deny list is.
 */
export function edgeControllerSettings(p: IngressProtection): Record<string, string> {
  const data: Record<string, string> = {
    maxconn: String(p.maxConnections),
    "timeout-http-request": `${p.timeouts.httpRequestSeconds}s`,
    "timeout-client": `${p.timeouts.clientSeconds}s`,
    "timeout-http-keep-alive": `${p.timeouts.httpKeepAliveSeconds}s`,
    "rate-limit-requests": String(p.requestsPerClient),
    "rate-limit-period": `${p.ratePeriodSeconds}s`,
    "rate-limit-size": String(p.trackedClients),
    "rate-limit-status-code": String(p.limitStatusCode),
  };
  if (p.deny.length) data["deny-list"] = p.deny.join(", ");
  if (p.allow.length) data["allow-list"] = p.allow.join(", ");
  data["frontend-config-snippet"] = edgeFrontendSnippet(p);
  return data;
}

/**
 * Directives for the controller's main frontends (ConfigMap `frontend-config-snippet`): refuse a
 * client's connection at accept once it holds `connectionsPerClient` others.
 */
export function edgeFrontendSnippet(p: IngressProtection): string {
  return [
    `# talos-enclave: at most ${p.connectionsPerClient} concurrent connections per source address (table in haproxy-aux.cfg)`,
    `tcp-request connection track-sc1 src table ${EDGE_CLIENT_TABLE}`,
    `tcp-request connection reject if { sc1_conn_cur gt ${p.connectionsPerClient} }`,
    "",
  ].join("\n");
}

/** The aux file's table-only backend that {@link edgeFrontendSnippet} tracks clients in. */
export function edgeClientTableSection(p: IngressProtection): string {
  const expire = Math.max(60, p.ratePeriodSeconds * 2);
  return [
    // `from` the aux file's named defaults: a proxy using them implicitly next to one naming them makes HAProxy alert
    `backend ${EDGE_CLIENT_TABLE} from talos_enclave_local`,
    `    stick-table type ip size ${p.trackedClients} expire ${expire}s store conn_cur,conn_rate(${p.ratePeriodSeconds}s)`,
  ].join("\n");
}
