/**
 * The Proxmox VE privileges tofu's identity needs, derived from the resource and data types the
 * stack's rendered modules use. One fact row per bpg type the lab emits; each row cites where its
 * privileges come from. A type without a row fails the synth: a new resource must come with its
 * privileges, or tofu would fail half-way through an apply with "Permission check failed".
 *
 * Sources (PVE 8.x privilege names, the ones `pveum role add` accepts there; PVE 9 replaced
 * `VM.Monitor` with `VM.GuestAgent.*` and refuses a role naming it, so a PVE 9 host needs that row
 * changed):
 * - PVE API: the "Required permissions" of each call in the API viewer,
 *   https://pve.proxmox.com/pve-docs/api-viewer/index.html (paths below are its call paths).
 * - pve-docs "User Management" (pveum.adoc, "Privileges" and "Objects and Paths"),
 *   https://pve.proxmox.com/pve-docs/chapter-pveum.html#pveum_permission_management
 * - pve-firewall `src/PVE/API2/Firewall/Cluster.pm` (the datacenter firewall options' permission checks),
 *   https://git.proxmox.com/?p=pve-firewall.git
 * - bpg/terraform-provider-proxmox docs (docs/resources/*.md; the download_file page's note on
 *   `Sys.Audit`/`Sys.Modify`), https://github.com/bpg/terraform-provider-proxmox/tree/v0.111.1/docs
 */

/** Where in Proxmox's ACL tree a privilege of a row is checked. */
export type PrivilegeScope =
  /** `/vms/<vmid>`: the lab's VMs and their VM-level firewall. */
  | "vms"
  /** `/pool/<pool>`: the lab's resource pools. */
  | "pool"
  /** `/storage`: disks, ISOs, cloud-init drives and snippets on the lab's datastores. */
  | "storage"
  /** `/nodes/<node>`: node-level network configuration and downloads onto a node. */
  | "nodes"
  /** `/sdn/zones/localnetwork/<bridge>`: attaching a NIC to a plain Linux bridge (PVE 8 checks `SDN.Use` there). */
  | "sdn"
  /**
   * `/` itself: cluster-wide objects whose API calls check the root path, such as the datacenter
   * firewall options. Granted without propagation, so it reaches `/` and nothing below it.
   */
  | "cluster";

/** One fact: the privileges a bpg resource or data type needs, where they are checked, and why. */
export interface PrivilegeFact {
  /** Privileges by the scope they are checked on. */
  readonly privileges: Readonly<Partial<Record<PrivilegeScope, readonly string[]>>>;
  /** Where the privileges come from (API calls the provider makes and their permission checks). */
  readonly source: string;
}

/**
 * Each bpg type the lab emits, with the Proxmox privileges the provider's calls for it are checked
 * against. Keys are `resource.<type>` or `data.<type>`.
 */
