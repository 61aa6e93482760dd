import { parseEndpoint } from "../../model/endpoint";
import { Flow, FlowTable, Protocol } from "../../model/flows";
import { isMember, LabModel, ZoneName } from "../../model/lab-model";
import { fnv1a } from "../../model/placement";

/**
 * pfSense's view of the flow model: aliases, per-interface ingress rules (first match wins, stateful,
 * a logged default deny closing each interface) and WAN port-forwards. Pure data; the XML, RULES.md
 * and the packet test's nftables all read this one table.
 */

/** A network segment pfSense has an interface on: the WAN uplink, an internal zone or the client LAN. */
export type Segment = "wan" | ZoneName | "client";
/** pfSense's internal interface names, fixed by the NIC order WAN, MGMT, DMZ, SRV, CLIENT. */
export const PF_INTERFACE: Readonly<Record<Segment, string>> = { wan: "wan", mgmt: "lan", dmz: "opt1", srv: "opt2", client: "opt3" };
/** Segments in pfSense's NIC order (vtnet0 … vtnet4). */
export const SEGMENTS: readonly Segment[] = ["wan", "mgmt", "dmz", "srv", "client"];

/** One pfSense interface: its internal name and the segment behind it. */
export interface PfInterface {
  /** pfSense's internal name: `wan`, `lan`, `opt1`, `opt2`, `opt3`. */
  readonly name: string;
  /** The segment the interface sits on. */
  readonly segment: Segment;
  /** Description shown in pfSense (`WAN`, `MGMT`, `DMZ`, `SRV`, `CLIENT`). */
  readonly descr: string;
  /** Subnet and pfSense's address on it (WAN: DHCP, unknown here). */
  readonly subnet?: string;
  /** pfSense's address on the subnet (absent for WAN). */
  readonly address?: string;
}

/** A rule's source or destination, as pfSense stores it. */
export interface PfEndpoint {
  /** Matches any address. */
  readonly any?: true;
  /** An alias name, an address or a subnet. */
  readonly address?: string;
  /** A special network: an interface subnet (`lan`, `opt1`, `wan`) or address (`lanip`, `wanip`). */
  readonly network?: string;
  /** Inverts the match (everything but `address`). */
  readonly not?: true;
  /** A port, a `low-high` range or a port alias name. */
  readonly port?: string;
}

/** One entry of a pfSense alias. */
export interface PfAliasEntry {
  /** An address, a subnet or a port (`low:high` for a range). */
  readonly value: string;
  /** Description of the entry. */
  readonly detail: string;
}

/** A pfSense alias: a named list of hosts, networks or ports that rules refer to. */
export interface PfAlias {
  /** Alias name: letters, digits and underscores, at most 31 characters. */
  readonly name: string;
  /** What the entries are. */
  readonly type: "host" | "network" | "port";
  /** The alias's entries. */
  readonly entries: readonly PfAliasEntry[];
  /** Description shown in pfSense. */
  readonly descr: string;
}

/** One pfSense filter rule, on the interface the traffic enters. */
export interface PfRule {
  /** pfSense's internal name of the interface the rule is on. */
  readonly interface: string;
  /** Position within its interface, from 1; first match wins. */
  readonly order: number;
  /** Pass for a flow, block for the deny rules. */
  readonly type: "pass" | "block";
  /** IP protocol. Default: any protocol. */
  readonly protocol?: Protocol;
  /** Where the traffic comes from. */
  readonly source: PfEndpoint;
  /** Where the traffic goes. */
  readonly destination: PfEndpoint;
  /** Whether pfSense logs matches (the deny rules do). */
  readonly log: boolean;
  /** ≤ 57 characters: the part pfSense shows in its logs. */
  readonly descr: string;
  /** pfSense's rule tracker id: unique and stable for a given flow and interface. */
  readonly tracker: number;
  /** The flow the rule carries; absent for the deny rules. */
  readonly flowId?: string;
  /** Why the rule exists; shown in RULES.md. */
  readonly purpose: string;
  /** Links a port-forward's filter rule to its {@link PfPortForward}. */
  readonly associatedRuleId?: string;
  /**
   * pfSense adds `reply-to <WAN gateway>` to pass rules on an interface with a gateway, which sends the
   * replies through the gateway even to hosts on the WAN subnet itself (filter.inc
   * filter_generate_user_rule). Set for rules whose sources sit on the WAN subnet (the Proxmox
   * hosts): their replies must go straight back. Written as `<disablereplyto/>`.
   */
  readonly disableReplyTo?: boolean;
}

