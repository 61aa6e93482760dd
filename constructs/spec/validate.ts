import { z } from "zod";
import {
  cidrContains,
  cidrsOverlap,
  hostOffset,
  Ipv4Cidr,
  isNetworkOrBroadcast,
  parseCidr,
} from "../model/addressing";
import { Flow, FLOW_GROUPS, FLOW_KEYWORDS, FLOW_ZONES } from "../model/flows";
import { componentFlows } from "../model/lab-flows";
import { buildLabModel } from "../model/lab-model";
import { defaultVmId, ZONE_VM_ID_SPAN } from "../model/placement";
import { DEFAULT_HOST_SIZES, FlowSpec, LabSpec, LabSpecSchema, ruleText, VmSize } from "./lab-spec";
import { pathText, SpecError, SpecProblem } from "./spec-error";

/**
 * Documented minimums. Talos: "System requirements" (control plane 2 cores/2 GiB/10 GiB, worker
 * 1 core/1 GiB/10 GiB). pfSense CE: 1 GiB memory, 8 GiB disk. Harbor: 2 CPU, 4 GiB memory, 40 GiB disk.
 */
export const MINIMUM_SIZES: Readonly<Record<string, VmSize & { source: string }>> = {
  controlPlane: { cores: 2, memoryMiB: 2048, diskGiB: 10, source: "Talos minimum for control planes" },
  worker: { cores: 1, memoryMiB: 1024, diskGiB: 10, source: "Talos minimum for workers" },
  firewall: { cores: 1, memoryMiB: 1024, diskGiB: 8, source: "pfSense CE minimum" },
  registry: { cores: 2, memoryMiB: 4096, diskGiB: 40, source: "Harbor minimum" },
  client: { cores: 1, memoryMiB: 1024, diskGiB: 8, source: "Ubuntu cloud image minimum" },
  ingress: { cores: 1, memoryMiB: 1024, diskGiB: 8, source: "Ubuntu cloud image minimum" },
};


function zodProblems(error: z.ZodError, input: unknown): SpecProblem[] {
  const out: SpecProblem[] = [];
  for (const issue of error.issues) {
    const at = pathText(issue.path);
    const value = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys) {
          const known = fieldsAt(issue.path);
          const near = closest(key, known);
          out.push({
            path: at ? `${at}.${key}` : key,
            value: lookup(input, [...issue.path, key]),
            message: ruleText(
              "is not a field of the spec",
              near ? `did you mean ${near}?` : `known fields here: ${known.join(", ")}`,
            ),
          });
        }
        break;
      case "invalid_type": {
        const expected = issue.expected === "int" ? "whole number" : issue.expected;
        out.push({
          path: at,
          value,
          message: ruleText(
            `must be ${article(expected)}`,
            value === undefined ? "the field is required" : issue.expected === "int" ? "no fraction" : `got ${describe(value)}`,
          ),
        });
        break;
      }
      case "invalid_value": {
        const custom = !issue.message.startsWith("Invalid");
        const options = issue.values.map((v) => JSON.stringify(v)).join(", ");
        const caseOnly = typeof value === "string" && issue.values.some((v) => String(v).toLowerCase() === value.toLowerCase());
        out.push({
          path: at,
          value,
          message: custom
            ? issue.message
            : ruleText(`must be one of ${options}`, caseOnly ? "values are case-sensitive" : "see lab-spec.schema.json"),
        });
        break;
      }
      case "too_small":
        out.push({ path: at, value, message: ruleText(`must be at least ${issue.minimum === 0 ? 1 : issue.minimum}`, "a positive whole number") });
        break;
      case "custom":
        out.push({ path: at, value, message: issue.message });
        break;
      default:
        out.push({ path: at, value, message: ruleText(issue.message, "see lab-spec.schema.json") });
    }
  }
  return out;
}

/** Field names the schema allows at a path (objects inside defaults, optionals and arrays unwrapped). */
function fieldsAt(path: readonly PropertyKey[]): string[] {
  type Def = { type: string; innerType?: Schemaish; element?: Schemaish; shape?: Record<string, Schemaish> };
  type Schemaish = { _zod: { def: Def } };
  let cur: Schemaish | undefined = LabSpecSchema as unknown as Schemaish;
  const unwrap = (s: Schemaish | undefined): Schemaish | undefined => {
    let x = s;
    while (x && (x._zod.def.type === "default" || x._zod.def.type === "optional" || x._zod.def.type === "pipe")) {
      x = x._zod.def.innerType ?? (x._zod.def as unknown as { in?: Schemaish }).in;
    }
    return x;
  };
  for (const k of path) {
    cur = unwrap(cur);
    if (!cur) return [];
    cur = typeof k === "number" ? cur._zod.def.element : cur._zod.def.shape?.[String(k)];
  }
  cur = unwrap(cur);
  return Object.keys(cur?._zod.def.shape ?? {}).sort();
}