export const PROXMOX_PRIVILEGE_FACTS: Readonly<Record<string, PrivilegeFact>> = {
  "resource.proxmox_virtual_environment_vm": {
    privileges: {
      vms: [
        "VM.Allocate", // POST /nodes/{node}/qemu (create), DELETE /nodes/{node}/qemu/{vmid}
        "VM.Audit", // GET /nodes/{node}/qemu/{vmid}/config, /status/current (read and refresh)
        "VM.Config.CDROM", // cdrom (ISO installs)
        "VM.Config.CPU", // cpu
        "VM.Config.Cloudinit", // initialization (cloud-init drive, ip_config, user_data_file_id)
        "VM.Config.Disk", // disk, efi_disk
        "VM.Config.HWType", // bios, machine, scsi_hardware, serial_device, operating_system
        "VM.Config.Memory", // memory
        "VM.Config.Network", // network_device
        "VM.Config.Options", // name, description, tags, on_boot, startup, boot_order, agent
        "VM.Migrate", // `migrate = true`: a changed node_name migrates (POST …/qemu/{vmid}/migrate) instead of recreating
        "VM.Monitor", // GET …/qemu/{vmid}/agent/network-get-interfaces (PVE 8; the agent's addresses)
        "VM.PowerMgmt", // started, stop_on_destroy, reboot_after_update: …/status/start|stop|shutdown|reboot
      ],
      // create with `pool`: "You need 'VM.Allocate' on /vms/{vmid} or on the VM pool /pool/{pool}" and
      // adding to the pool checks Pool.Allocate on /pool/{pool}
      pool: ["Pool.Allocate"],
      // disks on a storage: Datastore.AllocateSpace; reading the ISO/import volumes and cloud-init
      // snippets the VM names: Datastore.Audit (check_volume_access)
      storage: ["Datastore.AllocateSpace", "Datastore.Audit"],
      sdn: ["SDN.Use"], // PVE 8: a NIC on bridge B needs SDN.Use on /sdn/zones/localnetwork/B
    },
    source:
      "PVE API /nodes/{node}/qemu (POST create, PUT/POST config, DELETE), …/status/*, …/migrate, …/agent/*: Required permissions; " +
      "pve-docs pveum.adoc Privileges (VM.*, SDN.Use); bpg docs resources/virtual_environment_vm.md",
  },
  "resource.proxmox_virtual_environment_pool": {
    privileges: { pool: ["Pool.Allocate", "Pool.Audit"] },
    source: "PVE API POST /pools, PUT/DELETE /pools/{poolid}: Pool.Allocate on /pool/{poolid}; GET /pools/{poolid}: Pool.Audit",
  },
  "resource.proxmox_virtual_environment_firewall_options": {
    privileges: { vms: ["VM.Audit", "VM.Config.Network"] },
    source: "PVE API GET/PUT /nodes/{node}/qemu/{vmid}/firewall/options: VM.Audit (read), VM.Config.Network (write) on /vms/{vmid}",
  },
  "resource.proxmox_virtual_environment_firewall_rules": {
    privileges: { vms: ["VM.Audit", "VM.Config.Network"] },
    source: "PVE API GET/POST/PUT/DELETE /nodes/{node}/qemu/{vmid}/firewall/rules: VM.Audit (read), VM.Config.Network (write) on /vms/{vmid}",
  },
  "resource.proxmox_virtual_environment_firewall_ipset": {
    privileges: { vms: ["VM.Audit", "VM.Config.Network"] },
    source: "PVE API /nodes/{node}/qemu/{vmid}/firewall/ipset[/{name}]: VM.Audit (read), VM.Config.Network (write) on /vms/{vmid}",
  },
  "resource.proxmox_virtual_environment_file": {
    // snippets go over SSH as the provider's ssh user (not this identity); the API part: the
    // datastore's content list and the delete
    privileges: { storage: ["Datastore.Allocate", "Datastore.AllocateTemplate", "Datastore.Audit"] },
    source:
      "PVE API GET /nodes/{node}/storage/{storage}/content: Datastore.Audit; POST …/upload: Datastore.AllocateTemplate; " +
      "DELETE …/content/{volume}: Datastore.Allocate on /storage/{storage}; bpg docs resources/virtual_environment_file.md (snippets need SSH)",
  },
  "resource.proxmox_download_file": {
    privileges: { storage: ["Datastore.Allocate", "Datastore.AllocateTemplate", "Datastore.Audit"], nodes: ["Sys.Audit", "Sys.Modify"] },
    source:
      "PVE API POST /nodes/{node}/storage/{storage}/download-url: Datastore.AllocateTemplate on /storage/{storage} and Sys.Audit, Sys.Modify on /nodes/{node} " +
      "(bpg docs resources/download_file.md says the same); GET …/content: Datastore.Audit; DELETE …/content/{volume}: Datastore.Allocate",
  },
  "resource.proxmox_virtual_environment_cluster_firewall": {
    // bpg writes the options (PUT) and reads them back (GET) on every create and update
    privileges: { cluster: ["Sys.Audit", "Sys.Modify"] },
    source:
      "pve-firewall src/PVE/API2/Firewall/Cluster.pm: set_options (PUT /cluster/firewall/options) check ['perm', '/', ['Sys.Modify']], " +
      "get_options (GET /cluster/firewall/options) check ['perm', '/', ['Sys.Audit']]; bpg proxmoxtf/resource/cluster/firewall/firewall.go " +
      "(setOptions then firewallRead) and proxmox/cluster/firewall/options.go (the two calls)",
  },
  "resource.proxmox_network_linux_bridge": {
    privileges: { nodes: ["Sys.Audit", "Sys.Modify"] },
    source: "PVE API GET /nodes/{node}/network[/{iface}]: Sys.Audit; POST/PUT/DELETE /nodes/{node}/network[/{iface}] and PUT (reload): Sys.Modify on /nodes/{node}",
  },
};

