import { defaultConfigContract, KUBERNETES_MINORS_BY_TALOS, TALOS_PROVIDER_MAX_CONTRACT, talosMinorNumber, talosMinorOf } from "../input/talos-support";
import { cosignPublicKeyProblem, FACTORY_PUBLIC_KEY_HINT, IMAGE_VERIFICATION_SINCE } from "../input/image-signing";
import { TALOS_DEFAULT_IMAGES, TIGERA_OPERATOR_BY_CALICO } from "../render/talos/cluster-images";
import { z } from "zod";
import {
  cidrContains,
  cidrSize,
  cidrsOverlap,
  hostOffset,
  Ipv4Cidr,
  isNetworkOrBroadcast,
  parseCidr,
} from "../input/addressing";
import { FlowEndpoint, parseEndpoint } from "../model/endpoint";
import { Flow, FLOW_GROUPS, FLOW_KEYWORDS, FLOW_ZONES } from "../model/flows";
import { componentFlows, labOwnFlows } from "../model/lab-flows";
import { LabModel, planLab } from "../model/lab-model";
import type { ServiceCatalog } from "../model/service";
import { serviceCatalog } from "../services";
import { defaultVmId, placeByName, placeControlPlane, ZONE_VM_ID_SPAN } from "../model/placement";
import { DerivedAddress, resolveLabDefaults } from "../input/defaults";
import { VM_KINDS } from "../input/vm-kinds";
import { FlowSpec, LabSpec, LabSpecSchema, ruleText, ServiceFlowSchema, VmSize } from "../input/lab-spec";
import { pathText, SpecError, SpecProblem } from "../input/spec-error";

/** Documented minimums of pfSense and the Talos kinds (from {@link VM_KINDS}); a service's are in its descriptor. */
export const MINIMUM_SIZES = {
  controlPlane: VM_KINDS.controlPlane.minimumSize,
  worker: VM_KINDS.worker.minimumSize,
  firewall: VM_KINDS.firewall.minimumSize,
} as const;


/** Fields that moved, with where they went: an old spec gets a pointer instead of a guess. */
const MOVED_FIELDS: Readonly<Record<string, string>> = {
  "state.backendPath": "moved to state.backend.path (with type: local); state now lives outside the generated tree by default",
};

