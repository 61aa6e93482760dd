import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";

/**
 * The twin's view of a generated stack, read from its files alone: the module JSON as terraform would
 * evaluate the few references the twin needs (bridge names, node names, config patch files), the Talos
 * patches, the Calico chart and values, the cloud-init templates, pfSense's files, flows.json and
 * apply-steps.json. Nothing here imports the generator: a fault in the generator shows as a fault in
 * the files, and the twin sees the files.
 */

type Json = Record<string, unknown>;

/** One NIC of a VM, as the bpg provider's `network_device` block gives it. */
export interface TwinNic {
  readonly index: number;
  /** Bridge name on the VM's Proxmox node (references resolved). */
  readonly bridge: string;
  readonly vlan?: number;
  /** Whether the Proxmox VM firewall acts on this NIC. */
  readonly firewall: boolean;
}

/** One Proxmox VM firewall rule (`proxmox_virtual_environment_firewall_rules`). */
export interface PveRule {
  readonly type: "in" | "out";
  readonly action: "ACCEPT" | "DROP" | "REJECT";
  readonly proto?: string;
  readonly dport?: string;
  readonly sport?: string;
  readonly source?: string;
  readonly dest?: string;
  readonly enabled: boolean;
  readonly comment?: string;
}

/** A VM of the stack. */
export interface TwinVm {
  readonly name: string;
  /** `edge`, `mgmt`, `dmz`, `srv`. */
  readonly module: string;
  readonly node: string;
  /** The role tag (`firewall`, `registry`, `client`, `ingress`, `controlplane`, `worker`, …). */
  readonly role: string;
  /** The zone tag (`edge`, `mgmt`, `dmz`, `srv`). */
  readonly zone: string;
  readonly os: "pfsense" | "ubuntu" | "talos";
  readonly nics: readonly TwinNic[];
  /** Interface name the guest gives its first NIC (Talos LinkConfig name, `eth0` for Ubuntu cloud-init). */
  readonly ifname: string;
  /** `10.0.0.11/24`, from Talos LinkConfig or the cloud-init ip_config. */
  readonly address?: string;
  readonly gateway?: string;
  /** Extra routes the guest configures (cloud-init networkd drop-ins). */
  readonly routes: readonly { readonly to: string; readonly via: string }[];
  /** nftables files the guest loads (cloud-init write_files). */
  readonly nftFiles: readonly { readonly path: string; readonly text: string }[];
  /** Proxmox VM firewall: options and rules, when the module declares them. */
  readonly pveFirewall?: {
    readonly enabled: boolean;
    readonly inputPolicy: string;
    readonly outputPolicy: string;
    readonly rules: readonly PveRule[];
    /** The VM's IP sets by name: subnets, and the exceptions (`nomatch`) inside them. */
    readonly ipsets: ReadonlyMap<string, { readonly match: readonly string[]; readonly nomatch: readonly string[] }>;
  };
  /** Talos machine config documents applied to this node (Talos VMs only). */
  readonly talosDocs: readonly Json[];
}

/** A Linux bridge the edge module manages on a Proxmox node. */
export interface TwinBridge {
  readonly node: string;
  readonly name: string;
  readonly ports: readonly string[];
  readonly vlanAware: boolean;
  /** Space-separated VLAN ids or ranges the bridge carries (`vids`), when set. */
  readonly vids?: string;
}

/** One connection of an apply step. */
export interface StepConnection {
  readonly from: string;
  readonly to: string;
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  readonly why: string;
  readonly flow?: string;
}

/** One step of apply-steps.json. */
export interface Step {
  readonly id: string;
  readonly title: string;
  readonly where: string;
  readonly host?: string;
  readonly manual: boolean;
  readonly commands: readonly string[];
  readonly connections: readonly StepConnection[];
}

/** A flow of flows.json. */
export interface StackFlow {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly protocol: "tcp" | "udp" | "icmp";
  readonly ports: readonly (number | string)[];
  readonly notFilteredBecause: string | null;
}

/** Calico's BGP resources and IP pool, as the charts give them. */
export interface CalicoSettings {
  readonly asNumber: number;
  readonly mesh: boolean;
  readonly peers: readonly { readonly name: string; readonly peerIP: string; readonly asNumber: number; readonly allowLocalAs?: number; readonly keepNextHop: boolean; readonly node?: string; readonly nodeSelector?: string }[];
  readonly pool: { readonly cidr: string; readonly blockSize: number; readonly encapsulation: string };
}

/**
 * The runbook of a tree without apply-steps.json (written before the apply was data), as its README
 * gave it: edge, pfSense installed and the restore areas and FRR imported, MGMT, then SRV with the
 * platform, then DMZ; no connection is listed, so none is replayed.
 */
const LEGACY_STEPS: Step[] = [
  { id: "edge", title: "edge", where: "outside", manual: false, commands: ["tofu apply -target=module.edge"], connections: [] },
  { id: "pfsense-install", title: "install pfSense", where: "pfsense-console", manual: true, commands: ["assign interfaces"], connections: [] },
  { id: "pfsense-import", title: "import", where: "pfsense-console", manual: true, commands: ["restore aliases.xml, filter.xml, nat.xml", "paste frr.conf"], connections: [] },
  { id: "mgmt", title: "mgmt", where: "outside", manual: false, commands: ["tofu apply -target=module.mgmt"], connections: [] },
  { id: "cluster", title: "cluster", where: "outside", manual: false, commands: ["tofu apply -target=module.srv -target=module.platform"], connections: [] },
  { id: "dmz", title: "dmz", where: "outside", manual: false, commands: ["tofu apply"], connections: [] },
];