/**
 * Providers whose resources never call the Proxmox API, so need no Proxmox privileges: the Talos
 * provider talks to Talos apid and the Image Factory, Helm to the Kubernetes API, local writes files
 * where tofu runs, and `terraform_data` is terraform's own.
 */
export const NON_PROXMOX_PROVIDERS: readonly string[] = ["talos", "helm", "local", "terraform"];

/** One ACL entry of tofu's identity: the role granted on a path, and why the path. */
export interface IdentityAcl {
  /** Proxmox ACL path, e.g. `/vms` or `/pool/talos-lab-srv`. */
  readonly path: string;
  /**
   * Whether the grant reaches the paths below it. False only for `/` (the `cluster` scope): a
   * propagating grant there would hand the role to every path of the cluster and void every narrower
   * ACL (pve-access-control `src/PVE/AccessControl.pm` `roles()`: an ACL applies to a deeper path only
   * when it propagates, and to its own path always).
   */
  readonly propagate: boolean;
  /** Why the identity needs this path. */
  readonly reason: string;
}

/** What tofu's Proxmox identity needs for a stack: the role's privileges and the ACL paths. */
export interface ProxmoxIdentityNeeds {
  /** Sorted privilege names, the union of the fact rows of every type the modules use. */
  readonly privileges: readonly string[];
  /**
   * Sorted privilege names checked on `/` itself (the rows' `cluster` scope): granted on `/` by a
   * role of their own, so the lab's other privileges never reach the root path.
   */
  readonly clusterPrivileges: readonly string[];
  /** ACL paths, sorted, each with the reason. */
  readonly acls: readonly IdentityAcl[];
  /** The `resource.<type>` / `data.<type>` keys the privileges came from, sorted. */
  readonly types: readonly string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);
/** A literal string: no interpolation (a reference's value is only known at apply). */
const literal = (v: unknown): v is string => typeof v === "string" && v !== "" && !v.includes("${");

/** Every value of a key anywhere under a value (blocks nest: disk, efi_disk, initialization, …). */
function valuesOf(value: unknown, key: string, into: unknown[] = []): unknown[] {
  if (Array.isArray(value)) for (const v of value) valuesOf(v, key, into);
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) (k === key ? into.push(v) : valuesOf(v, key, into));
  return into;
}

/**
 * The Proxmox privileges and ACL paths tofu needs for the given rendered modules (the HCL-JSON of each
 * `modules/<name>/main.tf.json`), derived from the `resource` and `data` types they declare through
 * {@link PROXMOX_PRIVILEGE_FACTS}.
 *
 * ACL paths are as narrow as the literal values in the modules allow: `/pool/<pool>` per pool the
 * modules create, `/storage` for the datastores (one grant whether the spec's three datastores are one
 * name or three), `/nodes/<node>` per literal `node_name` of a type with node privileges. VMs get `/vms`: their ids
 * and the pools they join are both the stack's, but PVE checks VM.* on `/vms/<vmid>` and reaches a
 * VM through its pool's ACL only once it is a member, so a pool-only grant would not cover the create
 * and the config calls before the VM joins. SDN.Use is granted on `/sdn/zones/localnetwork` (every
 * local bridge): the bridges a VM's NIC names are references to the edge module's output, not
 * literals. A type with `cluster` privileges (the datacenter firewall: PVE checks `Sys.Modify` on `/`
 * and nothing narrower exists for it) adds `/` without propagation: the role then holds on `/` itself
 * and on no path below it, so every other grant stays as narrow as before.
 *
 * @param modules - each module's HCL-JSON by module name
 * @throws Error naming every resource or data type of a provider that reaches the Proxmox API (or of
 *   an unknown provider) that has no fact row
 */
