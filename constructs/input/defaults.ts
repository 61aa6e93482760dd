import { intToIpv4, parseCidr } from "./addressing";
import { VM_KINDS } from "./vm-kinds";
import { HostRole, HostSpec, LabSpec, ParsedLabSpec, TalosNodeSpec, ZoneSpec } from "./lab-spec";

/**
 * Defaults that follow from other fields of the spec: member addresses, the API VIP and the zones'
 * gateways from the zones' subnets, the zones' domains from their names, the registry's name from the
 * MGMT domain. A spec names a zone's subnet once; everything inside it moves along. Pure: whether a
 * derived address is usable (inside its zone, not taken) is judged by validate.ts, which knows from
 * {@link ResolvedDefaults.derived} which addresses nobody wrote.
 */

/** What a member of a zone does, for its default address: an Ubuntu host role or a Talos node kind. */
export type AddressRole = HostRole | "controlPlane" | "worker";

/**
 * Host offset (position in the zone's subnet, 0 = network address) of the first Talos node of each
 * kind whose spec gives no `ip`, from {@link VM_KINDS}; the next ones follow at +1, +2, …: the
 * reference lab's control planes .11-.13 and workers .21-.22. A service's hosts start at its
 * descriptor's `hostOffset` (registry 11, client 20, ingress 10). Consulted only by {@link defaultHostOffset}.
 */
export const DEFAULT_HOST_OFFSETS = { controlPlane: VM_KINDS.controlPlane.hostOffset, worker: VM_KINDS.worker.hostOffset } as const;

/** Base host offset of a role: a Talos node kind's, or what `serviceOffset` says of a service role. */
export type HostOffsetOf = (role: HostRole) => number | undefined;

/** Host offset of the Kubernetes API VIP in SRV when `talos.vip` is not given. */
export const DEFAULT_VIP_OFFSET = 10;

/** Host offset of pfSense in a zone whose `gateway` is not given: the first host address. */
export const DEFAULT_GATEWAY_OFFSET = 1;

/** Parent domain of a zone whose `domain` is not given: `<zone>.lab.internal`. */
export const DEFAULT_DOMAIN_SUFFIX = "lab.internal";

/**
 * Default host offset of a member: its role's base offset plus `ordinal`, its index among the members
 * of the same role in the same zone that give no `ip`. A role neither a Talos node kind nor known to
 * `serviceOffset` (a role validation rejects) starts at 0, the network address.
 */
export function defaultHostOffset(role: AddressRole, ordinal: number, serviceOffset: HostOffsetOf = () => undefined): number {
  return baseOffset(role, serviceOffset) + ordinal;
}

function baseOffset(role: AddressRole, serviceOffset: HostOffsetOf): number {
  return role === "controlPlane" || role === "worker" ? DEFAULT_HOST_OFFSETS[role] : (serviceOffset(role) ?? 0);
}

type InternalZone = "mgmt" | "dmz" | "srv" | "client";

/** An address the spec did not give: where it came from, for messages about it. */
export interface DerivedAddress {
  readonly zone: InternalZone;
  /** Position in the zone's subnet; may lie past its end (validate.ts reports that). */
  readonly offset: number;
  /** How the offset came about, e.g. `worker offset 21 + 3`. */
  readonly how: string;
}

/** A spec with its derived defaults filled in, and which addresses were derived (by spec path). */
export interface ResolvedDefaults {
  readonly spec: LabSpec;
  /** By path (`hosts[1].ip`, `talos.workers[0].ip`, `talos.vip`, `zones.mgmt.gateway`). */
  readonly derived: ReadonlyMap<string, DerivedAddress>;
}

/**
 * Fills in the derived defaults of a parsed spec. Linear in the spec's size; never throws for a spec
 * that parsed: an address past the end of its zone is still filled in (and recorded in `derived`) so
 * that validation can report it.
 */
export function resolveLabDefaults(parsed: ParsedLabSpec, serviceOffset: HostOffsetOf = () => undefined): ResolvedDefaults {
  const derived = new Map<string, DerivedAddress>();
  const nets = {
    mgmt: parseCidr(parsed.zones.mgmt.cidr),
    dmz: parseCidr(parsed.zones.dmz.cidr),
    srv: parseCidr(parsed.zones.srv.cidr),
    client: parseCidr(parsed.zones.client.cidr),
  };
  const at = (path: string, zone: InternalZone, offset: number, how: string): string => {
    derived.set(path, { zone, offset, how });
    return intToIpv4(nets[zone].network + offset);
  };

  const zone = (name: InternalZone): ZoneSpec => {
    const { bridge, vlan, cidr, ...rest } = parsed.zones[name];
    const gateway = rest.gateway ?? at(`zones.${name}.gateway`, name, DEFAULT_GATEWAY_OFFSET, "the first host address");
    const domain = rest.domain ?? `${name}.${DEFAULT_DOMAIN_SUFFIX}`;
    // Keys in the schema's order, as if the user had written them.
    return Object.assign(vlan === undefined ? { bridge, cidr, gateway, domain } : { bridge, vlan, cidr, gateway, domain }, rest, { gateway, domain });
  };
  const zones = { ...parsed.zones, mgmt: zone("mgmt"), dmz: zone("dmz"), srv: zone("srv"), client: { ...zone("client"), existing: parsed.zones.client.existing } };

  // Ordinals count the members without an ip per (zone, role), in list order.
  const ordinals = new Map<string, number>();
  const next = (key: string): number => {
    const n = ordinals.get(key) ?? 0;
    ordinals.set(key, n + 1);
    return n;
  };
  const derive = (path: string, zoneName: InternalZone, role: AddressRole): string => {
    const ordinal = next(`${zoneName}/${role}`);
    return at(path, zoneName, defaultHostOffset(role, ordinal, serviceOffset), `${role} offset ${baseOffset(role, serviceOffset)} + ${ordinal}`);
  };

  // Keys in the schema's order, as if the user had written the address.
  const hosts: HostSpec[] = parsed.hosts.map((h, i) => {
    const ip = h.ip ?? derive(`hosts[${i}].ip`, h.zone, h.role);
    return Object.assign({ name: h.name, zone: h.zone, role: h.role, ip }, h, { ip });
  });
  const talosNode = (list: "controlPlanes" | "workers", role: AddressRole) =>
    parsed.talos[list].map((n, i): TalosNodeSpec => {
      const ip = n.ip ?? derive(`talos.${list}[${i}].ip`, "srv", role);
      return Object.assign({ name: n.name, ip }, n, { ip });
    });
  const controlPlanes = talosNode("controlPlanes", "controlPlane");
  const workers = talosNode("workers", "worker");
  const vip = parsed.talos.vip ?? at("talos.vip", "srv", DEFAULT_VIP_OFFSET, `VIP offset ${DEFAULT_VIP_OFFSET}`);
  const { version, configContract, clusterName } = parsed.talos;
  const talos = Object.assign(
    configContract === undefined ? { version, clusterName, vip } : { version, configContract, clusterName, vip },
    parsed.talos,
    { vip, controlPlanes, workers },
  );

  const fqdn = parsed.registry.fqdn ?? `${parsed.registry.host}.${zones.mgmt.domain}`;
  const registry = Object.assign({ host: parsed.registry.host, fqdn }, parsed.registry, { fqdn });
  return { spec: { ...parsed, zones, hosts, talos, registry }, derived };
}
