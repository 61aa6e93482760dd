import { XMLParser } from "fast-xml-parser";
import { parseAllDocuments } from "yaml";
import { AddressSet } from "./address-set";

/**
 * The separation invariants, judged on the files a synth writes, not on the spec or the model that
 * produced them: pfSense's filter and NAT areas as pfSense reads them (aliases resolved, `not`
 * applied, special networks mapped to their interfaces), each VM's Proxmox firewall rules in the
 * module JSON, and the Talos NetworkRuleConfig documents. It holds when:
 *
 * 1. nothing from the WAN side (internet, Proxmox hosts) reaches an SRV address: no WAN pass rule or
 *    port-forward leads into SRV, no SRV VM's Proxmox firewall and no Talos rule admits a source
 *    outside the lab's networks;
 * 2. SRV reaches nothing outside the lab: every pass rule on pfSense's SRV interface leads into the
 *    lab's networks (pfSense's SRV address included);
 * 3. every rule that lets traffic through traces to a flow declared in flows.json, on the same protocol;
 * 4. pfSense itself answers nothing on the WAN side, and on DMZ and SRV only DNS (53), NTP (123/udp)
 *    and, from SRV, BGP (179/tcp): only MGMT administers the firewall.
 */

/** The lab's own networks: what "inside the lab" and "SRV" mean for the invariants. */
export interface LabNetworks {
  /** Subnet and pfSense address of each internal zone. */
  readonly zones: Readonly<Record<"mgmt" | "dmz" | "srv", { readonly cidr: string; readonly gateway: string }>>;
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
   * the rule), 4 (pfSense itself reachable from outside MGMT beyond its services).
   */
  readonly invariant: 1 | 2 | 3 | 4;
  /** What the rule allows that the invariant forbids. */
  readonly message: string;
}

/** pfSense's internal interface names, fixed by the NIC order WAN, MGMT, DMZ, SRV (RULES.md). */
const INTERFACE_ZONE: Readonly<Record<string, "mgmt" | "dmz" | "srv" | "wan">> = { wan: "wan", lan: "mgmt", opt1: "dmz", opt2: "srv" };

type Node = Record<string, unknown>;
const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => ["rule", "alias"].includes(name) });

function text(n: Node | undefined, key: string): string | undefined {
  const v = n?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object") return String((v as Node)["#text"] ?? "");
  return String(v);
}

function set(cidr: string): AddressSet {
  const s = AddressSet.parse(cidr);
  if (!s) throw new Error(`not an address or subnet: ${cidr}`);
  return s;
}

/** What pfSense itself serves outside MGMT: DNS and NTP to DMZ and SRV, BGP to SRV (Calico). */
const FIREWALL_SERVICES: readonly { protocol: string; port: string; zones: readonly string[] }[] = [
  { protocol: "udp", port: "53", zones: ["dmz", "srv"] },
  { protocol: "tcp", port: "53", zones: ["dmz", "srv"] },
  { protocol: "udp", port: "123", zones: ["dmz", "srv"] },
  { protocol: "tcp", port: "179", zones: ["srv"] },
];

/** Whether a rule destination is pfSense itself: an interface address, `(self)`, or any address. */
function selfDestination(e: Node | undefined): boolean {
  if (!e || typeof e !== "object") return true;
  if ("not" in e) return true; // "everything but X" includes the firewall unless X does; assume the worst
  if ("any" in e) return true;
  const network = text(e, "network");
  return network !== undefined && (network === "(self)" || network.endsWith("ip"));
}