export function proxmoxIdentityNeeds(modules: Readonly<Record<string, Json>>): ProxmoxIdentityNeeds {
  const privileges = new Set<string>();
  const clusterPrivileges = new Set<string>();
  const paths = new Map<string, { reason: string; propagate: boolean }>();
  const types = new Set<string>();
  const missing: string[] = [];
  const add = (path: string, reason: string, propagate = true) => {
    if (!paths.has(path)) paths.set(path, { reason, propagate });
  };
  for (const [moduleName, json] of Object.entries(modules).sort(([a], [b]) => a.localeCompare(b))) {
    for (const kind of ["resource", "data"] as const) {
      const block = json[kind];
      if (!isObject(block)) continue;
      for (const [type, byName] of Object.entries(block)) {
        const provider = type.split("_")[0];
        const key = `${kind}.${type}`;
        const fact = PROXMOX_PRIVILEGE_FACTS[key];
        if (!fact) {
          if (NON_PROXMOX_PROVIDERS.includes(provider)) continue;
          missing.push(`${key} (module ${moduleName})`);
          continue;
        }
        types.add(key);
        for (const list of Object.values(fact.privileges)) for (const p of list ?? []) privileges.add(p);
        const scopes = fact.privileges;
        if (scopes.vms) add("/vms", "the lab's VMs and their VM firewalls (VM.*)");
        if (scopes.sdn) add("/sdn/zones/localnetwork", "NICs on the lab's Linux bridges (SDN.Use)");
        if (scopes.cluster) {
          add("/", "cluster-wide options checked on / itself, e.g. the datacenter firewall; only these privileges, by a role of their own, not propagated", false);
          for (const p of scopes.cluster) clusterPrivileges.add(p);
        }
        const elements = isObject(byName) ? Object.values(byName) : [];
        if (scopes.pool) {
          const pools = kind === "resource" && type === "proxmox_virtual_environment_pool" ? elements.map((e) => (isObject(e) ? e.pool_id : undefined)) : valuesOf(elements, "pool_id");
          for (const p of pools) if (literal(p)) add(`/pool/${p}`, `the lab's pool ${p} (Pool.*)`);
        }
        // One grant on /storage: the spec's three datastores may be one name or three, and a grant per
        // name would make the module's shape follow whether they are equal (spec text shaping output).
        if (scopes.storage) add("/storage", "the datastores the lab names: VM disks, ISOs, snippets (Datastore.*)");
        if (scopes.nodes) {
          let any = false;
          for (const n of valuesOf(elements, "node_name")) if (literal(n)) (add(`/nodes/${n}`, `Proxmox node ${n} (Sys.Audit, Sys.Modify: bridges, downloads)`), (any = true));
          if (!any) add("/nodes", "Proxmox nodes the modules name only by reference (Sys.*)");
        }
      }
    }
  }
  if (missing.length) {
    throw new Error(
      `no Proxmox privilege fact for ${missing.sort().join(", ")}: add a row to PROXMOX_PRIVILEGE_FACTS (constructs/render/proxmox/proxmox-privileges.ts) ` +
        `with the privileges its API calls are checked against and their source, so the tofu identity can be granted them ` +
        `(or, for a provider that never calls the Proxmox API, add its name to NON_PROXMOX_PROVIDERS)`,
    );
  }
  return {
    privileges: [...privileges].sort(),
    clusterPrivileges: [...clusterPrivileges].sort(),
    acls: [...paths].sort(([a], [b]) => a.localeCompare(b)).map(([path, { reason, propagate }]) => ({ path, reason, propagate })),
    types: [...types].sort(),
  };
}
