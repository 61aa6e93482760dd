import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ConformanceProblem,
  type ProviderSchemas,
  checkTerraformFiles,
  checkTerraformJson,
  formatProblems,
  loadProviderSchemas,
} from "./support/conformance";

const schemaDir = process.env.TALOS_ENCLAVE_SCHEMAS ?? path.resolve(__dirname, "..", "..", "shared", "schemas");
const schemasAvailable = fs.existsSync(path.join(schemaDir, "providers"));
if (!schemasAvailable) {
  console.warn(
    "conformance: skipped — provider schemas not found (set TALOS_ENCLAVE_SCHEMAS or place them at ../shared/schemas)"
  );
}
const suite = schemasAvailable ? describe : describe.skip;

type JsonObject = Record<string, unknown>;

const FILE = "stacks/lab/cdk.tf.json";
const VM = "resource.proxmox_virtual_environment_vm.talos-cp-1";

/** A small but realistic cdktf-style document that conforms to the provider schemas. */
function validDoc(): JsonObject {
  return {
    "//": { metadata: { backend: "local", stackName: "lab", version: "0.21.0" } },
    terraform: {
      required_providers: {
        proxmox: { source: "bpg/proxmox", version: "0.111.1" },
        talos: { source: "siderolabs/talos", version: "0.11.0" },
        helm: { source: "hashicorp/helm", version: "3.1.1" },
      },
    },
    provider: {
      proxmox: [
        {
          endpoint: "https://pve1.lab.internal:8006/",
          api_token: "${var.proxmox_api_token}",
          insecure: false,
          ssh: [
            {
              agent: true,
              username: "root",
              node: [{ name: "pve1", address: "10.10.0.2", port: 22 }],
            },
          ],
        },
      ],
      talos: [{}],
      helm: [{ kubernetes: { config_path: "${local_sensitive_file.kubeconfig.filename}" } }],
    },
    resource: {
      proxmox_download_file: {
        "talos-image": {
          node_name: "pve1",
          content_type: "iso",
          datastore_id: "local",
          url: "https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.11.0/nocloud-amd64.iso",
          file_name: "talos-v1.11.0-nocloud-amd64.iso",
          overwrite: false,
        },
      },
      proxmox_virtual_environment_vm: {
        "talos-cp-1": {
          "//": { metadata: { path: "lab/talos-cp-1", uniqueId: "talos-cp-1" } },
          node_name: "pve1",
          name: "talos-cp-1",
          vm_id: 201,
          tags: ["talos", "control-plane"],
          on_boot: true,
          agent: [{ enabled: true }],
          cpu: [{ cores: 4, sockets: 1, type: "x86-64-v2-AES" }],
          memory: [{ dedicated: 4096 }],
          disk: [
            {
              interface: "scsi0",
              datastore_id: "local-lvm",
              file_id: "${proxmox_download_file.talos-image.id}",
              size: 40,
              ssd: true,
              discard: "on",
            },
          ],
          network_device: [
            {
              bridge: "vmbr1",
              disconnected: null,
              enabled: true,
              firewall: false,
              mac_address: null,
              model: "virtio",
              mtu: null,
              queues: null,
              rate_limit: null,
              trunks: null,
              vlan_id: 30,
            },
          ],
          initialization: [
            {
              datastore_id: "local-lvm",
              dns: [{ servers: ["10.30.0.1"] }],
              ip_config: [{ ipv4: [{ address: "10.30.0.11/24", gateway: "10.30.0.1" }] }],
            },
          ],
          operating_system: [{ type: "l26" }],
          depends_on: ["proxmox_download_file.talos-image"],
          lifecycle: { ignore_changes: ["disk[0].file_id"] },
        },
      },
      talos_machine_secrets: {
        secrets: { talos_version: "v1.11.0" },
      },
      helm_release: {
        cilium: {
          name: "cilium",
          chart: "cilium",
          repository: "https://helm.cilium.io",
          version: "1.18.1",
          namespace: "kube-system",
          set: [
            { name: "ipam.mode", value: "kubernetes" },
            { name: "kubeProxyReplacement", value: "true", type: "string" },
          ],
          values: ['${yamlencode({"k8sServiceHost" = "localhost", "k8sServicePort" = 7445})}'],
          timeouts: { create: "10m" },
          depends_on: ["data.talos_machine_configuration.talos-cp-1"],
        },
      },
    },
    data: {
      talos_machine_configuration: {
        "talos-cp-1": {
          cluster_name: "lab",
          cluster_endpoint: "https://10.30.0.10:6443",
          machine_type: "controlplane",
          machine_secrets: "${talos_machine_secrets.secrets.machine_secrets}",
          talos_version: "v1.11.0",
          config_patches: ['${yamlencode({"machine" = {"install" = {"disk" = "/dev/sda"}}})}'],
        },
      },
    },
  };
}