/** A WAN port-forward (NAT) to one lab host, with its linked filter rule. */
export interface PfPortForward {
  /** Always the WAN interface. */
  readonly interface: "wan";
  /** tcp or udp. */
  readonly protocol: Protocol;
  /** Port on pfSense's WAN address. */
  readonly externalPort: string;
  /** Address of the host the traffic is forwarded to. */
  readonly target: string;
  /** Port on the target. */
  readonly localPort: string;
  /** Description, at most 57 characters. */
  readonly descr: string;
  /** Id shared with the filter rule that passes the translated traffic. */
  readonly associatedRuleId: string;
  /** The flow the port-forward carries. */
  readonly flowId: string;
}

/**
 * pfSense's view of the flow model: aliases, per-interface ingress rules (first match wins, stateful,
 * a logged default deny closing each interface) and WAN port-forwards. Built by {@link pfSenseTables};
 * the XML files, RULES.md, flows.json and the packet test's nftables all read this one table.
 */
export interface PfSenseTables {
  /** The interfaces, in NIC order WAN, MGMT, DMZ, SRV, CLIENT. */
  readonly interfaces: readonly PfInterface[];
  /** Every alias the rules use, sorted by name. */
  readonly aliases: readonly PfAlias[];
  /** Every filter rule, by interface and then in first-match order. */
  readonly rules: readonly PfRule[];
  /** WAN port-forwards. */
  readonly portForwards: readonly PfPortForward[];
  /** Flows that never reach pfSense (inside one zone, or from pfSense itself), with the reason. */
  readonly notFiltered: readonly { readonly flow: Flow; readonly reason: string }[];
}

export const DESCR_MAX = 57;
export const ALIAS_NAME_MAX = 31;

/** Where an endpoint sits as seen from pfSense. */
export function segmentOf(m: LabModel, endpoint: string): Segment | "self" {
  const e = parseEndpoint(endpoint);
  switch (e?.kind) {
    case "firewall":
      return "self";
    case "internet":
    case "proxmox":
      return "wan";
    case "vip":
    case "pods":
    case "group":
      return "srv";
    case "zone":
      return e.zone;
    case "host": {
      const vm = m.vms.find((v) => v.name === e.name);
      if (!vm) break;
      return vm.module === "edge" ? "self" : (vm.module as ZoneName);
    }
  }
  throw new Error(`unknown flow endpoint ${endpoint}`);
}

/** Alias names: letters, digits and underscores, < 32 characters, stable for a given source text. */
export function aliasName(prefix: string, text: string): string {
  const base = `${prefix}_${text.toUpperCase().replace(/[^A-Z0-9]+/g, "_").replace(/^_+|_+$/g, "")}`;
  if (base.length <= ALIAS_NAME_MAX) return base;
  const hash = fnv1a(text).toString(36).toUpperCase();
  return `${base.slice(0, ALIAS_NAME_MAX - hash.length - 1)}_${hash}`;
}

/**
 * Alias names given out once per meaning. Readable names ({@link aliasName}) fold case and punctuation
 * and cut long names, so two meanings can ask for the same name (a VM named `k8s-api-vip` and the VIP
 * alias, say). The first meaning keeps it; the fixed aliases are reserved before any flow is read, so
 * they always keep theirs; a later meaning gets `<prefix>_X<hash>` (probed until free), which no
 * readable name has. So a name never stands for two things.
 */
class AliasNames {
  private readonly owner = new Map<string, string>();
  private readonly byKey = new Map<string, string>();

  /** Holds `name` for `key` without using it yet. */
  reserve(name: string, key: string): void {
    this.owner.set(name, key);
    this.byKey.set(key, name);
  }

  /** The name of the alias that means `key`, preferring `preferred`. */
  nameFor(key: string, preferred: string, prefix: string): string {
    const known = this.byKey.get(key);
    if (known) return known;
    let name = preferred;
    for (let i = 0; this.owner.has(name) && this.owner.get(name) !== key; i++) {
      const hash = fnv1a(`${key}#${i}`).toString(36).toUpperCase();
      name = `${prefix}_X${hash}`.slice(0, ALIAS_NAME_MAX);
    }
    this.reserve(name, key);
    return name;
  }
}

export function truncateDescr(text: string): string {
  return text.length <= DESCR_MAX ? text : `${text.slice(0, DESCR_MAX - 3)}...`;
}

function portText(p: number | string): string {
  return String(p);
}

