import type { ProbeOutcome } from "./agent";
import { pfHostOverrides, pfSettings, pfTables } from "./pfsense";
import { isIpv4 } from "./ipv4";
import { readStack, Step, StepConnection, StackFlow, TwinHandoff, TwinStack } from "./stack";
import { ProbeRecord, Twin, TwinHost } from "./twin";

/**
 * The twin's run: bring the lab up step by step as apply-steps.json says, probe every connection of
 * each step from where the step runs right after it, then check the running lab — BGP, pods across
 * nodes, HAProxy to every node's pods, the WAN port-forward end to end, what every node needs
 * (Harbor, the Image Factory, DNS, NTP) — and every flow of flows.json: each declared flow connects,
 * and probes no flow declares are dropped.
 */

export interface TwinReport {
  readonly lab: string;
  readonly probes: readonly ProbeRecord[];
  /** Problems that are not probes (BGP sessions, routes, steps the twin could not carry out). */
  readonly findings: readonly string[];
  readonly timings: Readonly<Record<string, number>>;
  readonly ok: boolean;
}

export interface RunOptions {
  readonly log?: (line: string) => void;
  readonly prefix?: string;
  /** Probes per flow endpoint at most (big labs): sources and destinations are sampled evenly. */
  readonly sample?: number;
}

const CONNECT_MS = 3000;
/** Ports probed as blocked besides the flows' own: services no flow should ever open (SSH, SQL, web, SNMP, mDNS). */
const EXTRA_BLOCKED = { tcp: [22, 3306, 8080], udp: [161, 5353] } as const;
const DROP_MS = 700;

/** A flow's ports as numbers to probe: each port, a range's two ends. */
function flowPorts(f: StackFlow): number[] {
  const out = new Set<number>();
  for (const p of f.ports) {
    const [a, b] = String(p).split("-").map(Number);
    out.add(a);
    if (b !== undefined) out.add(b);
  }
  return [...out];
}

function portCovered(f: StackFlow, port: number): boolean {
  return f.ports.some((p) => {
    const [a, b] = String(p).split("-").map(Number);
    return port >= a && port <= (b ?? a);
  });
}

/**
 * What the twin refuses before building anything: pfSense files with elements it does not model
 * (each could widen or redirect what a rule passes, so reading past them would be a false pass).
 */
function preflight(stack: TwinStack): string[] {
  try {
    pfTables(stack.pfsense, []);
    pfSettings(stack.pfsense.playback, stack.pfsense.nat);
    if (stack.pfsense.unbound !== undefined) pfHostOverrides(stack.pfsense.unbound);
    return [];
  } catch (e) {
    return [`pfsense: ${(e as Error).message}`];
  }
}

/**
 * The names the lab's hosts look up through pfSense (every zone's only DNS server), as the generated
 * files name them: each Talos registry mirror's endpoint host, and the Image Factory the runner's talos
 * provider talks to. Address literals need no lookup.
 */
function namesLookedUp(stack: TwinStack): Map<string, string> {
  const out = new Map<string, string>();
  for (const vm of stack.vms) {
    for (const d of vm.talosDocs) {
      if (d.kind !== "RegistryMirrorConfig") continue;
      for (const e of (d.endpoints as { url?: string }[] | undefined) ?? []) {
        if (e.url) out.set(new URL(e.url).hostname, `${vm.name}'s registry mirror for ${String(d.name)}`);
      }
    }
  }
  if (stack.imageFactory) out.set(stack.imageFactory.hostname, "the Image Factory the talos provider calls");
  for (const name of [...out.keys()]) if (isIpv4(name)) out.delete(name);
  return out;
}

/**
 * pfSense's DNS Resolver after the apply: every name the lab looks up answers, and every host override
 * points at an address a host of the lab has; one whose first label is a VM's name, at that VM's.
 */