function zodProblems(error: z.ZodError, input: unknown): SpecProblem[] {
  const out: SpecProblem[] = [];
  for (const issue of error.issues) {
    const at = pathText(issue.path);
    const value = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys) {
          const path = at ? `${at}.${key}` : key;
          const known = fieldsAt(issue.path, input);
          const near = closest(key, known);
          const moved = Object.hasOwn(MOVED_FIELDS, path) ? MOVED_FIELDS[path] : undefined;
          out.push({
            path,
            value: lookup(input, [...issue.path, key]),
            message: ruleText(
              "is not a field of the spec",
              moved ?? (near ? `did you mean ${near}?` : `known fields here: ${known.join(", ")}`),
            ),
          });
        }
        break;
      case "invalid_type": {
        if (typeof value === "number" && !Number.isFinite(value)) {
          out.push({ path: at, value, message: ruleText("must be a finite number", `got ${Number.isNaN(value) ? "not-a-number" : "infinity"}`) });
          break;
        }
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
        if (issue.origin === "array") {
          out.push({ path: at, value, message: ruleText(`must list at least ${issue.minimum} ${Number(issue.minimum) === 1 ? "entry" : "entries"}`, "the lab needs it") });
        } else {
          out.push({ path: at, value, message: ruleText(`must be at least ${issue.minimum === 0 ? 1 : issue.minimum}`, "a positive whole number") });
        }
        break;
      case "invalid_union":
        // A discriminated union (state.backend) names what it wants in its own message.
        out.push({ path: at, value: lookup(input, issue.path), message: issue.message.includes("(") ? issue.message : ruleText(issue.message, "see lab-spec.schema.json") });
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
function fieldsAt(path: readonly PropertyKey[], input: unknown): string[] {
  type Def = { type: string; innerType?: Schemaish; element?: Schemaish; shape?: Record<string, Schemaish>; options?: Schemaish[] };
  type Schemaish = { _zod: { def: Def } };
  let cur: Schemaish | undefined = LabSpecSchema as unknown as Schemaish;
  const unwrap = (s: Schemaish | undefined, at: readonly PropertyKey[]): Schemaish | undefined => {
    let x = s;
    for (;;) {
      if (x && (x._zod.def.type === "default" || x._zod.def.type === "optional" || x._zod.def.type === "pipe")) {
        x = x._zod.def.innerType ?? (x._zod.def as unknown as { in?: Schemaish }).in;
      } else if (x && x._zod.def.type === "union") {
        // A discriminated union: the option the input's `type` selects.
        const type = (lookup(input, at) as { type?: unknown } | undefined)?.type;
        x = x._zod.def.options?.find((o) => (unwrap(o, at)?._zod.def.shape?.type as unknown as { _zod: { def: { values?: unknown[] } } })?._zod.def.values?.includes(type));
      } else return x;
    }
  };
  for (let i = 0; i < path.length; i++) {
    const k = path[i];
    cur = unwrap(cur, path.slice(0, i));
    if (!cur) return [];
    cur = typeof k === "number" ? cur._zod.def.element : cur._zod.def.shape?.[String(k)];
  }
  cur = unwrap(cur, path);
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

/** Flow keywords: a VM with one of these names would make a flow mean something else. */
export const RESERVED_NAMES = FLOW_KEYWORDS;

/** An address a member claims, for the duplicate and gateway checks. */
interface Claim {
  readonly path: string;
  readonly ip: string;
  /** The address is a default (the spec does not give it). */
  readonly derived: boolean;
}

const NO_DERIVED: ReadonlyMap<string, DerivedAddress> = new Map();

/**
 * Cross-field rules the shape cannot express. Runs on a spec that parsed, its derived defaults filled
 * in; `derived` names the addresses nobody wrote (see resolveLabDefaults), whose problems are
 * reported as problems of the default: at the missing field, saying where the address came from.
 * `services` are the roles hosts may name.
 */
export function semanticProblems(
  spec: LabSpec,
  derived: ReadonlyMap<string, DerivedAddress> = NO_DERIVED,
  services: ServiceCatalog = serviceCatalog(),
): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add = (path: string, value: unknown, rule: string, hint: string) =>
    problems.push({ path, value, message: ruleText(rule, hint) });
  /** "defaults to 10.10.100.21 (worker offset 21 + 0 in zones.srv.cidr)", for a derived address. */
  const defaultText = (d: DerivedAddress, ip: string) => `defaults to ${ip} (${d.how} in zones.${d.zone}.cidr)`;

  // Subnets: zones, the client LAN, pods and services must not overlap one another.
  const zoneNames = ["mgmt", "dmz", "srv"] as const;
  /** The internal zones and the client LAN: each a pfSense interface with a subnet, a bridge and a gateway. */
  const lanNames = [...zoneNames, "client"] as const;
  const nets: { path: string; cidr: Ipv4Cidr }[] = [
    ...lanNames.map((z) => ({ path: `zones.${z}.cidr`, cidr: parseCidr(spec.zones[z].cidr) })),
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

  // Sizes: a zone needs room for pfSense and members; the service range what Kubernetes allows; the
  // pod range one Calico block per Talos node at least.
  for (const z of lanNames) {
    const net = parseCidr(spec.zones[z].cidr);
    if (net.prefix > 29) add(`zones.${z}.cidr`, net.text, "must be a /29 or larger", z === "client" ? "the client LAN holds pfSense's address and the operators' machines" : "the zone holds pfSense's address and its members'");
  }
  const svc = parseCidr(spec.network.serviceCidr);
  if (svc.prefix < 12 || svc.prefix > 28) {
    add("network.serviceCidr", svc.text, "must be between a /12 and a /28", "Kubernetes allows at most a /12 for services and needs room for the API's and DNS's service addresses");
  }
  const podNet = parseCidr(spec.network.podCidr);
  const talosCount = spec.talos.controlPlanes.length + spec.talos.workers.length;
  if (spec.network.podBlockSize >= podNet.prefix) {
    const blocks = 2 ** (spec.network.podBlockSize - podNet.prefix);
    if (blocks < talosCount) {
      add("network.podCidr", podNet.text, `has room for ${blocks} Calico block${blocks === 1 ? "" : "s"} of /${spec.network.podBlockSize}, fewer than the lab's ${talosCount} Talos nodes`, "every node takes at least one block; use a larger pod range or smaller blocks");
    }
  }

  // Bridges: each zone needs its own (bridge, VLAN) pair, and never the WAN uplink: a tag on the
  // uplink would carry the zone's frames onto the WAN segment, past pfSense.
  const segments = new Map<string, string>();
  for (const z of lanNames) {
    if (spec.zones[z].bridge === spec.zones.wan.bridge) {
      add(`zones.${z}.bridge`, spec.zones[z].bridge, "must not be the WAN uplink bridge (zones.wan.bridge)", "internal zones need bridges of their own; with a VLAN tag on the uplink their frames would reach the WAN segment without crossing pfSense");
      continue;
    }
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
    const d = derived.get(path);
    if (first) {
      const whose = `the address of ${first.path}${first.derived ? " (its default)" : ""}`;
      if (d) add(path, undefined, `${defaultText(d, ip)}, which duplicates ${whose}`, "give one of them an explicit ip");
      else add(path, ip, `duplicates ${whose}`, "every member needs its own address");
      return false;
    }
    claims.set(ip, { path, ip, derived: d !== undefined });
    return true;
  };

  // Gateways. A derived one is the zone's first host address: usable whenever the zone's size is
  // (which is reported above otherwise). An existing client LAN has a router of its own, most likely
  // on that address: pfSense's address there must be given.
  if (spec.zones.client.existing && derived.has("zones.client.gateway")) {
    add(
      "zones.client.gateway",
      undefined,
      "is required when zones.client.existing is true",
      `give pfSense's address on the operators' LAN (${spec.zones.client.cidr}), a free one: its first address is usually the LAN's own router; the operators' machines then route to the mgmt client via it`,
    );
  }
  for (const z of lanNames) {
    const net = parseCidr(spec.zones[z].cidr);
    const gw = spec.zones[z].gateway;
    if (derived.has(`zones.${z}.gateway`) && net.prefix > 29) continue;
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
  const nodeSeen = new Set<string>();
  spec.proxmox.nodes.forEach((n, i) => {
    if (nodeSeen.has(n.name)) add(`proxmox.nodes[${i}].name`, n.name, "is declared twice", "list each Proxmox node once");
    nodeSeen.add(n.name);
    // The Proxmox hosts sit on the WAN side: an address inside the lab would make pfSense's rules
    // for "proxmox" rules for lab members.
    const inside = n.address === undefined ? undefined : nets.find((x) => cidrContains(x.cidr, n.address!));
    if (inside) add(`proxmox.nodes[${i}].address`, n.address, `must lie outside the lab's networks (it is in ${inside.path}, ${inside.cidr.text})`, "give the host's address on the WAN side, as pfSense sees it");
  });

  const checkSize = (path: string, size: VmSize, min: VmSize & { readonly source: string }) => {
    for (const k of ["cores", "memoryMiB", "diskGiB"] as const) {
      if (size[k] < min[k]) add(`${path}.${k}`, size[k], `must be at least ${min[k]}`, min.source);
    }
  };

  // Member addresses: inside the zone, not its network/broadcast, not the gateway, not taken.
  // Returns whether the address is usable, so follow-up checks stay quiet about a reported mistake.
  const memberIp = (path: string, ip: string, zone: (typeof zoneNames)[number]): boolean => {
    const net = parseCidr(spec.zones[zone].cidr);
    const d = derived.get(path);
    if (d) {
      // A derived address is inside the zone by construction unless its offset runs past the end.
      const gwDerived = derived.has(`zones.${zone}.gateway`) ? ` (zones.${zone}.gateway defaults to the first host address)` : "";
      const last = cidrSize(net) - (net.prefix < 31 ? 2 : 1);
      if (d.offset > last) {
        add(path, undefined, `has no default inside zones.${zone}.cidr (${net.text}): ${d.how} is host offset ${d.offset}, past the last host address (offset ${last})`, `give it an ip, or make zones.${zone}.cidr larger`);
      } else if (ip === spec.zones[zone].gateway) {
        add(path, undefined, `${defaultText(d, ip)}, which is zones.${zone}.gateway${gwDerived}`, "give it an ip, or set the gateway to another address");
      } else return claim(path, ip);
      return false;
    }
    if (!cidrContains(net, ip)) add(path, ip, `must lie inside zones.${zone}.cidr (${net.text})`, `pick a free address in ${net.text}`);
    else if (isNetworkOrBroadcast(net, ip)) add(path, ip, "must not be the network or broadcast address", `pick a host address in ${net.text}`);
    else if (ip === spec.zones[zone].gateway) add(path, ip, `must not equal zones.${zone}.gateway`, "the gateway address belongs to pfSense");
    else return claim(path, ip);
    return false;
  };

  const names: { path: string; name: string }[] = [{ path: "firewall.name", name: spec.firewall.name }];
  // In list order, whenever a member's address is checked: a slot per member, empty without an id.
  const vmIds: ({ path: string; id: number; explicit: boolean } | undefined)[] = [{ path: "firewall.vmId", id: spec.firewall.vmId, explicit: true }];
  checkNode("firewall.node", spec.firewall.node);
  checkSize("firewall.size", spec.firewall.size, MINIMUM_SIZES.firewall);

  // VM ids: explicit, or zone base + host offset for a usable address.
  const vmIdFor = (slot: number, path: string, zone: "mgmt" | "dmz" | "srv", ip: string, ipOk: boolean, explicit: number | undefined) => {
    if (explicit !== undefined) return (vmIds[slot] = { path: `${path}.vmId`, id: explicit, explicit: true });
    if (!ipOk) return;
    const id = defaultVmId(zone, hostOffset(parseCidr(spec.zones[zone].cidr), ip));
    if (id === undefined) add(`${path}.vmId`, undefined, `is required for addresses ${ZONE_VM_ID_SPAN} or more past the zone's network address`, "set vmId explicitly; defaults are zone base + host offset");
    else vmIds[slot] = { path, id, explicit: false };
  };

  // Members whose address is a default are checked after every written address has been claimed:
  // a written address wins, and a clash is reported at the default.
  const deferred: (() => void)[] = [];
  spec.hosts.forEach((h, i) => {
    const p = `hosts[${i}]`;
    names.push({ path: `${p}.name`, name: h.name });
    const service = services.get(h.role);
    if (!service) add(`${p}.role`, h.role, "must be the role of a service of the lab", `known roles: ${services.roles.join(", ")}; a new role is a ServiceDescriptor passed to TalosEnclave's services (TypeScript)`);
    else if (h.zone !== service.zone) add(`${p}.zone`, h.zone, `must be "${service.zone}" for role ${h.role}`, service.zoneReason);
    const slot = vmIds.push(undefined) - 1;
    // A host of an unknown role has no default address to judge: its role is the problem.
    const address = () => vmIdFor(slot, p, h.zone, h.ip, memberIp(`${p}.ip`, h.ip, h.zone), h.vmId);
    if (!derived.has(`${p}.ip`)) address();
    else if (service) deferred.push(address);
    checkNode(`${p}.node`, h.node);
    if (service) checkSize(`${p}.size`, h.size ?? service.defaultSize, service.minimumSize);
  });

  const t = spec.talos;
  checkSize("talos.sizes.controlPlane", t.sizes.controlPlane, MINIMUM_SIZES.controlPlane);
  checkSize("talos.sizes.worker", t.sizes.worker, MINIMUM_SIZES.worker);
  const talosNodes = [
    ...t.controlPlanes.map((n, i) => ({ n, p: `talos.controlPlanes[${i}]`, kind: "controlPlane" as const })),
    ...t.workers.map((n, i) => ({ n, p: `talos.workers[${i}]`, kind: "worker" as const })),
  ];
  const vipDerived = derived.has("talos.vip");
  for (const { n, p, kind } of talosNodes) {
    names.push({ path: `${p}.name`, name: n.name });
    const d = derived.get(`${p}.ip`);
    const slot = vmIds.push(undefined) - 1;
    const address = () => {
      // A derived VIP is claimed after the nodes (a written node address wins over it).
      const ipOk =
        n.ip === t.vip && !vipDerived
          ? (d
              ? add(`${p}.ip`, undefined, `${defaultText(d, n.ip)}, which equals talos.vip`, "give the node an ip; the VIP floats between control planes")
              : add(`${p}.ip`, n.ip, "must not equal talos.vip", "the VIP floats between control planes; give each node its own address"),
            false)
          : memberIp(`${p}.ip`, n.ip, "srv");
      vmIdFor(slot, p, "srv", n.ip, ipOk, n.vmId);
    };
    if (d) deferred.push(address);
    else address();
    checkNode(`${p}.node`, n.node);
    if (n.size) checkSize(`${p}.size`, n.size, MINIMUM_SIZES[kind]);
  }
  const K8S_RANGE = KUBERNETES_MINORS_BY_TALOS;
  const talosMinorText = talosMinorOf(t.version);
  const k8sMinor = Number(t.kubernetesVersion.split(".")[1]);
  const range = K8S_RANGE[talosMinorText];
  if (t.configContract !== undefined) {
    if (talosMinorNumber(t.configContract) > talosMinorNumber(talosMinorText)) {
      add("talos.configContract", t.configContract, `is newer than talos.version ${t.version}`, `a node understands only contracts up to its own minor; use ${talosMinorText} or older`);
    } else if (talosMinorNumber(t.configContract) > talosMinorNumber(TALOS_PROVIDER_MAX_CONTRACT)) {
      add(
        "talos.configContract",
        t.configContract,
        `is newer than the bound Talos provider supports (${TALOS_PROVIDER_MAX_CONTRACT})`,
        `siderolabs/talos 0.11.0 is built on Talos machinery v1.13.0, which cannot read ${t.configContract} documents; use ${TALOS_PROVIDER_MAX_CONTRACT}, which Talos ${talosMinorText} nodes accept`,
      );
    }
  }
  const contractMinor = t.configContract ?? defaultConfigContract(t.version);
  if (t.imageVerification.enabled === true && talosMinorNumber(contractMinor) < talosMinorNumber(IMAGE_VERIFICATION_SINCE)) {
    add(
      "talos.imageVerification.enabled",
      true,
      `needs the machine-config contract ${IMAGE_VERIFICATION_SINCE} or newer (this lab's is ${contractMinor})`,
      `Talos added ImageVerificationConfig in ${IMAGE_VERIFICATION_SINCE}.0; a ${contractMinor} node refuses the document. Move talos.version and talos.configContract to ${IMAGE_VERIFICATION_SINCE} or newer, or leave enabled unset (off below ${IMAGE_VERIFICATION_SINCE})`,
    );
  }
  // With verification on, every image the nodes run must be in the reviewed tables the rules and the
  // mirror step come from; an unknown version would leave an image unsigned behind the closing deny.
  const verifying = t.imageVerification.enabled ?? talosMinorNumber(contractMinor) >= talosMinorNumber(IMAGE_VERIFICATION_SINCE);
  if (verifying && TALOS_DEFAULT_IMAGES[talosMinorText] === undefined) {
    add(
      "talos.version",
      t.version,
      "has no reviewed image list for image verification",
      `the etcd, CoreDNS and pause images Talos ${talosMinorText} runs are not in TALOS_DEFAULT_IMAGES (known: ${Object.keys(TALOS_DEFAULT_IMAGES).join(", ")}), so nothing would sign them and the closing deny would stop them; use a known minor, or set talos.imageVerification.enabled: false`,
    );
  }
  if (verifying && TIGERA_OPERATOR_BY_CALICO[spec.platform.calicoVersion] === undefined) {
    add(
      "platform.calicoVersion",
      spec.platform.calicoVersion,
      "has no reviewed operator image for image verification",
      `the tigera-operator image of Calico ${spec.platform.calicoVersion} is not in TIGERA_OPERATOR_BY_CALICO (known: ${Object.keys(TIGERA_OPERATOR_BY_CALICO).join(", ")}), so nothing would sign it and the closing deny would stop it; use a known version, or set talos.imageVerification.enabled: false`,
    );
  }
  const keyProblem = cosignPublicKeyProblem(t.imageVerification.publicKey);
  if (keyProblem) add("talos.imageVerification.publicKey", t.imageVerification.publicKey, keyProblem.rule, keyProblem.hint);
  const factoryKeyProblem = cosignPublicKeyProblem(t.imageVerification.factoryPublicKey, FACTORY_PUBLIC_KEY_HINT);
  if (factoryKeyProblem) add("talos.imageVerification.factoryPublicKey", t.imageVerification.factoryPublicKey, factoryKeyProblem.rule, factoryKeyProblem.hint);
  if (t.diskEncryption === "tpm" && !t.secureBoot) {
    add("talos.diskEncryption", t.diskEncryption, "needs talos.secureBoot: true", "only the SecureBoot VMs have a TPM 2.0 to seal the keys to; set talos.secureBoot: true, or use nodeID");
  }
  if (range && (k8sMinor < range[0] || k8sMinor > range[1])) {
    add("talos.kubernetesVersion", t.kubernetesVersion, `is not supported by Talos ${talosMinorText}`, `Talos ${talosMinorText} runs Kubernetes 1.${range[0]} to 1.${range[1]}`);
  }
  if (t.controlPlanes.length === 0) {
    add("talos.controlPlanes", [], "must list at least one control plane", "three is the usual choice");
  } else if (t.controlPlanes.length % 2 === 0 && !t.allowEvenControlPlanes) {
    add("talos.controlPlanes", t.controlPlanes.map((c) => c.name), `has an even count (${t.controlPlanes.length})`, "etcd tolerates no more failures than with one fewer; use an odd count or set talos.allowEvenControlPlanes: true");
  }
  if (!vipDerived) memberIp("talos.vip", t.vip, "srv");
  for (const address of deferred) address();
  if (vipDerived) memberIp("talos.vip", t.vip, "srv");

  // Zones that span Proxmox nodes: a Linux bridge without a port exists on its own node only, so every
  // node a zone's VMs (pfSense included) run on needs an uplink port on the zone's bridge.
  if (proxmoxNodes.size > 0) {
    const nodeNames = spec.proxmox.nodes.map((n) => n.name);
    const nodeIndex = new Map(nodeNames.map((n, i) => [n, i]));
    const fwNode = spec.firewall.node ?? nodeNames[0];
    const span = new Map<(typeof zoneNames)[number], Map<string, string>>(zoneNames.map((z) => [z, new Map([[fwNode, spec.firewall.name]])]));
    const place = (z: (typeof zoneNames)[number], node: string, vm: string) => {
      const m = span.get(z);
      if (m && proxmoxNodes.has(node) && !m.has(node)) m.set(node, vm); // unknown nodes are reported already
    };
    for (const h of spec.hosts) place(h.zone, h.node ?? nodeNames[0], h.name);
    t.controlPlanes.forEach((n, i) => place("srv", n.node ?? placeControlPlane(i, nodeNames), n.name));
    for (const n of t.workers) place("srv", n.node ?? placeByName(n.name, nodeNames), n.name);
    // the client LAN's bridge is the lab's only when the lab creates it (not for an existing LAN)
    const zoneBridges = new Set([...zoneNames.map((z) => spec.zones[z].bridge), ...(spec.zones.client.existing ? [] : [spec.zones.client.bridge])]);
    spec.proxmox.nodes.forEach((n, i) => {
      for (const bridge of Object.keys(n.uplinks ?? {})) {
        if (!zoneBridges.has(bridge)) add(`proxmox.nodes[${i}].uplinks.${bridge}`, n.uplinks![bridge], "names a bridge no zone uses", `uplinks join zone bridges: ${[...zoneBridges].join(", ")}`);
      }
    });
    for (const z of zoneNames) {
      const nodes = span.get(z)!;
      if (nodes.size < 2) continue;
      const bridge = spec.zones[z].bridge;
      const where = [...nodes].map(([node, vm]) => `${vm} on ${node}`).join(", ");
      if (!spec.proxmox.manageBridges) {
        add("proxmox.manageBridges", false, `must be true: zone ${z} spans ${nodes.size} Proxmox nodes (${where})`, "the lab declares the bridges' uplink ports only on bridges it manages");
        continue;
      }
      for (const node of nodes.keys()) {
        const i = nodeIndex.get(node);
        if (i === undefined) continue; // reported as an unknown node
        if (!(spec.proxmox.nodes[i].uplinks?.[bridge]?.length)) {
          add(`proxmox.nodes[${i}].uplinks`, spec.proxmox.nodes[i].uplinks, `must give ${bridge} an uplink port: zone ${z} spans ${nodes.size} Proxmox nodes (${where})`, `name the NIC that joins the nodes, e.g. { ${bridge}: [eno2] }; without one ${bridge} on ${node} is an island`);
        }
      }
    }
  }

  // Registry: the named host must be a registry in MGMT, and the only one.
  const reg = spec.hosts.find((h) => h.name === spec.registry.host);
  const registries = spec.hosts.filter((h) => h.role === "registry");
  if (!reg) {
    add("registry.host", spec.registry.host, "must name a host of the spec", registries.length === 1 ? `the host with role registry is ${registries[0].name}: set registry.host: ${registries[0].name}` : "the MGMT host with role registry, e.g. registry");
  } else if (reg.zone !== "mgmt" || reg.role !== "registry") add("registry.host", spec.registry.host, "must be a host with zone mgmt and role registry", "Harbor and the Image Factory run in MGMT");
  const registryOk = reg !== undefined && reg.zone === "mgmt" && reg.role === "registry";
  if (spec.registry.fqdn.length > 253) {
    // Only a default can be this long: a written fqdn is checked by the schema.
    add("registry.fqdn", undefined, `defaults to <registry.host>.<zones.mgmt.domain>, ${spec.registry.fqdn.length} characters, more than a DNS name's 253`, "set registry.fqdn, or use a shorter zones.mgmt.domain");
  }
  spec.hosts.forEach((h, i) => {
    if (registryOk && h.role === "registry" && h.name !== spec.registry.host) {
      add(`hosts[${i}].role`, h.role, `must not be registry: registry.host names ${spec.registry.host}`, "the lab runs one Harbor and Image Factory; give this host the role client, or point registry.host at it");
    }
  });
  const upstreamSeen = new Set<string>();
  spec.registry.upstreams.forEach((u, i) => {
    if (upstreamSeen.has(u)) add(`registry.upstreams[${i}]`, u, "is listed twice", "list each upstream registry once");
    upstreamSeen.add(u);
  });

  // The runner: a client host in MGMT (only a client reaches apid and the API VIP).
  const clients = spec.hosts.filter((h) => h.role === "client");
  // the same file however it is spelled: `~/` is the runner's admin user's home, where tofu runs
  const onRunner = (p: string) => p.replace(/^~\//, `/home/${spec.adminUser}/`).replace(/\/+/g, "/");
  if (onRunner(spec.apply.kubeconfigPath) === onRunner(spec.apply.talosconfigPath)) {
    add("apply.kubeconfigPath", spec.apply.kubeconfigPath, "must differ from apply.talosconfigPath", "tofu writes the kubeconfig and the talosconfig as two files; one path would hold whichever came last");
  }
  if (spec.apply.runner !== undefined) {
    const runner = spec.hosts.find((h) => h.name === spec.apply.runner);
    if (!runner || runner.role !== "client") add("apply.runner", spec.apply.runner, "must name a client host", `tofu runs where the Talos API and the cluster are reachable: ${clients.map((c) => c.name).join(", ") || "add a host with role client"}`);
  } else if (clients.length === 0) {
    add("hosts", spec.hosts.map((h) => h.name), "must include a host with role client", "tofu runs on the mgmt client after the bootstrap; only a client reaches the Talos API and the cluster");
  }

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
  for (const n of names) {
    if ((RESERVED_NAMES as readonly string[]).includes(n.name)) {
      add(n.path, n.name, "is a flow keyword", `flows use ${RESERVED_NAMES.join(", ")} as endpoints; a VM of that name would change what a flow means`);
    }
  }
  const idOf = (v: { path: string; explicit: boolean }) => (v.explicit ? v.path : `the default VM id of ${v.path}`);
  firstBy(vmIds.filter((v) => v !== undefined), (v) => v.id, (d, f) =>
    add(d.explicit ? d.path : `${d.path}.vmId`, d.id, `duplicates ${idOf(f)}`, "every VM needs its own Proxmox id; set vmId explicitly"),
  );

  // Extra flows: endpoints must exist, and the air gap and the WAN edge must hold.
  const ctx = flowRuleContext(spec);
  const flowIds = new Set<string>();
  spec.flows.forEach((f, i) => {
    if (flowIds.has(f.id)) add(`flows[${i}].id`, f.id, "is used by another flow", "flow ids must be unique");
    flowIds.add(f.id);
    flowRuleProblems(f, ctx, (field, value, rule, hint) => add(field ? `flows[${i}].${field}` : `flows[${i}]`, value, rule, hint));
  });

  ingressProtectionProblems(spec.network.ingressProtection, add);

  return problems;
}

/**
 * Cross-field rules of `network.ingressProtection`: the per-client connection limit fits under the
 * global one, the request-head timeout fits inside the client timeout, and the allow and deny lists
 * neither repeat a network nor contradict each other (a denied network that covers an allowed one
 * makes the allow entry dead: the controller's deny rule runs first and wins).
 */
function ingressProtectionProblems(
  p: LabSpec["network"]["ingressProtection"],
  add: (path: string, value: unknown, rule: string, hint: string) => void,
): void {
  const at = "network.ingressProtection";
  if (p.connectionsPerClient > p.maxConnections) {
    add(`${at}.connectionsPerClient`, p.connectionsPerClient, `must not exceed ${at}.maxConnections (${p.maxConnections})`, "one client could otherwise take every connection the ingress accepts");
  }
  if (p.timeouts.httpRequestSeconds > p.timeouts.clientSeconds) {
    add(`${at}.timeouts.httpRequestSeconds`, p.timeouts.httpRequestSeconds, `must not exceed ${at}.timeouts.clientSeconds (${p.timeouts.clientSeconds})`, "the client timeout would cut a slow request head first; keep the request-head timeout the shorter one");
  }
  // Linear in the lists' length: each entry is looked up under each shorter prefix (at most 33).
  const index = (list: readonly string[]) => {
    const byNet = new Map<string, number>();
    list.forEach((c, i) => {
      const n = parseCidr(c);
      const key = `${n.network}/${n.prefix}`;
      if (!byNet.has(key)) byNet.set(key, i);
    });
    return byNet;
  };
  /** The first entry of `byNet` holding `c` at a prefix no longer than `c`'s (itself excluded by index). */
  const holder = (byNet: ReadonlyMap<string, number>, c: string, self?: number): number | undefined => {
    const n = parseCidr(c);
    for (let prefix = 0; prefix <= n.prefix; prefix++) {
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      const i = byNet.get(`${(n.network & mask) >>> 0}/${prefix}`);
      if (i !== undefined && i !== self) return i;
    }
    return undefined;
  };
  const byList = { allow: index(p.allow), deny: index(p.deny) };
  for (const list of ["allow", "deny"] as const) {
    p[list].forEach((c, i) => {
      const first = holder(byList[list], c, i);
      if (first === undefined) return;
      if (p[list][first] === c || parseCidr(p[list][first]).prefix === parseCidr(c).prefix) add(`${at}.${list}[${i}]`, c, `duplicates ${at}.${list}[${first}]`, "name each network once");
      else add(`${at}.${list}[${i}]`, c, `lies inside ${at}.${list}[${first}] (${p[list][first]})`, "the wider entry already covers it; drop this one");
    });
  }
  p.allow.forEach((a, j) => {
    const n = parseCidr(a);
    if (byList.allow.get(`${n.network}/${n.prefix}`) !== j) return; // a repeated entry is reported above
    const i = holder(byList.deny, a);
    if (i !== undefined) add(`${at}.deny[${i}]`, p.deny[i], `covers ${at}.allow[${j}] (${a})`, "a network cannot be both allowed and denied; the deny list wins, so drop the allow entry or narrow the deny entry to a part of it");
  });
  if (p.allow.length === 0) {
    const all = p.deny.findIndex((d) => parseCidr(d).prefix === 0);
    if (all >= 0) add(`${at}.deny[${all}]`, p.deny[all], "must not deny every source", "with no allow list the ingress would answer nobody; list the networks to allow instead, or drop the entry");
  }
}

/**
 * The flows the hosts' services declare, held to the rules of the spec's own flows (a service is code
 * a platform team adds, and no more trusted with the air gap than a spec): their shape, their ends,
 * the air gap and the WAN edge, and ids no other flow of the lab uses. Reported at the host whose
 * service declares the flow: `hosts[3] flow prometheus.ui.to`.
 */
function serviceFlowProblems(spec: LabSpec, model: LabModel): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const ctx = flowRuleContext(spec);
  // Ids the lab's own flows use (zones, the runner, the cluster), then each service flow's as it comes.
  const owners = new Map<string, string>(labOwnFlows(model).map((f) => [f.id, "the lab"]));
  model.hosts.forEach((host, i) => {
    const service = model.services.of(host.role);
    for (const f of service.flows?.({ model, host }) ?? []) {
      const at = (field: string) => `hosts[${i}] flow ${f.id}${field ? `.${field}` : ""}`;
      const add = (field: string, value: unknown, rule: string, hint: string) => problems.push({ path: at(field), value, message: ruleText(rule, hint) });
      const shape = ServiceFlowSchema.safeParse(f, { reportInput: true });
      if (!shape.success) {
        for (const issue of shape.error.issues) {
          problems.push({ path: at(pathText(issue.path)), value: (issue as { input?: unknown }).input, message: `${issue.message} (service ${service.role} declares it)` });
        }
        continue;
      }
      const owner = owners.get(f.id);
      if (owner !== undefined) add("id", f.id, `is declared twice: by ${owner} and by service ${service.role} of ${host.name}`, "a service prefixes its flow ids with the host name: hostFlowId(host.name, …)");
      else owners.set(f.id, `service ${service.role} of ${host.name}`);
      flowRuleProblems(f, ctx, (field, value, rule, hint) => add(field, value, rule, `${hint}; service ${service.role} declares this flow`));
    }
  });
  return problems;
}

/** What the flow rules need to know of a lab: its members' zones, pfSense's name, the groups' sizes. */
interface FlowRuleContext {
  readonly firewallName: string;
  /** Zone of every lab VM but pfSense, by name. */
  readonly hostZone: ReadonlyMap<string, string>;
  readonly controlPlanes: number;
  readonly workers: number;
}

function flowRuleContext(spec: LabSpec): FlowRuleContext {
  const t = spec.talos;
  return {
    firewallName: spec.firewall.name,
    hostZone: new Map<string, string>([
      ...spec.hosts.map((h) => [h.name, h.zone] as const),
      ...[...t.controlPlanes, ...t.workers].map((n) => [n.name, "srv"] as const),
    ]),
    controlPlanes: t.controlPlanes.length,
    workers: t.workers.length,
  };
}

/**
 * The rules every flow a user adds must keep, a spec's flow or a service's: its ends exist, its ports
 * fit its protocol, nothing on the SRV side is opened to or from the WAN side (the air gap), only a DMZ
 * host takes traffic from the internet, only MGMT reaches pfSense itself, nothing in the DMZ
 * initiates into MGMT, and the client LAN is named by no such flow (the lab declares its only ones). Reports each broken
 * rule once through `report`, with the field it concerns ("" for the flow as a whole).
 */
function flowRuleProblems(
  f: { readonly from: string; readonly to: string; readonly protocol: string; readonly ports: readonly (number | string)[] },
  ctx: FlowRuleContext,
  report: (field: "" | "from" | "to" | "ports" | "protocol", value: unknown, rule: string, hint: string) => void,
): void {
  let known = true;
  const ends = { from: parseEndpoint(f.from), to: parseEndpoint(f.to) };
  for (const end of ["from", "to"] as const) {
    const v = f[end];
    const e = ends[end];
    if (v === ctx.firewallName) {
      known = false;
      report(end, v, "must not name the pfSense VM", "flows to or from pfSense itself use the endpoint firewall");
    } else if (e === undefined || (e.kind === "host" && !ctx.hostZone.has(e.name))) {
      known = false;
      report(end, v, "is not a known flow endpoint", `a host name, ${[...FLOW_ZONES, ...FLOW_GROUPS, ...FLOW_KEYWORDS].join(", ")}`);
    }
  }
  if (f.protocol === "icmp" && f.ports.length > 0) report("ports", f.ports, "must be empty for icmp", "ports only exist for tcp and udp");
  if (f.protocol !== "icmp" && f.ports.length === 0) report("ports", f.ports, `must list at least one port for ${f.protocol}`, "a flow opens specific ports");
  const from = ends.from;
  const to = ends.to;
  if (!known || from === undefined || to === undefined) return;
  for (const end of ["from", "to"] as const) {
    const e = ends[end];
    const members = e?.kind !== "group" ? undefined : e.group === "workers" ? ctx.workers : e.group === "controlplanes" ? ctx.controlPlanes : undefined;
    if (members === 0) report(end, f[end], "names a group without members", "the lab has no VM in it; add one, or drop the flow");
  }
  const zoneOf = (e: FlowEndpoint) => (e.kind === "zone" ? e.zone : e.kind === "host" ? ctx.hostZone.get(e.name) : undefined);
  const srvSide = (e: FlowEndpoint) => e.kind === "pods" || e.kind === "vip" || e.kind === "group" || zoneOf(e) === "srv";
  const outside = (e: FlowEndpoint) => e.kind === "internet" || e.kind === "proxmox";
  const who = (e: FlowEndpoint) => (e.kind === "internet" ? "the internet" : "the Proxmox hosts");
  const clientLan = (e: FlowEndpoint) => e.kind === "zone" && e.zone === "client";
  if (clientLan(from) || clientLan(to)) {
    report(
      clientLan(from) ? "from" : "to",
      clientLan(from) ? f.from : f.to,
      clientLan(from) ? "must not be the client LAN: the lab declares its only flows" : "must not be the client LAN: nothing in the lab initiates into it",
      "from the client LAN only the client hosts are reachable, on SSH (22) and remote desktop (3389), through the lab's own flows (<host>.client-lan-ssh, <host>.client-lan-rdp); it is the operators' way in, never a way on into the lab",
    );
  } else if (f.from === f.to && from.kind !== "zone" && from.kind !== "group" && from.kind !== "pods") {
    report("to", f.to, "must differ from flows[].from", "a flow connects two endpoints; traffic of a host to itself never leaves it");
  } else if (outside(from) && srvSide(to)) {
    report("", `${f.from} -> ${f.to}`, `would open the SRV side to ${who(from)}`, "nothing from the WAN side reaches SRV; the mgmt client and the DMZ ingress talk to the cluster");
  } else if (srvSide(from) && outside(to)) {
    report("", `${f.from} -> ${f.to}`, `would open the SRV side to ${who(to)}`, "SRV never reaches the internet; mirror what it needs through the registry");
  } else if (from.kind === "internet" && !(to.kind === "host" && zoneOf(to) === "dmz")) {
    report("to", f.to, "must be a DMZ host for a flow from the internet", "pfSense forwards a WAN port to one address, and only the DMZ faces the internet");
  } else if (from.kind === "internet" && f.protocol === "icmp") {
    report("protocol", f.protocol, "must be tcp or udp for a flow from the internet", "a WAN port-forward carries ports; icmp has none");
  } else if (to.kind === "firewall" && zoneOf(from) !== "mgmt") {
    report("from", f.from, "must be in MGMT for a flow to pfSense itself", "only MGMT administers the firewall; DNS, NTP and BGP to pfSense are the lab's own flows");
  } else if (zoneOf(from) === "dmz" && to.kind === "proxmox") {
    report("", `${f.from} -> ${f.to}`, "would let the DMZ reach the Proxmox hosts", "the Proxmox hosts administer every VM and are the bootstrap's way into MGMT: from the DMZ they are a way into MGMT");
  } else if (zoneOf(from) === "dmz" && zoneOf(to) === "mgmt") {
    report("", `${f.from} -> ${f.to}`, "would let the DMZ initiate into MGMT", "the DMZ faces the internet and MGMT holds the supply chain (Harbor, the Image Factory): MGMT pushes to the DMZ over SSH (a service's provision()), never the other way");
  }
}

function portSpan(p: number | string): [number, number] {
  const [a, b] = String(p).split("-").map(Number);
  return [a, b ?? a];
}

/**
 * Rules on spec flows that need the lab's own flows: ids are not reused, nothing on the SRV side is
 * opened to the internet (the air gap), and a flow does not repeat one that already allows the same
 * traffic.
 */
function flowProblems(spec: LabSpec, services: ServiceCatalog): SpecProblem[] {
  const model = planLab(spec, services);
  const own = serviceFlowProblems(spec, model);
  if (own.length) return own;
  const lab = componentFlows(model);
  const taken = new Set(lab.map((f) => f.id));
  const problems: SpecProblem[] = [];
  const allowed = new AllowedTraffic();
  for (const f of lab) allowed.admit(f);
  spec.flows.forEach((f, i) => {
    if (taken.has(f.id)) {
      problems.push({ path: `flows[${i}].id`, value: f.id, message: ruleText("is the id of a flow the lab already declares", "pick another id; see flows.json for the lab's own flows") });
    }
    const same = allowed.admit(f);
    if (same) {
      problems.push({ path: `flows[${i}]`, value: f.id, message: ruleText(`overlaps flow ${same}`, "the same source, destination, protocol and ports are already allowed") });
    }
  });
  return problems;
}

/**
 * The traffic earlier flows allow, to find a later flow that repeats it: per (from, to, protocol) a
 * sorted list of disjoint port intervals, each owned by the flow that opened it. Lookups are binary
 * searches, so a spec with many flows is checked in O(n log n).
 */
class AllowedTraffic {
  private readonly byPath = new Map<string, { lo: number; hi: number; flow: string }[]>();

  /** Records a flow; returns the id of an earlier flow it overlaps (and then records nothing). */
  admit(f: FlowSpec | Flow): string | undefined {
    const key = `${f.from}\u0000${f.to}\u0000${f.protocol}`;
    let list = this.byPath.get(key);
    if (!list) this.byPath.set(key, (list = []));
    const spans = f.protocol === "icmp" ? [[0, 0] as [number, number]] : mergeSpans(f.ports.map(portSpan));
    for (const [lo, hi] of spans) {
      const i = lastAtOrBelow(list, hi);
      if (i >= 0 && list[i].hi >= lo) return list[i].flow;
    }
    for (const [lo, hi] of spans) list.splice(lastAtOrBelow(list, lo) + 1, 0, { lo, hi, flow: f.id });
    return undefined;
  }
}

/** Index of the last interval whose start is at or below `x` (-1 when none). */
function lastAtOrBelow(list: readonly { lo: number }[], x: number): number {
  let lo = 0;
  let hi = list.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].lo <= x) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Port spans sorted and merged where they overlap. */
function mergeSpans(spans: [number, number][]): [number, number][] {
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1]) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/**
 * Parses and validates a spec. Returns the spec with every default filled in, the derived ones
 * included (member addresses, the VIP and the zones' gateways from the zones' subnets, the zones'
 * domains, the registry's name), or throws one SpecError that lists every problem found, a derived
 * address that does not fit its zone or clashes with another among them.
 *
 * @param input - the spec as written (YAML/JSON data or a {@link LabSpecInput} object)
 * @param services - the services hosts may name in `hosts[].role`; default: the built-in ones
 */
export function validateLabSpec(input: unknown, services: ServiceCatalog = serviceCatalog()): LabSpec {
  const loop = cyclePath(input);
  if (loop !== undefined) {
    throw new SpecError([
      { path: loop || "(spec)", value: "(refers to itself)", message: ruleText("must not contain itself", "a YAML alias (*name) inside its own anchor (&name) makes an endless value; write the value out") },
    ]);
  }
  const tokens = tokenSyntax(input);
  if (tokens.length) throw new SpecError(tokens);
  const parsed = LabSpecSchema.safeParse(input ?? {}, { reportInput: true });
  if (parsed.success) {
    const { spec, derived } = resolveLabDefaults(parsed.data, (role) => services.get(role)?.hostOffset);
    const problems = semanticProblems(spec, derived, services);
    if (problems.length === 0) problems.push(...flowProblems(spec, services));
    if (problems.length > 0) throw new SpecError(problems);
    return spec;
  }
  throw new SpecError([...zodProblems(parsed.error, input), ...crossFieldProblemsDespite(parsed.error, input, services)]);
}

/** A member address inside a list (`hosts[1].ip`): dropping it would make a default stand in. */
const MEMBER_IP = /^(hosts|talos\.controlPlanes|talos\.workers)\[\d+\]\.ip$/;

/**
 * Cross-field problems of a spec whose shape is broken, so that one run reports them too. Failing
 * fields are dropped (their defaults stand in); list entries that still fail, such as a node whose
 * address is malformed (a derived address would only stand in for it to clash), are left out; the rest
 * is checked, with list indexes mapped back to the user's file, and problems that involve anything
 * dropped are not reported.
 */
function crossFieldProblemsDespite(error: z.ZodError, input: unknown, services: ServiceCatalog): SpecProblem[] {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return [];
  const repaired = structuredClone(input) as Record<PropertyKey, unknown>;
  const dropped = new Set<string>();
  // Entries to leave out of lists, by list path.
  const removed = new Map<string, Set<number>>();
  const remove = (path: readonly PropertyKey[], at: number) => {
    const list = pathText(path.slice(0, at));
    const indexes = removed.get(list) ?? new Set<number>();
    indexes.add(path[at] as number);
    removed.set(list, indexes);
    dropped.add(pathText(path.slice(0, at + 1)));
  };
  for (const issue of error.issues) {
    const paths = issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    for (const path of paths) {
      if (path.length === 0) return [];
      dropped.add(pathText(path));
      if (MEMBER_IP.test(pathText(path))) {
        remove(path, path.length - 2);
        continue;
      }
      const parent = lookup(repaired, path.slice(0, -1));
      if (parent === null || typeof parent !== "object") return [];
      delete (parent as Record<PropertyKey, unknown>)[path[path.length - 1]];
    }
  }
  let again = LabSpecSchema.safeParse(repaired);
  if (!again.success) {
    for (const issue of again.error.issues) {
      const at = issue.path.findIndex((k) => typeof k === "number");
      if (at < 0) return [];
      remove(issue.path, at);
    }
  }
  // Original index of each entry that is left, by list path.
  const kept = new Map<string, number[]>();
  // Lists that lost an entry without an address: the derived addresses after it would move.
  const shifted = new Set<string>();
  for (const [list, indexes] of removed) {
    const arr = lookup(repaired, listPath(list));
    if (!Array.isArray(arr)) return [];
    if ([...indexes].some((i) => lookup(arr, [i, "ip"]) === undefined)) shifted.add(list);
    const keep = arr.map((_, i) => i).filter((i) => !indexes.has(i));
    const rest = keep.map((i) => arr[i]);
    arr.length = 0;
    arr.push(...rest);
    kept.set(list, keep);
  }
  if (removed.size > 0) again = LabSpecSchema.safeParse(repaired);
  if (!again.success) return [];
  const original = (text: string) =>
    text.replace(/([A-Za-z.]+)\[(\d+)\]/g, (whole, list: string, i: string) => {
      const map = kept.get(list);
      return map ? `${list}[${map[Number(i)] ?? i}]` : whole;
    });
  const { spec, derived } = resolveLabDefaults(again.data, (role) => services.get(role)?.hostOffset);
  for (const path of derived.keys()) {
    const m = /^(.*)\[\d+\]\.ip$/.exec(path);
    if (m && shifted.has(m[1])) {
      const entry = original(path.slice(0, -".ip".length));
      dropped.add(`${entry}.ip`);
      dropped.add(`${entry}.vmId`);
    }
  }
  // A problem that involves a dropped field (by its path, or a path its message names) is not reported.
  // ... and a problem about a whole list (hosts) when one of its entries was dropped.
  const droppedList = new Set([...dropped].flatMap((d) => prefixesOf(d).slice(0, -1)));
  const involvesDropped = (path: string, message: string) =>
    droppedList.has(path) ||
    [path, ...(message.match(/[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*|\[\d+\])+/g) ?? [])].some((p) =>
      prefixesOf(p).some((q) => dropped.has(q)),
    );
  return semanticProblems(spec, derived, services)
    .map((p) => ({ ...p, path: original(p.path), message: original(p.message) }))
    .filter((p) => !involvesDropped(p.path, p.message));
}

/** `a.b[2].c` → ["a", "a.b", "a.b[2]", "a.b[2].c"]: every path a dropped field could be. */
function prefixesOf(path: string): string[] {
  const out: string[] = [];
  const re = /[.[]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path))) if (m.index > 0) out.push(path.slice(0, m.index));
  out.push(path);
  return out;
}

