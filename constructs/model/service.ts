import type { VmSize } from "../input/lab-spec";
import type { MinimumSize, VmKind } from "../input/vm-kinds";

export type { MinimumSize } from "../input/vm-kinds";
import type { Flow } from "./flows";
import type { HostPlan, LabModel } from "./lab-model";
import type { HostProvision } from "./host-provision";

/**
 * Services: what an Ubuntu VM of the lab is for (`hosts[].role`), each described by one
 * {@link ServiceDescriptor}. The registry, the operator's client and the DMZ ingress are descriptors
 * like any a platform team adds (a Prometheus, a bastion, a CI runner): the validation, the model,
 * the flows (and so every firewall layer), the zone modules, the cloud-init sidecars and the stack
 * README all read the lab's {@link ServiceCatalog} and nothing else about a role.
 */

/** A flow a service declares: a {@link Flow} without its origin (services are components of the lab). */
export type ServiceFlow = Omit<Flow, "origin">;

/** What a service's hooks are called with: the resolved lab and the host being rendered. */
export interface ServiceContext {
  /** The resolved lab (every VM, zone and flow endpoint). */
  readonly model: LabModel;
  /** The VM of this service the hook renders for. */
  readonly host: HostPlan;
}

/**
 * cloud-init user-data of a host, as a Terraform template: `${name}` placeholders are filled by
 * `templatefile()` at apply time from the module variables in `vars`, every other `$`/`%{` is escaped
 * (`$${`, `%%{`). See `serviceUserData` for building one on the lab's common head.
 */
export interface ServiceUserData {
  /** The template text. */
  readonly text: string;
  /** Template variable → HCL expression over module variables (`var.<name>`). */
  readonly vars: Readonly<Record<string, string>>;
}

/** A module variable a service's user-data reads (a secret or certificate the root passes in). */
export interface ServiceVariable {
  /** Terraform type constraint, e.g. `string`. */
  readonly type: string;
  /** Whether Terraform redacts it; secrets are sensitive and come only from `TF_VAR_<name>`. */
  readonly sensitive: boolean;
  /** What it holds; shown in the modules, the root and the stack README. */
  readonly description: string;
}

/**
 * One service of the lab: everything that depends on a host's role, in one value. Register it with
 * `TalosEnclave`'s `services` prop (or {@link ServiceCatalog}); hosts then name it in `hosts[].role`.
 *
 * Hooks run once per host of the role, in spec order, and must be pure (same lab, same output):
 * the tree is deterministic only if they are.
 */
export interface ServiceDescriptor extends VmKind {
  /** The role name hosts give in `hosts[].role`: lower-case letters, digits and '-', starting with a letter. */
  readonly role: string;
  /** One line saying what the service is, for errors, the JSON Schema and docs. */
  readonly summary: string;
  /** The zone its hosts live in. */
  readonly zone: "mgmt" | "dmz";
  /** Why it lives there: the hint of the error for a host put in the other zone. */
  readonly zoneReason: string;
  /** Size of a host that gives none. */
  readonly defaultSize: VmSize;
  /** The least a host may be given, with its source. */
  readonly minimumSize: MinimumSize;
  /**
   * Proxmox start order of its hosts (lower first). The lab's own: pfSense 1, registry 2, client 3,
   * ingress 4, Talos control planes 5, workers 6; a service others depend on starts before them.
   */
  readonly startupOrder: number;
  /**
   * Where in its zone's subnet the first host without an `ip` goes (0 is the network address); the
   * next ones follow at +1, +2, …. The lab's own: registry 11, client 20, ingress 10.
   */
  readonly hostOffset: number;
  /**
   * Flows this host needs and offers, ids unique in the lab: prefix them with the host name
   * (`hostFlowId(host.name, …)`), so two hosts of one role never clash.
   */
  flows?(ctx: ServiceContext): readonly ServiceFlow[];
  /** The host's cloud-init user-data. */
  userData(ctx: ServiceContext): ServiceUserData;
  /** Reviewed sidecar files besides the user-data, by path relative to the stack directory. */
  sidecars?(ctx: ServiceContext): Readonly<Record<string, string>>;
  /**
   * Module variables the user-data may read, by name (`admin_ssh_public_keys` and
   * `lab_ca_certificate` are there for every service). A zone module declares only those its hosts'
   * user-data reads; the root declares each once and passes it on.
   */
  readonly variables?: Readonly<Record<string, ServiceVariable>>;
  /** Markdown lines for the host in the stack README's "Services" section (how to reach and use it). */
  readme?(ctx: ServiceContext): readonly string[];
  /**
   * What the host gets over SSH once it boots ({@link HostProvision}): every secret it needs (a
   * sensitive variable may not reach the user-data, which is stored on the Proxmox snippet datastore)
   * and, for a DMZ host, the packages and images it may not fetch from MGMT itself. Undefined: this
   * host gets nothing (no provisioning resource, no SSH flow for one).
   */
  provision?(ctx: ServiceContext): HostProvision | undefined;
}

/** Role names: host names' shape, so a role can name files and tags. */
const ROLE = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Roles no service may take: the lab's own kinds of VM and its tags (a service tagged `controlplane`
 * would count as one to every check that reads tags), flow keywords, zones and modules.
 */
export const RESERVED_ROLES: readonly string[] = [
  "firewall", "controlplane", "worker", "talos", "pfsense", "ubuntu", "talos-enclave",
  "vip", "pods", "internet", "proxmox", "wan", "mgmt", "dmz", "srv", "edge", "platform",
];

