import { XMLParser } from "fast-xml-parser";
import { CORE_SCHEMA, loadAll, Type } from "js-yaml";
import { AddressSet } from "./address-set";
import { PortSet } from "./port-set";

/**
 * The separation invariants, judged on the files a synth writes, not on the spec or the model that
 * produced them: pfSense's filter and NAT areas as pfSense reads them, each VM's Proxmox firewall in
 * the module JSON, and the Talos firewall documents. It holds when:
 *
 * 1. nothing from the WAN side (internet, Proxmox hosts) reaches an SRV address: no WAN pass rule or
 *    port-forward leads into SRV; every SRV VM has its Proxmox firewall on (options enabled, input
 *    policy not ACCEPT, every NIC firewalled) and admits no source outside the lab's networks; Talos's
 *    default ingress action is block and no Talos rule admits a source outside the lab;
 * 2. SRV reaches nothing outside the lab: every pass rule on pfSense's SRV interface leads into the
 *    lab's networks (pfSense's SRV address included) and none routes to a gateway (`route-to`, which
 *    sends what it passes out of that gateway whatever its destination);
 * 3. every rule that lets traffic through traces to a flow declared in flows.json and opens no more
 *    than that flow: same protocol, sources within the flow's `from`, destinations within its `to`,
 *    ports within its ports (pfSense rules also on the interface flows.json places them on); every
 *    other lab VM has its Proxmox firewall on;
 * 4. pfSense itself answers nothing on the WAN side, and on DMZ and SRV only DNS (53), NTP (123/udp)
 *    and, from SRV, BGP (179/tcp): only MGMT administers the firewall;
 * 5. nothing from the DMZ reaches MGMT: no pass rule on pfSense's DMZ interface and no port-forward
 *    there leads into the MGMT subnet (pfSense's own MGMT address is invariant 4's), and no MGMT VM's
 *    Proxmox firewall admits a DMZ source. The DMZ faces the internet and MGMT holds the supply chain:
 *    MGMT pushes to the DMZ, never the other way.
 * 6. the client LAN (the operators' way in) reaches only the client hosts (the VMs whose role tag, the
 *    third after `talos-enclave`, is `client`), on tcp 22 (SSH) and 3389 (RDP) and nothing else: every pass rule
 *    on pfSense's client interface leads there and no further, and no Proxmox or Talos rule admits a
 *    client-LAN source anywhere else; and nothing initiates into the client LAN: no pass rule on
 *    another interface leads into its subnet and no port-forward targets it.
 *
 * pfSense semantics: a rule with `disabled` set does nothing (filter.inc skips it) and an `inet6` rule
 * matches no IPv4 packet, so neither counts, for passing or for closing. Floating rules come before
 * the interface rules and apply to every interface in their comma list (direction `in` or `any`); a
 * `quick` one decides on match, a non-quick one only while no later quick rule matches (it never
 * decides on an interface whose own rules end with a block of everything). Interface rules are quick:
 * first match wins, so nothing after a block of everything counts, and after a block of everything to
 * `(self)` no pass reaches pfSense itself. Aliases are resolved (nested too), `not` is applied, and
 * interface networks (`lan`, `opt1`, …, `opt3` the client LAN) include pfSense's own address on them.
 *
 * Flow endpoints are placed with what the files say: a host is its VM's address in the module JSON,
 * `group:controlplanes`/`group:workers` the addresses of VMs tagged so, `group:talos` the SRV subnet
 * (the lab admits all Talos nodes as the SRV subnet, so adding a node changes no other rule), `vip` the
 * Talos Layer2VIPConfig address, `firewall` pfSense's zone addresses, `pods` the pod network, `zone:x`
 * the zone's subnet, `internet` everything outside the lab (as a source: anything the WAN delivers) and
 * `proxmox` everything outside the lab (the hosts sit on the WAN side).
 */

/**
 * Integers as Talos reads them (gopkg.in/yaml.v3 resolves a plain integer with Go's
 * `strconv.ParseInt(s, 0, 64)`): `0x…` hex, `0o…` and a leading `0` octal, `0b…` binary. YAML 1.2's
 * core schema reads `06443` as 6443 where Talos opens port 3363.
 */
const TALOS_INT = new Type("tag:yaml.org,2002:int", {
  kind: "scalar",
  resolve: (data: unknown) => typeof data === "string" && /^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.test(data),
  construct: (data: string) => {
    const sign = data.startsWith("-") ? -1 : 1;
    const t = data.replace(/^[-+]/, "");
    const [base, digits] = /^0[xX]/.test(t) ? [16, t.slice(2)] : /^0[oO]/.test(t) ? [8, t.slice(2)] : /^0[bB]/.test(t) ? [2, t.slice(2)] : /^0./.test(t) ? [8, t.slice(1)] : [10, t];
    return sign * parseInt(digits, base);
  },
});

/** The merge key `<<`: js-yaml's loader merges the mapping of a key resolved to this tag. */
const MERGE_KEY = new Type("tag:yaml.org,2002:merge", { kind: "scalar", resolve: (data: unknown) => data === "<<" || data === null });

