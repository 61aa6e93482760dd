import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PfSenseTables, pfSenseTables } from "../constructs/render/pfsense/pfsense-rule-table";
import { labFlows } from "../constructs/model/lab-flows";
import { LabModel } from "../constructs/model/lab-model";
import { PROMETHEUS, PROMETHEUS_SPEC } from "./support/prometheus";
import { serviceCatalog } from "../constructs/services";
import { buildLabModel } from "../constructs/lab/build";
import { loadLabSpec } from "../constructs/lab/load";
import { validateLabSpec } from "../constructs/lab/validate";
import { nftablesFromPfSense } from "../tools/netsim/nft";
import { nftContext, SIM_WAN, simPlan } from "../tools/netsim/plan";
import { formatResults, Probe, ProbePlanner, ProbeResult, probeKey, runProbes } from "../tools/netsim/probes";
import { buildTopology, netsimUnavailable, Topology } from "../tools/netsim/topology";

/**
 * Separation, proven with packets: pfSense's rule table (from the flow model) becomes nftables in a
 * router namespace between one bridge per segment; every lab host is a namespace. Every declared flow
 * must connect, and a matrix of undeclared traffic must be dropped.
 */

const skipReason = netsimUnavailable();
if (skipReason) console.warn(`packets: skipped — ${skipReason}`);

const WAN = { subnet: SIM_WAN.subnet, address: SIM_WAN.address };
const PROBE = { timeoutMs: 500, parallel: 20 };

function lab(spec: unknown = {}): { model: LabModel; tables: PfSenseTables; planner: ProbePlanner } {
  const model = buildLabModel(validateLabSpec(spec));
  const flows = labFlows(model);
  return { model, tables: pfSenseTables(flows), planner: new ProbePlanner(flows, simPlan(model)) };
}

const PROXMOX_ADDRESS_SPEC = { proxmox: { nodes: [{ name: "pve", address: SIM_WAN.proxmox }] } };

/** The lines of one chain of an nft text. */
function chain(text: string, name: string): string[] {
  const start = text.indexOf(`  chain ${name} {\n`);
  if (start < 0) throw new Error(`no chain ${name}`);
  const body = text.slice(start).split("\n");
  return body.slice(1, body.indexOf("  }")).map((l) => l.trim());
}