function dnsFindings(twin: Twin): string[] {
  if (twin.stack.stepsMissing) return [];
  const findings: string[] = [];
  const owners = new Map<string, string>();
  for (const h of twin.hosts.values()) for (const a of h.addresses) owners.set(a, h.label);
  if (twin.vip) owners.set(twin.vip.address, "the Kubernetes API VIP");
  for (const [name, ips] of twin.dns) {
    const vm = twin.stack.vms.find((v) => v.name === name.split(".")[0]);
    const actual = vm?.address?.split("/")[0];
    for (const ip of ips) {
      if (vm && actual !== ip) findings.push(`DNS: pfSense answers ${name} with ${ip}, but ${vm.name} is at ${actual}`);
      else if (!owners.has(ip)) findings.push(`DNS: pfSense answers ${name} with ${ip}, which no host of the lab has`);
    }
  }
  for (const [name, why] of namesLookedUp(twin.stack)) {
    if (twin.resolve(name).length === 0) findings.push(`DNS: ${name} (${why}) has no host override in pfSense's DNS Resolver`);
  }
  return findings;
}

/**
 * A step's connections as data: each names a flow of flows.json that covers it (same protocol, the
 * port in its ports, both ends inside its endpoints), or, with no flow, touches no lab VM (the
 * operator's machine, the Proxmox hosts and the internet are outside the flow table).
 */
function connectionFindings(twin: Twin, step: Step): string[] {
  const out: string[] = [];
  for (const c of step.connections) {
    const what = `step ${step.id}: ${c.from} -> ${c.to} ${c.protocol}/${c.port}`;
    if (!c.flow) {
      if (![c.from, c.to].every((e) => ["outside", "proxmox", "internet"].includes(e))) out.push(`${what}: names no flow`);
      continue;
    }
    const f = twin.stack.flows.find((x) => x.id === c.flow);
    if (!f) {
      out.push(`${what}: flow ${c.flow} is not in flows.json`);
      continue;
    }
    const ends = (end: string, side: "from" | "to") => twin.hostsOf(end).every((h) => broadlyCovers(twin, side === "from" ? f.from : f.to, h, side));
    if (f.protocol !== c.protocol || !portCovered(f, c.port) || !ends(c.from, "from") || !ends(c.to, "to")) out.push(`${what}: flow ${c.flow} (${f.from} -> ${f.to} ${f.protocol}/${f.ports.join(",")}) does not cover it`);
  }
  return out;
}

/**
 * What tofu itself connects to in a step, derived from its commands and the stack (not from the
 * step's own list): the Proxmox API always, Proxmox SSH where a module uploads files, every Talos
 * node's apid where a module applies machine configuration, the Image Factory where one builds a
 * schematic, each gate's service (Harbor, the API VIP) where a module waits for one, and the Kubernetes
 * API (the VIP) where one installs Helm releases, the hand-off's SSH to the runner (directly or through
 * its Proxmox node) where a command plans it, and the image mirror's upstream registries and lab
 * registry where a module mirrors images. It runs where the step says: outside the lab, or on the runner.
 */
