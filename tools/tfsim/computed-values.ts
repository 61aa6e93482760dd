import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { CtyValue, isObject } from "./cty";

/**
 * Computed values in the formats the real providers give them, for a simulated apply. The formats are
 * the `computed` entries of the fact table (facts/*.json), where each cites the provider source; a
 * test checks every value made here against the table's `pattern`. Values stay deterministic: they are
 * derived from the planned object, never from a clock or a random source.
 */
type Obj = { [k: string]: CtyValue };
type Compute = (planned: Obj, seed: string) => Obj;

const str = (v: CtyValue, fallback = ""): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : fallback);
const first = (v: CtyValue): Obj => (Array.isArray(v) && isObject(v[0]) ? v[0] : isObject(v) ? v : {});
/** A stable pseudo-random integer in [lo, hi) from a seed. */
const stableInt = (seed: string, lo: number, hi: number) => lo + (parseInt(createHash("sha256").update(seed).digest("hex").slice(0, 8), 16) % (hi - lo));
/** A PEM block with a deterministic body (not a parseable certificate: nothing in a plan parses it). */
const pem = (label: string, seed: string) => {
  const body = createHash("sha512").update(`${label}:${seed}`).digest("base64");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
};
const b64 = (text: string) => Buffer.from(text).toString("base64");
/** Proxmox firewall resource ids: `<prefix>-<crc32 of the API path>` (decimal). */
const firewallId = (prefix: string, p: Obj, leaf: string) => {
  const vm = str(p.vm_id);
  const node = str(p.node_name);
  const path = vm ? `nodes/${node}/qemu/${vm}/firewall/${leaf}` : node ? `nodes/${node}/firewall/${leaf}` : `cluster/firewall/${leaf}`;
  return `${prefix}-${crc32(path)}`;
};
/** An RFC 3339 UTC timestamp fixed per seed (a simulated apply has no clock). */
const timestamp = (seed: string) => new Date(Date.UTC(2026, 0, 1) + stableInt(seed, 0, 86_400) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

const COMPUTE: Readonly<Record<string, Compute>> = {
  proxmox_virtual_environment_vm: (p, seed) => {
    const vmId = typeof p.vm_id === "number" ? p.vm_id : stableInt(seed, 100, 999_999);
    const nics = Array.isArray(p.network_device) ? p.network_device : [];
    // blocks are lists of one in the schema; computed values go where the plan left them unknown
    const blocks = (v: CtyValue, fn: (b: Obj, i: number) => Obj): CtyValue => (Array.isArray(v) ? v.map((b, i) => (isObject(b) ? fn(b, i) : b)) : null);
    return {
      vm_id: vmId,
      id: String(vmId),
      // cicustom volumes read back as "" when the VM has none (vm.go read of cicustom)
      initialization: blocks(p.initialization, () => ({
        user_data_file_id: "",
        vendor_data_file_id: "",
        network_data_file_id: "",
        meta_data_file_id: "",
        type: "nocloud",
        file_format: "raw",
      })),
      disk: blocks(p.disk, (_, i) => ({ path_in_datastore: `vm-${vmId}-disk-${i}`, file_format: "raw" })),
      efi_disk: blocks(p.efi_disk, () => ({ file_format: "raw" })),
      // Proxmox's own generator uses the BC:24:11 prefix.
      network_device: nics.map((n, i) =>
        isObject(n) && n.mac_address === null
          ? { ...n, mac_address: `BC:24:11:${createHash("sha256").update(`${seed}:${i}`).digest("hex").slice(0, 6).toUpperCase().match(/../g)!.join(":")}` }
          : n,
      ),
      ipv4_addresses: [],
      ipv6_addresses: [],
      mac_addresses: [],
      network_interface_names: [],
    };
  },
  proxmox_virtual_environment_file: (p, seed) => {
    const raw = first(p.source_raw);
    const src = first(p.source_file);
    const fileName = str(raw.file_name) || str(src.file_name) || str(src.path).split("/").pop() || `file-${seed}`;
    const data = str(raw.data);
    return {
      id: `${str(p.datastore_id)}:${str(p.content_type, "snippets")}/${fileName}`,
      file_name: fileName,
      content_type: str(p.content_type, "snippets"),
      file_modification_date: timestamp(seed),
      file_size: Buffer.byteLength(data),
      file_tag: `${stableInt(seed, 0x60000000, 0x70000000).toString(16)}-${Buffer.byteLength(data).toString(16)}`,
    };
  },
  proxmox_download_file: (p, seed) => {
    const fileName = str(p.file_name) || str(p.url).split("/").pop() || `download-${seed}`;
    return {
      id: `${str(p.datastore_id)}:${str(p.content_type)}/${fileName}`,
      file_name: fileName,
      size: stableInt(seed, 100_000_000, 2_000_000_000),
    };
  },
  proxmox_network_linux_bridge: (p) => ({ id: `${str(p.node_name)}:${str(p.name)}` }),
  // one object per Proxmox cluster: bpg sets the constant id "cluster-firewall"
  proxmox_virtual_environment_cluster_firewall: () => ({ id: "cluster-firewall" }),
  proxmox_virtual_environment_firewall_options: (p) => ({ id: firewallId("options", p, "options") }),
  proxmox_virtual_environment_firewall_rules: (p) => ({
    id: firewallId("rule", p, "rules"),
    rule: (Array.isArray(p.rule) ? p.rule : []).map((r, i) => (isObject(r) ? { ...r, pos: i } : r)),
  }),
  proxmox_virtual_environment_firewall_ipset: (p) => ({ id: str(p.name) }),
  proxmox_virtual_environment_pool: (p) => ({ id: str(p.pool_id), members: [] }),
  // The Image Factory's schematic id is the sha256 of the schematic text it is given.
  talos_image_factory_schematic: (p): Obj => (typeof p.schematic === "string" ? { id: createHash("sha256").update(p.schematic).digest("hex") } : {}),
  talos_cluster_kubeconfig: (p, seed) => {
    const host = `https://${str(p.endpoint, "127.0.0.1")}:6443`;
    const ca = b64(pem("CERTIFICATE", `${seed}:ca`));
    const cert = b64(pem("CERTIFICATE", `${seed}:client`));
    const key = b64(pem("EC PRIVATE KEY", `${seed}:key`));
    return {
      id: str(p.node),
      kubernetes_client_configuration: { host, ca_certificate: ca, client_certificate: cert, client_key: key },
      kubeconfig_raw: [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "  - name: lab",
        "    cluster:",
        `      server: ${host}`,
        `      certificate-authority-data: ${ca}`,
        "users:",
        "  - name: admin@lab",
        "    user:",
        `      client-certificate-data: ${cert}`,
        `      client-key-data: ${key}`,
        "contexts:",
        "  - name: admin@lab",
        "    context: { cluster: lab, user: admin@lab }",
        "current-context: admin@lab",
        "",
      ].join("\n"),
    };
  },
  talos_machine_secrets: (p, seed) => {
    const cert = (what: string) => b64(pem("CERTIFICATE", `${seed}:${what}`));
    const key = (what: string, label = "EC PRIVATE KEY") => b64(pem(label, `${seed}:${what}:key`));
    const random32 = (what: string, url = false) => {
      const raw = createHash("sha256").update(`${seed}:${what}`).digest();
      return url ? raw.toString("base64url") + "=" : raw.toString("base64");
    };
    const token = (what: string) => {
      const h = createHash("sha256").update(`${seed}:${what}`).digest("hex").replace(/[^0-9a-z]/g, "");
      return `${h.slice(0, 6)}.${h.slice(6, 22)}`;
    };
    const os = { cert: cert("os"), key: key("os", "ED25519 PRIVATE KEY") };
    return {
      id: "machine_secrets",
      machine_secrets: {
        certs: {
          etcd: { cert: cert("etcd"), key: key("etcd") },
          k8s: { cert: cert("k8s"), key: key("k8s") },
          k8s_aggregator: { cert: cert("k8s-aggregator"), key: key("k8s-aggregator") },
          k8s_serviceaccount: { key: key("k8s-serviceaccount", "RSA PRIVATE KEY") },
          os,
        },
        cluster: { id: random32("cluster-id", true), secret: random32("cluster-secret") },
        secrets: { aescbc_encryption_secret: null, bootstrap_token: token("bootstrap"), secretbox_encryption_secret: random32("secretbox") },
        trustdinfo: { token: token("trustd") },
      },
      client_configuration: { ca_certificate: os.cert, client_certificate: cert("admin"), client_key: key("admin", "ED25519 PRIVATE KEY") },
    };
  },
  talos_machine_configuration_apply: (p) => {
    const patches = Array.isArray(p.config_patches) ? p.config_patches.map((x) => str(x)) : [];
    const rendered = [str(p.machine_configuration_input), ...patches].join("\n---\n");
    return {
      id: "machine_configuration_apply",
      machine_configuration: rendered,
      machine_configuration_hash: createHash("sha256").update(rendered).digest("hex"),
    };
  },
  talos_machine_bootstrap: () => ({ id: "machine_bootstrap" }),
  // The generated config depends on every input: the contract, the versions, the secrets and the
  // patches (merged into it by the real provider; appended as documents here).
  talos_machine_configuration: (p) => ({
    id: str(p.cluster_name),
    machine_configuration: [
      [
        `# contract ${str(p.talos_version, "v1.13")}, secrets ${createHash("sha256").update(JSON.stringify(p.machine_secrets ?? null)).digest("hex").slice(0, 16)}`,
        "version: v1alpha1",
        "machine:",
        `  type: ${str(p.machine_type)}`,
        "cluster:",
        `  clusterName: ${str(p.cluster_name)}`,
        "  controlPlane:",
        `    endpoint: ${str(p.cluster_endpoint)}`,
        `# kubernetes ${str(p.kubernetes_version, "1.36.0")}`,
        "",
      ].join("\n"),
      ...(Array.isArray(p.config_patches) ? p.config_patches.map((x) => str(x)) : []),
    ].join("\n---\n"),
  }),
  talos_client_configuration: (p) => {
    const name = str(p.cluster_name);
    const cc = isObject(p.client_configuration) ? p.client_configuration : {};
    const list = (v: CtyValue) => (Array.isArray(v) ? v.map((x) => str(x)) : []);
    return {
      id: name,
      talos_config: [
        `context: ${name}`,
        "contexts:",
        `  ${name}:`,
        `    endpoints: [${list(p.endpoints).join(", ")}]`,
        `    nodes: [${list(p.nodes).join(", ")}]`,
        `    ca: ${str(cc.ca_certificate)}`,
        `    crt: ${str(cc.client_certificate)}`,
        `    key: ${str(cc.client_key)}`,
        "",
      ].join("\n"),
    };
  },
  // hashicorp/local: the checksums of what it wrote (genFileChecksums), the id its hex SHA-1
  local_sensitive_file: (p) => {
    const data = typeof p.content_base64 === "string" ? Buffer.from(p.content_base64, "base64") : Buffer.from(str(p.content));
    const sum = (alg: string, enc: "hex" | "base64" = "hex") => createHash(alg).update(data).digest(enc);
    return {
      id: sum("sha1"),
      content_md5: sum("md5"),
      content_sha1: sum("sha1"),
      content_sha256: sum("sha256"),
      content_base64sha256: sum("sha256", "base64"),
      content_sha512: sum("sha512"),
      content_base64sha512: sum("sha512", "base64"),
    };
  },
  helm_release: (p, seed) => {
    const deployed = Math.floor(Date.parse(timestamp(seed)) / 1000);
    return {
      id: str(p.name),
      metadata: {
        name: str(p.name),
        namespace: str(p.namespace, "default"),
        revision: 1,
        chart: str(p.chart).split("/").pop() ?? "",
        version: str(p.version, "0.1.0"),
        app_version: "",
        values: JSON.stringify(Array.isArray(p.values) ? p.values : []),
        first_deployed: deployed,
        last_deployed: deployed,
        notes: "",
      },
      version: str(p.version, "0.1.0"),
    };
  },
};

/** The computed values the real provider would set on apply, for the types the table knows. */
export function computedValues(type: string, planned: CtyValue, seed: string): Obj {
  if (!isObject(planned)) return {};
  return COMPUTE[type]?.(planned, seed) ?? {};
}

/** Types whose computed values are made in their real formats. */
export const COMPUTED_TYPES: readonly string[] = Object.keys(COMPUTE);