/**
 * cdktf encodes its references inside strings as `${TfToken[TOKEN.n]}` (lists `#{…}`, maps `&{…}`)
 * and its number references as doubles whose top 16 bits are 0xFDFF (lists 0xFBFF), which it also
 * recognises written out in exponent notation inside text (about -8e298 and -1e289); it resolves every
 * such sequence at synth, wherever the string came from. So spec text that spells one would be
 * replaced by a reference (a secret variable, the kubeconfig) or crash the synth. No legitimate value
 * holds either (cdktf tokens/private/encoding: the markers and DOUBLE_*_TOKEN_MARKER_BITS).
 */
function holdsTokenSyntax(text: string): boolean {
  if (/[$#&]\{TfToken\[/.test(text)) return true;
  for (const m of text.matchAll(/[-+]?[\d.]+[eE][-+]?\d+/g)) {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, parseFloat(m[0]));
    const top = view.getUint16(0);
    if (top === 0xfdff || top === 0xfbff) return true;
  }
  return false;
}

/** One problem per string (or key) of the input that holds cdktf's token syntax ({@link holdsTokenSyntax}). */
function tokenSyntax(input: unknown): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const rule = ruleText("must not contain cdktf's token syntax", "text like ${TfToken[…]} or cdktf's encoded numbers is replaced by a reference at synth");
  const walk = (v: unknown, path: PropertyKey[]) => {
    if (typeof v === "string") {
      if (holdsTokenSyntax(v)) problems.push({ path: pathText(path) || "(spec)", value: v, message: rule });
    } else if (v !== null && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) {
        if (holdsTokenSyntax(k)) problems.push({ path: pathText([...path, k]), value: k, message: rule });
        walk(child, [...path, Array.isArray(v) ? Number(k) : k]);
      }
    }
  };
  walk(input, []);
  return problems;
}

/**
 * The path of the first value that contains itself (a YAML alias inside its own anchor, or a cyclic
 * object from code), or undefined when the input is a tree. Linear: each object is entered once.
 */
function cyclePath(input: unknown): string | undefined {
  const onPath = new Set<object>();
  const done = new Set<object>();
  const walk = (v: unknown, path: PropertyKey[]): string | undefined => {
    if (v === null || typeof v !== "object") return undefined;
    if (onPath.has(v)) return pathText(path);
    if (done.has(v)) return undefined;
    onPath.add(v);
    for (const [k, child] of Object.entries(v)) {
      const found = walk(child, [...path, Array.isArray(v) ? Number(k) : k]);
      if (found !== undefined) return found;
    }
    onPath.delete(v);
    done.add(v);
    return undefined;
  };
  return walk(input, []);
}

/** `talos.workers` → ["talos", "workers"] (list paths hold no indexes here). */
function listPath(text: string): string[] {
  return text.split(".");
}