export function toolConnections(stack: TwinStack, step: Step): StepConnection[] {
  const origin = step.where === "outside" ? "outside" : step.where === "runner" ? (step.host ?? stack.runner) : undefined;
  if (!origin) return [];
  const out: StepConnection[] = [];
  const add = (to: string, port: number, why: string) => out.push({ from: origin, to, protocol: "tcp", port, why: `tofu (${step.where}): ${why}` });
  for (const c of step.commands) {
    // tofu init on the runner fetches the pinned providers from the registry over HTTPS
    if (/^tofu init\b/.test(c.trim()) && step.where === "runner") add("internet", 443, "provider download (tofu init)");
    const m = /^tofu (apply|plan)\b(.*)$/.exec(c.trim());
    if (!m) continue;
    const modules = commandModules(stack, m[2]);
    const rootTargets = commandRootTargets(m[2]);
    const types = new Set(modules.flatMap((x) => stack.moduleTypes[x] ?? []));
    add("proxmox", 8006, "Proxmox API");
    if (types.has("proxmox_virtual_environment_file")) add("proxmox", 22, "snippet upload over SSH");
    if (types.has("talos_machine_configuration_apply")) add("group:talos", 50000, "machine configuration (apid)");
    const factory = stack.imageFactory;
    if (types.has("talos_image_factory_schematic") && factory) add(factory.hostname.split(".")[0], Number(factory.port || 443), "Image Factory schematic");
    // the host provisioning (terraform_data + local-exec) runs where tofu runs, once per VM it names
    for (const p of stack.provisions.filter((x) => modules.includes(x.module))) {
      if (p.jump) {
        add("proxmox", 22, `provisioning of ${p.host}: SSH to the jump host`);
        out.push({ from: "proxmox", to: p.host, protocol: "tcp", port: 22, why: `tofu (${step.where}): provisioning of ${p.host} through its Proxmox node` });
      } else add(p.host, 22, `provisioning of ${p.host} over SSH`);
      for (const r of p.imageRegistries) add(r, 443, `provisioning of ${p.host}: images from ${r}`);
      if (p.packages) for (const port of [80, 443]) add("internet", port, `provisioning of ${p.host}: packages`);
      for (const api of p.kubernetesApis) add(api.to, api.port, `provisioning of ${p.host}: mints a service account token (kubectl create token)`);
    }
    // the preparations of the Proxmox nodes (terraform_data + local-exec) log in to each node over SSH
    for (const p of stack.preparations.filter((x) => modules.includes(x.module))) add("proxmox", 22, `preparation of Proxmox node ${p.node} over SSH`);
    // the gates (terraform_data + local-exec of the gate script) ask their service where tofu runs
    for (const g of stack.gates.filter((x) => modules.includes(x.module))) add(g.to, g.port, `gate: waits until ${g.url} answers`);
    // the hand-off (a root terraform_data + local-exec) runs where tofu runs: SSH to its host, directly
    // or through the jump host; it is planned when the command targets it or targets nothing, unless
    // its count guard is off there (the step sets TF_VAR_<guard>=false, or sources the file the
    // hand-off's script wrote it into)
    for (const h of stack.handoffs) {
      const targeted = rootTargets === undefined || rootTargets.includes(h.address);
      if (!targeted || (h.guard && !guardOn(step, h))) continue;
      if (h.jump) {
        add("proxmox", 22, `hand-off to ${h.host}: SSH to the jump host`);
        out.push({ from: "proxmox", to: h.host, protocol: "tcp", port: 22, why: `tofu (${step.where}): hand-off to ${h.host} through its Proxmox node` });
      } else add(h.host, 22, `hand-off to ${h.host} over SSH`);
    }
    // the image mirror (terraform_data + local-exec) reads the upstream registries and pushes to the lab's
    for (const mirror of stack.imageMirrors.filter((x) => modules.includes(x.module))) {
      add("internet", 443, "image mirror: upstream registries");
      add(mirror.registry, mirror.port, `image mirror: pushes and signs into ${mirror.registry}`);
    }
    if (types.has("helm_release")) {
      add("vip", 6443, "Helm releases (Kubernetes API)");
      for (const repo of stack.chartRepositories) add(repo.hostname.split(".")[0], Number(repo.port || 443), `Helm chart pull (${repo.hostname})`);
    }
  }
  return out;
}

/** What tofu connects to in a step ({@link toolConnections}) that the step does not list, as findings. */
export function unlistedToolConnections(stack: TwinStack, step: Step): string[] {
  const tools = toolConnections(stack, step);
  // a runner step that still plans the hand-off would hand the stack from the runner to itself
  const here = step.host ?? stack.runner;
  const self = step.where === "runner" ? [...new Set(tools.map((t) => /hand-off to ([^\s:]+)/.exec(t.why)?.[1]).filter((h) => h === here))] : [];
  return [
    ...self.map((h) => `step ${step.id}: tofu (runner) plans the hand-off to ${h} on ${h} itself: the step must switch it off (source the file the hand-off wrote, or set its guard variable false)`),
    ...tools
      .filter((t) => !step.connections.some((c) => c.from === t.from && c.to === t.to && c.port === t.port && c.protocol === t.protocol))
      .map((t) => `step ${step.id}: ${t.why} needs ${t.from} -> ${t.to} ${t.protocol}/${t.port}, which the step does not list`),
  ];
}