/** YAML as Talos reads it: the 1.2 core schema, Go's integers, and merge keys (yaml.v3 applies `<<`). */
const TALOS_YAML = CORE_SCHEMA.extend({ implicit: [TALOS_INT, MERGE_KEY] });

/** `f`, computing each argument's result once. */
function once<K, V>(f: (key: K) => V): (key: K) => V {
  const known = new Map<K, V>();
  return (key) => {
    if (!known.has(key)) known.set(key, f(key));
    return known.get(key)!;
  };
}

/** The lab's own networks: what "inside the lab" and "SRV" mean for the invariants. */
export interface LabNetworks {
  /** Subnet and pfSense address of each internal zone. */
  readonly zones: Readonly<Record<"mgmt" | "dmz" | "srv", { readonly cidr: string; readonly gateway: string }>>;
  /** Subnet and pfSense address of the client LAN (the operators' way in, pfSense's `opt3`). */
  readonly client: { readonly cidr: string; readonly gateway: string };
  /** The pod network (Calico). */
  readonly podCidr: string;
  /** The service network. */
  readonly serviceCidr: string;
}

/** A broken invariant: which layer, which rule, which flow it came from, and what it allows. */
export interface SeparationViolation {
  /** `pfSense`, `Proxmox` or `Talos`. */
  readonly layer: "pfSense" | "Proxmox" | "Talos";
  /** The rule as a reviewer finds it, e.g. `wan rule 3 (tracker 1700000001)` or `talos-cp-1 rule 2`. */
  readonly rule: string;
  /** The flow the rule names, if any. */
  readonly flow?: string;
  /**
   * Which invariant: 1 (WAN side into SRV), 2 (SRV to outside the lab), 3 (no declared flow behind
   * the rule, or the rule opens more than its flow), 4 (pfSense itself reachable from outside MGMT
   * beyond its services), 5 (the DMZ reaches into MGMT), 6 (the client LAN reaches more than the
   * client hosts' SSH and RDP, or something reaches into the client LAN).
   */
  readonly invariant: 1 | 2 | 3 | 4 | 5 | 6;
  /** What the rule allows that the invariant forbids. */
  readonly message: string;
}

type Zone = "mgmt" | "dmz" | "srv";

/** pfSense's internal interface names, fixed by the NIC order WAN, MGMT, DMZ, SRV, CLIENT (RULES.md). */
const INTERFACE_ZONE: Readonly<Record<string, Zone | "wan" | "client">> = { wan: "wan", lan: "mgmt", opt1: "dmz", opt2: "srv", opt3: "client" };

/** What the client LAN may reach on the client hosts: SSH and remote desktop (xrdp), over tcp. */
const CLIENT_LAN_PORTS = PortSet.union([PortSet.parse("22")!, PortSet.parse("3389")!]);

type Node = Record<string, unknown>;
const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => ["rule", "alias"].includes(name) });

function text(n: Node | undefined, key: string): string | undefined {
  const v = n?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object") return String((v as Node)["#text"] ?? "");
  return String(v);
}

/** Whether an XML element is present (pfSense tests flags such as `<disabled/>` with isset()). */
function has(n: Node | undefined, key: string): boolean {
  return n !== undefined && typeof n === "object" && key in n;
}

function set(cidr: string): AddressSet {
  const s = AddressSet.parse(cidr);
  if (!s) throw new Error(`not an address or subnet: ${cidr}`);
  return s;
}

/** Ports in text lists (`80,443`, `80 443`, `2379:2380`); a token the check cannot read opens every port. */
function ports(tokens: readonly string[]): PortSet {
  return PortSet.union(tokens.map((t) => PortSet.parse(t) ?? PortSet.ALL));
}

/** What pfSense itself serves outside MGMT: DNS and NTP to DMZ and SRV, BGP to SRV (Calico). */
const FIREWALL_SERVICES: readonly { protocol: string; port: number; zones: readonly string[] }[] = [
  { protocol: "udp", port: 53, zones: ["dmz", "srv"] },
  { protocol: "tcp", port: 53, zones: ["dmz", "srv"] },
  { protocol: "udp", port: 123, zones: ["dmz", "srv"] },
  { protocol: "tcp", port: 179, zones: ["srv"] },
];

/** Protocols whose rules select ports. */
const PORTED = new Set(["tcp", "udp", "tcp/udp"]);

/** Match conditions beyond addresses, protocol and ports: a rule with one matches only some packets. */
const QUALIFIERS = ["sched", "tagged", "os", "icmptype", "dscp", "vlanprio"];

/** A flow as flows.json declares it. */
interface DeclaredFlow {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly protocol: string;
  readonly ports?: readonly (number | string)[];
  readonly pfsense?: readonly { interface?: string; tracker: number }[];
}