describe("nftables from pfSense's tables (pure)", () => {
  const ref = lab();
  const text = nftablesFromPfSense(ref.tables, { wan: WAN });
  /** `<iface>#<order>` of a rule, looked up in the table so the assertions follow its order. */
  const at = (tables: PfSenseTables, iface: string, descr: string) => {
    const r = tables.rules.find((x) => x.interface === iface && x.descr === descr);
    if (!r) throw new Error(`no rule ${descr} on ${iface}`);
    return `${iface}#${r.order}`;
  };
  const denyLan = at(ref.tables, "lan", "default deny MGMT (logged)");

  it("keeps pfSense's order per ingress interface, ending with the logged default deny in input and forward", () => {
    const fwd = chain(text, "fwd_lan");
    expect(fwd.at(-1)).toBe(`log prefix "pf ${denyLan} block: " drop comment "${denyLan} default deny MGMT (logged)"`);
    expect(chain(text, "in_lan").at(-1)).toBe(fwd.at(-1));
    const orders = fwd.map((l) => Number(/comment "lan#(\d+)/.exec(l)![1]));
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
    // Every rule of the table lands somewhere.
    for (const r of ref.tables.rules) expect(text).toContain(`comment "${r.interface}#${r.order} `);
    expect(chain(text, "forward").slice(0, 3)).toEqual(["type filter hook forward priority filter; policy drop;", "ct state established,related accept", "ct state invalid drop"]);
    expect(chain(text, "forward")).toContain('iifname "opt2" jump fwd_opt2');
  });

  it("puts rules to pfSense's own address (lanip, opt2ip) in the input chain only", () => {
    expect(chain(text, "in_lan")).toContain(`meta l4proto udp ip saddr 192.168.100.0/24 ip daddr 192.168.100.1 th dport 53 accept comment "${at(ref.tables, "lan", "mgmt-dns-udp")} mgmt-dns-udp"`);
    expect(chain(text, "in_opt2")).toContain(`meta l4proto tcp ip saddr @H_TALOS_NODES ip daddr 10.10.100.1 th dport 179 accept comment "${at(ref.tables, "opt2", "calico-bgp-nodes")} calico-bgp-nodes"`);
    expect(chain(text, "fwd_lan").join("\n")).not.toContain("mgmt-dns-udp");
  });

  it("resolves a port alias into a set and a negated alias destination", () => {
    expect(text).toContain("  set P_MGMT_INTERNET_WEB {\n    type inet_service\n    flags interval\n    auto-merge\n    elements = { 80, 443 }\n  }");
    expect(chain(text, "fwd_lan")).toContain(
      `meta l4proto tcp ip saddr 192.168.100.0/24 ip daddr != @N_LAB_INTERNAL th dport @P_MGMT_INTERNET_WEB accept comment "${at(ref.tables, "lan", "mgmt-internet-web")} mgmt-internet-web"`,
    );
    expect(text).toContain("elements = { 192.168.100.0/24, 172.16.100.0/24, 10.10.100.0/24, 192.168.200.0/24, 10.244.0.0/16, 10.96.0.0/12 }");
  });

  it("turns the WAN port-forwards into DNAT on the WAN address, filtered by their linked rule afterwards", () => {
    expect(chain(text, "prerouting")).toContain(
      'iifname "wan" meta l4proto tcp ip daddr 203.0.113.1 th dport 443 dnat ip to 172.16.100.10 comment "internet.haproxy-ingress-1.web 443 (nat_d9f0af04)"',
    );
    const nat443 = at(ref.tables, "wan", "NAT internet.haproxy-ingress-1.web 443");
    expect(chain(text, "fwd_wan")).toContain(`meta l4proto tcp ip daddr @H_HAPROXY_INGRESS_1 th dport 443 accept comment "${nat443} NAT internet.haproxy-ingress-1.web 443"`);
    // The WAN subnet stands for the Proxmox host when the spec does not give its address.
    expect(chain(text, "fwd_wan")).toContain(
      `meta l4proto tcp ip saddr 203.0.113.0/28 ip daddr @H_REGISTRY th dport 9443 accept comment "${at(ref.tables, "wan", "proxmox-image-factory")} proxmox-image-factory"`,
    );
  });

  it("uses the H_PROXMOX alias when the spec gives the Proxmox host's address", () => {
    const t = nftablesFromPfSense(lab(PROXMOX_ADDRESS_SPEC).tables, { wan: WAN });
    expect(t).toContain("  set H_PROXMOX {\n    type ipv4_addr\n    flags interval\n    auto-merge\n    elements = { 203.0.113.5 }\n  }");
    const tables = lab(PROXMOX_ADDRESS_SPEC).tables;
    expect(chain(t, "fwd_wan").join("\n")).toContain("ip saddr @H_PROXMOX ip daddr @H_REGISTRY th dport 9443 accept");
    expect(chain(t, "fwd_lan")).toContain(
      `meta l4proto tcp ip saddr @H_MGMT_CLIENT ip daddr @H_PROXMOX th dport 8006 accept comment "${at(tables, "lan", "mgmt-client.proxmox-api")} mgmt-client.proxmox-api"`,
    );
  });

  it("writes a spec flow's port range as an nft range", () => {
    const model = buildLabModel(loadLabSpec(resolve(__dirname, "..", "examples", "lab.yaml")));
    const t = nftablesFromPfSense(pfSenseTables(labFlows(model)), { wan: WAN });
    expect(t).toMatch(/ip saddr @H_MGMT_CLIENT ip daddr @H_TALOS_WORKERS th dport 30000-32767 accept comment "lan#\d+ mgmt-client-to-workers-nodeports"/);
  });

  it("handles what the lab's table does not use: protocol-less rules, ranges in port aliases, literals, (self), source ports", () => {
    const tables: PfSenseTables = {
      interfaces: [{ name: "lan", segment: "mgmt", descr: "MGMT", subnet: "192.168.1.0/24", address: "192.168.1.1" }],
      aliases: [
        { name: "P_ETCD", type: "port", entries: [{ value: "2379:2380", detail: "" }, { value: "4001", detail: "" }], descr: "etcd" },
        { name: "H_X", type: "host", entries: [{ value: "10.0.0.1", detail: "" }], descr: "x" },
      ],
      rules: [
        { interface: "lan", order: 1, type: "pass", source: { network: "lan" }, destination: { any: true }, log: false, descr: "anything", tracker: 1, purpose: "" },
        { interface: "lan", order: 2, type: "pass", source: { any: true }, destination: { address: "10.0.0.0/8", not: true, port: "P_ETCD" }, log: false, descr: "ports", tracker: 2, purpose: "" },
        { interface: "lan", order: 3, type: "block", protocol: "udp", source: { address: "H_X", port: "53" }, destination: { network: "(self)" }, log: false, descr: "self", tracker: 3, purpose: "" },
        { interface: "lan", order: 4, type: "pass", protocol: "icmp", source: { any: true }, destination: { network: "lanip" }, log: true, descr: "ping", tracker: 4, purpose: "" },
      ],
      portForwards: [],
      notFiltered: [],
    };
    const t = nftablesFromPfSense(tables, { wan: WAN, log: false, devices: { lan: "br-mgmt" } });
    expect(chain(t, "fwd_lan")).toEqual([
      'ip saddr 192.168.1.0/24 accept comment "lan#1 anything"',
      'meta l4proto { tcp, udp } ip daddr != 10.0.0.0/8 th dport @P_ETCD accept comment "lan#2 ports"',
    ]);
    expect(chain(t, "in_lan")).toEqual([
      'meta l4proto udp ip saddr @H_X ip daddr { 203.0.113.1, 192.168.1.1 } th sport 53 drop comment "lan#3 self"',
      'meta l4proto icmp ip daddr 192.168.1.1 accept comment "lan#4 ping"',
    ]);
    expect(t).toContain("elements = { 2379-2380, 4001 }");
    expect(chain(t, "input")).toContain('iifname "br-mgmt" jump in_lan');
    // pf itself matches wide rules on the firewall's own addresses too; the option shows that.
    expect(chain(nftablesFromPfSense(tables, { wan: WAN, wideRulesReachSelf: true }), "in_lan")[0]).toBe('ip saddr 192.168.1.0/24 accept comment "lan#1 anything"');
    expect(() => nftablesFromPfSense({ ...tables, rules: [{ ...tables.rules[0], destination: { address: "H_NOPE" } }] }, { wan: WAN })).toThrow("unknown alias H_NOPE");
  });
});

/** Denials the separation must show, named by source, destination label and port. */
const MUST_DENY = [
  "talos-worker-2>internet tcp/80",
  "talos-worker-2>internet tcp/443",
  "talos-worker-2>registry tcp/22",
  "talos-worker-2>registry tcp/80",
  "talos-cp-1>mgmt-client tcp/22",
  "haproxy-ingress-1>registry tcp/22",
  // nothing from the DMZ into MGMT: not Harbor, not the Image Factory, not the runner
  "haproxy-ingress-1>registry tcp/443",
  "haproxy-ingress-1>registry tcp/9443",
  "haproxy-ingress-1>mgmt-client tcp/22",
  "haproxy-ingress-1>talos-worker-2 tcp/22",
  "haproxy-ingress-1>talos-worker-2 tcp/10250",
  "haproxy-ingress-1>talos-worker-2 tcp/50000",
  "haproxy-ingress-1>talos-worker-2 tcp/8080",
  "haproxy-ingress-1>talos-cp-1 tcp/2379",
  "internet>registry tcp/443",
  "internet>talos-cp-1 tcp/6443",
  "internet>vip tcp/6443",
  "internet>firewall@wan tcp/22",
  "internet>registry tcp/9443",
  "mgmt-client>talos-worker-2 tcp/22",
  "mgmt-client>talos-worker-2 tcp/10250",
  "registry>haproxy-ingress-1 tcp/22",
  "registry>firewall@srv udp/53",
  "talos-cp-1>haproxy-ingress-1 tcp/80",
  "proxmox>registry tcp/443",
  "wan-peer>registry tcp/443",
  "pods@talos-worker-1>registry tcp/443",
  // the client LAN (the operators' machine) reaches the mgmt client's SSH and RDP and nothing else:
  // not SRV, the VIP, the DMZ ingress, the registry, pfSense or the Proxmox host
  "operator>talos-cp-1 tcp/22",
  "operator>talos-cp-1 tcp/50000",
  "operator>talos-worker-2 tcp/10250",
  "operator>vip tcp/6443",
  "operator>haproxy-ingress-1 tcp/443",
  "operator>haproxy-ingress-1 tcp/22",
  "operator>registry tcp/443",
  "operator>registry tcp/9443",
  "operator>registry tcp/22",
  "operator>firewall@client tcp/443",
  "operator>firewall@mgmt tcp/22",
  "operator>proxmox tcp/8006",
  "operator>internet tcp/443",
  // and nothing initiates into the client LAN: not the mgmt client, not MGMT's web flow, not SRV, not the WAN side
  "mgmt-client>operator tcp/22",
  "registry>operator tcp/80",
  "talos-cp-1>operator tcp/22",
  "haproxy-ingress-1>operator tcp/22",
  "internet>operator tcp/22",
];
/** What the client LAN must reach: the mgmt client's SSH and remote desktop. */
const MUST_ALLOW = ["operator>mgmt-client tcp/22", "operator>mgmt-client tcp/3389"];
const label = (p: Probe) => `${p.src.label}>${p.dst.label} ${p.protocol}/${p.port}`;

describe("probe planning (pure)", () => {
  const ref = lab();
  const declared = ref.planner.declared();
  const matrix = ref.planner.matrix();

  it("probes every declared flow of the reference lab, each one allowed by the flows it comes from", () => {
    expect(declared.skipped).toEqual([]);
    expect(new Set(declared.probes.map((p) => p.reason))).toEqual(new Set(labFlows(ref.model).flows.map((f) => f.id)));
    expect(declared.probes.filter((p) => ref.planner.check(p).expect !== "connect").map(label)).toEqual([]);
    // The internet reaches HAProxy through the port-forward on the WAN address.
    const web = declared.probes.find((p) => p.reason === "internet.haproxy-ingress-1.web" && p.port === 443)!;
    expect([web.src.label, web.dst.ip, web.responder]).toEqual(["internet", SIM_WAN.address, "haproxy-ingress-1"]);
  });

  it("probes the client LAN's two flows from an operator's machine on it", () => {
    const allowed = declared.probes.filter((p) => p.src.segment === "client").map(label);
    expect(allowed.sort()).toEqual(MUST_ALLOW);
    expect(ref.planner.plan.hosts.find((h) => h.name === "operator")).toMatchObject({ segment: "client", ip: "192.168.200.50", gateway: "192.168.200.1" });
  });

  it("builds a matrix of at least 40 denials, including the ones separation is about", () => {
    const denied = matrix.filter((p) => p.expect === "blocked");
    expect(denied.length).toBeGreaterThanOrEqual(40);
    const labels = new Set(denied.map(label));
    expect(MUST_DENY.filter((l) => !labels.has(l))).toEqual([]);
    const declaredKeys = new Set(declared.probes.map(probeKey));
    expect(denied.filter((p) => declaredKeys.has(probeKey(p))).map(label)).toEqual([]);
  });

  it("tells the Proxmox host from its uplink neighbour only when the spec gives its address", () => {
    const peer = (planner: ProbePlanner) =>
      planner
        .matrix()
        .filter((p) => p.src.label === "wan-peer" || p.dst.label === "wan-peer")
        .map((p) => `${label(p)} ${p.expect}`);
    expect(peer(ref.planner)).toContain("wan-peer>registry tcp/9443 connect");
    expect(peer(ref.planner)).toContain("mgmt-client>wan-peer tcp/8006 connect");
    expect(peer(lab(PROXMOX_ADDRESS_SPEC).planner)).toContain("wan-peer>registry tcp/9443 blocked");
    expect(peer(lab(PROXMOX_ADDRESS_SPEC).planner)).toContain("mgmt-client>wan-peer tcp/8006 blocked");
  });
});

/**
 * The simulated lab of a planner for one describe block: built before its tests with pfSense's rules
 * for `flows` loaded and listeners for `probes` started, torn down after them.
 *
 * @returns the topology, once the block's beforeAll ran
 */
function simulated(planner: ProbePlanner, flows: ReturnType<typeof labFlows>, probes: readonly Probe[]): () => Topology {
  let topo: Topology | undefined;
  beforeAll(async () => {
    topo = await buildTopology(planner.plan);
    await topo.loadRuleset(nftablesFromPfSense(pfSenseTables(flows), nftContext(planner.plan)));
    await topo.startListeners(ProbePlanner.listenerPorts([...probes]));
  });
  afterAll(async () => {
    await topo?.teardown();
  });
  return () => topo!;
}

function failures(results: readonly ProbeResult[]): string[] {
  return results.filter((r) => !r.ok).map((r) => `${label(r)}: expected ${r.expect === "connect" ? `connect→${r.responder}` : "blocked"}, got ${r.got} (${r.reason})`);
}

function counts(results: readonly ProbeResult[]): { allowed: number; denied: number } {
  return { allowed: results.filter((r) => r.expect === "connect").length, denied: results.filter((r) => r.expect === "blocked").length };
}

describe.skipIf(!!skipReason)("packets through the simulated pfSense", () => {
  const totals = { allowed: 0, denied: 0 };
  afterAll(() => console.log(`packets: ${totals.allowed} allowed probes connected, ${totals.denied} denied probes dropped`));

  describe("reference lab", () => {
    const ref = lab();
    const plan = ref.planner.plan;
    const declared = ref.planner.declared().probes;
    const matrix = ref.planner.matrix();
    const variant = lab(PROXMOX_ADDRESS_SPEC);
    // What the address changes: traffic to and from the Proxmox host and its uplink neighbour.
    const wanSide = (p: Probe) => ["proxmox", "wan-peer"].some((h) => p.src.host === h || p.dst.host === h);
    const variantProbes = [...variant.planner.declared().probes, ...variant.planner.matrix()].filter(wanSide);
    let topo: Topology | undefined;

    beforeAll(async () => {
      topo = await buildTopology(plan);
      await topo.loadRuleset(nftablesFromPfSense(ref.tables, nftContext(plan)));
      await topo.startListeners(ProbePlanner.listenerPorts([...declared, ...matrix, ...variantProbes]));
    });
    afterAll(async () => {
      await topo?.teardown();
    });

    it("loads the translated ruleset into the router", async () => {
      const listed = await topo!.listRuleset();
      expect(listed).toContain("table inet pfsense");
      expect(listed).toContain("chain fwd_opt2");
      expect(listed).toContain("dnat ip to 172.16.100.10");
    });

    it("connects every declared flow and drops everything else in the matrix", async () => {
      const results = await runProbes(topo!, [...declared, ...matrix], PROBE);
      console.log(formatResults("reference lab", results));
      const c = counts(results);
      totals.allowed += c.allowed;
      totals.denied += c.denied;
      expect(c.denied).toBeGreaterThanOrEqual(40);
      expect(failures(results)).toEqual([]);
      const seen = new Set(results.filter((r) => r.ok).map((r) => `${label(r)} ${r.expect}`));
      expect(MUST_ALLOW.filter((l) => !seen.has(`${l} connect`))).toEqual([]);
      expect(MUST_DENY.filter((l) => l.includes("operator") && !seen.has(`${l} blocked`))).toEqual([]);
    });

    it("a pass rule planted on the client interface lets the operator into the registry, and the probes see it", async () => {
      const planted: PfSenseTables = {
        ...ref.tables,
        rules: ref.tables.rules.map((r) => (r.interface === "opt3" && r.type === "block" && r.destination.any ? { ...r, type: "pass" as const, descr: "planted: pass all" } : r)),
      };
      await topo!.loadRuleset(nftablesFromPfSense(planted, nftContext(plan)));
      const probes = matrix.filter((p) => p.src.label === "operator" && ["registry", "talos-cp-1"].includes(p.dst.label) && p.port === 22);
      expect(probes.length).toBe(2);
      const results = await runProbes(topo!, probes, PROBE);
      expect(failures(results).length).toBe(2);
      await topo!.loadRuleset(nftablesFromPfSense(ref.tables, nftContext(plan)));
    });

    it("drops because of the rules, not the wiring: without them, a blocked probe of every pair connects", async () => {
      await topo!.loadRuleset("table inet pfsense {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n  }\n}\n");
      const pairs = new Map<string, Probe>();
      for (const p of matrix) if (p.expect === "blocked" && !pairs.has(`${p.src.label}>${p.dst.label}`)) pairs.set(`${p.src.label}>${p.dst.label}`, p);
      const control = [...pairs.values()].map((p): Probe => ({ ...p, expect: "connect", responder: p.dst.host, reason: "control: no ruleset" }));
      const results = await runProbes(topo!, control, PROBE);
      console.log(formatResults("reference lab without pfSense's rules (control)", results));
      expect(control.length).toBeGreaterThanOrEqual(40);
      expect(failures(results)).toEqual([]);
    });

    it("with the Proxmox host's address in the spec, only that host gets the Proxmox rules", async () => {
      await topo!.loadRuleset(nftablesFromPfSense(variant.tables, nftContext(plan)));
      expect(await topo!.listRuleset()).toContain("set H_PROXMOX");
      const results = await runProbes(topo!, variantProbes, PROBE);
      console.log(formatResults("reference lab, proxmox.nodes[0].address = 203.0.113.5", results));
      const c = counts(results);
      totals.allowed += c.allowed;
      totals.denied += c.denied;
      expect(results.map((r) => `${label(r)} ${r.expect}`)).toContain("wan-peer>registry tcp/9443 blocked");
      expect(failures(results)).toEqual([]);
    });
  });

  describe("a lab with a service added from outside the package (Prometheus)", () => {
    const catalog = serviceCatalog([PROMETHEUS]);
    const model = buildLabModel(validateLabSpec(PROMETHEUS_SPEC, catalog), catalog);
    const flows = labFlows(model);
    const planner = new ProbePlanner(flows, simPlan(model));
    const own = new Set(flows.flows.filter((f) => f.id.startsWith("prometheus.")).map((f) => f.id));
    // Its flows, and the matrix around its host on its ports: who else may scrape, whom it may not reach.
    const declared = planner.declared().probes.filter((p) => own.has(p.reason) || planner.crossesFirewall(p));
    const declaredKeys = new Set(declared.map(probeKey));
    const focus = (p: Probe) => p.src.host === "prometheus" || p.dst.host === "prometheus" || [9100, 9090].includes(p.port);
    const matrix = planner.matrix([22, 9090, 9100]).filter((p) => focus(p) && !declaredKeys.has(probeKey(p)));
    const topology = simulated(planner, flows, [...declared, ...matrix]);

    it("lets Prometheus scrape every Talos node and nobody else, and keeps it out of what it does not need", async () => {
      expect([...own].sort()).toEqual(["prometheus.node-exporter", "prometheus.ui.mgmt-client"]);
      const results = await runProbes(topology(), [...declared, ...matrix], PROBE);
      console.log(formatResults("prometheus lab", results));
      const c = counts(results);
      totals.allowed += c.allowed;
      totals.denied += c.denied;
      const seen = results.map((r) => `${label(r)} ${r.expect}`);
      expect(seen).toContain("prometheus>talos-worker-2 tcp/9100 connect");
      expect(seen).toContain("prometheus>talos-cp-1 tcp/9100 connect");
      expect(seen).toContain("registry>talos-cp-1 tcp/9100 blocked");
      expect(seen).toContain("haproxy-ingress-1>prometheus tcp/9090 blocked");
      expect(failures(results)).toEqual([]);
    });
  });

  describe("examples/lab.yaml (a spec flow with a port range, four workers)", () => {
    const model = buildLabModel(loadLabSpec(resolve(__dirname, "..", "examples", "lab.yaml")));
    const flows = labFlows(model);
    const planner = new ProbePlanner(flows, simPlan(model));
    const specFlows = flows.flows.filter((f) => f.origin === "spec" && f.protocol !== "icmp");
    // What the reference lab does not show already: traffic through the firewall, and the matrix around
    // the spec flows' ends on their ports.
    const ends = new Set(specFlows.flatMap((f) => [f.from, f.to].flatMap((e) => flows.resolve(e).vms.map((v) => v.name))));
    const specPorts = specFlows.flatMap((f) => f.ports.flatMap((p) => String(p).split("-").map(Number)));
    const focus = (p: Probe) => (ends.has(p.src.host) || ends.has(p.dst.host)) && specPorts.includes(p.port);
    const declared = planner.declared().probes.filter((p) => planner.crossesFirewall(p) || specFlows.some((f) => f.id === p.reason));
    const declaredKeys = new Set(declared.map(probeKey));
    const matrix = planner.matrix([22, 80, ...specPorts]).filter((p) => focus(p) && !declaredKeys.has(probeKey(p)));
    const topology = simulated(planner, flows, [...declared, ...matrix]);

    it("connects every declared flow, the spec's NodePort range included, and drops its near misses", async () => {
      expect(specFlows.map((f) => f.id)).toEqual(["mgmt-client-to-workers-nodeports"]);
      const results = await runProbes(topology(), [...declared, ...matrix], PROBE);
      console.log(formatResults("examples/lab.yaml", results));
      const c = counts(results);
      totals.allowed += c.allowed;
      totals.denied += c.denied;
      const seen = results.map((r) => `${label(r)} ${r.expect}`);
      expect(seen).toContain("mgmt-client>talos-worker-4 tcp/32767 connect");
      expect(seen).toContain("registry>talos-worker-4 tcp/30000 blocked");
      expect(seen).toContain("mgmt-client>talos-cp-1 tcp/30000 blocked");
      expect(failures(results)).toEqual([]);
    });
  });
});