/**
 * The modules a `tofu apply`/`plan` command's arguments reach: its `-target=module.<m>`s, none when
 * it targets only root resources, or every module when it targets nothing.
 */
function commandModules(stack: TwinStack, args: string): string[] {
  const targets = [...args.matchAll(/-target=(\S+)/g)].map((t) => t[1]);
  if (!targets.length) return Object.keys(stack.moduleTypes);
  return targets.flatMap((t) => /^module\.([A-Za-z0-9_-]+)/.exec(t)?.[1] ?? []);
}

/** The root resources a command targets (`-target=<type>.<name>`), or undefined when it targets nothing. */
function commandRootTargets(args: string): string[] | undefined {
  const targets = [...args.matchAll(/-target=(\S+)/g)].map((t) => t[1]);
  return targets.length ? targets.filter((t) => !t.startsWith("module.")).map((t) => t.replace(/\[\d+\]$/, "")) : undefined;
}

/**
 * Whether a hand-off's count guard is on in a step: its default, unless a command before the step's
 * first tofu command exports TF_VAR_<guard>, or sources the file the hand-off's script writes it into
 * (`. ~/<file>`) on the host it hands over to.
 */
function guardOn(step: Step, h: TwinHandoff): boolean {
  let on = h.guard!.default;
  for (const c of step.commands) {
    const t = c.trim();
    if (/^tofu\b/.test(t)) break;
    const set = new RegExp(`^export TF_VAR_${h.guard!.variable}=(\\S+)`).exec(t);
    if (set) on = !/^'?(false|0)'?$/.test(set[1]);
    if (h.guardFile && step.where === "runner" && (step.host === undefined || step.host === h.host) && new RegExp(`^(\\.|source) ~/${h.guardFile.replace(/[.]/g, "\\.")}(\\s|$)`).test(t)) on = false;
  }
  return on;
}

/**
 * Whether the apply switches the Proxmox datacenter firewall on (without it no VM firewall acts):
 * a step's hand command does (`pvesh set /cluster/firewall/options --enable 1`, or a step that says
 * it switches the datacenter firewall on), or a step's `tofu apply` reaches a module whose
 * `proxmox_virtual_environment_cluster_firewall` has `enabled` true (read from the module files).
 */
export function datacenterFirewallOn(stack: TwinStack): boolean {
  const byHand = (c: string) => /datacenter firewall|cluster\/firewall\/options/i.test(c) && !/\b(off|disable)|--enable\s+0\b/i.test(c) && (/--enable\s+1\b/.test(c) || !/--enable/.test(c));
  const byTofu = (c: string) => {
    const m = /^tofu apply\b(.*)$/.exec(c.trim());
    return !!m && commandModules(stack, m[1]).some((x) => stack.datacenterFirewallModules.includes(x));
  };
  return stack.steps.some((s) => s.commands.some((c) => byHand(c) || byTofu(c)));
}

/** Evenly spread picks of at most n items (first and last included). */
function sample<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(items[Math.round((i * (items.length - 1)) / (n - 1))]);
  return [...new Set(out)];
}

/** Every port a listener must bind for the run's probes. */
export function listenerPorts(stack: TwinStack): { tcp: number[]; udp: number[] } {
  const tcp = new Set<number>([...EXTRA_BLOCKED.tcp, 8443]);
  const udp = new Set<number>([53, 123, ...EXTRA_BLOCKED.udp]);
  for (const f of stack.flows) for (const p of flowPorts(f)) (f.protocol === "udp" ? udp : tcp).add(p);
  for (const s of stack.steps) for (const c of s.connections) (c.protocol === "udp" ? udp : tcp).add(c.port);
  for (const p of stack.demoPorts) tcp.add(p);
  return { tcp: [...tcp].sort((a, b) => a - b), udp: [...udp].sort((a, b) => a - b) };
}

