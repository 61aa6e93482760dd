import { z } from "zod";
import {
  cidrContains,
  cidrsOverlap,
  hostOffset,
  Ipv4Cidr,
  isNetworkOrBroadcast,
  parseCidr,
} from "../model/addressing";
import { defaultVmId, ZONE_VM_ID_SPAN } from "../model/placement";
import { DEFAULT_HOST_SIZES, LabSpec, LabSpecSchema, ruleText, VmSize } from "./lab-spec";
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

const FLOW_KEYWORDS = ["firewall", "pods", "internet", "proxmox"];
const FLOW_GROUPS = ["group:talos", "group:controlplanes", "group:workers"];
const FLOW_ZONES = ["zone:mgmt", "zone:dmz", "zone:srv"];

function zodProblems(error: z.ZodError, input: unknown): SpecProblem[] {
  const out: SpecProblem[] = [];
  for (const issue of error.issues) {
    const at = pathText(issue.path);
    const value = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys) {
          out.push({
            path: at ? `${at}.${key}` : key,
            value: lookup(input, [...issue.path, key]),
            message: ruleText("is not a field of the spec", "check the spelling against lab-spec.schema.json"),
          });
        }
        break;
      case "invalid_type":
        out.push({
          path: at,
          value,
          message: ruleText(`must be ${article(issue.expected)}`, value === undefined ? "the field is required" : `got ${describe(value)}`),
        });
        break;
      case "invalid_value":
        out.push({
          path: at,
          value,
          message: ruleText(`must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`, "values are case-sensitive"),
        });
        break;
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
    if (other) add(`zones.${z}.bridge`, spec.zones[z].bridge, `shares its bridge and VLAN with ${other}`, "give each zone its own bridge or its own VLAN tag");
    else segments.set(key, `zones.${z}.bridge`);
  }

  // Gateways.
  const claims: Claim[] = [];
  for (const z of zoneNames) {
    const net = parseCidr(spec.zones[z].cidr);
    const gw = spec.zones[z].gateway;
    if (!cidrContains(net, gw)) add(`zones.${z}.gateway`, gw, `must lie inside zones.${z}.cidr (${net.text})`, "the gateway is pfSense's address in the zone");
    else if (isNetworkOrBroadcast(net, gw)) add(`zones.${z}.gateway`, gw, "must not be the network or broadcast address", "use a host address such as .1");
    claims.push({ path: `zones.${z}.gateway`, ip: gw });
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

  // Member addresses: inside the zone, not its network/broadcast, not the gateway.
  const memberIp = (path: string, ip: string, zone: (typeof zoneNames)[number]) => {
    const net = parseCidr(spec.zones[zone].cidr);
    if (!cidrContains(net, ip)) add(path, ip, `must lie inside zones.${zone}.cidr (${net.text})`, `pick a free address in ${net.text}`);
    else if (isNetworkOrBroadcast(net, ip)) add(path, ip, "must not be the network or broadcast address", `pick a host address in ${net.text}`);
    else if (ip === spec.zones[zone].gateway) add(path, ip, `must not equal zones.${zone}.gateway`, "the gateway address belongs to pfSense");
    claims.push({ path, ip });
  };

  const names: { path: string; name: string }[] = [{ path: "firewall.name", name: spec.firewall.name }];
  const vmIds: { path: string; id: number }[] = [{ path: "firewall.vmId", id: spec.firewall.vmId }];
  checkNode("firewall.node", spec.firewall.node);
  checkSize("firewall.size", spec.firewall.size, "firewall");

  const vmIdFor = (path: string, zone: "mgmt" | "dmz" | "srv", ip: string, explicit: number | undefined) => {
    if (explicit !== undefined) return vmIds.push({ path: `${path}.vmId`, id: explicit });
    const net = parseCidr(spec.zones[zone].cidr);
    if (!cidrContains(net, ip)) return;
    const id = defaultVmId(zone, hostOffset(net, ip));
    if (id === undefined) add(`${path}.vmId`, undefined, `is required for addresses ${ZONE_VM_ID_SPAN} or more past the zone's network address`, "set vmId explicitly; defaults are zone base + host offset");
    else vmIds.push({ path: `${path}.vmId`, id });
  };

  spec.hosts.forEach((h, i) => {
    const p = `hosts[${i}]`;
    names.push({ path: `${p}.name`, name: h.name });
    memberIp(`${p}.ip`, h.ip, h.zone);
    checkNode(`${p}.node`, h.node);
    checkSize(`${p}.size`, h.size ?? DEFAULT_HOST_SIZES[h.role], h.role);
    vmIdFor(p, h.zone, h.ip, h.vmId);
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
    memberIp(`${p}.ip`, n.ip, "srv");
    checkNode(`${p}.node`, n.node);
    if (n.size) checkSize(`${p}.size`, n.size, kind);
    if (n.ip === t.vip) add(`${p}.ip`, n.ip, "must not equal talos.vip", "the VIP floats between control planes; give each node its own address");
    vmIdFor(p, "srv", n.ip, n.vmId);
  }
  if (t.controlPlanes.length === 0) {
    add("talos.controlPlanes", [], "must list at least one control plane", "three is the usual choice");
  } else if (t.controlPlanes.length % 2 === 0 && !t.allowEvenControlPlanes) {
    add("talos.controlPlanes", t.controlPlanes.map((c) => c.name), `has an even count (${t.controlPlanes.length})`, "etcd tolerates no more failures than with one fewer; use an odd count or set talos.allowEvenControlPlanes: true");
  }
  // A VIP equal to a node address is reported once, above, not again as a duplicate.
  if (talosNodes.some(({ n }) => n.ip === t.vip)) {
    const net = parseCidr(spec.zones.srv.cidr);
    if (!cidrContains(net, t.vip)) add("talos.vip", t.vip, `must lie inside zones.srv.cidr (${net.text})`, "the VIP is an SRV address");
  } else memberIp("talos.vip", t.vip, "srv");

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
  firstBy(claims, (c) => c.ip, (d, f) => add(d.path, d.ip, `duplicates the address of ${f.path}`, "every member needs its own address"));
  firstBy(vmIds, (v) => v.id, (d, f) => add(d.path, d.id, `duplicates the VM id of ${f.path}`, "set vmId explicitly on one of them"));

  // Extra flows: endpoints must exist.
  const hostNames = new Set([...spec.hosts.map((h) => h.name), ...talosNodes.map((n) => n.n.name), spec.firewall.name]);
  spec.flows.forEach((f, i) => {
    for (const end of ["from", "to"] as const) {
      const v = f[end];
      if (!hostNames.has(v) && !FLOW_KEYWORDS.includes(v) && !FLOW_GROUPS.includes(v) && !FLOW_ZONES.includes(v)) {
        add(`flows[${i}].${end}`, v, "is not a known flow endpoint", `a host name, ${[...FLOW_ZONES, ...FLOW_GROUPS, ...FLOW_KEYWORDS].join(", ")}`);
      }
    }
    if (f.protocol === "icmp" && f.ports.length > 0) add(`flows[${i}].ports`, f.ports, "must be empty for icmp", "ports only exist for tcp and udp");
    if (f.protocol !== "icmp" && f.ports.length === 0) add(`flows[${i}].ports`, f.ports, `must list at least one port for ${f.protocol}`, "a flow opens specific ports");
    if (spec.flows.findIndex((g) => g.id === f.id) < i) add(`flows[${i}].id`, f.id, "is used by another flow", "flow ids must be unique");
  });

  return problems;
}

/**
 * Parses and validates a spec. Returns the spec with defaults filled in, or throws one SpecError
 * that lists every problem found.
 */
export function validateLabSpec(input: unknown): LabSpec {
  const parsed = LabSpecSchema.safeParse(input ?? {}, { reportInput: true });
  if (!parsed.success) throw new SpecError(zodProblems(parsed.error, input));
  const problems = semanticProblems(parsed.data);
  if (problems.length > 0) throw new SpecError(problems);
  return parsed.data;
}