/** Checks the separation invariants on a synthesized stack's files (paths relative to the stack). */
export function separationViolations(nets: LabNetworks, files: ReadonlyMap<string, string>): SeparationViolation[] {
  const out: SeparationViolation[] = [];
  const lab = AddressSet.union([...Object.values(nets.zones).map((z) => set(z.cidr)), set(nets.podCidr), set(nets.serviceCidr)]);
  const srv = AddressSet.union([set(nets.zones.srv.cidr), set(nets.podCidr), set(nets.serviceCidr)]);
  const outside = lab.complement();

  // Declared flows and the pfSense trackers flows.json says carry them.
  const declared = JSON.parse(files.get("flows.json") ?? '{"flows":[]}') as {
    flows: { id: string; protocol: string; pfsense: { tracker: number }[] }[];
  };
  const flowById = new Map(declared.flows.map((f) => [f.id, f]));
  const flowByTracker = new Map(declared.flows.flatMap((f) => f.pfsense.map((p) => [String(p.tracker), f] as const)));

  // ── pfSense ────────────────────────────────────────────────────────────────────────────────────
  const parse = (file: string, root: string) => ((xml.parse(files.get(file) ?? `<${root}/>`) as Node)[root] ?? {}) as Node;
  const aliases = new Map<string, AddressSet>();
  for (const a of (parse("pfsense/aliases.xml", "aliases").alias as Node[] | undefined) ?? []) {
    if (text(a, "type") === "port") continue;
    const entries = (text(a, "address") ?? "").split(/\s+/).filter(Boolean);
    aliases.set(text(a, "name") ?? "", AddressSet.union(entries.map((e) => AddressSet.parse(e) ?? AddressSet.ANY)));
  }
  const gateway = (zone: "mgmt" | "dmz" | "srv") => set(nets.zones[zone].gateway);
  const network = (name: string): AddressSet => {
    if (name === "(self)") return AddressSet.union([gateway("mgmt"), gateway("dmz"), gateway("srv"), outside]);
    const ip = name.endsWith("ip");
    const zone = INTERFACE_ZONE[ip ? name.slice(0, -2) : name];
    if (zone === undefined) return AddressSet.ANY; // unknown: assume the worst
    if (zone === "wan") return outside; // the WAN subnet and pfSense's WAN address lie outside the lab
    return ip ? gateway(zone) : set(nets.zones[zone].cidr);
  };
  const endpoint = (e: Node | undefined): AddressSet => {
    if (!e || typeof e !== "object") return AddressSet.ANY;
    let s: AddressSet;
    if ("any" in e) s = AddressSet.ANY;
    else if (text(e, "network") !== undefined) s = network(text(e, "network")!);
    else {
      const address = text(e, "address") ?? "";
      s = aliases.get(address) ?? AddressSet.parse(address) ?? AddressSet.ANY;
    }
    return "not" in e ? s.complement() : s;
  };

  const rules = (parse("pfsense/filter.xml", "filter").rule as Node[] | undefined) ?? [];
  const order = new Map<string, number>();
  // Interface rules are quick (first match wins): after a block of everything to (self), no later
  // pass rule on that interface reaches pfSense itself.
  const selfClosed = new Set<string>();
  for (const r of rules) {
    const iface = text(r, "interface") ?? "?";
    const n = (order.get(iface) ?? 0) + 1;
    order.set(iface, n);
    if (text(r, "type") === "block") {
      const src = r.source as Node | undefined;
      const dst = r.destination as Node | undefined;
      const everything = src && "any" in src && !("not" in src) && text(src, "port") === undefined && text(r, "protocol") === undefined;
      if (everything && dst && !("not" in dst) && text(dst, "network") === "(self)" && text(dst, "port") === undefined) selfClosed.add(iface);
    }
    if (text(r, "type") !== "pass") continue;
    const tracker = text(r, "tracker") ?? "?";
    const where = `${iface} rule ${n} (tracker ${tracker})`;
    const flow = flowByTracker.get(tracker);
    if (!flow) out.push({ layer: "pfSense", rule: where, invariant: 3, message: "passes traffic no declared flow names (flows.json lists no such tracker)" });
    else if (text(r, "protocol") !== flow.protocol) {
      out.push({ layer: "pfSense", rule: where, flow: flow.id, invariant: 3, message: `passes protocol ${text(r, "protocol") ?? "any"} where the flow declares ${flow.protocol}` });
    }
    const dst = endpoint(r.destination as Node);
    if (INTERFACE_ZONE[iface] === "wan" && dst.meets(srv)) {
      out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 1, message: `lets the WAN side reach SRV (${dst.and(srv)})` });
    }
    if (INTERFACE_ZONE[iface] === "srv" && !dst.within(lab.or(gateway("srv")))) {
      out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 2, message: `lets SRV reach outside the lab (${dst.minus(lab)})` });
    }
    const toSelf = !selfClosed.has(iface) && selfDestination(r.destination as Node | undefined);
    if (toSelf && INTERFACE_ZONE[iface] !== "mgmt") {
      const zone = INTERFACE_ZONE[iface];
      const protocol = text(r, "protocol");
      const port = text(r.destination as Node | undefined, "port");
      const allowed = zone === "wan" ? [] : [...FIREWALL_SERVICES.filter((s) => s.zones.includes(zone))];
      if (!allowed.some((s) => s.protocol === protocol && s.port === port)) {
        out.push({ layer: "pfSense", rule: where, flow: flow?.id, invariant: 4, message: `lets ${iface === "wan" ? "the WAN side" : zone.toUpperCase()} reach pfSense itself (${protocol ?? "any"}/${port ?? "any"})` });
      }
    }
  }
  const nat = (parse("pfsense/nat.xml", "nat").rule as Node[] | undefined) ?? [];
  nat.forEach((r, i) => {
    const target = AddressSet.parse(text(r, "target") ?? "") ?? AddressSet.ANY;
    if (target.meets(srv)) {
      out.push({ layer: "pfSense", rule: `port-forward ${i + 1} (${text(r, "descr") ?? ""})`, invariant: 1, message: `forwards the WAN side into SRV (${target})` });
    }
  });

  // ── Proxmox VM firewalls: the SRV module's VMs admit only sources inside the lab ─────────────────
  for (const [path, content] of files) {
    const m = /^modules\/([a-z]+)\/main\.tf\.json$/.exec(path);
    if (!m) continue;
    const doc = JSON.parse(content) as { resource?: Record<string, Record<string, { rule?: Node[] }>> };
    for (const [vm, res] of Object.entries(doc.resource?.proxmox_virtual_environment_firewall_rules ?? {})) {
      (res.rule ?? []).forEach((r, i) => {
        if (text(r, "action") !== "ACCEPT") return;
        const where = `${vm} rule ${i + 1}`;
        const flowId = (text(r, "comment") ?? "").split(": ")[0];
        const flow = flowById.get(flowId);
        if (!flow) out.push({ layer: "Proxmox", rule: where, invariant: 3, message: `accepts traffic no declared flow names (comment ${JSON.stringify(text(r, "comment") ?? "")})` });
        else if (text(r, "proto") !== flow.protocol) out.push({ layer: "Proxmox", rule: where, flow: flowId, invariant: 3, message: `accepts protocol ${text(r, "proto") ?? "any"} where the flow declares ${flow.protocol}` });
        if (m[1] !== "srv") return;
        const sources = (text(r, "source") ?? "").split(",").filter(Boolean);
        const src = sources.length ? AddressSet.union(sources.map((x) => AddressSet.parse(x) ?? AddressSet.ANY)) : AddressSet.ANY;
        if (!src.within(lab)) out.push({ layer: "Proxmox", rule: where, flow: flowId, invariant: 1, message: `admits sources outside the lab into SRV (source ${text(r, "source") ?? "any"})` });
      });
    }
  }

  // ── Talos host firewall ──────────────────────────────────────────────────────────────────────
  for (const [path, content] of files) {
    if (!/^talos\/.*\.yaml$/.test(path)) continue;
    for (const d of parseAllDocuments(content)) {
      const doc = d.toJSON() as Node | null;
      if (!doc || doc.kind !== "NetworkRuleConfig") continue;
      const name = String(doc.name);
      const where = `${path} NetworkRuleConfig ${name}`;
      const flow = flowById.get(name);
      const protocol = ((doc.portSelector as Node | undefined)?.protocol as string | undefined) ?? "?";
      if (!flow) out.push({ layer: "Talos", rule: where, invariant: 3, message: "admits traffic no declared flow names" });
      else if (protocol !== flow.protocol) out.push({ layer: "Talos", rule: where, flow: name, invariant: 3, message: `admits protocol ${protocol} where the flow declares ${flow.protocol}` });
      for (const ing of (doc.ingress as Node[] | undefined) ?? []) {
        const subnet = AddressSet.parse(String(ing.subnet)) ?? AddressSet.ANY;
        const except = ing.except !== undefined ? (AddressSet.parse(String(ing.except)) ?? AddressSet.NONE) : AddressSet.NONE;
        const src = subnet.minus(except);
        const shown = `subnet ${String(ing.subnet)}${ing.except !== undefined ? ` except ${String(ing.except)}` : ""}`;
        if (!src.within(lab)) out.push({ layer: "Talos", rule: where, flow: name, invariant: 1, message: `admits sources outside the lab (${shown})` });
      }
    }
  }
  return out;
}