/**
 * Module and root variables of the lab itself, which a service may not declare as its own: the
 * Proxmox connection, the state passphrase and what the edge module hands the zones.
 */
export const RESERVED_VARIABLES: readonly string[] = [
  "proxmox_endpoint", "proxmox_api_token", "proxmox_ssh_private_key", "state_passphrase", "bridges", "ubuntu_image_ids",
  "admin_ssh_public_keys", "lab_ca_certificate",
];

/** Terraform types a service variable may have: the primitive ones, and lists and maps of them. */
const VARIABLE_TYPE = /^(string|number|bool|(list|set|map)\((string|number|bool)\))$/;

/** Why a descriptor is unusable, one reason per broken field (empty when it is fine). */
export function serviceDescriptorProblems(s: ServiceDescriptor): string[] {
  const out: string[] = [];
  const role = JSON.stringify(s.role);
  if (!ROLE.test(s.role)) out.push(`service role ${role} must be a name: lower-case letters, digits and '-', starting with a letter`);
  if (RESERVED_ROLES.includes(s.role)) out.push(`service role ${role} is reserved: the lab uses it for its own VMs, tags or flow endpoints`);
  if (s.zone !== "mgmt" && s.zone !== "dmz") out.push(`service ${role}: zone must be "mgmt" or "dmz", not ${JSON.stringify(s.zone)}`);
  const whole = (what: string, n: number, min: number, max: number) => {
    if (!Number.isInteger(n) || n < min || n > max) out.push(`service ${role}: ${what} must be a whole number from ${min} to ${max}, not ${n}`);
  };
  whole("startupOrder", s.startupOrder, 1, 10000);
  whole("hostOffset", s.hostOffset, 1, 65534);
  for (const [what, size] of [["defaultSize", s.defaultSize], ["minimumSize", s.minimumSize]] as const) {
    whole(`${what}.cores`, size.cores, 1, 512);
    whole(`${what}.memoryMiB`, size.memoryMiB, 16, 16 * 1024 * 1024);
    whole(`${what}.diskGiB`, size.diskGiB, 1, 1024 * 1024);
  }
  for (const k of ["cores", "memoryMiB", "diskGiB"] as const) {
    if (s.defaultSize[k] < s.minimumSize[k]) out.push(`service ${role}: defaultSize.${k} ${s.defaultSize[k]} is below minimumSize.${k} ${s.minimumSize[k]}`);
  }
  for (const [name, v] of Object.entries(s.variables ?? {})) {
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) out.push(`service ${role}: variable ${JSON.stringify(name)} must be a Terraform identifier in lower case`);
    if (RESERVED_VARIABLES.includes(name)) out.push(`service ${role}: variable ${name} is the lab's own and cannot be a service's`);
    if (!VARIABLE_TYPE.test(v.type)) out.push(`service ${role}: variable ${name} has type ${JSON.stringify(v.type)}; use string, number, bool, or list/set/map of one of them`);
  }
  return out;
}

/**
 * The services a lab may use, by role, in registration order (which orders their flows). Built-in
 * and added services are registered the same way.
 *
 * @throws Error listing every problem of the descriptors ({@link serviceDescriptorProblems}), a role
 *   registered twice, or a variable two services declare
 */
export class ServiceCatalog {
  private readonly byRole = new Map<string, ServiceDescriptor>();

  /** @param services - descriptors, in the order their flows are listed */
  constructor(services: readonly ServiceDescriptor[]) {
    const problems: string[] = [];
    const owner = new Map<string, string>();
    for (const s of services) {
      problems.push(...serviceDescriptorProblems(s));
      if (this.byRole.has(s.role)) problems.push(`service role ${s.role} is registered twice`);
      this.byRole.set(s.role, s);
      // A variable belongs to one service: no other service's hosts get its secret.
      for (const name of Object.keys(s.variables ?? {})) {
        const first = owner.get(name);
        if (first !== undefined && first !== s.role) problems.push(`service ${s.role} declares variable ${name}, which service ${first} declares: a secret belongs to one service`);
        else owner.set(name, s.role);
      }
    }
    if (problems.length) throw new Error(`the lab's services cannot be used:\n  ${problems.join("\n  ")}`);
  }

  /** The descriptor of a role, or undefined for a role nobody registered. */
  get(role: string): ServiceDescriptor | undefined {
    return this.byRole.get(role);
  }

  /** The descriptor of a role a validated spec uses. @throws Error for an unregistered role */
  of(role: string): ServiceDescriptor {
    const s = this.byRole.get(role);
    if (!s) throw new Error(`no service is registered for role ${role}`);
    return s;
  }

  /** Registered roles, in registration order. */
  get roles(): readonly string[] {
    return [...this.byRole.keys()];
  }

  /** Registered descriptors, in registration order. */
  get all(): readonly ServiceDescriptor[] {
    return [...this.byRole.values()];
  }
}

/**
 * The module variables of the services the lab's hosts run, by name, in catalog order (a variable
 * belongs to one service: {@link ServiceCatalog} refuses two owners).
 */
export function usedServiceVariables(m: LabModel): ReadonlyMap<string, ServiceVariable> {
  const used = new Set(m.hosts.map((h) => h.role));
  const out = new Map<string, ServiceVariable>();
  for (const service of m.services.all.filter((x) => used.has(x.role))) {
    for (const [name, v] of Object.entries(service.variables ?? {})) out.set(name, v);
  }
  return out;
}