/** Runs the twin on a generated stack folder. */
export async function runTwin(stackDir: string, options: RunOptions = {}): Promise<TwinReport> {
  const log = options.log ?? (() => undefined);
  const stack = readStack(stackDir);
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const probes: ProbeRecord[] = [];
  const findings: string[] = [];
  const n = options.sample ?? 16;
  if (stack.stepsMissing) findings.push("apply-steps.json is missing: where each step runs and what it connects is not data; replaying the legacy runbook without connections");
  const refused = preflight(stack);
  if (refused.length) return { lab: stack.lab, probes, findings: [...findings, ...refused], timings: { totalMs: Date.now() - t0 }, ok: false };
  const twin = new Twin(stack, { prefix: options.prefix, log, ports: listenerPorts(stack), datacenterFirewall: datacenterFirewallOn(stack) });
  if (!datacenterFirewallOn(stack)) findings.push("no apply step switches the Proxmox datacenter firewall on: every VM firewall is inert");
  try {
    await twin.physical();
    // ── the apply, step by step ───────────────────────────────────────────────────────────────
    for (const step of stack.steps) {
      try {
        findings.push(...(await twin.runStep(step)).map((p) => `step ${step.id}: ${p}`));
      } catch (e) {
        findings.push(`step ${step.id}: ${(e as Error).message}`);
        log(`step ${step.id} failed: ${(e as Error).message}`);
        continue;
      }
      const batch: Promise<ProbeRecord | undefined>[] = [];
      findings.push(...connectionFindings(twin, step));
      const tool = toolConnections(twin.stack, step);
      findings.push(...unlistedToolConnections(twin.stack, step));
      for (const c of [...step.connections, ...tool]) {
        const srcs = sample(twin.hostsOf(c.from), n);
        const dsts = sample(twin.hostsOf(c.to), n);
        if (srcs.length === 0 || dsts.length === 0) {
          findings.push(`step ${step.id}: ${c.from} -> ${c.to} ${c.protocol}/${c.port} (${c.why}): ${srcs.length ? c.to : c.from} does not exist yet`);
          continue;
        }
        for (const s of srcs) for (const d of dsts) if (s.label !== d.label) batch.push(expectConnect(twin, s, d, c.protocol, c.port, `step ${step.id}: ${c.why}${c.flow ? ` [${c.flow}]` : ""}`));
      }
      for (const r of await Promise.all(batch)) if (r) probes.push(r);
      log(`step ${step.id}: ${batch.length} connection probes`);
    }
    timings.applyMs = Date.now() - t0;

    // ── the running lab ───────────────────────────────────────────────────────────────────────
    const t1 = Date.now();
    findings.push(...(await twin.waitForPodRoutes(5000)).map((m) => `routes: ${m}`));
    findings.push(...(await bgpFindings(twin)));
    findings.push(...dnsFindings(twin));
    probes.push(...(await labChecks(twin, n)));
    probes.push(...(await flowChecks(twin, n)));
    timings.checksMs = Date.now() - t1;
  } finally {
    const t2 = Date.now();
    await twin.teardown();
    timings.teardownMs = Date.now() - t2;
    timings.totalMs = Date.now() - t0;
  }
  const ok = findings.length === 0 && probes.every((p) => p.ok);
  return { lab: stack.lab, probes, findings, timings, ok };
}

function reached(o: ProbeOutcome): boolean {
  return o.outcome === "connected" || o.outcome === "refused";
}