/** One host tofu provisions over SSH (`terraform_data` with a `local-exec` of the provisioning script). */
export interface TwinProvision {
  readonly module: string;
  /** The VM whose address TE_HOST names (the address itself when no VM has it). */
  readonly host: string;
  /** SSH goes through a jump host (TE_JUMP set): a Proxmox node. */
  readonly jump: boolean;
  /** Host names of the registries the images come from (their first DNS label). */
  readonly imageRegistries: readonly string[];
  /** Packages are downloaded where tofu runs (TE_PACKAGES set). */
  readonly packages: boolean;
  /**
   * The API servers the provisioning mints service account tokens at (each TE_TOKENS entry's SERVER),
   * as step endpoints: `vip` for the control planes' Layer2VIPConfig address, else the VM with that
   * address, else the address; with their ports.
   */
  readonly kubernetesApis: readonly { readonly to: string; readonly port: number }[];
}

/**
 * One preparation of a Proxmox node that tofu runs where it runs (`terraform_data` whose `local-exec`
 * runs a script of the stack with TE_NODE in its environment): the twin runs that script as it is,
 * with its `ssh` reaching the node's namespace.
 */
export interface TwinPreparation {
  readonly module: string;
  /** The resource's name (`<node>-prepare`). */
  readonly key: string;
  /** The twin's Proxmox node it prepares: the resource's `<node>-prepare` key, else TE_NODE. */
  readonly node: string;
  /** The script the command runs, relative to the stack (`bash ${path.root}/<script>`). */
  readonly script: string;
  /**
   * Its environment as the module writes it: literals (`$${` unescaped), and each whole
   * `${var.<name>}` as `{ variable: name }`, which the operator sets (the twin fills them).
   */
  readonly environment: Readonly<Record<string, string | { readonly variable: string }>>;
}

/** One gate: tofu asks a service over HTTPS until it answers, where tofu runs. */
export interface TwinGate {
  readonly module: string;
  /** The URL asked (TE_GATE_URL). */
  readonly url: string;
  /** Step endpoint of its host. */
  readonly to: string;
  readonly port: number;
}

/**
 * A root `terraform_data` that hands the stack to a host over SSH (its `local-exec` environment names
 * TE_HANDOFF_HOST): the tofu apply that creates it connects to that host, directly or through a jump
 * host (TE_HANDOFF_JUMP).
 */
export interface TwinHandoff {
  /** Its address in the root module, `terraform_data.<name>`, as `-target=` names it. */
  readonly address: string;
  /** The VM whose address TE_HANDOFF_HOST names (the address itself when no VM has it). */
  readonly host: string;
  /** SSH goes through a jump host (TE_HANDOFF_JUMP set): a Proxmox node. */
  readonly jump: boolean;
  /**
   * The root variable its `count = var.<guard> ? 1 : 0` reads, with that variable's default; absent
   * when the resource has no such count (it is always planned).
   */
  readonly guard?: { readonly variable: string; readonly default: boolean };
  /**
   * The file, relative to the home on the host, into which the hand-off's script writes
   * `TF_VAR_<guard>=false` (read from the script itself): a step that sources it there has the
   * hand-off switched off.
   */
  readonly guardFile?: string;
}

/**
 * A `terraform_data` that mirrors images into the lab registry where tofu runs (its `local-exec`
 * environment names LAB_COSIGN_KEY, the signing key): it reads the upstream registries on the
 * internet and pushes into the registry its script names (`HARBOR=`).
 */
export interface TwinImageMirror {
  readonly module: string;
  /** Step endpoint of the registry it pushes to (the VM named by the host's first label, else the host). */
  readonly registry: string;
  readonly port: number;
}