/** Checks the separation invariants on a synthesized stack's files (paths relative to the stack). */
export function separationViolations(nets: LabNetworks, files: ReadonlyMap<string, string>): SeparationViolation[] {
  const out: SeparationViolation[] = [];
  const lab = AddressSet.union([...Object.values(nets.zones).map((z) => set(z.cidr)), set(nets.client.cidr), set(nets.podCidr), set(nets.serviceCidr)]);
  /** The operators' LAN, pfSense's address there included. */
  const clientNet = set(nets.client.cidr);
  const srv = AddressSet.union([set(nets.zones.srv.cidr), set(nets.podCidr), set(nets.serviceCidr)]);
  const outside = lab.complement();
  const dmz = set(nets.zones.dmz.cidr);
  /** MGMT without pfSense's address there (a pass to pfSense itself is invariant 4's to judge). */
  const mgmtHosts = set(nets.zones.mgmt.cidr).minus(set(nets.zones.mgmt.gateway));
  const gateway = (zone: Zone) => set(nets.zones[zone].gateway);
  const gateways = AddressSet.union([gateway("mgmt"), gateway("dmz"), gateway("srv"), set(nets.client.gateway)]);
  /** Where pfSense itself may be: its zone addresses, and its WAN address somewhere outside the lab. */
  const firewallSelf = gateways.or(outside);

  // Declared flows and the pfSense trackers flows.json says carry them.
  const declared = JSON.parse(files.get("flows.json") ?? '{"flows":[]}') as { flows: DeclaredFlow[] };
  const flowById = new Map(declared.flows.map((f) => [f.id, f]));
  const flowByTracker = new Map(declared.flows.flatMap((f) => (f.pfsense ?? []).map((p) => [String(p.tracker), f] as const)));
  // each flow, endpoint and address list is judged by hundreds of rules in a big lab: computed once
  const flowPorts = once((f: DeclaredFlow) => ports((f.ports ?? []).map(String)));

  // ── The lab's machines, as the module JSON and the Talos documents place them ──────────────────────
  const modules = [...files]
    .map(([path, content]) => [/^modules\/([a-z0-9_-]+)\/main\.tf\.json$/.exec(path)?.[1], content] as const)
    .filter((m): m is readonly [string, string] => m[0] !== undefined)
    .map(([name, content]) => ({ name, resource: ((JSON.parse(content) as { resource?: Node }).resource ?? {}) as Record<string, Record<string, Node>> }));
  const vmAddress = new Map<string, AddressSet>();
  const vmTags = new Map<string, readonly string[]>();
  for (const m of modules) {
    for (const [key, vm] of Object.entries(m.resource.proxmox_virtual_environment_vm ?? {})) {
      const name = text(vm, "name") ?? key;
      const configs = ((vm.initialization as Node | undefined)?.ip_config as Node[] | undefined) ?? [];
      const addresses = configs.map((c) => text(c.ipv4 as Node | undefined, "address")).filter((a): a is string => a !== undefined);
      vmAddress.set(name, AddressSet.union(addresses.map((a) => AddressSet.parse(a.replace(/\/\d+$/, "")) ?? AddressSet.NONE)));
      vmTags.set(name, ((vm.tags as unknown[] | undefined) ?? []).map(String));
    }
  }
  const tagged = once((tag: string) => AddressSet.union([...vmTags].filter(([, tags]) => tags.includes(tag)).map(([name]) => vmAddress.get(name)!)));
  /**
   * The client hosts: VMs whose role tag says `client`. The lab writes `talos-enclave`, the lab's name,
   * the zone, the role; the role is read by that position, so a lab named `client` or tags an aspect
   * adds before or after them (a user's own) change nothing.
   */
  const isClientVm = (name: string) => {
    const tags = vmTags.get(name) ?? [];
    const at = tags.indexOf("talos-enclave");
    return at >= 0 && tags[at + 3] === "client";
  };
  const clientHosts = AddressSet.union([...vmTags.keys()].filter(isClientVm).map((name) => vmAddress.get(name)!));
  const talosDocs: { path: string; doc: Node }[] = [];
  let unreadableTalos = false;
  for (const [path, content] of files) {
    if (!/^talos\/.*\.yaml$/.test(path)) continue;
    // read as Talos reads it, by another library than the one that wrote the files
    let docs: unknown[];
    try {
      docs = loadAll(content, undefined, { schema: TALOS_YAML });
    } catch (e) {
      out.push({ layer: "Talos", rule: path, invariant: 1, message: `cannot be read as YAML (${(e as Error).message.split("\n")[0]}), so nothing shows what its firewall admits` });
      unreadableTalos = true;
      continue;
    }
    for (const doc of docs) if (doc && typeof doc === "object") talosDocs.push({ path, doc: doc as Node });
  }
  const vip = AddressSet.union(talosDocs.filter((t) => t.doc.kind === "Layer2VIPConfig").map((t) => AddressSet.parse(String(t.doc.name)) ?? AddressSet.NONE));

  /** The addresses a flow endpoint stands for (`from`: as a source; `to`: as a destination). */
  const placed = { from: once((e: string) => placeOnce(e, "from")), to: once((e: string) => placeOnce(e, "to")) };
  const place = (endpoint: string, side: "from" | "to"): AddressSet => placed[side](endpoint);
  const placeOnce = (endpoint: string, side: "from" | "to"): AddressSet => {
    switch (endpoint) {
      case "internet":
        return side === "from" ? AddressSet.ANY : outside;
      case "proxmox":
        return outside;
      case "firewall":
        return gateways;
      case "pods":
        return set(nets.podCidr);
      case "vip":
        return vip;
      case "group:talos":
        return set(nets.zones.srv.cidr);
      case "group:controlplanes":
        return tagged("controlplane");
      case "group:workers":
        return tagged("worker");
    }
    if (endpoint === "zone:client") return clientNet;
    const zone = /^zone:(mgmt|dmz|srv)$/.exec(endpoint)?.[1] as Zone | undefined;
    if (zone) return set(nets.zones[zone].cidr);
    return vmAddress.get(endpoint) ?? AddressSet.NONE;
  };
  const shown = (endpoint: string, s: AddressSet) => `${endpoint}: ${s.empty ? "no address the check can find" : s}`;

  /** Violations of a rule that opens more than its flow: sources, destinations, ports. */
  const beyondFlow = (
    flow: DeclaredFlow,
    opened: { src: AddressSet; dst: AddressSet; ports: PortSet; protocol: string | undefined },
    verb: string,
  ): string[] => {
    const problems: string[] = [];
    if (opened.protocol !== flow.protocol) problems.push(`${verb} protocol ${opened.protocol ?? "any"} where the flow declares ${flow.protocol}`);
    const from = place(flow.from, "from");
    if (!opened.src.within(from)) problems.push(`${verb} sources ${opened.src.minus(from)} the flow does not declare (from ${shown(flow.from, from)})`);
    const to = place(flow.to, "to");
    if (!opened.dst.within(to)) problems.push(`${verb} destinations ${opened.dst.minus(to)} the flow does not declare (to ${shown(flow.to, to)})`);
    if (PORTED.has(flow.protocol)) {
      const allowed = flowPorts(flow);
      if (!opened.ports.within(allowed)) problems.push(`${verb} ports ${opened.ports.minus(allowed)} the flow does not declare (${allowed})`);
    }
    return problems;
  };

  // ── pfSense ────────────────────────────────────────────────────────────────────────────────────
  const parse = (file: string, root: string) => ((xml.parse(files.get(file) ?? `<${root}/>`) as Node)[root] ?? {}) as Node;
  const aliasNodes = new Map(((parse("pfsense/aliases.xml", "aliases").alias as Node[] | undefined) ?? []).map((a) => [text(a, "name") ?? "", a]));
  const aliasEntries = (name: string) => (text(aliasNodes.get(name), "address") ?? "").split(/\s+/).filter(Boolean);
  const addressAlias = (name: string, seen: ReadonlySet<string> = new Set()): AddressSet | undefined => {
    const a = aliasNodes.get(name);
    if (!a || text(a, "type") === "port") return undefined;
    if (!["host", "network"].includes(text(a, "type") ?? "") || seen.has(name)) return AddressSet.ANY; // URL tables, loops: assume the worst
    const next = new Set([...seen, name]);
    // an entry is an address, a subnet, a range, a nested alias or an FQDN (resolved by DNS: anything)
    return AddressSet.union(aliasEntries(name).map((e) => AddressSet.parse(e) ?? addressAlias(e, next) ?? AddressSet.ANY));
  };
  const portAlias = (name: string, seen: ReadonlySet<string> = new Set()): PortSet => {
    if (text(aliasNodes.get(name), "type") !== "port" || seen.has(name)) return PortSet.ALL;
    const next = new Set([...seen, name]);
    return PortSet.union(aliasEntries(name).map((e) => PortSet.parse(e) ?? (aliasNodes.has(e) ? portAlias(e, next) : PortSet.ALL)));
  };
  const network = (name: string): AddressSet => {
    if (name === "(self)") return firewallSelf;
    const ip = name.endsWith("ip");
    const zone = INTERFACE_ZONE[ip ? name.slice(0, -2) : name];
    if (zone === undefined) return AddressSet.ANY; // unknown: assume the worst
    if (zone === "wan") return outside; // the WAN subnet and pfSense's WAN address lie outside the lab
    if (zone === "client") return ip ? set(nets.client.gateway) : clientNet;
    return ip ? gateway(zone) : set(nets.zones[zone].cidr); // an interface network includes pfSense's address on it
  };
  const endpoint = (e: Node | undefined): AddressSet => {
    if (!e || typeof e !== "object") return AddressSet.ANY;
    let s: AddressSet;
    if (has(e, "any")) s = AddressSet.ANY;
    else if (text(e, "network") !== undefined) s = network(text(e, "network")!);
    else {
      const address = text(e, "address") ?? "";
      s = addressAlias(address) ?? AddressSet.parse(address) ?? AddressSet.ANY;
    }
    return has(e, "not") ? s.complement() : s;
  };
  const endpointPorts = (e: Node | undefined): PortSet => {
    const port = text(e, "port");
    if (port === undefined || port === "") return PortSet.ALL;
    return PortSet.parse(port) ?? portAlias(port);
  };
  /** pfSense's own addresses named as such (`(self)`, `lanip`, …): what a flow to the firewall may use. */
  const namesFirewall = (e: Node | undefined) => {
    const n = text(e, "network");
    return !has(e, "not") && n !== undefined && (n === "(self)" || (n.endsWith("ip") && INTERFACE_ZONE[n.slice(0, -2)] !== undefined));
  };

  /** A rule pfSense loads for IPv4: not disabled, not IPv6-only (a missing ipprotocol means inet). */
  const active = (r: Node) => !has(r, "disabled") && (text(r, "ipprotocol") ?? "inet") !== "inet6";
  const anyEndpoint = (e: Node | undefined) => !!e && has(e, "any") && !has(e, "not") && text(e, "port") === undefined;
  const unqualified = (r: Node) => text(r, "protocol") === undefined && QUALIFIERS.every((q) => !has(r, q));
  /** Matches every IPv4 packet on its interface. */
  const everything = (r: Node) => unqualified(r) && anyEndpoint(r.source as Node) && anyEndpoint(r.destination as Node);
  /** Matches every IPv4 packet to pfSense itself. */
  const everythingToSelf = (r: Node) => {
    const d = r.destination as Node | undefined;
    return unqualified(r) && anyEndpoint(r.source as Node) && !!d && !has(d, "not") && text(d, "network") === "(self)" && text(d, "port") === undefined;
  };

  interface PfRule {
    readonly r: Node;
    readonly floating: boolean;
    /** Decides on match: every interface rule, and a floating rule with `quick` set. */
    readonly quick: boolean;
    readonly interfaces: readonly string[];
    /** The rule's name on one interface, as the GUI numbers it. */
    readonly where: (iface: string) => string;
  }
  const pfRules: PfRule[] = [];
  const order = new Map<string, number>();
  let floatingN = 0;
  for (const r of (parse("pfsense/filter.xml", "filter").rule as Node[] | undefined) ?? []) {
    const ifaceText = text(r, "interface") ?? "";
    const interfaces = ifaceText.split(",").map((s) => s.trim()).filter(Boolean);
    // a rule on several interfaces is judged like a floating one, on each; quick unless it says floating
    const floating = has(r, "floating") || interfaces.length !== 1;
    const quick = !has(r, "floating") || has(r, "quick");
    const tracker = text(r, "tracker") ?? "?";
    if (floating) {
      const n = ++floatingN;
      pfRules.push({ r, floating, quick, interfaces, where: (iface) => `floating rule ${n} (tracker ${tracker}) on ${iface}` });
    } else {
      const n = (order.get(ifaceText) ?? 0) + 1;
      order.set(ifaceText, n);
      pfRules.push({ r, floating, quick, interfaces, where: (iface) => `${iface} rule ${n} (tracker ${tracker})` });
    }
  }
  /** A pass rule that decides for packets arriving on `iface`; `selfClosed`: pfSense itself is behind a block. */
  const judgePass = (p: PfRule, iface: string, selfClosed: boolean) => {
    const r = p.r;
    const where = p.where(iface);
    const tracker = text(r, "tracker") ?? "?";
    const flow = flowByTracker.get(tracker);
    const zone = INTERFACE_ZONE[iface];
    const dstNode = r.destination as Node | undefined;
    const src = endpoint(r.source as Node | undefined);
    const dst = endpoint(dstNode);
    const protocol = text(r, "protocol");
    if (zone === undefined) {
      out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 3, message: `passes traffic on interface ${JSON.stringify(iface)}, which is none of the lab's (wan, lan, opt1, opt2, opt3)` });
      if (dst.meets(clientNet)) {
        out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 6, message: `lets interface ${JSON.stringify(iface)} initiate into the client LAN (${dst.and(clientNet)})` });
      }
      return;
    }
    const opened = PORTED.has(protocol ?? "") || protocol === undefined ? endpointPorts(dstNode) : PortSet.ALL;

    if (!flow) out.push({ layer: "pfSense", rule: where, invariant: 3, message: "passes traffic no declared flow names (flows.json lists no such tracker)" });
    else {
      const placed = (flow.pfsense ?? []).filter((x) => String(x.tracker) === tracker).map((x) => x.interface ?? "?");
      if (p.floating) out.push({ layer: "pfSense", rule: where, flow: flow.id, invariant: 3, message: `is a floating rule where flows.json places the flow's rule on ${placed.join(", ")}` });
      else if (!placed.includes(iface)) out.push({ layer: "pfSense", rule: where, flow: flow.id, invariant: 3, message: `passes on ${iface} where flows.json places the flow's rule on ${placed.join(", ")}` });
      // a flow to the firewall may name pfSense's own address however pfSense spells it
      const dstAsFlow = flow.to === "firewall" && namesFirewall(dstNode) ? gateways : dst;
      for (const message of beyondFlow(flow, { src, dst: dstAsFlow, ports: opened, protocol }, "passes")) {
        out.push({ layer: "pfSense", rule: where, flow: flow.id, invariant: 3, message });
      }
    }
    if (zone === "wan" && dst.meets(srv)) {
      out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 1, message: `lets the WAN side reach SRV (${dst.and(srv)})` });
    }
    if (zone === "dmz" && dst.meets(mgmtHosts)) {
      out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 5, message: `lets the DMZ reach into MGMT (${dst.and(mgmtHosts)})` });
    }
    if (zone === "client") {
      const beyond = dst.minus(clientHosts);
      if (!beyond.empty) out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 6, message: `lets the client LAN reach more than the client hosts (${beyond})` });
      else if (protocol !== "tcp" || !opened.within(CLIENT_LAN_PORTS)) {
        out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 6, message: `lets the client LAN reach the client hosts on more than SSH and RDP (${protocol ?? "any"}/${text(dstNode, "port") || "any"})` });
      }
    } else if (dst.meets(clientNet)) {
      out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 6, message: `lets ${zone === "wan" ? "the WAN side" : zone.toUpperCase()} initiate into the client LAN (${dst.and(clientNet)})` });
    }
    if (zone === "srv" && !dst.within(lab)) {
      out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 2, message: `lets SRV reach outside the lab (${dst.minus(lab)})` });
    }
    const routeTo = text(r, "gateway");
    if (zone === "srv" && routeTo) {
      out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 2, message: `routes what it passes to gateway ${routeTo} (policy routing): SRV traffic leaves through that gateway whatever its destination` });
    }
    if (!selfClosed && zone !== "mgmt" && dst.meets(firewallSelf)) {
      // what pfSense serves this zone on one protocol; `tcp/udp` must stay within both
      const served = (proto: string) =>
        PortSet.union(FIREWALL_SERVICES.filter((s) => zone !== "wan" && s.zones.includes(zone) && s.protocol === proto).map((s) => PortSet.parse(String(s.port))!));
      const protocols = protocol === "tcp/udp" ? ["tcp", "udp"] : protocol !== undefined && PORTED.has(protocol) ? [protocol] : [];
      if (!protocols.length || protocols.some((proto) => served(proto).empty || !opened.within(served(proto)))) {
        const port = text(dstNode, "port");
        out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 4, message: `lets ${zone === "wan" ? "the WAN side" : zone.toUpperCase()} reach pfSense itself (${protocol ?? "any"}/${port || "any"})` });
      }
    }
  };
  const interfaces = [...new Set([...Object.keys(INTERFACE_ZONE), ...pfRules.flatMap((p) => p.interfaces)])];
  for (const iface of interfaces) {
    const here = (p: PfRule) => p.interfaces.includes(iface) && active(p.r);
    const own = pfRules.filter((p) => !p.floating && here(p));
    // a floating rule matches packets coming in (or either way); pfSense passes everything out anyway
    const floating = pfRules.filter((p) => p.floating && here(p) && ["in", "any"].includes(text(p.r, "direction") ?? "any"));
    const ownCatchAll = own.some((p) => everything(p.r));
    let selfClosed = false;
    for (const p of [...floating, ...own]) {
      const quick = p.quick;
      const type = text(p.r, "type") ?? "pass";
      if (type === "pass") {
        // a non-quick floating pass is overridden by any quick rule that matches after it
        if (quick || !ownCatchAll) judgePass(p, iface, selfClosed);
      } else if ((type === "block" || type === "reject") && quick && everythingToSelf(p.r)) selfClosed = true;
      if (quick && everything(p.r) && type !== "match") break; // first match: nothing after it is reached
    }
  }
  const nat = (parse("pfsense/nat.xml", "nat").rule as Node[] | undefined) ?? [];
  nat.forEach((r, i) => {
    if (!active(r) || has(r, "nordr")) return;
    const t = text(r, "target") ?? "";
    const target = AddressSet.parse(t) ?? addressAlias(t) ?? AddressSet.ANY;
    if (target.meets(srv)) {
      out.push({ layer: "pfSense", rule: `port-forward ${i + 1} (${text(r, "descr") ?? ""})`, invariant: 1, message: `forwards the WAN side into SRV (${target.and(srv)})` });
    }
    if (target.meets(clientNet)) {
      out.push({ layer: "pfSense", rule: `port-forward ${i + 1} (${text(r, "descr") ?? ""})`, invariant: 6, message: `forwards into the client LAN (${target.and(clientNet)})` });
    }
    const arrives = (text(r, "interface") ?? "wan").split(",").map((x) => x.trim());
    if (arrives.some((x) => INTERFACE_ZONE[x] === "dmz" || INTERFACE_ZONE[x] === undefined) && target.meets(mgmtHosts)) {
      out.push({ layer: "pfSense", rule: `port-forward ${i + 1} (${text(r, "descr") ?? ""})`, invariant: 5, message: `forwards what arrives from the DMZ into MGMT (${target.and(mgmtHosts)})` });
    }
  });

  /** Address lists without IP sets (`10.10.0.0/20`, `192.168.100.20,192.168.100.21`), by their text. */
  const literalLists = new Map<string, AddressSet>();
  // ── Proxmox VM firewalls ─────────────────────────────────────────────────────────────────────────
  for (const m of modules) {
    if (m.name === "edge") continue; // pfSense's own VM routes between the zones; its NICs are not filtered
    const res = m.resource;
    const invariant = m.name === "srv" ? 1 : 3;
    const consequence = m.name === "srv" ? "the WAN side can reach it" : "it accepts traffic no flow declares";
    const vmRef = (vm: string) => `\${proxmox_virtual_environment_vm.${vm}.vm_id}`;
    // firewall options and IP sets by the VM they name (each looked up once per VM or rule)
    const optionsByVmId = new Map<string, [number, Node]>();
    const optionsByKey = new Map<string, [number, Node]>();
    Object.entries(res.proxmox_virtual_environment_firewall_options ?? {}).forEach(([k, o], i) => {
      const id = text(o, "vm_id");
      if (id !== undefined && !optionsByVmId.has(id)) optionsByVmId.set(id, [i, o]);
      optionsByKey.set(k, [i, o]);
    });
    /** The first options (in file order) that name the VM by reference or by key. */
    const optionsOf = (key: string): Node | undefined => {
      const found = [optionsByVmId.get(vmRef(key)), optionsByKey.get(key)].filter((x) => x !== undefined);
      return found.sort((a, b) => a[0] - b[0])[0]?.[1];
    };
    const NO_ID = "\u0000";
    const ipsetsByVmId = new Map<string, Node[]>();
    for (const x of Object.values(res.proxmox_virtual_environment_firewall_ipset ?? {})) {
      const id = text(x, "vm_id") ?? NO_ID;
      const list = ipsetsByVmId.get(id);
      if (list) list.push(x);
      else ipsetsByVmId.set(id, [x]);
    }
    // the VM's firewall must act: options enabled, input policy not ACCEPT, every NIC firewalled
    for (const [key, vm] of Object.entries(res.proxmox_virtual_environment_vm ?? {})) {
      const name = text(vm, "name") ?? key;
      const options = optionsOf(key);
      const where = `${name} firewall options`;
      if (!options) out.push({ layer: "Proxmox", rule: where, invariant, message: `the VM has no firewall options, so its Proxmox firewall is off and ${consequence}` });
      else {
        if (options.enabled !== true) out.push({ layer: "Proxmox", rule: where, invariant, message: `the VM's Proxmox firewall is not enabled (enabled ${JSON.stringify(options.enabled ?? null)}), so ${consequence}` });
        if ((text(options, "input_policy") ?? "DROP").toUpperCase() === "ACCEPT") {
          out.push({ layer: "Proxmox", rule: where, invariant, message: `input policy ACCEPT admits everything no rule drops, so ${consequence}` });
        }
      }
      // HCL-JSON takes a block as a list of objects or as one object; anything else is read as one NIC
      // that shows no firewall, so an odd override is a finding, never a crash.
      const devices = vm.network_device;
      const nics: Node[] = Array.isArray(devices) ? (devices as Node[]) : devices === undefined ? [] : [typeof devices === "object" && devices !== null ? (devices as Node) : {}];
      nics.forEach((nic, i) => {
        if (nic.firewall !== true) {
          out.push({ layer: "Proxmox", rule: `${name} network device ${i + 1}`, invariant, message: `the NIC is not firewalled (firewall ${JSON.stringify(nic.firewall ?? null)}): its traffic bypasses the VM's Proxmox rules, so ${consequence}` });
        }
      });
    }
    for (const [vm, rules] of Object.entries(res.proxmox_virtual_environment_firewall_rules ?? {})) {
      const ipset = (ref: string): AddressSet => {
        const name = ref.replace(/^guest\//, "");
        const s = (ipsetsByVmId.get(text(rules, "vm_id") ?? NO_ID) ?? []).find((x) => text(x, "name") === name);
        if (!s) return AddressSet.ANY; // a datacenter set or none the check can read: assume the worst
        const entries = (s.cidr as Node[] | undefined) ?? [];
        const pick = (nomatch: boolean) => AddressSet.union(entries.filter((e) => (e.nomatch === true) === nomatch).map((e) => AddressSet.parse(text(e, "name") ?? "") ?? AddressSet.ANY));
        return pick(false).minus(pick(true));
      };
      const addresses = (v: string | undefined): AddressSet => {
        const tokens = (v ?? "").split(",").map((x) => x.trim()).filter(Boolean);
        if (!tokens.length) return AddressSet.ANY;
        const names = tokens.some((x) => x.startsWith("+")); // IP sets are the VM's own: not shared
        const known = names ? undefined : literalLists.get(v!);
        if (known) return known;
        const set = AddressSet.union(tokens.map((x) => (x.startsWith("+") ? ipset(x.slice(1)) : (AddressSet.parse(x) ?? AddressSet.ANY))));
        if (!names) literalLists.set(v!, set);
        return set;
      };
      ((rules.rule as Node[] | undefined) ?? []).forEach((r, i) => {
        if (r.enabled === false) return; // a disabled rule does nothing
        const where = `${vm} rule ${i + 1}`;
        const type = text(r, "type") ?? "in";
        const flowId = (text(r, "comment") ?? "").split(": ")[0];
        const flow = flowById.get(flowId);
        if (type !== "in" && type !== "out") {
          out.push({ layer: "Proxmox", rule: where, flow: flow?.id, invariant: 3, message: `is a ${type} rule (${text(r, "security_group") ?? "?"}) whose rules the check cannot read` });
          return;
        }
        // outbound: the VM's output policy accepts anyway
        if (type === "out" || text(r, "action") !== "ACCEPT") return;
        const src = addresses(text(r, "source"));
        if (!flow) out.push({ layer: "Proxmox", rule: where, invariant: 3, message: `accepts traffic no declared flow names (comment ${JSON.stringify(text(r, "comment") ?? "")})` });
        else {
          const macro = text(r, "macro");
          const protocol = macro ? `macro ${macro}` : text(r, "proto");
          const opened = macro || text(r, "dport") === undefined ? PortSet.ALL : ports(text(r, "dport")!.split(","));
          for (const message of beyondFlow(flow, { src, dst: addresses(text(r, "dest")), ports: opened, protocol }, "accepts")) {
            out.push({ layer: "Proxmox", rule: where, flow: flowId, invariant: 3, message });
          }
        }
        if (m.name === "srv" && !src.within(lab)) out.push({ layer: "Proxmox", rule: where, flow: flow?.id, invariant: 1, message: `admits sources outside the lab into SRV (source ${text(r, "source") ?? "any"})` });
        if (m.name === "mgmt" && src.meets(dmz)) out.push({ layer: "Proxmox", rule: where, flow: flow?.id, invariant: 5, message: `admits DMZ sources into a MGMT VM (${src.and(dmz)})` });
        if (src.meets(clientNet)) {
          // the VM the rules belong to: by the vm_id reference, else by the key (one rules resource per VM)
          const owner = /^\$\{proxmox_virtual_environment_vm\.([^.]+)\.vm_id\}$/.exec(text(rules, "vm_id") ?? "")?.[1] ?? vm;
          const vmName = text(res.proxmox_virtual_environment_vm?.[owner], "name") ?? owner;
          const proto = text(r, "macro") ? undefined : text(r, "proto");
          const opened = text(r, "macro") || text(r, "dport") === undefined ? PortSet.ALL : ports(text(r, "dport")!.split(","));
          if (!isClientVm(vmName)) out.push({ layer: "Proxmox", rule: where, flow: flow?.id, invariant: 6, message: `admits client-LAN sources into ${vmName}, which is not a client host (${src.and(clientNet)})` });
          else if (proto !== "tcp" || !opened.within(CLIENT_LAN_PORTS)) {
            out.push({ layer: "Proxmox", rule: where, flow: flow?.id, invariant: 6, message: `admits client-LAN sources on more than SSH and RDP (${text(r, "macro") ? `macro ${text(r, "macro")}` : (proto ?? "any")}/${text(r, "dport") ?? "any"})` });
          }
        }
      });
    }
  }

  // ── Talos host firewall ──────────────────────────────────────────────────────────────────────
  const defaults = talosDocs.filter((t) => t.doc.kind === "NetworkDefaultActionConfig");
  // an unreadable patch is reported already; it may be the one that holds the default action
  if (talosDocs.length && !defaults.length && !unreadableTalos) {
    out.push({ layer: "Talos", rule: "talos/*.yaml", invariant: 1, message: "no NetworkDefaultActionConfig: Talos then accepts all ingress, whatever the NetworkRuleConfig documents say" });
  }
  for (const { path, doc } of defaults) {
    if (doc.ingress !== "block") {
      out.push({ layer: "Talos", rule: `${path} NetworkDefaultActionConfig`, invariant: 1, message: `ingress ${JSON.stringify(doc.ingress ?? null)} admits every source to every port no rule names` });
    }
  }
  for (const { path, doc } of talosDocs) {
    if (doc.kind !== "NetworkRuleConfig") continue;
    const name = String(doc.name);
    const where = `${path} NetworkRuleConfig ${name}`;
    const flow = flowById.get(name);
    const selector = doc.portSelector as Node | undefined;
    const protocol = (selector?.protocol as string | undefined) ?? "?";
    const ingress = ((doc.ingress as Node[] | undefined) ?? []).map((ing) => {
      const subnet = AddressSet.parse(String(ing.subnet)) ?? AddressSet.ANY;
      const except = ing.except !== undefined ? (AddressSet.parse(String(ing.except)) ?? AddressSet.NONE) : AddressSet.NONE;
      return { src: subnet.minus(except), shown: `subnet ${String(ing.subnet)}${ing.except !== undefined ? ` except ${String(ing.except)}` : ""}` };
    });
    if (!flow) out.push({ layer: "Talos", rule: where, invariant: 3, message: "admits traffic no declared flow names" });
    else {
      const listed = ((selector?.ports as unknown[] | undefined) ?? []).map(String);
      const opened = listed.length ? ports(listed) : PortSet.ALL;
      const src = AddressSet.union(ingress.map((x) => x.src));
      // a Talos rule admits to the node itself: the destination is whatever the flow targets
      for (const message of beyondFlow(flow, { src, dst: place(flow.to, "to"), ports: opened, protocol }, "admits")) {
        out.push({ layer: "Talos", rule: where, flow: name, invariant: 3, message });
      }
    }
    for (const x of ingress) {
      if (!x.src.within(lab)) out.push({ layer: "Talos", rule: where, flow: flow?.id ?? name, invariant: 1, message: `admits sources outside the lab (${x.shown})` });
      if (x.src.meets(clientNet)) out.push({ layer: "Talos", rule: where, flow: flow?.id ?? name, invariant: 6, message: `admits client-LAN sources into a Talos node (${x.shown})` });
    }
  }
  return out;
}