async function expectConnect(twin: Twin, s: TwinHost, d: TwinHost, protocol: "tcp" | "udp", port: number, why: string, responder?: readonly string[], ipOverride?: string): Promise<ProbeRecord | undefined> {
  const ip = ipOverride ?? twin.addressFor(s, d);
  if (!ip) return undefined;
  // BGP's port belongs to the routing daemons, not to the listeners: any answer is theirs.
  const want = port === 179 && protocol === "tcp" && !responder?.includes("pod@*") ? ["*"] : (responder ?? [d.name]);
  let got = await twin.probe(s, ip, protocol, port, CONNECT_MS);
  if (got.outcome !== "connected") got = await twin.probe(s, ip, protocol, port, CONNECT_MS);
  const ok = got.outcome === "connected" && want.some((w) => (w.endsWith("*") ? (got.responder ?? "").startsWith(w.slice(0, -1)) : got.responder === w));
  return { from: s.label, to: d.label, protocol, port, ip, expect: "connect", responder: want, why, got, ok };
}

async function expectBlocked(twin: Twin, s: TwinHost, d: TwinHost, ip: string, protocol: "tcp" | "udp", port: number, why: string): Promise<ProbeRecord> {
  const got = await twin.probe(s, ip, protocol, port, DROP_MS);
  return { from: s.label, to: d.label, protocol, port, ip, expect: "blocked", why, got, ok: !reached(got) };
}

async function bgpFindings(twin: Twin): Promise<string[]> {
  const out: string[] = [];
  let summary: Record<string, unknown>;
  try {
    summary = JSON.parse(await twin.vtysh("show bgp ipv4 unicast summary json")) as Record<string, unknown>;
  } catch (e) {
    return [`BGP: no FRR summary (${(e as Error).message})`];
  }
  const peers = (summary.peers ?? {}) as Record<string, { state: string; pfxRcd?: number }>;
  const nodes = [...twin.pods.keys()].map((n) => twin.hosts.get(n)!.addresses[0]);
  for (const ip of nodes) {
    const p = peers[ip];
    if (!p) out.push(`BGP: pfSense has no session with ${ip}`);
    else if (p.state !== "Established") out.push(`BGP: pfSense's session with ${ip} is ${p.state}`);
  }
  return out;
}

/** The issue's checks of the running lab. */
async function labChecks(twin: Twin, n: number): Promise<ProbeRecord[]> {
  const jobs: Promise<ProbeRecord | undefined>[] = [];
  const pods = [...twin.hosts.values()].filter((h) => h.kind === "pod");
  const nodes = [...twin.hosts.values()].filter((h) => h.vm?.os === "talos");
  const demo = twin.stack.demoPorts[0] ?? 8080;
  // pod ↔ pod across nodes, and nodes → pods on other nodes (ring and sample for big labs)
  const pairs = (xs: TwinHost[]) => (xs.length <= n + 1 ? xs.flatMap((a) => xs.filter((b) => b !== a).map((b) => [a, b] as const)) : xs.map((a, i) => [a, xs[(i + 1) % xs.length]] as const));
  for (const [a, b] of pairs(pods)) {
    jobs.push(expectConnect(twin, a, b, "tcp", demo, "pod to pod on another node"));
    jobs.push(expectConnect(twin, a, b, "udp", 53, "pod to pod on another node (udp)"));
  }
  for (const node of sample(nodes, n + 2)) {
    for (const p of sample(pods.filter((x) => x.node !== node.label), n)) jobs.push(expectConnect(twin, node, p, "tcp", demo, "node to a pod on another node"));
  }
  // HAProxy → the pod backends on every node, through pfSense
  const ingress = [...twin.hosts.values()].filter((h) => h.vm?.role === "ingress");
  const backendPorts = twin.stack.flows.filter((f) => f.to === "pods" && ingress.some((i) => i.label === f.from)).flatMap((f) => f.ports.map(Number));
  for (const i of ingress) for (const p of pods) for (const port of backendPorts) jobs.push(expectConnect(twin, i, p, "tcp", port, "HAProxy to pod backends on every node"));
  // internet → WAN port-forward → HAProxy → demo pod
  const internet = twin.hostsOf("internet")[0];
  const pf = twin.hostsOf("firewall")[0];
  for (const port of twin.haproxyPorts()) jobs.push(expectConnect(twin, internet, pf, "tcp", port, "internet to the WAN port-forward, through HAProxy, to the demo", ["pod@*"], twin.pfWan));
  // what every node needs: Harbor, the Image Factory, DNS and NTP from pfSense
  const registryFlows = twin.stack.flows.filter((f) => f.from === "group:talos" && f.protocol === "tcp" && twin.hostsOf(f.to).some((h) => h.vm?.role === "registry"));
  for (const node of nodes) {
    for (const f of registryFlows) for (const d of twin.hostsOf(f.to)) for (const port of flowPorts(f)) jobs.push(expectConnect(twin, node, d, "tcp", port, `node to Harbor / Image Factory [${f.id}]`));
    jobs.push(expectConnect(twin, node, pf, "udp", 53, "node DNS (pfSense)"));
    jobs.push(expectConnect(twin, node, pf, "tcp", 53, "node DNS over TCP (pfSense)"));
    jobs.push(expectConnect(twin, node, pf, "udp", 123, "node NTP (pfSense)"));
  }
  return (await Promise.all(jobs)).filter((r): r is ProbeRecord => !!r);
}

