import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { synthLab } from "../constructs/emit/synth-lab";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { TerraformSandbox } from "../tools/tfsim/sandbox";
import { planChanges, prepareStack, terraformStep, workDir } from "../tools/tfsim/verify-stack";
import { PROJECT_ROOT } from "./support/tree";

/**
 * Day 2: for each operator change, apply version 1 with the simulated providers (which plan from the
 * providers' fact table), plan version 2, and compare the exact sets of resources terraform would
 * create, update in place, replace and destroy. The expectations are written from the providers'
 * rules (facts/*.json), not read back from a run.
 */
const schemaDir = findSchemaDir(PROJECT_ROOT);
const hasTerraform = spawnSync("terraform", ["version"], { encoding: "utf8" }).status === 0;
const skipReason = !schemaDir ? SCHEMA_DIR_MISSING : !hasTerraform ? "terraform is not on the PATH" : undefined;
if (skipReason) console.warn(`change matrix: skipped — ${skipReason}`);

interface Summary {
  readonly created: string[];
  readonly updated: string[];
  readonly replaced: string[];
  readonly destroyed: string[];
}

/** `resource_changes` of a saved plan, sorted into the four kinds (reads and no-ops left out). */
function summarize(changes: { address: string; change: { actions: string[] } }[]): Summary {
  const of = (...kinds: string[]) =>
    changes
      .filter((c) => kinds.includes(c.change.actions.join(",")))
      .map((c) => c.address)
      .sort();
  return { created: of("create"), updated: of("update"), replaced: of("delete,create", "create,delete"), destroyed: of("delete") };
}

const VMS = "proxmox_virtual_environment_vm";
/** The talosconfig file tofu writes on the runner (hashicorp/local). */
const TALOSCONFIG = "module.srv.local_sensitive_file.talosconfig";
/** The image mirror (talos.imageVerification): a new image table in its script mirrors and signs again. */
const MIRROR = "module.srv.terraform_data.image-mirror";
const STATEFUL = /proxmox_virtual_environment_vm\.(registry|talos-)/;

interface Row {
  readonly change: string;
  readonly before?: LabSpecInput;
  readonly after: LabSpecInput;
  /** An operator's edit of the synthesized tree (a reviewed sidecar). */
  readonly edit?: (stackDir: string) => void;
  /** Variable values that differ in version 2. */
  readonly vars?: Record<string, unknown>;
  readonly expect: Partial<Summary>;
  /** Why a stateful VM is replaced, when that is inherent (also said in UPGRADE.md). */
  readonly inherentReplacement?: string;
}

const workers3 = {
  workers: [
    { name: "talos-worker-1", ip: "10.10.100.21" },
    { name: "talos-worker-2", ip: "10.10.100.22" },
    { name: "talos-worker-3", ip: "10.10.100.23" },
  ],
};
const applies = (names: string[]) => names.map((n) => `module.srv.talos_machine_configuration_apply.${n}`);
const ALL_NODES = ["talos-cp-1", "talos-cp-2", "talos-cp-3", "talos-worker-1", "talos-worker-2"];
const snippets = (hosts: string[]) =>
  hosts.map((h) => `module.${h === "haproxy-ingress-1" ? "dmz" : "mgmt"}.proxmox_virtual_environment_file.${h}-user-data`);

