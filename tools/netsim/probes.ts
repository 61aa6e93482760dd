import { cidrContains, parseCidr } from "../../constructs/input/addressing";
import type { Flow, FlowTable } from "../../constructs/model/flows";
import { Segment, segmentOf } from "../../constructs/render/pfsense/pfsense-rule-table";
import { isLabInternal, routerAddress, SimHost, SimPlan } from "./plan";
import { ROUTER, Topology } from "./topology";

/**
 * What to probe and what each probe must show, from the flow model alone (not from pfSense's tables,
 * which are what the probes test): every declared flow expanded to concrete hosts must connect, and a
 * matrix of representative hosts × ports that no declared flow allows must not.
 */

export interface ProbeSource {
  /** `registry`, `pods@talos-worker-1`, `firewall`, `internet`, … */
  readonly label: string;
  /** Host name in the plan, or ROUTER. */
  readonly host: string;
  readonly addr: string;
  readonly bind?: string;
  readonly segment: Segment;
  readonly pod: boolean;
  readonly router: boolean;
}

export interface ProbeTarget {
  readonly label: string;
  readonly ip: string;
  /** The host that answers when nothing translates the address (a host name, or ROUTER). */
  readonly host: string;
  readonly segment: Segment;
  readonly router: boolean;
}

export type Proto = "tcp" | "udp";

export interface Probe {
  readonly kind: "flow" | "matrix";
  readonly src: ProbeSource;
  readonly dst: ProbeTarget;
  readonly protocol: Proto;
  readonly port: number;
  readonly expect: "connect" | "blocked";
  /** Host that must answer (a port-forward lands on its target). */
  readonly responder?: string;
  /** The flow that allows it, or why it is expected as it is. */
  readonly reason: string;
}

export interface ProbeResult extends Probe {
  readonly got: string;
  readonly ok: boolean;
}

/** Ports a flow declares, ranges reduced to their two ends. */
export function probePorts(ports: readonly (number | string)[]): number[] {
  const out: number[] = [];
  for (const p of ports) {
    const [a, b] = String(p).split("-").map(Number);
    out.push(a);
    if (b !== undefined && b !== a) out.push(b);
  }
  return [...new Set(out)];
}

function portCovered(ports: readonly (number | string)[], port: number): boolean {
  return ports.some((p) => {
    const [a, b] = String(p).split("-").map(Number);
    return port >= a && port <= (b ?? a);
  });
}

const inCidrs = (cidrs: readonly string[], ip: string) => cidrs.some((c) => cidrContains(parseCidr(c), ip));

export class ProbePlanner {
  readonly model;
  constructor(
    readonly flows: FlowTable,
    readonly plan: SimPlan,
  ) {
    this.model = flows.model;
  }