/** Everything the twin reads. */
export interface TwinStack {
  readonly dir: string;
  /** Resource types each module declares, by module name. */
  readonly moduleTypes: Readonly<Record<string, readonly string[]>>;
  /**
   * The modules that switch the Proxmox datacenter firewall on: those declaring a
   * `proxmox_virtual_environment_cluster_firewall` whose `enabled` is true (bpg sends an unset
   * `enabled` as false, so only an explicit true counts), sorted.
   */
  readonly datacenterFirewallModules: readonly string[];
  /** The Image Factory the Talos provider talks to (its `image_factory_url`). */
  readonly imageFactory?: URL;
  /** Chart repositories Helm releases pull from (OCI ones as https URLs). */
  readonly chartRepositories: readonly URL[];
  /**
   * What tofu's host provisioning connects to where tofu runs, read from each module's `local-exec`
   * environment (TE_HOST, TE_JUMP, TE_IMAGES, TE_PACKAGES, TE_TOKENS): SSH to the host, directly or
   * through the jump host; the registry of each image; the package archive; the API server each
   * service account token is minted at.
   */
  readonly provisions: readonly TwinProvision[];
  /**
   * tofu's preparations of the Proxmox nodes (route, hosts lines, trust), read from each module's
   * `terraform_data` whose `local-exec` environment names TE_NODE, with the script they run.
   */
  readonly preparations: readonly TwinPreparation[];
  /**
   * What tofu's gates ask where tofu runs before it goes on (a `terraform_data` whose `local-exec`
   * environment names TE_GATE_URL): the endpoint (`vip` for the control planes' Layer2VIPConfig
   * address, else the VM with that address or that first DNS label, else the host) and port.
   */
  readonly gates: readonly TwinGate[];
  /** The root module's hand-offs to the runner. */
  readonly handoffs: readonly TwinHandoff[];
  /** The image mirrors tofu runs, by module. */
  readonly imageMirrors: readonly TwinImageMirror[];
  /** The tree has no apply-steps.json; the twin replays the legacy runbook. */
  readonly stepsMissing: boolean;
  readonly lab: string;
  readonly vms: readonly TwinVm[];
  readonly bridges: readonly TwinBridge[];
  /** Proxmox node names, sorted. */
  readonly nodes: readonly string[];
  readonly steps: readonly Step[];
  readonly runner: string;
  readonly flows: readonly StackFlow[];
  readonly calico: CalicoSettings;
  readonly podSubnets: readonly string[];
  readonly serviceSubnets: readonly string[];
  /** The demo's container ports (charts/demo). */
  readonly demoPorts: readonly number[];
  /**
   * pfSense's files; `rules` is RULES.md, whose interface table gives the address the operator assigns
   * on an interface no VM of the lab sits behind (the client LAN).
   */
  readonly pfsense: { readonly aliases: string; readonly filter: string; readonly nat: string; readonly frr: string; readonly playback?: string; readonly unbound?: string; readonly rules?: string };
}

/** Thrown when the stack has something the twin does not model: it says what and where. */
export class TwinReadError extends Error {}

/** A JSON file of the stack; a missing or malformed one is a TwinReadError naming the file. */
function readJson(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new TwinReadError(`${path}: missing (is this a synthesized stack?)`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Json;
  } catch (e) {
    throw new TwinReadError(`${path}: ${(e as Error).message}`);
  }
}

/** A text file of the stack; a missing one is a TwinReadError naming it. */
function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    throw new TwinReadError(`${path}: missing (is this a synthesized stack?)`);
  }
}

function arrayOf<T>(v: unknown, where: string): T[] {
  if (!Array.isArray(v)) throw new TwinReadError(`${where}: expected a list`);
  return v as T[];
}

function obj(v: unknown, where: string): Json {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new TwinReadError(`${where}: expected an object`);
  return v as Json;
}

/**
 * The few terraform references the twin evaluates: `${<type>.<name>.<attr>}` within a module,
 * `${var.<name>[...]...}` through the root's module call, and `${module.<m>.<output>}` in the root.
 */
class Evaluator {
  private readonly modules = new Map<string, Json>();
  constructor(
    private readonly root: Json,
    private readonly stackDir: string,
  ) {}

  module(name: string): Json {
    let m = this.modules.get(name);
    if (!m) {
      const call = obj(obj(this.root.module, "cdk.tf.json module")[name], `module ${name}`);
      const source = String(call.source);
      m = readJson(join(this.stackDir, source, "main.tf.json"));
      this.modules.set(name, m);
    }
    return m;
  }

  /** Evaluates a string that is either a literal or exactly one `${…}` reference, inside `module`. */
  value(text: unknown, module: string, where: string): unknown {
    if (typeof text !== "string") return text;
    const m = /^\$\{([^{}]+)\}$/.exec(text);
    if (!m) {
      if (text.includes("${")) throw new TwinReadError(`${where}: the twin evaluates plain references only, not ${text}`);
      return text;
    }
    return this.reference(m[1], module, where);
  }

  private reference(ref: string, module: string, where: string): unknown {
    const path = parsePath(ref, where);
    const [head, ...rest] = path;
    if (head === "var") {
      const [name, ...index] = rest;
      const call = obj(obj(this.root.module, "module")[module], `module ${module}`);
      const passed = this.value(call[name], "", `${where} (module ${module} input ${name})`);
      return dig(passed, index, where);
    }
    if (head === "module") {
      const [name, output, ...index] = rest;
      const outputs = obj(this.module(name).output, `module ${name} outputs`);
      const value = obj(outputs[output], `module ${name} output ${output}`).value;
      return this.deep(dig(value, index, where), name, where);
    }
    const [name, attr, ...index] = rest;
    const resources = obj(this.module(module).resource, `module ${module} resources`);
    const byName = obj(resources[head], `module ${module} resource type ${head}`);
    const res = obj(byName[name], `${head}.${name}`);
    return this.value(dig(res[attr], index, where), module, where);
  }

  /** Evaluates references inside maps and lists (module outputs), in the module that defines them. */
  private deep(v: unknown, module: string, where: string): unknown {
    if (typeof v === "string") return this.value(v, module, where);
    if (Array.isArray(v)) return v.map((x) => this.deep(x, module, where));
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.deep(x, module, where)]));
    return v;
  }
}

/** `var.bridges["pve"]["srv"]` → `["var", "bridges", "pve", "srv"]`. */
function parsePath(ref: string, where: string): string[] {
  const out: string[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_-]*)|\["([^"\]]*)"\]|\.|\[(\d+)\]/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < ref.length && (m = re.exec(ref))) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(m[2]);
    else if (m[3] !== undefined) out.push(m[3]);
    at = re.lastIndex;
  }
  if (at !== ref.length) throw new TwinReadError(`${where}: cannot read the reference ${ref}`);
  return out;
}