const ROWS: Row[] = [
  {
    // bpg 0.111.1 updates network_device in place, without a reboot (hotplug; proxmoxtf/resource/vm/vm.go:6846,
    // facts notReplacedInPlace): pfSense keeps running while its client-LAN NIC moves to the new bridge
    change: "the client LAN moved to another bridge",
    after: { zones: { client: { bridge: "vmbr5", cidr: "192.168.200.0/24" } } },
    expect: {
      created: ["module.edge.proxmox_network_linux_bridge.vmbr5-pve"],
      updated: ["module.edge.proxmox_virtual_environment_vm.pfsense"],
      destroyed: ["module.edge.proxmox_network_linux_bridge.vmbr4-pve"],
    },
  },
  {
    change: "Talos patch upgrade v1.13.9 → v1.13.10",
    after: { talos: { version: "v1.13.10" } },
    expect: {
      // the ISO's URL names the version (download_file url: RequiresReplace); configs name the installer;
      // the mgmt client's snippet names talosctl's version (a new client VM gets it; the running one
      // keeps its user-data, see UPGRADE.md)
      replaced: ["module.srv.proxmox_download_file.talos-pve", ...snippets(["mgmt-client"])],
      updated: applies(ALL_NODES),
    },
  },
  {
    // the contract stays v1.13: the bound provider generates nothing newer (spec/talos-support.ts)
    change: "Talos minor upgrade v1.13 → v1.14 (contract stays v1.13)",
    after: { talos: { version: "v1.14.0" } },
    expect: {
      // the mirror script's image table names the new images: they are mirrored and signed again
      replaced: ["module.srv.proxmox_download_file.talos-pve", ...snippets(["mgmt-client"]), MIRROR],
      updated: applies(ALL_NODES),
    },
  },
  {
    change: "Kubernetes v1.36.3 → v1.36.4",
    after: { talos: { kubernetesVersion: "v1.36.4" } },
    // the new Kubernetes images are mirrored and signed again (the mirror script's table names them)
    expect: { replaced: [...snippets(["mgmt-client"]), MIRROR], updated: applies(ALL_NODES) },
  },
  {
    change: "one more mirrored upstream",
    after: { registry: { upstreams: ["mcr.microsoft.com"] } },
    expect: { replaced: snippets(["registry"]), updated: applies(ALL_NODES) },
  },
  {
    change: "an edited cloud-init template",
    after: {},
    edit: (dir) => appendFileSync(join(dir, "cloud-init", "registry.user-data.yaml.tftpl"), "# reviewed local change\n"),
    expect: { replaced: snippets(["registry"]) },
  },
  {
    change: "a rotated lab CA",
    after: {},
    vars: { lab_ca_certificate: "-----BEGIN CERTIFICATE-----\nrotated\n-----END CERTIFICATE-----\n" },
    // the Proxmox node trusts the new CA too: its preparation runs again (its trigger is the CA's hash)
    expect: { replaced: [...snippets(["haproxy-ingress-1", "mgmt-client", "registry"]), "module.mgmt.terraform_data.pve-prepare"], updated: applies(ALL_NODES) },
  },
  {
    change: "worker cores and memory resized",
    after: { talos: { sizes: { worker: { cores: 6, memoryMiB: 12288, diskGiB: 100 } } } },
    expect: { updated: [`module.srv.${VMS}.talos-worker-1`, `module.srv.${VMS}.talos-worker-2`] },
  },
  {
    change: "worker disk grown 100 → 120 GiB",
    after: { talos: { sizes: { worker: { cores: 4, memoryMiB: 8192, diskGiB: 120 } } } },
    expect: { updated: [`module.srv.${VMS}.talos-worker-1`, `module.srv.${VMS}.talos-worker-2`] },
  },
  {
    change: "a worker added",
    after: { talos: workers3 },
    expect: {
      // talosctl's client config names every node: the file on the runner is written again (hashicorp/local
      // replaces a file whose content changes; nothing stateful)
      replaced: [TALOSCONFIG],
      created: [
        "module.srv.proxmox_virtual_environment_firewall_options.talos-worker-3",
        "module.srv.proxmox_virtual_environment_firewall_rules.talos-worker-3",
        `module.srv.${VMS}.talos-worker-3`,
        ...applies(["talos-worker-3"]),
      ],
    },
  },
  {
    change: "a worker removed from the middle",
    before: { talos: workers3 },
    after: { talos: { workers: [workers3.workers[0], workers3.workers[2]] } },
    expect: {
      // talosctl's client config names every node: the file on the runner is written again (hashicorp/local
      // replaces a file whose content changes; nothing stateful)
      replaced: [TALOSCONFIG],
      destroyed: [
        "module.srv.proxmox_virtual_environment_firewall_options.talos-worker-2",
        "module.srv.proxmox_virtual_environment_firewall_rules.talos-worker-2",
        `module.srv.${VMS}.talos-worker-2`,
        ...applies(["talos-worker-2"]),
      ],
    },
  },
  {
    change: "a control plane added (three to five)",
    after: {
      talos: {
        controlPlanes: [
          { name: "talos-cp-1", ip: "10.10.100.11" },
          { name: "talos-cp-2", ip: "10.10.100.12" },
          { name: "talos-cp-3", ip: "10.10.100.13" },
          { name: "talos-cp-4", ip: "10.10.100.14" },
          { name: "talos-cp-5", ip: "10.10.100.15" },
        ],
      },
    },
    // the new members get their VMs and configs; every node's firewall admits the new peers (etcd,
    // apid proxy, kubelet from control planes), so every config and VM firewall updates in place
    expect: {
      // talosctl's client config names every node: the file on the runner is written again (hashicorp/local
      // replaces a file whose content changes; nothing stateful)
      replaced: [TALOSCONFIG],
      created: ["talos-cp-4", "talos-cp-5"].flatMap((n) => [
        `module.srv.proxmox_virtual_environment_firewall_options.${n}`,
        `module.srv.proxmox_virtual_environment_firewall_rules.${n}`,
        `module.srv.${VMS}.${n}`,
        ...applies([n]),
      ]),
      updated: [...ALL_NODES.map((n) => `module.srv.proxmox_virtual_environment_firewall_rules.${n}`), ...applies(ALL_NODES)],
    },
  },
  {
    change: "a worker's address changed (inherent: the address names the VM id)",
    after: { talos: { workers: [{ name: "talos-worker-1", ip: "10.10.100.31" }, { name: "talos-worker-2", ip: "10.10.100.22" }] } },
    expect: {
      replaced: [`module.srv.${VMS}.talos-worker-1`, TALOSCONFIG],
      updated: [
        "module.srv.proxmox_virtual_environment_firewall_options.talos-worker-1",
        "module.srv.proxmox_virtual_environment_firewall_rules.talos-worker-1",
        ...applies(["talos-worker-1"]),
      ],
    },
    inherentReplacement: "the default VM id is derived from the address (placement.ts); UPGRADE.md says to pin vmId",
  },
  {
    change: "a Proxmox node added",
    after: {
      proxmox: {
        nodes: [
          { name: "pve", uplinks: { vmbr1: ["eno2"], vmbr2: ["eno3"], vmbr3: ["eno4"] } },
          { name: "pve2", sshAddress: "192.0.2.12", uplinks: { vmbr1: ["eno2"], vmbr2: ["eno3"], vmbr3: ["eno4"] } },
        ],
      },
    },
    // the new node gets its bridges, its preparation (route to MGMT, the registry's name, the lab CA)
    // and boot ISO; placement moves cp-2 and worker-1 to it, which bpg
    // does in place by migration (migrate = true), and their firewalls follow; the old node's bridges
    // gain their uplinks
    expect: {
      created: [
        "module.edge.proxmox_network_linux_bridge.vmbr1-pve2",
        "module.edge.proxmox_network_linux_bridge.vmbr2-pve2",
        "module.edge.proxmox_network_linux_bridge.vmbr3-pve2",
        "module.mgmt.terraform_data.pve2-prepare",
        "module.srv.proxmox_download_file.talos-pve2",
      ],
      updated: [
        "module.edge.proxmox_network_linux_bridge.vmbr1-pve",
        "module.edge.proxmox_network_linux_bridge.vmbr2-pve",
        "module.edge.proxmox_network_linux_bridge.vmbr3-pve",
        ...["talos-cp-2", "talos-worker-1"].flatMap((n) => [
          `module.srv.proxmox_virtual_environment_firewall_options.${n}`,
          `module.srv.proxmox_virtual_environment_firewall_rules.${n}`,
          `module.srv.${VMS}.${n}`,
        ]),
      ],
    },
  },
  {
    change: "a flow added",
    after: {
      flows: [{ id: "client-to-workers-nodeports", from: "mgmt-client", to: "group:workers", protocol: "tcp", ports: ["30000-32767"], purpose: "operator reaches NodePort test services" }],
    },
    // the new flow opens NodePorts on the workers: their Proxmox firewall and their Talos ingress rules
    expect: {
      updated: [
        "module.srv.proxmox_virtual_environment_firewall_rules.talos-worker-1",
        "module.srv.proxmox_virtual_environment_firewall_rules.talos-worker-2",
        ...applies(["talos-worker-1", "talos-worker-2"]),
      ],
    },
  },
  {
    change: "the demo changed",
    after: { platform: { demoHost: "shop.dmz.lab.internal" } },
    // the chart's digest is a value of the release: an edited local chart is upgraded in place
    expect: { updated: ["module.platform.helm_release.demo"] },
  },
];