  host(name: string): SimHost {
    const h = this.plan.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no simulated host ${name}`);
    return h;
  }

  source(h: SimHost): ProbeSource {
    return { label: h.name, host: h.name, addr: h.ip, segment: h.segment, pod: false, router: false };
  }

  podSource(h: SimHost): ProbeSource {
    return { label: `pods@${h.name}`, host: h.name, addr: h.pod!, bind: h.pod, segment: "srv", pod: true, router: false };
  }

  routerSource(): ProbeSource {
    return { label: "firewall", host: ROUTER, addr: "", segment: "srv", pod: false, router: true };
  }

  target(h: SimHost): ProbeTarget {
    return { label: h.name, ip: h.ip, host: h.name, segment: h.segment, router: false };
  }

  routerTarget(segment: Segment): ProbeTarget {
    return { label: `firewall@${segment}`, ip: routerAddress(this.plan, segment), host: ROUTER, segment, router: true };
  }

  vipTarget(): ProbeTarget {
    const holder = this.plan.hosts.find((h) => h.vip)!;
    return { label: "vip", ip: holder.vip!, host: holder.name, segment: "srv", router: false };
  }

  podTarget(h: SimHost): ProbeTarget {
    return { label: `pods@${h.name}`, ip: h.pod!, host: h.name, segment: "srv", router: false };
  }

  /** The Proxmox hosts as pfSense's rules see them: their addresses, else the whole WAN subnet. */
  private isProxmox(ip: string): boolean {
    const nodes = this.model.spec.proxmox.nodes;
    if (nodes.length > 0 && nodes.every((n) => n.address !== undefined)) return nodes.some((n) => n.address === ip);
    return cidrContains(parseCidr(this.plan.wan.subnet), ip);
  }

  private srcMatches(endpoint: string, s: ProbeSource): boolean {
    if (endpoint === "firewall" || s.router) return endpoint === "firewall" && s.router;
    if (endpoint === "internet") return s.segment === "wan";
    if (endpoint === "proxmox") return s.segment === "wan" && this.isProxmox(s.addr);
    return inCidrs(this.flows.resolve(endpoint).cidrs, s.addr);
  }

  private dstMatches(endpoint: string, d: ProbeTarget, from: Segment): boolean {
    if (endpoint === "firewall" || d.router) return endpoint === "firewall" && d.router && d.ip === routerAddress(this.plan, from);
    if (endpoint === "internet") return !isLabInternal(this.model, d.ip);
    if (endpoint === "proxmox") return d.segment === "wan" && this.isProxmox(d.ip);
    return inCidrs(this.flows.resolve(endpoint).cidrs, d.ip);
  }

  /** The Proxmox host or the uplink neighbour. */
  private isWanHost(host: string): boolean {
    return this.plan.hosts.some((h) => h.name === host && (h.kind === "peer" || h.kind === "proxmox"));
  }

  /** Some flow from or to `proxmox` concerns this pair's other end. */
  private nearProxmox(s: ProbeSource, d: ProbeTarget): boolean {
    return this.flows.flows.some(
      (f) => (f.from === "proxmox" && this.isWanHost(s.host) && this.dstMatches(f.to, d, s.segment)) || (f.to === "proxmox" && this.isWanHost(d.host) && this.srcMatches(f.from, s)),
    );
  }

  /** A flow from the internet to one lab host: pfSense forwards its ports on the WAN address. */
  private isPortForward(f: Flow): boolean {
    if (f.from !== "internet") return false;
    const to = segmentOf(this.model, f.to);
    return to !== "self" && to !== "wan" && this.flows.resolve(f.to).vms.length === 1;
  }

  /** Same switch and subnet: the firewall never sees it. */
  private switched(s: ProbeSource, d: ProbeTarget): boolean {
    if (s.router || d.router || s.segment !== d.segment) return false;
    if (s.segment !== "wan") return true;
    const h = this.host(s.host);
    return cidrContains(parseCidr(`${maskNet(h.ip, h.prefix)}/${h.prefix}`), d.ip);
  }

  /** What must happen, from the flows: connect (and who answers) or be dropped. */
  expectation(s: ProbeSource, d: ProbeTarget, protocol: Proto, port: number): { expect: "connect" | "blocked"; responder?: string; reason: string } {
    const matches = (f: Flow) => f.protocol === protocol && portCovered(f.ports, port);
    if (s.router) return { expect: "connect", responder: d.host, reason: "from pfSense itself (not filtered)" };
    if (s.segment === "wan" && d.router && d.ip === this.plan.wan.address) {
      const fwd = this.flows.flows.find((f) => this.isPortForward(f) && matches(f));
      if (fwd) return { expect: "connect", responder: this.flows.resolve(fwd.to).vms[0].name, reason: `${fwd.id} (port-forward)` };
    }
    if (this.switched(s, d)) return { expect: "connect", responder: d.host, reason: `same ${s.segment} switch (not filtered)` };
    const f = this.flows.flows.find((x) => matches(x) && this.srcMatches(x.from, s) && this.dstMatches(x.to, d, s.segment));
    return f ? { expect: "connect", responder: d.host, reason: f.id } : { expect: "blocked", reason: "no flow" };
  }

  /** The client LAN's machines in the plan (the operator's). */
  private clientLanHosts(): SimHost[] {
    return this.plan.hosts.filter((h) => h.segment === "client");
  }

  private sourcesOf(endpoint: string): ProbeSource[] {
    const m = this.model;
    if (endpoint === "firewall" || endpoint === m.firewall.name) return [this.routerSource()];
    if (endpoint === "zone:client") return this.clientLanHosts().map((h) => this.source(h));
    if (endpoint === "internet") return [this.source(this.host("internet"))];
    if (endpoint === "proxmox") return [this.source(this.host("proxmox"))];
    if (endpoint === "pods") return this.plan.hosts.filter((h) => h.pod).map((h) => this.podSource(h));
    if (endpoint === "vip") {
      const h = this.plan.hosts.find((x) => x.vip)!;
      return [{ ...this.source(h), label: "vip", addr: h.vip!, bind: h.vip }];
    }
    return this.flows.resolve(endpoint).vms.map((v) => this.source(this.host(v.name)));
  }

  private targetsOf(f: Flow, s: ProbeSource): ProbeTarget[] {
    const m = this.model;
    const e = f.to;
    if (e === "firewall" || e === m.firewall.name) return [this.routerTarget(s.router ? "srv" : s.segment)];
    if (this.isPortForward(f)) return [{ ...this.routerTarget("wan"), label: `wan-address→${e}` }];
    if (e === "internet") return [this.target(this.host("internet"))];
    if (e === "proxmox") return [this.target(this.host("proxmox"))];
    if (e === "vip") return [this.vipTarget()];
    if (e === "pods") return this.plan.hosts.filter((h) => h.pod).map((h) => this.podTarget(h));
    if (e === "zone:client") return this.clientLanHosts().map((h) => this.target(h));
    return this.flows.resolve(e).vms.map((v) => this.target(this.host(v.name)));
  }

  /**
   * Every declared flow, each port (range ends): all must connect. Pairs that cross the firewall are
   * probed for every member of the flow's groups and zones; pairs on one switch (never filtered) are
   * sampled so that every source and every destination member appears at least once.
   */
  declared(): { probes: Probe[]; skipped: { flow: Flow; reason: string }[] } {
    const probes: Probe[] = [];
    const skipped: { flow: Flow; reason: string }[] = [];
    for (const f of this.flows.flows) {
      if (f.protocol === "icmp") {
        skipped.push({ flow: f, reason: "icmp is not probed" });
        continue;
      }
      const sources = this.sourcesOf(f.from);
      const pairs: [ProbeSource, ProbeTarget][] = [];
      // Diagonal order: the greedy cover below then pairs the i-th source with the i-th target.
      const targetsBySource = sources.map((s) => this.targetsOf(f, s));
      const width = Math.max(0, ...targetsBySource.map((t) => t.length));
      for (let k = 0; k < width; k++) {
        sources.forEach((s, i) => {
          const ts = targetsBySource[i];
          if (ts.length > 0) pairs.push([s, ts[(i + k) % ts.length]]);
        });
      }
      const seenPair = new Set<string>();
      const coveredSrc = new Set<string>();
      const coveredDst = new Set<string>();
      const chosen: [ProbeSource, ProbeTarget][] = [];
      for (const [s, d] of pairs) {
        const key = `${s.label}|${d.label}`;
        if (d.host === s.host || seenPair.has(key)) continue;
        seenPair.add(key);
        if (this.switched(s, d) && coveredSrc.has(s.label) && coveredDst.has(d.label)) continue;
        coveredSrc.add(s.label);
        coveredDst.add(d.label);
        chosen.push([s, d]);
      }
      for (const [s, d] of chosen) {
        for (const port of probePorts(f.ports)) {
          const x = this.expectation(s, d, f.protocol, port);
          probes.push({ kind: "flow", src: s, dst: d, protocol: f.protocol, port, expect: "connect", responder: x.responder ?? d.host, reason: f.id });
        }
      }
      if (chosen.length === 0) skipped.push({ flow: f, reason: "no pair of distinct simulated hosts" });
    }
    return { probes: dedupe(probes), skipped };
  }

  /** The expectation the flows give a declared-flow probe (a self-check of the planner). */
  check(p: Probe): ReturnType<ProbePlanner["expectation"]> {
    return this.expectation(p.src, p.dst, p.protocol, p.port);
  }

  /** Representative sources and targets: MGMT hosts, the first DMZ host, a control plane, a worker, pods, WAN hosts, the client LAN's operator, the router. */
  representatives(): { sources: ProbeSource[]; targets: ProbeTarget[] } {
    const m = this.model;
    const zone = (z: string) => this.plan.hosts.filter((h) => h.vm?.module === z);
    const firstCp = this.host(m.controlPlanes[0].name);
    const lastWorker = m.workers.length > 0 ? this.host(m.workers[m.workers.length - 1].name) : undefined;
    const firstWorker = m.workers.length > 0 ? this.host(m.workers[0].name) : undefined;
    const vms = [...zone("mgmt").slice(0, 3), ...zone("dmz").slice(0, 1), firstCp, ...(lastWorker ? [lastWorker] : [])];
    const wan = this.plan.hosts.filter((h) => h.segment === "wan");
    const client = this.clientLanHosts();
    const sources = [
      ...vms.map((h) => this.source(h)),
      ...(firstWorker?.pod ? [this.podSource(firstWorker)] : []),
      ...wan.map((h) => this.source(h)),
      ...client.map((h) => this.source(h)),
    ];
    const targets = [
      ...vms.map((h) => this.target(h)),
      this.vipTarget(),
      ...(lastWorker?.pod ? [this.podTarget(lastWorker)] : []),
      ...wan.map((h) => this.target(h)),
      ...client.map((h) => this.target(h)),
      ...(["mgmt", "dmz", "srv", "wan", ...(client.length ? (["client"] as const) : [])] as const).map((s) => this.routerTarget(s)),
    ];
    return { sources, targets };
  }

  /**
   * The matrix: every representative source × target that crosses the firewall, on a few common ports
   * and on every port some flow opens into that target or another address of its host (the near
   * misses); the router's addresses outside the source's segment only on SSH and DNS. Each probe's
   * expectation comes from the flows.
   */
  matrix(basePorts: readonly number[] = [22, 80]): Probe[] {
    const { sources, targets } = this.representatives();
    const probes: Probe[] = [];
    for (const d of targets) {
      const tcp = new Set<number>(basePorts);
      const udp = new Set<number>();
      // A host's own address also collects the ports opened to its other addresses (VIP, pod).
      const primary = !d.router && this.plan.hosts.some((h) => h.name === d.host && h.ip === d.ip);
      const sameHost = primary ? targets.filter((t) => t.host === d.host) : [d];
      for (const f of this.flows.flows) {
        if (f.protocol === "icmp") continue;
        const into = d.router
          ? f.to === "firewall" || (d.segment === "wan" && this.isPortForward(f))
          : sameHost.some((t) => sources.some((s) => this.dstMatches(f.to, t, s.segment))) || (f.to === "proxmox" && d.segment === "wan");
        if (!into) continue;
        for (const p of probePorts(f.ports)) (f.protocol === "tcp" ? tcp : udp).add(p);
      }
      for (const s of sources) {
        if (s.host === d.host || this.switched(s, d)) continue;
        // The Proxmox host and its uplink neighbour are probed where a Proxmox rule could apply (the
        // internet host stands for the rest of the WAN side); the neighbour tells those rules apart
        // from "the WAN subnet".
        // The client LAN is probed against the Proxmox host always: it must reach no part of the WAN side.
        if ((this.isWanHost(s.host) || this.isWanHost(d.host)) && !this.nearProxmox(s, d) && s.segment !== "client" && d.segment !== "client") continue;
        const far = d.router && d.segment !== s.segment;
        const ports: [Proto, number[]][] = far
          ? [["tcp", [22]], ["udp", [53]]]
          : [["tcp", [...tcp].sort((a, b) => a - b)], ["udp", [...udp].sort((a, b) => a - b)]];
        for (const [protocol, list] of ports) {
          for (const port of list) {
            const x = this.expectation(s, d, protocol, port);
            probes.push({ kind: "matrix", src: s, dst: d, protocol, port, expect: x.expect, responder: x.responder, reason: x.reason });
          }
        }
      }
    }
    return dedupe(probes);
  }

  /** Whether the probe's path crosses the firewall (otherwise a switch carries it, unfiltered). */
  crossesFirewall(p: Probe): boolean {
    return !this.switched(p.src, p.dst);
  }

  /** Ports every listener must bind so that a blocked probe is the firewall's doing, not a closed port. */
  static listenerPorts(probes: readonly Probe[]): { tcp: number[]; udp: number[] } {
    const tcp = new Set<number>();
    const udp = new Set<number>();
    for (const p of probes) (p.protocol === "tcp" ? tcp : udp).add(p.port);
    const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
    return { tcp: sorted(tcp), udp: sorted(udp) };
  }
}

function maskNet(ip: string, prefix: number): string {
  const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const v = (n & m) >>> 0;
  return [24, 16, 8, 0].map((s) => (v >>> s) & 255).join(".");
}

export function probeKey(p: Probe): string {
  return `${p.src.label}|${p.dst.ip}|${p.protocol}/${p.port}`;
}

function dedupe(probes: Probe[]): Probe[] {
  const seen = new Set<string>();
  return probes.filter((p) => {
    const k = probeKey(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Runs probes with limited parallelism; a probe passes when the outcome is exactly the expected one. */
export async function runProbes(topo: Topology, probes: readonly Probe[], opts: { timeoutMs?: number; parallel?: number } = {}): Promise<ProbeResult[]> {
  const timeoutMs = opts.timeoutMs ?? 600;
  const parallel = opts.parallel ?? 12;
  const results: ProbeResult[] = new Array(probes.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= probes.length) return;
      const p = probes[i];
      const o = await topo.probe({ from: p.src.host, bind: p.src.bind, protocol: p.protocol, ip: p.dst.ip, port: p.port, timeoutMs });
      const got = o.outcome === "connected" ? `connected:${o.responder}` : o.detail ? `${o.outcome}:${o.detail}` : o.outcome;
      // Blocked means dropped (pfSense's block): a refusal would mean the packet got through.
      const ok = p.expect === "connect" ? o.outcome === "connected" && o.responder === p.responder : o.outcome === "timeout";
      results[i] = { ...p, got, ok };
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, probes.length) }, worker));
  return results;
}

/** The probe matrix as a fixed-width table. */
export function formatResults(title: string, results: readonly ProbeResult[]): string {
  const rows = results.map((r) => [
    r.ok ? "ok" : "FAIL",
    r.kind,
    `${r.src.label}${r.src.addr ? ` (${r.src.addr})` : ""}`,
    `${r.dst.label} (${r.dst.ip})`,
    `${r.protocol}/${r.port}`,
    r.expect === "connect" ? `connect→${r.responder}` : "blocked",
    r.got,
    r.reason,
  ]);
  const head = ["", "kind", "source", "destination", "port", "expected", "got", "why"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const allow = results.filter((r) => r.expect === "connect");
  const deny = results.filter((r) => r.expect === "blocked");
  const summary = `${title}: ${results.length} probes — ${allow.length} allowed (${allow.filter((r) => r.ok).length} connected as expected), ${deny.length} denied (${deny.filter((r) => r.ok).length} dropped as expected)`;
  return [summary, line(head), ...rows.map(line)].join("\n");
}