/** The known name nearest to a typo, when it is close enough to be a likely intent. */
function closest(typo: string, known: readonly string[]): string | undefined {
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length][b.length];
  };
  const best = known.map((k) => ({ k, d: dist(typo.toLowerCase(), k.toLowerCase()) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(2, Math.floor(best.k.length / 3)) ? best.k : undefined;
}

function lookup(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "a mapping" : `a ${typeof v}`;
}

/** An address a member claims, for the duplicate and gateway checks. */
interface Claim {
  readonly path: string;
  readonly ip: string;
}

/** Cross-field rules the shape cannot express. Runs on a spec that parsed. */
export function semanticProblems(spec: LabSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add = (path: string, value: unknown, rule: string, hint: string) =>
    problems.push({ path, value, message: ruleText(rule, hint) });

  // Subnets: zones, pods and services must not overlap one another.
  const zoneNames = ["mgmt", "dmz", "srv"] as const;
  const nets: { path: string; cidr: Ipv4Cidr }[] = [
    ...zoneNames.map((z) => ({ path: `zones.${z}.cidr`, cidr: parseCidr(spec.zones[z].cidr) })),
    { path: "network.podCidr", cidr: parseCidr(spec.network.podCidr) },
    { path: "network.serviceCidr", cidr: parseCidr(spec.network.serviceCidr) },
  ];
  for (let i = 0; i < nets.length; i++) {
    for (let j = 0; j < i; j++) {
      if (cidrsOverlap(nets[i].cidr, nets[j].cidr)) {
        add(nets[i].path, nets[i].cidr.text, `overlaps ${nets[j].path} (${nets[j].cidr.text})`, "every zone, the pod and the service range need their own subnet");
      }
    }
  }
  const pod = parseCidr(spec.network.podCidr);
  if (spec.network.podBlockSize < pod.prefix) {
    add("network.podBlockSize", spec.network.podBlockSize, `must not be shorter than the pod CIDR prefix /${pod.prefix}`, "a Calico block is carved out of the pod CIDR");
  }

  // Bridges: each zone needs its own (bridge, VLAN) pair, distinct from the WAN uplink.
  const segments = new Map<string, string>([[`${spec.zones.wan.bridge}/untagged`, "zones.wan.bridge"]]);
  for (const z of zoneNames) {
    const key = `${spec.zones[z].bridge}/${spec.zones[z].vlan ?? "untagged"}`;
    const other = segments.get(key);
    const vlan = spec.zones[z].vlan;
    if (other) {
      add(
        `zones.${z}.bridge`,
        spec.zones[z].bridge,
        vlan === undefined ? `shares the untagged bridge with ${other}` : `shares the bridge and VLAN ${vlan} with ${other}`,
        "give each zone its own bridge or its own VLAN tag",
      );
    }
    else segments.set(key, `zones.${z}.bridge`);
  }

  // Addresses are claimed once; a second claim is reported where it happens.
  const claims = new Map<string, Claim>();
  const claim = (path: string, ip: string): boolean => {
    const first = claims.get(ip);
    if (first) {
      add(path, ip, `duplicates the address of ${first.path}`, "every member needs its own address");
      return false;
    }
    claims.set(ip, { path, ip });
    return true;
  };

  // Gateways.
  for (const z of zoneNames) {
    const net = parseCidr(spec.zones[z].cidr);
    const gw = spec.zones[z].gateway;
    if (!cidrContains(net, gw)) add(`zones.${z}.gateway`, gw, `must lie inside zones.${z}.cidr (${net.text})`, "the gateway is pfSense's address in the zone");
    else if (isNetworkOrBroadcast(net, gw)) add(`zones.${z}.gateway`, gw, "must not be the network or broadcast address", "use a host address such as .1");
    else claim(`zones.${z}.gateway`, gw);
  }

  const proxmoxNodes = new Set(spec.proxmox.nodes.map((n) => n.name));
  const checkNode = (path: string, node: string | undefined) => {
    if (node !== undefined && !proxmoxNodes.has(node)) {
      add(path, node, "is not a Proxmox node of the spec", `declare it under proxmox.nodes or use one of: ${[...proxmoxNodes].join(", ")}`);
    }
  };
  spec.proxmox.nodes.forEach((n, i) => {
    if (spec.proxmox.nodes.findIndex((m) => m.name === n.name) < i) add(`proxmox.nodes[${i}].name`, n.name, "is declared twice", "list each Proxmox node once");
  });

  const checkSize = (path: string, size: VmSize, kind: keyof typeof MINIMUM_SIZES) => {
    const min = MINIMUM_SIZES[kind];
    for (const k of ["cores", "memoryMiB", "diskGiB"] as const) {
      if (size[k] < min[k]) add(`${path}.${k}`, size[k], `must be at least ${min[k]}`, min.source);
    }
  };

  // Member addresses: inside the zone, not its network/broadcast, not the gateway, not taken.
  // Returns whether the address is usable, so follow-up checks stay quiet about a reported mistake.
  const memberIp = (path: string, ip: string, zone: (typeof zoneNames)[number]): boolean => {
    const net = parseCidr(spec.zones[zone].cidr);
    if (!cidrContains(net, ip)) add(path, ip, `must lie inside zones.${zone}.cidr (${net.text})`, `pick a free address in ${net.text}`);
    else if (isNetworkOrBroadcast(net, ip)) add(path, ip, "must not be the network or broadcast address", `pick a host address in ${net.text}`);
    else if (ip === spec.zones[zone].gateway) add(path, ip, `must not equal zones.${zone}.gateway`, "the gateway address belongs to pfSense");
    else return claim(path, ip);
    return false;
  };

  const names: { path: string; name: string }[] = [{ path: "firewall.name", name: spec.firewall.name }];
  const vmIds: { path: string; id: number; explicit: boolean }[] = [{ path: "firewall.vmId", id: spec.firewall.vmId, explicit: true }];
  checkNode("firewall.node", spec.firewall.node);
  checkSize("firewall.size", spec.firewall.size, "firewall");

  // VM ids: explicit, or zone base + host offset for a usable address.
  const vmIdFor = (path: string, zone: "mgmt" | "dmz" | "srv", ip: string, ipOk: boolean, explicit: number | undefined) => {
    if (explicit !== undefined) return vmIds.push({ path: `${path}.vmId`, id: explicit, explicit: true });
    if (!ipOk) return;
    const id = defaultVmId(zone, hostOffset(parseCidr(spec.zones[zone].cidr), ip));
    if (id === undefined) add(`${path}.vmId`, undefined, `is required for addresses ${ZONE_VM_ID_SPAN} or more past the zone's network address`, "set vmId explicitly; defaults are zone base + host offset");
    else vmIds.push({ path, id, explicit: false });
  };

  spec.hosts.forEach((h, i) => {
    const p = `hosts[${i}]`;
    names.push({ path: `${p}.name`, name: h.name });
    const ipOk = memberIp(`${p}.ip`, h.ip, h.zone);
    checkNode(`${p}.node`, h.node);
    checkSize(`${p}.size`, h.size ?? DEFAULT_HOST_SIZES[h.role], h.role);
    vmIdFor(p, h.zone, h.ip, ipOk, h.vmId);
  });

  const t = spec.talos;
  checkSize("talos.sizes.controlPlane", t.sizes.controlPlane, "controlPlane");
  checkSize("talos.sizes.worker", t.sizes.worker, "worker");
  const talosNodes = [
    ...t.controlPlanes.map((n, i) => ({ n, p: `talos.controlPlanes[${i}]`, kind: "controlPlane" as const })),
    ...t.workers.map((n, i) => ({ n, p: `talos.workers[${i}]`, kind: "worker" as const })),
  ];
  for (const { n, p, kind } of talosNodes) {
    names.push({ path: `${p}.name`, name: n.name });
    const ipOk =
      n.ip === t.vip
        ? (add(`${p}.ip`, n.ip, "must not equal talos.vip", "the VIP floats between control planes; give each node its own address"), false)
        : memberIp(`${p}.ip`, n.ip, "srv");
    checkNode(`${p}.node`, n.node);
    if (n.size) checkSize(`${p}.size`, n.size, kind);
    vmIdFor(p, "srv", n.ip, ipOk, n.vmId);
  }
  if (t.controlPlanes.length === 0) {
    add("talos.controlPlanes", [], "must list at least one control plane", "three is the usual choice");
  } else if (t.controlPlanes.length % 2 === 0 && !t.allowEvenControlPlanes) {
    add("talos.controlPlanes", t.controlPlanes.map((c) => c.name), `has an even count (${t.controlPlanes.length})`, "etcd tolerates no more failures than with one fewer; use an odd count or set talos.allowEvenControlPlanes: true");
  }
  memberIp("talos.vip", t.vip, "srv");

  // Registry: the named host must be a registry in MGMT.
  const reg = spec.hosts.find((h) => h.name === spec.registry.host);
  if (!reg) add("registry.host", spec.registry.host, "must name a host of the spec", "the MGMT host with role registry, e.g. registry");
  else if (reg.zone !== "mgmt" || reg.role !== "registry") add("registry.host", spec.registry.host, "must be a host with zone mgmt and role registry", "Harbor and the Image Factory run in MGMT");
  spec.registry.upstreams.forEach((u, i) => {
    if (spec.registry.upstreams.indexOf(u) < i) add(`registry.upstreams[${i}]`, u, "is listed twice", "list each upstream registry once");
  });

  if (spec.bgp.firewallAs === spec.bgp.clusterAs) {
    add("bgp.clusterAs", spec.bgp.clusterAs, "must differ from bgp.firewallAs", "pfSense and Calico peer over eBGP");
  }

  // Uniqueness of names, addresses and VM ids.
  const firstBy = <T>(items: T[], key: (t: T) => string | number, report: (dup: T, first: T) => void) => {
    const seen = new Map<string | number, T>();
    for (const it of items) {
      const k = key(it);
      const first = seen.get(k);
      if (first) report(it, first);
      else seen.set(k, it);
    }
  };
  firstBy(names, (n) => n.name, (d, f) => add(d.path, d.name, `duplicates ${f.path}`, "every VM needs its own name; it is also its hostname and resource id"));
  const idOf = (v: { path: string; explicit: boolean }) => (v.explicit ? v.path : `the default VM id of ${v.path}`);
  firstBy(vmIds, (v) => v.id, (d, f) =>
    add(d.explicit ? d.path : `${d.path}.vmId`, d.id, `duplicates ${idOf(f)}`, "every VM needs its own Proxmox id; set vmId explicitly"),
  );

  // Extra flows: endpoints must exist.
  const hostNames = new Set([...spec.hosts.map((h) => h.name), ...talosNodes.map((n) => n.n.name), spec.firewall.name]);
  spec.flows.forEach((f, i) => {
    for (const end of ["from", "to"] as const) {
      const v = f[end];
      const named = [...FLOW_KEYWORDS, ...FLOW_GROUPS, ...FLOW_ZONES] as readonly string[];
      if (!hostNames.has(v) && !named.includes(v)) {
        add(`flows[${i}].${end}`, v, "is not a known flow endpoint", `a host name, ${[...FLOW_ZONES, ...FLOW_GROUPS, ...FLOW_KEYWORDS].join(", ")}`);
      }
    }
    if (f.protocol === "icmp" && f.ports.length > 0) add(`flows[${i}].ports`, f.ports, "must be empty for icmp", "ports only exist for tcp and udp");
    if (f.protocol !== "icmp" && f.ports.length === 0) add(`flows[${i}].ports`, f.ports, `must list at least one port for ${f.protocol}`, "a flow opens specific ports");
    if (spec.flows.findIndex((g) => g.id === f.id) < i) add(`flows[${i}].id`, f.id, "is used by another flow", "flow ids must be unique");
  });

  return problems;
}

const SRV_SIDE = (spec: LabSpec, endpoint: string) =>
  endpoint === "zone:srv" ||
  endpoint === "pods" ||
  endpoint === "vip" ||
  endpoint.startsWith("group:") ||
  [...spec.talos.controlPlanes, ...spec.talos.workers].some((n) => n.name === endpoint);

function portSpan(p: number | string): [number, number] {
  const [a, b] = String(p).split("-").map(Number);
  return [a, b ?? a];
}

/**
 * Rules on spec flows that need the lab's own flows: ids are not reused, nothing on the SRV side is
 * opened to the internet (the air gap), and a flow does not repeat one that already allows the same
 * traffic.
 */
function flowProblems(spec: LabSpec): SpecProblem[] {
  const lab = componentFlows(buildLabModel(spec));
  const taken = new Set(lab.map((f) => f.id));
  const problems: SpecProblem[] = [];
  const overlaps = (a: FlowSpec | Flow, b: FlowSpec | Flow) =>
    a.from === b.from &&
    a.to === b.to &&
    a.protocol === b.protocol &&
    (a.protocol === "icmp" || a.ports.some((p) => b.ports.some((q) => portSpan(p)[0] <= portSpan(q)[1] && portSpan(q)[0] <= portSpan(p)[1])));
  spec.flows.forEach((f, i) => {
    if (taken.has(f.id)) {
      problems.push({ path: `flows[${i}].id`, value: f.id, message: ruleText("is the id of a flow the lab already declares", "pick another id; see flows.json for the lab's own flows") });
    }
    if (SRV_SIDE(spec, f.from) && f.to === "internet") {
      problems.push({ path: `flows[${i}]`, value: `${f.from} -> internet`, message: ruleText("would open the SRV side to the internet", "SRV never reaches the internet; mirror what it needs through the registry") });
    }
    const same = [...lab, ...spec.flows.slice(0, i)].find((g) => overlaps(f, g));
    if (same) {
      problems.push({ path: `flows[${i}]`, value: f.id, message: ruleText(`overlaps flow ${same.id}`, "the same source, destination, protocol and ports are already allowed") });
    }
  });
  return problems;
}

/**
 * Parses and validates a spec. Returns the spec with defaults filled in, or throws one SpecError
 * that lists every problem found.
 */
export function validateLabSpec(input: unknown): LabSpec {
  const parsed = LabSpecSchema.safeParse(input ?? {}, { reportInput: true });
  if (parsed.success) {
    const problems = semanticProblems(parsed.data);
    if (problems.length === 0) problems.push(...flowProblems(parsed.data));
    if (problems.length > 0) throw new SpecError(problems);
    return parsed.data;
  }
  throw new SpecError([...zodProblems(parsed.error, input), ...crossFieldProblemsDespite(parsed.error, input)]);
}

/**
 * Cross-field problems of a spec whose shape is broken, so that one run reports them too. Failing
 * fields are dropped (their defaults stand in); list entries that still fail, such as a node whose
 * address is malformed, are left out; the rest is checked, with list indexes mapped back to the
 * user's file, and problems that involve anything dropped are not reported.
 */
function crossFieldProblemsDespite(error: z.ZodError, input: unknown): SpecProblem[] {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return [];
  const repaired = structuredClone(input) as Record<PropertyKey, unknown>;
  const dropped: string[] = [];
  for (const issue of error.issues) {
    const paths = issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    for (const path of paths) {
      if (path.length === 0) return [];
      const parent = lookup(repaired, path.slice(0, -1));
      if (parent === null || typeof parent !== "object") return [];
      delete (parent as Record<PropertyKey, unknown>)[path[path.length - 1]];
      dropped.push(pathText(path));
    }
  }
  let again = LabSpecSchema.safeParse(repaired);
  // Entries removed from lists, by list path: their original indexes.
  const removed = new Map<string, number[]>();
  if (!again.success) {
    for (const issue of again.error.issues) {
      const at = issue.path.findIndex((k) => typeof k === "number");
      if (at < 0) return [];
      const list = pathText(issue.path.slice(0, at));
      const indexes = removed.get(list) ?? [];
      if (!indexes.includes(issue.path[at] as number)) indexes.push(issue.path[at] as number);
      removed.set(list, indexes);
      dropped.push(pathText(issue.path.slice(0, at + 1)));
    }
    for (const [list, indexes] of removed) {
      indexes.sort((a, b) => b - a);
      const arr = lookup(repaired, listPath(list)) as unknown[];
      for (const i of indexes) arr.splice(i, 1);
      indexes.reverse();
    }
    again = LabSpecSchema.safeParse(repaired);
    if (!again.success) return [];
  }
  const original = (text: string) =>
    text.replace(/([A-Za-z.]+)\[(\d+)\]/g, (whole, list: string, i: string) => {
      let index = Number(i);
      for (const r of removed.get(list) ?? []) if (r <= index) index++;
      return `${list}[${index}]`;
    });
  return semanticProblems(again.data)
    .map((p) => ({ ...p, path: original(p.path), message: original(p.message) }))
    .filter((p) => !dropped.some((d) => p.path.startsWith(d) || p.message.includes(d)));
}

/** `talos.workers` → ["talos", "workers"] (list paths hold no indexes here). */
function listPath(text: string): string[] {
  return text.split(".");
}
