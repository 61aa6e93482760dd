import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request, Server } from "node:http";
import { AddressInfo, connect, createServer, Socket } from "node:net";
import { delimiter, join } from "node:path";
import { tmpdir } from "node:os";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLabModel } from "../constructs/lab/build";
import { validateLabSpec } from "../constructs/lab/validate";
import { HostPlan, LabModel } from "../constructs/model/lab-model";
import { HAPROXY_STATS_PORT, renderHaproxyCfg } from "../constructs/render/haproxy/haproxy-cfg";
import { EDGE_CLIENT_TABLE } from "../constructs/render/haproxy/edge-protection";
import { INGRESS_CONTROLLER_CONFIG, platformChartFiles } from "../constructs/render/platform/platform-charts";
import { controllerMainCfg } from "./support/haproxy-controller";

/**
 * Edge protection of the DMZ ingress. What ships: the controller's ConfigMap (in the ingress-access
 * chart) with documented keys only, and the aux file's connection table. Then a live run: Debian's
 * haproxy on loopback with the generated aux file and a stand-in for the controller's main config
 * built from the generated ConfigMap, a Node backend, and bounded load from this process: the excess
 * over the per-client rate gets the configured status, a denied network gets 403, a client past its
 * connection limit is refused at accept, and a slow request head is cut by `timeout http-request`.
 */

/**
 * ConfigMap keys of the HAProxy Kubernetes Ingress Controller 3.2 this feature may use
 * (documentation/annotations.md of haproxytech/kubernetes-ingress, the 3.2 table).
 */
const DOCUMENTED_KEYS = new Set([
  "maxconn",
  "timeout-http-request",
  "timeout-client",
  "timeout-http-keep-alive",
  "rate-limit-requests",
  "rate-limit-period",
  "rate-limit-size",
  "rate-limit-status-code",
  "deny-list",
  "allow-list",
  "frontend-config-snippet",
]);

function controllerConfigMap(m: LabModel): Record<string, string> {
  const text = platformChartFiles(m).get("charts/ingress-access/templates/access.yaml")!;
  const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string }; data?: Record<string, string> });
  const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === INGRESS_CONTROLLER_CONFIG.name && d.metadata.namespace === INGRESS_CONTROLLER_CONFIG.namespace);
  if (!cm) throw new Error("no controller ConfigMap in the ingress-access chart");
  return cm.data ?? {};
}

const ingressOf = (m: LabModel) => m.hosts.find((h): h is HostPlan => h.role === "ingress")!;

describe("the controller's ConfigMap", () => {
  it("carries the default protection in documented keys, values as the controller parses them", () => {
    const data = controllerConfigMap(buildLabModel(validateLabSpec({})));
    for (const k of Object.keys(data)) expect(DOCUMENTED_KEYS, k).toContain(k);
    expect(data).toMatchObject({
      maxconn: "4096",
      "timeout-http-request": "5s",
      "timeout-client": "30s",
      "timeout-http-keep-alive": "10s",
      "rate-limit-requests": "200",
      "rate-limit-period": "10s",
      "rate-limit-size": "100000",
      "rate-limit-status-code": "429",
    });
    // Empty lists mean every source: no allow-list (it would deny everyone), no deny-list.
    expect(data).not.toHaveProperty("allow-list");
    expect(data).not.toHaveProperty("deny-list");
    expect(data["frontend-config-snippet"]).toContain(`track-sc1 src table ${EDGE_CLIENT_TABLE}`);
    expect(data["frontend-config-snippet"]).toContain("sc1_conn_cur gt 50");
  });

  it("lists the spec's networks as the controller's comma-separated IPs/CIDRs", () => {
    const m = buildLabModel(validateLabSpec({ network: { ingressProtection: { allow: ["203.0.113.0/24", "198.51.100.7/32"], deny: ["203.0.113.128/25"] } } }));
    const data = controllerConfigMap(m);
    expect(data["allow-list"]).toBe("203.0.113.0/24, 198.51.100.7/32");
    expect(data["deny-list"]).toBe("203.0.113.128/25");
  });
});

const haproxyBin = (process.env.PATH ?? "").split(delimiter).map((d) => join(d, "haproxy")).find((p) => existsSync(p));
if (!haproxyBin) console.warn("edge protection live test: skipped — haproxy is not installed (apt-get install haproxy)");

/** A free TCP port on loopback (bound, read, released). */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => done(port));
    });
  });
}

/** One GET from `localAddress`, a fresh connection each time; resolves to the status code. */
function get(port: number, localAddress: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = request({ host: "127.0.0.1", port, path: "/", localAddress, agent: false, headers: { connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => done(res.statusCode!));
    });
    req.on("error", fail);
    req.setTimeout(5000, () => req.destroy(new Error("request timed out")));
    req.end();
  });
}

function openSocket(port: number, localAddress: string): Promise<Socket> {
  return new Promise((done, fail) => {
    const s = connect({ host: "127.0.0.1", port, localAddress }, () => done(s));
    s.on("error", fail);
  });
}