describe.skipIf(!!skipReason)("change matrix: version 1 applied, version 2 planned", () => {
  let sandbox: TerraformSandbox;
  const applied = new Map<string, string>();
  const table: string[] = [];
  beforeAll(() => {
    sandbox = TerraformSandbox.create(schemaDir!);
  });
  afterAll(() => {
    console.log(["| change | created | updated | replaced | destroyed |", "|---|---|---|---|---|", ...table].join("\n"));
    sandbox?.dispose();
  });

  /** A work folder holding version 1 applied (one apply per distinct version 1, copied per row). */
  async function appliedCopy(before: LabSpecInput, label: string): Promise<string> {
    const key = JSON.stringify(before);
    if (!applied.has(key)) {
      const work = workDir(sandbox, "v1");
      prepareStack(synthLab(before, join(sandbox.root, `v1-${applied.size}`)), work);
      await terraformStep(sandbox, work, "v1", "init", ["init", "-backend=false", "-input=false"]);
      await terraformStep(sandbox, work, "v1", "apply", ["apply", "-input=false", "-auto-approve"]);
      applied.set(key, work);
    }
    const copy = workDir(sandbox, label);
    cpSync(applied.get(key)!, copy, { recursive: true });
    return copy;
  }

  it("stops a minor upgrade that would move the machine-config contract without a pin, and takes it with one", async () => {
    const k8s = { kubernetesVersion: "v1.35.2" }; // in both Talos 1.12's and 1.13's range
    const work = await appliedCopy({ talos: { version: "v1.12.6", ...k8s } }, "unpinned-minor");
    prepareStack(synthLab({ talos: { version: "v1.13.9", ...k8s } }, join(sandbox.root, "v2-unpinned-minor")), work);
    const r = await sandbox.run(work, ["plan", "-input=false", "-no-color"]);
    expect(r.status).toBe(1);
    const text = (r.stderr + r.stdout).replace(/\s+/g, " ");
    expect(text).toContain("The cluster's machine-config contract was created as v1.12, but talos.version v1.13.9 would make it v1.13.");
    expect(text).toContain("Pin talos.configContract in the lab spec to the contract the nodes run (v1.12,");
    // pinned: the plan goes through and no stateful VM is touched
    prepareStack(synthLab({ talos: { version: "v1.13.9", configContract: "v1.12", ...k8s } }, join(sandbox.root, "v2-pinned-minor")), work);
    await terraformStep(sandbox, work, "pinned-minor", "plan", ["plan", "-input=false", "-out=pinned"]);
    const got = summarize(await planChanges(sandbox, work, "pinned-minor", "pinned"));
    expect([...got.replaced, ...got.destroyed].filter((a) => STATEFUL.test(a))).toEqual([]);
    expect(got.updated).toEqual(applies(ALL_NODES).sort());
    // moving on purpose is allowed; moving back below the created contract is not
    prepareStack(synthLab({ talos: { version: "v1.13.9", configContract: "v1.13", ...k8s } }, join(sandbox.root, "v2-moved")), work);
    await terraformStep(sandbox, work, "moved", "plan", ["plan", "-input=false"]);
    const back = await appliedCopy({ talos: { version: "v1.13.9", ...k8s } }, "backwards");
    prepareStack(synthLab({ talos: { version: "v1.13.9", configContract: "v1.12", ...k8s } }, join(sandbox.root, "v2-backwards")), back);
    const rb = await sandbox.run(back, ["plan", "-input=false", "-no-color"]);
    expect(rb.status).toBe(1);
    expect((rb.stderr + rb.stdout).replace(/\s+/g, " ")).toContain("talos.configContract v1.12 is older than the contract the cluster was created with (v1.13)");
  }, 600_000);

  it("keeps the disk encryption through a patch upgrade, stops a changed talos.diskEncryption on an applied cluster, and takes a deliberate reinstall", async () => {
    const volumes = (stackDir: string) =>
      parseAllDocuments(readFileSync(join(stackDir, "talos", "all-nodes.yaml"), "utf8"))
        .map((d) => d.toJS() as { kind?: string; name?: string })
        .filter((d) => d.kind === "VolumeConfig")
        .map((d) => d.name);
    const RECORD = "module.srv.terraform_data.disk_encryption";
    // a routine change: the documents stay, the record is untouched, the plan goes through
    const work = await appliedCopy({}, "encryption-patch");
    const patch = synthLab({ talos: { version: "v1.13.10" } }, join(sandbox.root, "v2-encryption-patch"));
    expect(volumes(patch)).toEqual(["STATE", "EPHEMERAL"]);
    prepareStack(patch, work);
    await terraformStep(sandbox, work, "encryption-patch", "plan", ["plan", "-input=false", "-out=patch"]);
    const routine = summarize(await planChanges(sandbox, work, "encryption-patch", "patch"));
    expect([...routine.created, ...routine.updated, ...routine.replaced, ...routine.destroyed]).not.toContain(RECORD);
    // the nodes were installed with nodeID keys: turning encryption off (or to anything else) fails the plan
    const changed = await appliedCopy({}, "encryption-changed");
    const off = synthLab({ talos: { diskEncryption: "off" } }, join(sandbox.root, "v2-encryption-off"));
    expect(volumes(off)).toEqual([]);
    prepareStack(off, changed);
    const r = await sandbox.run(changed, ["plan", "-input=false", "-no-color"]);
    expect(r.status).toBe(1);
    const text = (r.stderr + r.stdout).replace(/\s+/g, " ");
    expect(text).toContain("The cluster's nodes were installed with talos.diskEncryption nodeID, but the spec now says off.");
    expect(text).toContain("Talos encrypts STATE and EPHEMERAL only when it formats them and never re-encrypts a running node");
    expect(text).toContain("talosctl reset --graceful=false --reboot --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL on every node");
    // the message names what UPGRADE.md replaces: the record and the bootstrap (etcd goes with STATE)
    expect(text).toContain(`-replace=${RECORD} -replace=module.srv.talos_machine_bootstrap.lab`);
    // UPGRADE.md gives the same steps the message names
    const guide = readFileSync(join(off, "UPGRADE.md"), "utf8").replace(/\s+/g, " ");
    expect(guide).toContain("## Changing the system-disk encryption");
    expect(guide).toContain("--system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL");
    expect(guide).toContain(`-replace='${RECORD}'`);
    // on purpose (the nodes reinstalled): replacing the record takes the new mode, no stateful VM is touched
    await terraformStep(sandbox, changed, "encryption-replaced", "plan", ["plan", "-input=false", `-replace=${RECORD}`, "-out=replaced"]);
    const deliberate = summarize(await planChanges(sandbox, changed, "encryption-replaced", "replaced"));
    expect(deliberate.replaced).toEqual([RECORD]);
    expect(deliberate.updated).toEqual(applies(ALL_NODES).sort());
    expect(deliberate.destroyed.filter((a) => STATEFUL.test(a))).toEqual([]);
  }, 600_000);

  it.each(ROWS.map((r) => [r.change, r] as const))("%s", async (_, row) => {
    const label = row.change.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
    const work = await appliedCopy(row.before ?? {}, label);
    const v2 = synthLab({ ...row.before, ...row.after, talos: { ...row.before?.talos, ...row.after.talos } }, join(sandbox.root, `v2-${label}`));
    row.edit?.(v2);
    prepareStack(v2, work);
    if (row.vars) {
      const file = join(work, "verify.auto.tfvars.json");
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), ...row.vars }, null, 2));
    }
    await terraformStep(sandbox, work, label, "plan", ["plan", "-input=false", "-out=v2plan"]);
    const got = summarize(await planChanges(sandbox, work, label, "v2plan"));
    const count = (xs: string[]) => (xs.length ? `${xs.length}: ${xs.map((a) => a.replace(/^module\./, "")).join(", ")}` : "0");
    table.push(`| ${row.change} | ${count(got.created)} | ${count(got.updated)} | ${count(got.replaced)} | ${count(got.destroyed)} |`);
    console.log(`${row.change}: +${got.created.length} ~${got.updated.length} ±${got.replaced.length} -${got.destroyed.length}`);
    expect(got).toEqual({
      created: [...(row.expect.created ?? [])].sort(),
      updated: [...(row.expect.updated ?? [])].sort(),
      replaced: [...(row.expect.replaced ?? [])].sort(),
      destroyed: [...(row.expect.destroyed ?? [])].sort(),
    });
    if (!row.inherentReplacement) expect(got.replaced.filter((a) => STATEFUL.test(a))).toEqual([]);
  }, 600_000);
});