/** The object at a dotted path (segments may contain `-`, not `.`). */
function at(doc: JsonObject, dotted: string): JsonObject {
  return dotted.split(".").reduce<JsonObject>((node, key) => node[key] as JsonObject, doc);
}

function vmOf(doc: JsonObject): JsonObject {
  return at(doc, "resource.proxmox_virtual_environment_vm.talos-cp-1");
}

function problem(address: string, message: string): ConformanceProblem {
  return { file: FILE, address, message };
}

suite("Terraform JSON schema conformance", () => {
  let schemas: ProviderSchemas;
  const check = (doc: unknown): ConformanceProblem[] => checkTerraformJson(doc, schemas, FILE);

  beforeAll(() => {
    schemas = loadProviderSchemas(schemaDir);
  });

  it("indexes resources, data sources and providers by name", () => {
    expect([...schemas.providers.keys()]).toEqual(expect.arrayContaining(["proxmox", "talos", "helm"]));
    expect(schemas.sources.get("proxmox")).toBe("registry.terraform.io/bpg/proxmox");
    expect(schemas.resources.has("proxmox_virtual_environment_vm")).toBe(true);
    expect(schemas.resources.has("talos_machine_secrets")).toBe(true);
    expect(schemas.resources.has("helm_release")).toBe(true);
    expect(schemas.dataSources.has("talos_machine_configuration")).toBe(true);
  });

  it("accepts a valid document", () => {
    expect(formatProblems(check(validDoc()))).toBe("");
  });

  it("reports a misspelled attribute", () => {
    const doc = validDoc();
    const vm = vmOf(doc);
    vm.node_nmae = vm.node_name;
    delete vm.node_name;
    expect(check(doc)).toContainEqual(problem(VM, 'unknown attribute "node_nmae"'));
  });

  it("reports a missing required attribute", () => {
    const doc = validDoc();
    delete vmOf(doc).node_name;
    expect(check(doc)).toEqual([problem(VM, 'missing required attribute "node_name"')]);
  });

  it("reports every key missing from an object-typed attribute", () => {
    const doc = validDoc();
    vmOf(doc).network_device = [{ bridge: "vmbr1" }];
    const problems = check(doc);
    expect(problems).toContainEqual(
      problem(`${VM}.network_device[0]`, 'missing object attribute "vlan_id" (set it to null to leave it unset)')
    );
    expect(problems).toHaveLength(10);
  });

  it("reports an extra key in an object-typed attribute", () => {
    const doc = validDoc();
    const [nic] = vmOf(doc).network_device as JsonObject[];
    nic.vlan = 30;
    expect(check(doc)).toEqual([problem(`${VM}.network_device[0]`, 'unknown attribute "vlan"')]);
  });

  it("reports a list(object) attribute written as a single block object", () => {
    const doc = validDoc();
    const vm = vmOf(doc);
    vm.network_device = (vm.network_device as JsonObject[])[0];
    expect(check(doc)).toEqual([problem(`${VM}.network_device`, "expected list(object), got object")]);
  });

  it("reports a block given as a string", () => {
    const doc = validDoc();
    vmOf(doc).cpu = "4 cores";
    expect(check(doc)).toContainEqual(
      problem(`${VM}.cpu`, 'block "cpu" must be an object or an array of objects, got string "4 cores"')
    );
  });

  it("reports max_items exceeded", () => {
    const doc = validDoc();
    vmOf(doc).cpu = [{ cores: 2 }, { cores: 4 }];
    expect(check(doc)).toEqual([problem(VM, 'too many "cpu" blocks: at most 1 allowed, got 2')]);
  });

  it("reports a literal of the wrong type", () => {
    const doc = validDoc();
    vmOf(doc).cpu = [{ cores: "four" }];
    expect(check(doc)).toEqual([problem(`${VM}.cpu[0].cores`, 'expected number, got string "four"')]);
  });

  it("reports a computed-only attribute set in configuration", () => {
    const doc = validDoc();
    vmOf(doc).ipv4_addresses = [["10.30.0.11"]];
    expect(check(doc)).toEqual([
      problem(`${VM}.ipv4_addresses`, 'attribute "ipv4_addresses" is computed-only and cannot be set in configuration'),
    ]);
  });

  it("reports an unknown resource type", () => {
    const doc = validDoc();
    at(doc, "resource").proxmox_virtual_environment_vmm = { "talos-cp-2": { node_name: "pve1" } };
    expect(check(doc)).toEqual([
      problem(
        "resource.proxmox_virtual_environment_vmm.talos-cp-2",
        'unknown resource type "proxmox_virtual_environment_vmm"'
      ),
    ]);
  });

  it("reports an unknown data source type", () => {
    const doc = validDoc();
    at(doc, "data").talos_machine_configurations = { worker: { cluster_name: "lab" } };
    expect(check(doc)).toEqual([
      problem("data.talos_machine_configurations.worker", 'unknown data source type "talos_machine_configurations"'),
    ]);
  });

  it("accepts a ${...} interpolation in a number field", () => {
    const doc = validDoc();
    vmOf(doc).cpu = [{ cores: "${var.control_plane_cores}" }];
    vmOf(doc).vm_id = "${200 + count.index}";
    expect(check(doc)).toEqual([]);
  });

  it("checks nested_type attributes like block bodies", () => {
    const doc = validDoc();
    const release = at(doc, "resource.helm_release.cilium");
    release.set = [{ value: "kubernetes" }];
    release.timeouts = [{ create: "10m" }];
    const [helmProvider] = at(doc, "provider").helm as JsonObject[];
    helmProvider.kubernetes = { exec: { command: "talosctl" } };
    const helm = "resource.helm_release.cilium";
    expect(check(doc)).toEqual([
      problem("provider.helm[0].kubernetes.exec", 'missing required attribute "api_version"'),
      problem(`${helm}.set[0]`, 'missing required attribute "name"'),
      problem(`${helm}.timeouts`, 'expected an object for nested attribute "timeouts", got array'),
    ]);
  });

  it("checks nested blocks inside provider configurations and lifecycle keys", () => {
    const doc = validDoc();
    const [proxmox] = at(doc, "provider").proxmox as JsonObject[];
    const [ssh] = proxmox.ssh as JsonObject[];
    ssh.node = [{ name: "pve1" }];
    vmOf(doc).lifecycle = { ignore_change: ["tags"] };
    expect(check(doc)).toEqual([
      problem("provider.proxmox[0].ssh[0].node[0]", 'missing required attribute "address"'),
      problem(`${VM}.lifecycle`, 'unknown lifecycle argument "ignore_change"'),
    ]);
  });

  it("reads files and formats one line per problem", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "conformance-"));
    try {
      const good = path.join(dir, "good.tf.json");
      const bad = path.join(dir, "bad.tf.json");
      const broken = path.join(dir, "broken.tf.json");
      const doc = validDoc();
      fs.writeFileSync(good, JSON.stringify(doc));
      delete vmOf(doc).node_name;
      fs.writeFileSync(bad, JSON.stringify(doc));
      fs.writeFileSync(broken, "{");

      const problems = checkTerraformFiles([good, bad, broken], schemas);
      const lines = formatProblems(problems).split("\n");
      expect(lines).toHaveLength(2);
      expect(lines[0]).toBe(`${bad}: ${VM}: missing required attribute "node_name"`);
      expect(lines[1]).toMatch(
        new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: <document>: cannot read Terraform JSON: `)
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