function dig(v: unknown, index: readonly string[], where: string): unknown {
  let cur = v;
  for (const k of index) {
    if (cur === null || typeof cur !== "object") throw new TwinReadError(`${where}: nothing at ${k}`);
    cur = (cur as Json)[k];
  }
  return cur;
}

/** The files a `${file("${path.root}/X")}` or `${templatefile(...)}` patch names, relative to the stack. */
function patchFile(expr: string): { path: string; template: boolean } | undefined {
  const m = /^\$\{(file|templatefile)\("\$\{path\.root\}\/([^"]+)"/.exec(expr);
  return m ? { path: m[2], template: m[1] === "templatefile" } : undefined;
}

function yamlDocs(text: string, where: string): Json[] {
  const docs = parseAllDocuments(text);
  const out: Json[] = [];
  for (const d of docs) {
    if (d.errors.length) throw new TwinReadError(`${where}: ${d.errors[0].message}`);
    const v = d.toJSON() as Json | null;
    if (v) out.push(v);
  }
  return out;
}

/**
 * Fills a user-data template as templatefile() would, with placeholder values: every `${name}` becomes
 * a JSON string (the templates jsonencode what they insert), `$${` and `%%{` are the escapes.
 */
function fillTemplate(text: string, where: string): string {
  if (/(?<!%)%\{/.test(text)) throw new TwinReadError(`${where}: template directives (%{…}) are not modelled`);
  return text.replace(/\$\$\{|\$\{([^}]*)\}/g, (all, name: string | undefined) => (all === "$${" ? "${" : JSON.stringify(`twin-${name}`))).replace(/%%\{/g, "%{");
}

function readTalosDocs(stackDir: string, ev: Evaluator, srv: Json, name: string): Json[] {
  const applies = obj(obj(srv.resource, "srv resources").talos_machine_configuration_apply ?? {}, "config applies");
  const apply = applies[name] as Json | undefined;
  if (!apply) return [];
  const where = `talos_machine_configuration_apply.${name}`;
  const input = String(apply.machine_configuration_input ?? "");
  const m = /^\$\{data\.talos_machine_configuration\.([A-Za-z0-9_-]+)\.machine_configuration\}$/.exec(input);
  if (!m) throw new TwinReadError(`${where}: machine_configuration_input ${input} is not a data source the twin reads`);
  const data = obj(obj(obj(srv.data, "srv data").talos_machine_configuration, "configs")[m[1]], `config ${m[1]}`);
  const patches = [...((data.config_patches as string[]) ?? []), ...((apply.config_patches as string[]) ?? [])];
  const docs: Json[] = [];
  for (const p of patches) {
    const f = patchFile(p);
    if (!f) throw new TwinReadError(`${where}: config patch ${p.slice(0, 80)} is not a file the twin reads`);
    if (f.template) continue; // registry TLS: certificates only
    docs.push(...yamlDocs(readText(join(stackDir, f.path)), f.path));
  }
  void ev;
  return docs;
}

function talosLink(docs: readonly Json[], name: string): { ifname: string; address?: string; gateway?: string } {
  const links = docs.filter((d) => d.kind === "LinkConfig");
  if (links.length !== 1) throw new TwinReadError(`${name}: expected one LinkConfig, found ${links.length}`);
  const l = links[0];
  const addresses = (l.addresses as Json[] | undefined) ?? [];
  const routes = (l.routes as Json[] | undefined) ?? [];
  const gw = routes.find((r) => r.destination === undefined || r.destination === "0.0.0.0/0");
  return { ifname: String(l.name), address: addresses[0] ? String(addresses[0].address) : undefined, gateway: gw ? String(gw.gateway) : undefined };
}

function readUserData(stackDir: string, ev: Evaluator, module: string, vm: Json, name: string): { routes: { to: string; via: string }[]; nftFiles: { path: string; text: string }[] } {
  const init = vm.initialization as Json | undefined;
  const ref = init?.user_data_file_id;
  if (typeof ref !== "string") return { routes: [], nftFiles: [] };
  const m = /^\$\{proxmox_virtual_environment_file\.([A-Za-z0-9_-]+)\.id\}$/.exec(ref);
  if (!m) throw new TwinReadError(`${name}: user_data_file_id ${ref} is not a file resource`);
  const file = obj(obj(obj(ev.module(module).resource, "resources").proxmox_virtual_environment_file, "files")[m[1]], m[1]);
  const data = String(obj(file.source_raw, `${m[1]} source_raw`).data);
  const f = patchFile(data);
  if (!f) throw new TwinReadError(`${name}: user data ${data.slice(0, 80)} is not a template file`);
  const doc = parseYaml(fillTemplate(readText(join(stackDir, f.path)), f.path)) as Json;
  const routes: { to: string; via: string }[] = [];
  const nftFiles: { path: string; text: string }[] = [];
  for (const w of (doc.write_files as Json[] | undefined) ?? []) {
    const path = String(w.path);
    const content = String(w.content ?? "");
    if (/^\/etc\/systemd\/network\/.*\.network\.d\/.*\.conf$/.test(path)) {
      for (const sec of content.split(/^\[/m).slice(1)) {
        if (!sec.startsWith("Route]")) continue;
        const to = /^Destination=(.+)$/m.exec(sec)?.[1].trim();
        const via = /^Gateway=(.+)$/m.exec(sec)?.[1].trim();
        if (to && via) routes.push({ to, via });
      }
    }
    if (path.endsWith(".nft")) nftFiles.push({ path, text: content });
  }
  return { routes, nftFiles };
}

function readPveFirewall(ev: Evaluator, module: string, name: string): TwinVm["pveFirewall"] {
  const resources = obj(ev.module(module).resource, "resources");
  const options = (resources.proxmox_virtual_environment_firewall_options as Json | undefined)?.[name] as Json | undefined;
  const rules = (resources.proxmox_virtual_environment_firewall_rules as Json | undefined)?.[name] as Json | undefined;
  if (!options && !rules) return undefined;
  const list = ((rules?.rule as Json[] | undefined) ?? []).map((r, i): PveRule => {
    for (const k of Object.keys(r)) {
      if (!["type", "action", "proto", "dport", "sport", "source", "dest", "enabled", "comment"].includes(k)) {
        throw new TwinReadError(`${name} firewall rule ${i + 1}: the twin does not model ${k}`);
      }
    }
    return {
      type: r.type === "out" ? "out" : "in",
      action: String(r.action) as PveRule["action"],
      proto: r.proto as string | undefined,
      dport: r.dport as string | undefined,
      sport: r.sport as string | undefined,
      source: r.source as string | undefined,
      dest: r.dest as string | undefined,
      enabled: r.enabled !== false,
      comment: r.comment as string | undefined,
    };
  });
  const ipsets = new Map<string, { match: string[]; nomatch: string[] }>();
  for (const [id, v] of Object.entries((resources.proxmox_virtual_environment_firewall_ipset ?? {}) as Json)) {
    const set = v as Json;
    if (set.vm_id !== `\${proxmox_virtual_environment_vm.${name}.vm_id}`) continue;
    const entries = (set.cidr as Json[] | undefined) ?? [];
    ipsets.set(String(set.name ?? id), {
      match: entries.filter((c) => c.nomatch !== true).map((c) => String(c.name)),
      nomatch: entries.filter((c) => c.nomatch === true).map((c) => String(c.name)),
    });
  }
  return {
    // Proxmox's VM firewall is off unless its options enable it (pve-firewall `enable` default 0;
    // bpg's firewall_options `enabled` default false): rules without options filter nothing.
    enabled: options?.enabled === true,
    inputPolicy: String(options?.input_policy ?? "DROP"),
    outputPolicy: String(options?.output_policy ?? "ACCEPT"),
    rules: list,
    ipsets,
  };
}

function readCalico(stackDir: string, platform: Json): CalicoSettings {
  const releases = obj(obj(platform.resource, "platform resources").helm_release, "helm releases");
  let asNumber = 64512;
  let mesh = true;
  const peers: CalicoSettings["peers"][number][] = [];
  let pool: CalicoSettings["pool"] | undefined;
  for (const [name, r] of Object.entries(releases)) {
    const rel = r as Json;
    const chart = String(rel.chart);
    const local = /^\$\{path\.root\}\/(.+)$/.exec(chart);
    if (local) {
      const dir = join(stackDir, local[1], "templates");
      for (const f of readdirSync(dir).sort()) {
        if (/\{\{/.test(readText(join(dir, f)))) throw new TwinReadError(`${local[1]}/templates/${f}: Helm templating is not modelled`);
        for (const d of yamlDocs(readText(join(dir, f)), `${local[1]}/templates/${f}`)) {
          const spec = (d.spec ?? {}) as Json;
          if (d.kind === "BGPConfiguration" && (d.metadata as Json)?.name === "default") {
            if (spec.asNumber !== undefined) asNumber = Number(spec.asNumber);
            if (spec.nodeToNodeMeshEnabled !== undefined) mesh = spec.nodeToNodeMeshEnabled === true;
          }
          if (d.kind === "BGPPeer") {
            peers.push({
              name: String((d.metadata as Json)?.name),
              peerIP: String(spec.peerIP),
              asNumber: Number(spec.asNumber),
              allowLocalAs: spec.numAllowedLocalASNumbers === undefined ? undefined : Number(spec.numAllowedLocalASNumbers),
              keepNextHop: spec.keepOriginalNextHop === true || spec.nextHopMode === "Keep",
              node: spec.node as string | undefined,
              nodeSelector: spec.nodeSelector as string | undefined,
            });
          }
        }
      }
    }
    for (const v of (rel.values as string[] | undefined) ?? []) {
      const f = patchFile(v);
      if (!f) continue;
      const values = parseYaml(readText(join(stackDir, f.path))) as Json;
      const pools = (((values.installation as Json | undefined)?.calicoNetwork as Json | undefined)?.ipPools as Json[] | undefined) ?? [];
      if (pools.length) {
        if (pools.length > 1) throw new TwinReadError(`${f.path}: the twin models one IP pool`);
        pool = { cidr: String(pools[0].cidr), blockSize: Number(pools[0].blockSize ?? 26), encapsulation: String(pools[0].encapsulation ?? "IPIP") };
        // The twin routes pod blocks natively over BGP: an encapsulated pool, or one whose routes are
        // not exported, is a different network it does not model (and pfSense would learn no blocks).
        if (pool.encapsulation !== "None") throw new TwinReadError(`${f.path}: IP pool encapsulation ${pool.encapsulation} is not modelled (native BGP routing only)`);
        if (pools[0].disableBGPExport === true) throw new TwinReadError(`${f.path}: the IP pool's disableBGPExport stops its blocks reaching pfSense`);
      }
    }
    void name;
  }
  if (!pool) throw new TwinReadError("no Calico IP pool in the platform's chart values");
  return { asNumber, mesh, peers, pool };
}

function readDemoPorts(stackDir: string): number[] {
  const dir = join(stackDir, "charts", "demo", "templates");
  if (!existsSync(dir)) return [];
  const ports: number[] = [];
  for (const f of readdirSync(dir).sort()) {
    for (const d of yamlDocs(readText(join(dir, f)), f)) {
      if (d.kind !== "Deployment") continue;
      const containers = ((((d.spec as Json)?.template as Json)?.spec as Json)?.containers as Json[]) ?? [];
      for (const c of containers) for (const p of (c.ports as Json[]) ?? []) ports.push(Number(p.containerPort));
    }
  }
  return ports;
}

/** Reads the stack at `stackDir` (the folder with cdk.tf.json). */
export function readStack(stackDir: string): TwinStack {
  const root = readJson(join(stackDir, "cdk.tf.json"));
  const ev = new Evaluator(root, stackDir);
  const moduleNames = Object.keys(obj(root.module, "cdk.tf.json module"));
  const vms: TwinVm[] = [];
  const bridges: TwinBridge[] = [];
  const srv = moduleNames.includes("srv") ? ev.module("srv") : {};
  for (const module of moduleNames) {
    const mod = ev.module(module);
    const resources = (mod.resource ?? {}) as Json;
    for (const [id, b] of Object.entries((resources.proxmox_network_linux_bridge ?? {}) as Json)) {
      const br = b as Json;
      const where = `${module}: proxmox_network_linux_bridge.${id}`;
      bridges.push({
        node: String(ev.value(br.node_name, module, where)),
        name: String(ev.value(br.name, module, where)),
        ports: ((br.ports as string[] | undefined) ?? []).map((p) => String(ev.value(p, module, where))),
        vlanAware: br.vlan_aware === true,
        vids: br.vids === undefined || br.vids === null ? undefined : String(br.vids),
      });
    }
    for (const [id, v] of Object.entries((resources.proxmox_virtual_environment_vm ?? {}) as Json)) {
      const vm = v as Json;
      const where = `${module}: proxmox_virtual_environment_vm.${id}`;
      const name = String(ev.value(vm.name, module, where));
      const node = String(ev.value(vm.node_name, module, where));
      const tags = ((vm.tags as string[]) ?? []).map(String);
      const role = tags[3] ?? "";
      const zone = tags[2] ?? module;
      const os = role === "firewall" ? "pfsense" : role === "controlplane" || role === "worker" ? "talos" : "ubuntu";
      const nics = ((vm.network_device as Json[]) ?? []).map(
        (n, index): TwinNic => ({
          index,
          bridge: String(ev.value(n.bridge, module, `${where} NIC ${index}`)),
          vlan: n.vlan_id === null || n.vlan_id === undefined ? undefined : Number(n.vlan_id),
          firewall: n.firewall === true,
        }),
      );
      const talosDocs = os === "talos" ? readTalosDocs(stackDir, ev, srv, id) : [];
      let ifname = "eth0";
      let address: string | undefined;
      let gateway: string | undefined;
      if (os === "talos") {
        ({ ifname, address, gateway } = talosLink(talosDocs, name));
      } else if (os === "ubuntu") {
        const ipv4 = (((vm.initialization as Json | undefined)?.ip_config as Json[] | undefined)?.[0]?.ipv4 ?? {}) as Json;
        address = ipv4.address as string | undefined;
        gateway = ipv4.gateway as string | undefined;
      }
      const ud = os === "ubuntu" ? readUserData(stackDir, ev, module, vm, name) : { routes: [], nftFiles: [] };
      vms.push({ name, module, node, role, zone, os, nics, ifname, address, gateway, routes: ud.routes, nftFiles: ud.nftFiles, pveFirewall: readPveFirewall(ev, module, id), talosDocs });
    }
  }
  vms.sort((a, b) => a.name.localeCompare(b.name));
  const nodes = [...new Set([...vms.map((v) => v.node), ...bridges.map((b) => b.node)])].sort();
  const stepsFile = join(stackDir, "apply-steps.json");
  const applySteps = existsSync(stepsFile)
    ? (readJson(stepsFile) as unknown as { lab: string; runner: string; steps: Step[] })
    : { lab: basename(stackDir), runner: vms.find((v) => v.role === "client")?.name ?? "", steps: LEGACY_STEPS, missing: true };
  arrayOf<Step>(applySteps.steps, "apply-steps.json steps").forEach((st, i) => arrayOf(st.connections, `apply-steps.json steps[${i}].connections`));
  const flows = arrayOf<StackFlow>(readJson(join(stackDir, "flows.json")).flows, "flows.json flows");
  const moduleTypes = Object.fromEntries(moduleNames.map((m) => [m, Object.keys((ev.module(m).resource ?? {}) as Json).sort()]));
  const datacenterFirewallModules = moduleNames
    .filter((m) =>
      Object.entries((((ev.module(m).resource ?? {}) as Json).proxmox_virtual_environment_cluster_firewall ?? {}) as Json).some(
        ([id, r]) => ev.value((r as Json).enabled, m, `${m}: proxmox_virtual_environment_cluster_firewall.${id} enabled`) === true,
      ),
    )
    .sort();
  const factoryUrl = ((root.provider as Json | undefined)?.talos as Json[] | undefined)?.[0]?.image_factory_url;
  const chartRepositories = moduleNames.flatMap((m) =>
    Object.values(((ev.module(m).resource ?? {}) as Json).helm_release ?? {})
      .map((r) => (r as Json).repository)
      .filter((u): u is string => typeof u === "string" && /^(oci|https):\/\//.test(u))
      .map((u) => new URL(u.replace(/^oci:/, "https:"))),
  );
  // the control planes' shared address, from their Talos documents
  const vipAddresses = new Set(vms.flatMap((v) => v.talosDocs.filter((d) => d.kind === "Layer2VIPConfig").map((d) => String(d.name))));
  const provisions: TwinProvision[] = moduleNames.flatMap((m) =>
    Object.values((((ev.module(m).resource ?? {}) as Json).terraform_data ?? {}) as Json).flatMap((r) => {
      const steps = ([] as Json[]).concat(((r as Json).provisioner ?? []) as Json[]);
      return steps
        .map((p) => (p as Json)["local-exec"] as Json | undefined)
        .filter((x): x is Json => !!x && typeof (x.environment as Json | undefined)?.TE_HOST === "string")
        .map((x) => {
          const env = x.environment as Record<string, string>;
          const words = (v: unknown) => String(v ?? "").split(/\s+/).filter(Boolean);
          const vm = vms.find((v) => v.address?.split("/")[0] === env.TE_HOST);
          // NAMESPACE/SERVICEACCOUNT:HOURS:PATH:MODE:USER:GROUP:SERVER, the server last (it has colons)
          const kubernetesApis = words(env.TE_TOKENS).map((e) => {
            const url = new URL(e.split(":").slice(6).join(":"));
            const host = url.hostname;
            const to = vipAddresses.has(host) ? "vip" : (vms.find((v) => v.address?.split("/")[0] === host)?.name ?? host);
            return { to, port: Number(url.port || 443) };
          });
          return { module: m, host: vm?.name ?? env.TE_HOST, jump: words(env.TE_JUMP).length > 0, imageRegistries: [...new Set(words(env.TE_IMAGES).map((i) => i.split("/")[0].split(":")[0].split(".")[0]))], packages: words(env.TE_PACKAGES).length > 0, kubernetesApis };
        });
    }),
  );
  const preparations: TwinPreparation[] = moduleNames.flatMap((m) =>
    Object.entries((((ev.module(m).resource ?? {}) as Json).terraform_data ?? {}) as Json).flatMap(([key, r]) =>
      ([] as Json[])
        .concat(((r as Json).provisioner ?? []) as Json[])
        .map((p) => (p as Json)["local-exec"] as Json | undefined)
        .filter((x): x is Json => !!x && typeof (x.environment as Json | undefined)?.TE_NODE === "string")
        .map((x) => {
          const command = String(x.command ?? "");
          const script = /^bash \$\{path\.root\}\/([A-Za-z0-9._\/-]+)$/.exec(command)?.[1];
          if (!script || script.split("/").includes("..")) throw new TwinReadError(`${m}: terraform_data.${key} runs ${JSON.stringify(command)}, not bash \${path.root}/<a script of the stack>`);
          const environment = Object.fromEntries(
            Object.entries(x.environment as Record<string, unknown>).map(([k, v]) => {
              const ref = /^\$\{var\.([a-z0-9_]+)\}$/.exec(String(v));
              if (ref) return [k, { variable: ref[1] }];
              if (/(?<!\$)\$\{/.test(String(v))) throw new TwinReadError(`${m}: terraform_data.${key} ${k} is an expression the twin does not evaluate: ${String(v)}`);
              return [k, String(v).replace(/\$\$\{/g, "${")];
            }),
          );
          const named = key.endsWith("-prepare") ? key.slice(0, -"-prepare".length) : undefined;
          const teNode = environment.TE_NODE;
          const node = named && nodes.includes(named) ? named : typeof teNode === "string" ? teNode : key;
          return { module: m, key, node, script, environment };
        }),
    ),
  );
  const gates: TwinGate[] = moduleNames.flatMap((m) =>
    Object.values((((ev.module(m).resource ?? {}) as Json).terraform_data ?? {}) as Json).flatMap((r) =>
      ([] as Json[])
        .concat(((r as Json).provisioner ?? []) as Json[])
        .map((p) => ((p as Json)["local-exec"] as Json | undefined)?.environment as Json | undefined)
        .filter((env): env is Json => typeof env?.TE_GATE_URL === "string")
        .map((env) => {
          const url = new URL(String(env.TE_GATE_URL));
          const host = url.hostname;
          const vm = vms.find((v) => v.address?.split("/")[0] === host) ?? vms.find((v) => v.name === host.split(".")[0]);
          const to = vipAddresses.has(host) ? "vip" : (vm?.name ?? host);
          return { module: m, url: url.href, to, port: Number(url.port || (url.protocol === "http:" ? 80 : 443)) };
        }),
    ),
  );
  const localExecs = (resources: Json) =>
    Object.entries((resources.terraform_data ?? {}) as Json).flatMap(([name, r]) =>
      ([] as Json[])
        .concat(((r as Json).provisioner ?? []) as Json[])
        .map((p) => (p as Json)["local-exec"] as Json | undefined)
        .filter((x): x is Json => !!x && typeof x.environment === "object" && x.environment !== null)
        .map((x) => ({ name, resource: r as Json, command: String(x.command ?? ""), env: x.environment as Record<string, unknown> })),
    );
  /** The stack file a `bash ${path.root}/<file>` command runs. */
  const scriptOf = (command: string) => /^bash \$\{path\.root\}\/([A-Za-z0-9._\/-]+)$/.exec(command.trim())?.[1];
  const vmAt = (address: string) => vms.find((v) => v.address?.split("/")[0] === address)?.name ?? address;
  const rootVariables = (root.variable ?? {}) as Record<string, Json>;
  const handoffs: TwinHandoff[] = localExecs((root.resource ?? {}) as Json)
    .filter((x) => typeof x.env.TE_HANDOFF_HOST === "string")
    .map((x) => {
      const count = /^\$\{var\.([A-Za-z0-9_]+) \? 1 : 0\}$/.exec(String(x.resource.count ?? ""));
      const script = scriptOf(x.command);
      const text = script && existsSync(join(stackDir, script)) ? readFileSync(join(stackDir, script), "utf8") : "";
      // the script writes TF_VAR_<the guard it is given>=false into a file under the runner's home
      const writesGuardOff = /export TF_VAR_\$TE_HANDOFF_GUARD=false/.test(text) && x.env.TE_HANDOFF_GUARD === count?.[1];
      const file = /mv -f "\$HOME\/[^"]+" "\$HOME\/([A-Za-z0-9._\/-]+\.env)"/.exec(text)?.[1];
      return {
        address: `terraform_data.${x.name}`,
        host: vmAt(String(x.env.TE_HANDOFF_HOST)),
        jump: String(x.env.TE_HANDOFF_JUMP ?? "").trim().length > 0,
        ...(count ? { guard: { variable: count[1], default: rootVariables[count[1]]?.default !== false } } : {}),
        ...(count && writesGuardOff && file ? { guardFile: file } : {}),
      };
    });
  const imageMirrors: TwinImageMirror[] = moduleNames.flatMap((m) =>
    localExecs((ev.module(m).resource ?? {}) as Json)
      .filter((x) => typeof x.env.LAB_COSIGN_KEY === "string")
      .map((x) => {
        const script = scriptOf(x.command);
        if (!script) throw new TwinReadError(`${m}: terraform_data.${x.name} runs ${x.command}, which the twin does not read`);
        const harbor = /^HARBOR='([^']+)'$/m.exec(readText(join(stackDir, script)))?.[1];
        if (!harbor) throw new TwinReadError(`${script}: names no HARBOR='<registry>' the images go to`);
        const [host, port] = harbor.split(":");
        const vm = vms.find((v) => v.name === host.split(".")[0]) ?? vms.find((v) => v.address?.split("/")[0] === host);
        return { module: m, registry: vm?.name ?? host, port: Number(port || 443) };
      }),
  );
  const allNodes = vms.find((v) => v.os === "talos")?.talosDocs.find((d) => d.machine !== undefined || d.cluster !== undefined);
  const network = ((allNodes?.cluster as Json | undefined)?.network ?? {}) as Json;
  const pf = (f: string) => readText(join(stackDir, "pfsense", f));
  const playback = join(stackDir, "pfsense", "phpshellsessions", "talos-enclave");
  return {
    dir: stackDir,
    moduleTypes,
    datacenterFirewallModules,
    imageFactory: typeof factoryUrl === "string" ? new URL(factoryUrl) : undefined,
    chartRepositories,
    provisions,
    preparations,
    gates,
    handoffs,
    imageMirrors,
    stepsMissing: "missing" in applySteps,
    lab: applySteps.lab,
    vms,
    bridges,
    nodes,
    steps: applySteps.steps,
    runner: applySteps.runner,
    flows,
    calico: readCalico(stackDir, ev.module("platform")),
    podSubnets: ((network.podSubnets as string[]) ?? ["10.244.0.0/16"]).map(String),
    serviceSubnets: ((network.serviceSubnets as string[]) ?? ["10.96.0.0/12"]).map(String),
    demoPorts: readDemoPorts(stackDir),
    pfsense: {
      aliases: pf("aliases.xml"),
      filter: pf("filter.xml"),
      nat: pf("nat.xml"),
      frr: pf("frr.conf"),
      playback: existsSync(playback) ? readFileSync(playback, "utf8") : undefined,
      unbound: existsSync(join(stackDir, "pfsense", "unbound.xml")) ? pf("unbound.xml") : undefined,
      rules: existsSync(join(stackDir, "pfsense", "RULES.md")) ? pf("RULES.md") : undefined,
    },
  };
}

/** The stack folder inside an output tree (`<out>/stacks/<name>`), or the folder itself. */
export function stackDirOf(out: string): string {
  if (existsSync(join(out, "cdk.tf.json"))) return out;
  const stacks = join(out, "stacks");
  const names = existsSync(stacks) ? readdirSync(stacks) : [];
  if (names.length !== 1) throw new TwinReadError(`${relative(process.cwd(), out) || out}: expected one stack under stacks/, found ${names.length}`);
  return join(stacks, names[0]);
}