/** Builds pfSense's tables from the lab's flows. */
export function pfSenseTables(flows: FlowTable): PfSenseTables {
  const m = flows.model;
  const aliases = new Map<string, PfAlias>();
  const names = new AliasNames();
  const FIXED = { internal: "N_LAB_INTERNAL", pods: "N_PODS", vip: "H_K8S_API_VIP", proxmox: "H_PROXMOX" } as const;
  for (const [key, name] of Object.entries(FIXED)) names.reserve(name, `fixed:${key}`);
  for (const g of ["talos", "controlplanes", "workers"]) names.reserve(aliasName("H", `talos_${g === "talos" ? "nodes" : g}`), `group:${g}`);
  /** Registers an alias under its meaning (`key`); returns the name rules use. */
  const alias = (key: string, a: Omit<PfAlias, "name"> & { readonly name: string }): string => {
    const name = names.nameFor(key, a.name, a.name.split("_")[0]);
    aliases.set(name, { ...a, name });
    return name;
  };

  const zoneOf = (s: Segment) => (s === "wan" ? undefined : s === "client" ? m.clientLan : m.zones[s]);
  const interfaces: PfInterface[] = SEGMENTS.map((seg) => ({
    name: PF_INTERFACE[seg],
    segment: seg,
    descr: seg.toUpperCase(),
    subnet: zoneOf(seg)?.cidr,
    address: zoneOf(seg)?.gateway,
  }));

  const internal = alias("fixed:internal", {
    name: FIXED.internal,
    type: "network",
    entries: [
      ...(["mgmt", "dmz", "srv"] as const).map((z) => ({ value: m.zones[z].cidr, detail: `${z.toUpperCase()} zone` })),
      // so that no flow to "internet" reaches the operators' LAN: nothing in the lab initiates into it
      { value: m.clientLan.cidr, detail: "CLIENT LAN (operators)" },
      { value: m.spec.network.podCidr, detail: "pod network" },
      { value: m.spec.network.serviceCidr, detail: "service network" },
    ],
    descr: "every lab network: what 'internet' excludes",
  });

  const proxmoxAddresses = m.spec.proxmox.nodes.filter((n) => n.address !== undefined);
  const endpoint = (name: string, side: "source" | "destination", ingress: Segment): PfEndpoint => {
    const e = flows.endpoint(name);
    switch (e.kind) {
      case "internet":
        return side === "source" ? { any: true } : { address: internal, not: true };
      case "firewall":
        return { network: `${PF_INTERFACE[ingress]}ip` };
      case "proxmox":
        if (proxmoxAddresses.length === m.spec.proxmox.nodes.length) {
          return {
            address: alias("fixed:proxmox", {
              name: FIXED.proxmox,
              type: "host",
              entries: proxmoxAddresses.map((n) => ({ value: n.address!, detail: n.name })),
              descr: "Proxmox VE hosts (WAN side)",
            }),
          };
        }
        return { network: "wan" };
      case "pods":
        return { address: alias("fixed:pods", { name: FIXED.pods, type: "network", entries: [{ value: m.spec.network.podCidr, detail: "Calico IP pool" }], descr: "pod network (routes from Calico via BGP)" }) };
      case "vip":
        return { address: alias("fixed:vip", { name: FIXED.vip, type: "host", entries: [{ value: m.kubernetesApi.vip, detail: "Kubernetes API VIP" }], descr: "Kubernetes API (control-plane VIP)" }) };
      case "zone":
        return { network: PF_INTERFACE[e.zone] };
      case "group": {
        const label = e.group === "talos" ? "nodes" : e.group;
        return {
          address: alias(name, {
            name: aliasName("H", `talos_${label}`),
            type: "host",
            entries: flows.resolve(name).vms.filter(isMember).map((v) => ({ value: v.ip, detail: v.name })),
            descr: `Talos ${label}`,
          }),
        };
      }
      case "host": {
        const vm = flows.resolve(name).vms[0];
        if (!isMember(vm)) throw new Error(`flow endpoint ${name} is not a lab host with an address`);
        return { address: alias(`vm:${vm.name}`, { name: aliasName("H", vm.name), type: "host", entries: [{ value: vm.ip, detail: vm.fqdn }], descr: `${vm.name} (${vm.role})` }) };
      }
    }
  };

  const portsOf = (f: Flow): string | undefined => {
    if (f.ports.length === 0) return undefined;
    if (f.ports.length === 1) return portText(f.ports[0]);
    return alias(`ports:${f.id}`, {
      name: aliasName("P", f.id),
      type: "port",
      entries: f.ports.map((p) => ({ value: portText(p).replace("-", ":"), detail: f.id })),
      descr: `ports of flow ${f.id}`,
    });
  };

  const trackers = new Set<number>();
  const tracker = (key: string): number => {
    let t = 1700000000 + (fnv1a(key) % 100000000);
    while (trackers.has(t)) t++;
    trackers.add(t);
    return t;
  };

  // Port-forward ids: a hash of flow and port, probed like the trackers so no two forwards share one.
  const natIds = new Set<string>();
  const natId = (key: string): string => {
    let id = "";
    for (let i = 0; !id || natIds.has(id); i++) id = `nat_${fnv1a(i === 0 ? key : `${key}#${i}`).toString(16).padStart(8, "0")}`;
    natIds.add(id);
    return id;
  };

  const rules: PfRule[] = [];
  const portForwards: PfPortForward[] = [];
  const notFiltered: { flow: Flow; reason: string }[] = [];
  const order = new Map<string, number>();
  const staged: { rule: Omit<PfRule, "order" | "tracker">; key: string }[] = [];
  const stage = (rule: Omit<PfRule, "order" | "tracker">, key: string) => staged.push({ rule, key });
  const push = (r: Omit<PfRule, "order" | "tracker">, key: string) => {
    const n = (order.get(r.interface) ?? 0) + 1;
    order.set(r.interface, n);
    rules.push({ ...r, order: n, tracker: tracker(key) });
  };

  for (const f of flows.flows) {
    const from = segmentOf(m, f.from);
    const to = segmentOf(m, f.to);
    if (from === "self") {
      notFiltered.push({ flow: f, reason: "starts on pfSense itself (outbound from the firewall is allowed)" });
      continue;
    }
    if (from === to) {
      notFiltered.push({ flow: f, reason: `stays inside ${from.toUpperCase()} (switched, never routed)` });
      continue;
    }
    const iface = PF_INTERFACE[from];
    const source = endpoint(f.from, "source", from);
    if (from === "wan" && flows.endpoint(f.from).kind === "internet" && to !== "self") {
      // Port-forward: pfSense filters the translated packet, so the linked rule names the target.
      const target = flows.resolve(f.to).vms.filter(isMember);
      if (target.length !== 1) throw new Error(`flow ${f.id}: a port-forward needs exactly one target host`);
      for (const p of f.ports.map(portText)) {
        const id = natId(`${f.id}:${p}`);
        portForwards.push({
          interface: "wan",
          protocol: f.protocol,
          externalPort: p,
          target: target[0].ip,
          localPort: p,
          descr: truncateDescr(`${f.id} ${p}`),
          associatedRuleId: id,
          flowId: f.id,
        });
        stage(
          {
            interface: iface,
            type: "pass",
            protocol: f.protocol,
            source,
            destination: { ...endpoint(f.to, "destination", from), port: p },
            log: false,
            descr: truncateDescr(`NAT ${f.id} ${p}`),
            flowId: f.id,
            purpose: f.purpose,
            associatedRuleId: id,
          },
          `${iface}:${f.id}:${p}`,
        );
      }
      continue;
    }
    stage(
      {
        interface: iface,
        type: "pass",
        protocol: f.protocol,
        source,
        destination: { ...endpoint(f.to, "destination", from), port: portsOf(f) },
        log: false,
        descr: truncateDescr(f.id),
        flowId: f.id,
        purpose: f.purpose,
        ...(from === "wan" && flows.endpoint(f.from).kind === "proxmox" ? { disableReplyTo: true } : {}),
      },
      `${iface}:${f.id}`,
    );
  }

  // pf does not tell traffic to the firewall from routed traffic: a rule to "anything outside the lab"
  // would also reach pfSense's own addresses (its webGUI on the WAN address, say). So on every
  // interface the flows to pfSense come first, then a logged block of everything else to (self),
  // then the routed flows.
  const toSelf = (r: Omit<PfRule, "order" | "tracker">) => r.type === "pass" && !!r.destination.network?.endsWith("ip");
  for (const i of interfaces) {
    const mine = staged.filter((p) => p.rule.interface === i.name);
    for (const p of mine.filter((x) => toSelf(x.rule))) push(p.rule, p.key);
    push(
      {
        interface: i.name,
        type: "block",
        source: { any: true },
        destination: { network: "(self)" },
        log: true,
        descr: truncateDescr(`no other access to pfSense on ${i.descr}`),
        purpose: "pfSense itself answers only the flows above",
      },
      `${i.name}:self-deny`,
    );
    for (const p of mine.filter((x) => !toSelf(x.rule))) push(p.rule, p.key);
  }

  for (const i of interfaces) {
    push(
      {
        interface: i.name,
        type: "block",
        source: { any: true },
        destination: { any: true },
        log: true,
        descr: truncateDescr(`default deny ${i.descr} (logged)`),
        purpose: "everything no flow declares",
      },
      `${i.name}:default-deny`,
    );
  }

  const ifaceOrder = interfaces.map((i) => i.name);
  rules.sort((a, b) => ifaceOrder.indexOf(a.interface) - ifaceOrder.indexOf(b.interface) || a.order - b.order);
  return {
    interfaces,
    aliases: [...aliases.values()].sort((a, b) => a.name.localeCompare(b.name)),
    rules,
    portForwards,
    notFiltered,
  };
}