/** Hosts a flow endpoint covers, as a source or a destination, read broadly (for the dropped probes). */
function broadlyCovers(twin: Twin, end: string, h: TwinHost, side: "from" | "to"): boolean {
  // "internet" as a source is any address: hosts admit it from anyone, and pfSense forwards it as it
  // came. pfSense's own traffic is not filtered by pfSense, so it is as good as any source.
  if (end === "internet") return h.kind === "internet" || h.kind === "outside" || h.kind === "pve" || (side === "from" && h.vm?.os === "pfsense");
  if (end === "vip") return side === "to" && !!twin.vip && h.label === twin.vip.holder;
  if (end.startsWith("zone:") && h.vm?.os === "pfsense") return side === "to";
  return twin.hostsOf(end).some((x) => x.label === h.label);
}

/** Every declared flow connects; probes no flow declares are dropped. */
async function flowChecks(twin: Twin, n: number): Promise<ProbeRecord[]> {
  const jobs: Promise<ProbeRecord | undefined>[] = [];
  const flows = twin.stack.flows.filter((f) => f.protocol !== "icmp");
  const pf = twin.hostsOf("firewall")[0];
  for (const f of flows) {
    const proto = f.protocol as "tcp" | "udp";
    const srcs = sample(f.from === "internet" ? twin.hostsOf("internet") : twin.hostsOf(f.from), n);
    const dsts = sample(twin.hostsOf(f.to), n);
    for (const s of srcs) {
      for (const d of dsts) {
        if (s.label === d.label || (s.kind === "pod" && d.kind === "pod" && s.node === d.node) || (s.kind === "vm" && d.kind === "pod" && d.node === s.label)) continue;
        for (const port of flowPorts(f)) {
          // From the WAN side to a lab host is a port-forward: it goes to pfSense's WAN address.
          const forwarded = (s.kind === "internet" || s.kind === "pve") && d.kind === "vm" && d.vm?.os !== "pfsense" && f.from === "internet";
          const answer = forwarded && d.vm?.role === "ingress" && twin.haproxyPorts().includes(port) ? ["pod@*"] : undefined;
          jobs.push(expectConnect(twin, s, forwarded ? pf : d, proto, port, `flow ${f.id}`, answer ?? [d.name], forwarded ? twin.pfWan : f.to === "vip" ? twin.vip?.address : undefined));
        }
      }
    }
  }
  // Dropped: representative sources and destinations, on the ports their flows use, where no flow
  // (read broadly) allows the pair.
  const all = [...twin.hosts.values()];
  const byRole = new Map<string, TwinHost[]>();
  for (const h of all) {
    if (h.kind === "router" || h.kind === "outside") continue;
    const key = h.kind === "vm" ? `${h.vm!.zone}/${h.vm!.role}` : h.kind;
    byRole.set(key, [...(byRole.get(key) ?? []), h]);
  }
  const reps = [...byRole.values()].flatMap((hs) => sample(hs, 3));
  // every VM is a destination: each has firewall rules of its own
  const destinations: { host: TwinHost; ip: string }[] = [];
  for (const h of [...byRole.values()].flat()) {
    if (h.vm?.os === "pfsense") destinations.push(...twin.pfInterfaces.map((i) => ({ host: h, ip: i.address })));
    else destinations.push({ host: h, ip: h.addresses[0] });
  }
  if (twin.vip) destinations.push({ host: twin.hosts.get(twin.vip.holder)!, ip: twin.vip.address });
  for (const s of reps) {
    const fromFlows = flows.filter((f) => broadlyCovers(twin, f.from, s, "from"));
    for (const d of destinations) {
      if (d.host.label === s.label || (s.kind === "pod" && d.host.label === s.node) || (d.host.kind === "pod" && d.host.node === s.label)) continue;
      // Between WAN-side machines the lab is not involved; pfSense's own traffic out of WAN passes by design.
      const wanSide = (h: TwinHost) => h.kind === "internet" || h.kind === "pve" || h.kind === "outside";
      if (wanSide(d.host) && (wanSide(s) || s.vm?.os === "pfsense")) continue;
      // pfSense's own traffic out of its client-LAN interface passes by design (pfSense filters what
      // enters an interface); the operator's machine has no firewall of the lab's to drop it
      if (d.host.kind === "operator" && s.vm?.os === "pfsense") continue;
      const toFlows = flows.filter((f) => broadlyCovers(twin, f.to, d.host, "to"));
      for (const protocol of ["tcp", "udp"] as const) {
        const ports = new Set<number>(EXTRA_BLOCKED[protocol]);
        for (const f of [...fromFlows, ...toFlows]) if (f.protocol === protocol) for (const p of flowPorts(f)) ports.add(p);
        for (const port of ports) {
          const allowed = flows.some((f) => f.protocol === protocol && portCovered(f, port) && broadlyCovers(twin, f.from, s, "from") && broadlyCovers(twin, f.to, d.host, "to"));
          // The WAN address answers port-forwards for anyone on the WAN side.
          const forward = d.ip === twin.pfWan && (s.kind === "internet" || s.kind === "pve") && flows.some((f) => f.from === "internet" && f.protocol === protocol && portCovered(f, port));
          if (allowed || forward) continue;
          jobs.push(expectBlocked(twin, s, d.host, d.ip, protocol, port, "no flow declares it"));
        }
      }
    }
  }
  void pf;
  return (await Promise.all(jobs)).filter((r): r is ProbeRecord => !!r);
}

/** The report as text: failures first, then counts. */
export function formatReport(r: TwinReport): string {
  const bad = r.probes.filter((p) => !p.ok);
  const lines = [`twin ${r.lab}: ${r.ok ? "PASS" : "FAIL"} — ${r.probes.length} probes, ${bad.length} wrong, ${r.findings.length} findings; ${Math.round(r.timings.totalMs / 1000)} s`];
  for (const f of r.findings) lines.push(`  ${f}`);
  for (const p of bad.slice(0, 200)) {
    lines.push(`  ${p.expect === "connect" ? "NOT CONNECTED" : "NOT DROPPED"}: ${p.from} -> ${p.to} (${p.ip}) ${p.protocol}/${p.port}: ${p.got.outcome}${p.got.responder ? ` by ${p.got.responder}` : ""}${p.got.detail ? ` ${p.got.detail}` : ""} — ${p.why}`);
  }
  if (bad.length > 200) lines.push(`  … and ${bad.length - 200} more`);
  return lines.join("\n");
}