/** Writes `text` and collects what comes back until the peer closes (or `ms` pass). */
function exchange(s: Socket, text: string, ms = 4000): Promise<{ data: string; closed: boolean }> {
  return new Promise((done) => {
    let data = "";
    const timer = setTimeout(() => done({ data, closed: false }), ms);
    s.setEncoding("utf8");
    s.on("data", (d: string) => (data += d));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      done({ data, closed: true });
    });
    s.write(text);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!haproxyBin)("edge protection, live on loopback", () => {
  const RATE = 5;
  const PER_CLIENT = 3;
  const spec = {
    network: {
      ingressProtection: {
        requestsPerClient: RATE,
        ratePeriodSeconds: 10,
        connectionsPerClient: PER_CLIENT,
        maxConnections: 200,
        limitStatusCode: 429,
        deny: ["127.0.0.2/32"],
        timeouts: { httpRequestSeconds: 1, clientSeconds: 5, httpKeepAliveSeconds: 1 },
      },
    },
  };
  const m = buildLabModel(validateLabSpec(spec));
  const work = mkdtempSync(join(tmpdir(), "edge-protection-"));
  let backend: Server;
  let haproxy: ChildProcess;
  let port = 0;
  let log = "";

  beforeAll(async () => {
    backend = createHttpServer((_, res) => res.end("ok\n"));
    await new Promise<void>((r) => backend.listen(0, "127.0.0.1", () => r()));
    const server = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
    port = await freePort();
    const statsPort = await freePort();
    const aux = renderHaproxyCfg(m, ingressOf(m)).replace(`bind 127.0.0.1:${HAPROXY_STATS_PORT}`, `bind 127.0.0.1:${statsPort}`);
    const main = controllerMainCfg({ settings: controllerConfigMap(m), bind: `127.0.0.1:${port}`, server, pidfile: join(work, "haproxy.pid") });
    writeFileSync(join(work, "haproxy.cfg"), main);
    writeFileSync(join(work, "haproxy-aux.cfg"), aux);
    haproxy = spawn(haproxyBin!, ["-db", "-f", join(work, "haproxy.cfg"), "-f", join(work, "haproxy-aux.cfg")], { stdio: ["ignore", "pipe", "pipe"] });
    haproxy.stdout!.on("data", (d) => (log += d));
    haproxy.stderr!.on("data", (d) => (log += d));
    // Ready when the frontend accepts a connection (from an address no test below uses).
    for (let i = 0; i < 50; i++) {
      if (haproxy.exitCode !== null) throw new Error(`haproxy exited: ${log}`);
      const ok = await openSocket(port, "127.0.0.9").then((s) => (s.destroy(), true), () => false);
      if (ok) return;
      await sleep(100);
    }
    throw new Error(`haproxy did not listen on 127.0.0.1:${port}: ${log}`);
  }, 15000);

  afterAll(async () => {
    if (haproxy && haproxy.exitCode === null) {
      haproxy.kill("SIGTERM");
      await new Promise((r) => haproxy.once("exit", r));
    }
    await new Promise((r) => backend?.close(r));
    rmSync(work, { recursive: true, force: true });
  });

  it("lets a client's requests under the rate through and throttles the excess with the configured status", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3 * RATE; i++) statuses.push(await get(port, "127.0.0.1"));
    expect(statuses.slice(0, RATE), log).toEqual(Array(RATE).fill(200));
    const throttled = statuses.filter((s) => s === 429).length;
    expect(statuses.every((s) => s === 200 || s === 429), statuses.join(",")).toBe(true);
    // HAProxy's rate is a sliding estimate: at most one more may pass if the burst crosses a period edge.
    expect(throttled, statuses.join(",")).toBeGreaterThanOrEqual(2 * RATE - 1);
    // Another client has its own budget.
    expect(await get(port, "127.0.0.5")).toBe(200);
  });

  it("refuses a denied source network with 403", async () => {
    expect(await get(port, "127.0.0.2")).toBe(403);
    expect(await get(port, "127.0.0.6")).toBe(200);
  });

  it("refuses a client's connection at accept past its concurrent-connection limit", async () => {
    const held: Socket[] = [];
    for (let i = 0; i < PER_CLIENT; i++) held.push(await openSocket(port, "127.0.0.3"));
    await sleep(150); // HAProxy has accepted and tracked them
    // Refused: reset during or right after the handshake, never an HTTP answer.
    const refused = await new Promise<string>((done) => {
      let data = "";
      const s = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.3" }, () => s.write("GET / HTTP/1.1\r\nHost: lab\r\n\r\n"));
      s.setEncoding("utf8");
      s.on("data", (d: string) => (data += d));
      s.on("error", (e: NodeJS.ErrnoException) => done(`error ${e.code} ${data}`.trim()));
      s.on("close", () => done(`closed ${data}`.trim()));
      setTimeout(() => (s.destroy(), done(`open ${data}`.trim())), 2000);
    });
    expect(refused).toMatch(/^(error ECONNRESET|closed)$/);
    // A held connection still works, and a different client is not affected.
    const answer = await exchange(held[0], "GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n");
    expect(answer.data).toMatch(/^HTTP\/1\.1 200/);
    expect(await get(port, "127.0.0.7")).toBe(200);
    for (const s of held) s.destroy();
  });

  it("cuts a slow request head after timeout http-request (slowloris)", async () => {
    const s = await openSocket(port, "127.0.0.4");
    const started = Date.now();
    const r = await exchange(s, "GET / HTTP/1.1\r\nHost: lab\r\n", 4000);
    const elapsed = Date.now() - started;
    expect(r.closed).toBe(true);
    expect(r.data).toMatch(/^HTTP\/1\.[01] 408/);
    expect(elapsed).toBeGreaterThanOrEqual(800);
    expect(elapsed).toBeLessThan(3000);
  });
});
