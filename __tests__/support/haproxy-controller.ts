/**
 * Stands in for the main haproxy.cfg the HAProxy Kubernetes Ingress Controller 3.2 writes at runtime
 * from its ConfigMap, which the generated aux file joins (`-f haproxy.cfg -f haproxy-aux.cfg`). Only
 * what the edge-protection keys turn into, as the controller's sources write it:
 * - `maxconn` into global, the `timeout-*` keys into its defaults section;
 * - `deny-list` / `allow-list`: `http-request deny deny_status 403 if [!]{ src ... }`
 *   (pkg/haproxy/rules/reqDeny.go; the controller puts the networks in a map file, listed inline here);
 * - `rate-limit-*`: a table-only backend `RateLimit-<ms>` storing `http_req_rate(<ms>)` keyed by ip,
 *   `http-request track-sc0 src table RateLimit-<ms>` and
 *   `http-request deny deny_status <code> if { sc0_http_req_rate(RateLimit-<ms>) gt <n> }`
 *   (pkg/haproxy/rules/reqTrack.go, reqRatelimit.go);
 * - `frontend-config-snippet` after the controller's own rules (documentation/annotations.md).
 */

export interface ControllerCfgOptions {
  /** The generated ConfigMap data. */
  readonly settings: Readonly<Record<string, string>>;
  /** `address:port` of the HTTP frontend. */
  readonly bind: string;
  /** `address:port` of the one backend server. */
  readonly server: string;
  /** Where HAProxy writes its pid. */
  readonly pidfile: string;
}

const ms = (time: string) => {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(time);
  if (!m) throw new Error(`not a controller time: ${time}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[(m[2] ?? "ms") as "ms"];
};

const list = (v: string) => v.split(",").map((x) => x.trim()).filter(Boolean).join(" ");

export function controllerMainCfg(o: ControllerCfgOptions): string {
  const s = o.settings;
  const lines = ["global", `    pidfile ${o.pidfile}`];
  if (s.maxconn) lines.push(`    maxconn ${s.maxconn}`);
  lines.push("defaults controller", "    mode http", "    timeout connect 5s", "    timeout server 50s");
  lines.push(`    timeout client ${s["timeout-client"] ?? "50s"}`);
  lines.push(`    timeout http-request ${s["timeout-http-request"] ?? "5s"}`);
  lines.push(`    timeout http-keep-alive ${s["timeout-http-keep-alive"] ?? "1m"}`);
  const period = ms(s["rate-limit-period"] ?? "1s");
  const table = `RateLimit-${period}`;
  if (s["rate-limit-requests"]) {
    lines.push(`backend ${table}`, `    stick-table type ip size ${s["rate-limit-size"] ?? "100k"} store http_req_rate(${period})`);
  }
  lines.push("frontend http from controller", `    bind ${o.bind}`);
  if (s["deny-list"]) lines.push(`    http-request deny deny_status 403 if { src ${list(s["deny-list"])} }`);
  if (s["allow-list"]) lines.push(`    http-request deny deny_status 403 if !{ src ${list(s["allow-list"])} }`);
  if (s["rate-limit-requests"]) {
    lines.push(`    http-request track-sc0 src table ${table}`);
    lines.push(`    http-request deny deny_status ${s["rate-limit-status-code"] ?? "403"} if { sc0_http_req_rate(${table}) gt ${s["rate-limit-requests"]} }`);
  }
  for (const l of (s["frontend-config-snippet"] ?? "").split("\n")) if (l.trim()) lines.push(`    ${l}`);
  lines.push("    default_backend pods", "backend pods from controller", `    server pod1 ${o.server}`, "");
  return lines.join("\n");
}
