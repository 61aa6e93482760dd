import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { stableJson } from "../constructs/render/text/stable-json";
import { loadLabSpec } from "../constructs/lab/load";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { TalosEnclave } from "../constructs/talos-enclave";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { checkTerraformJson, formatProblems, loadProviderSchemas } from "./support/conformance";
import { zoneSpec } from "./support/spec-arbitrary";
import { PROJECT_ROOT, scratchApp, synthToTemp } from "./support/tree";

const schemaDir = findSchemaDir(PROJECT_ROOT);
if (!schemaDir) console.warn(`synth conformance: skipped — ${SCHEMA_DIR_MISSING}`);

/** Every Terraform JSON document of a synthesized lab, by path. */
function terraformDocs(files: Map<string, string>): [string, unknown][] {
  return [...files].filter(([p]) => p.endsWith(".tf.json")).map(([p, t]) => [p, JSON.parse(t)]);
}

/** Synthesizes in memory (no files): the root document plus every module document. */
function synthInMemory(spec: LabSpecInput, tweak?: (lab: TalosEnclave) => void): [string, unknown][] {
  const lab = new TalosEnclave(scratchApp(), "lab", { spec });
  tweak?.(lab);
  const docs: [string, unknown][] = [["cdk.tf.json", JSON.parse(stableJson(lab.toTerraform()))]];
  for (const [p, t] of lab.files()) if (p.endsWith(".tf.json")) docs.push([p, JSON.parse(t)]);
  return docs;
}

describe.skipIf(!schemaDir)("synthesized modules conform to the provider schemas", () => {
  const schemas = schemaDir ? loadProviderSchemas(schemaDir) : undefined!;
  const check = (docs: [string, unknown][]) => docs.flatMap(([file, doc]) => checkTerraformJson(doc, schemas, file));
  const cleanups: (() => void)[] = [];
  afterAll(() => cleanups.forEach((c) => c()));

  it.each([
    ["the reference lab", {}],
    ["examples/lab.yaml", loadLabSpec(join(PROJECT_ROOT, "examples", "lab.yaml"))],
  ])("%s", (_, spec) => {
    const out = synthToTemp(spec, "conform");
    cleanups.push(out.cleanup);
    const docs = terraformDocs(out.files);
    // five modules, the root, and the Proxmox identity bootstrap
    expect(docs.length).toBe(7);
    const problems = check(docs);
    expect(formatProblems(problems)).toBe("");
  });

  it("catches a misspelled attribute planted through the escape hatch", () => {
    const problems = check(synthInMemory({}, (lab) => lab.vm("talos-cp-1").vm.addOverride("node_nmae", "pve")));
    expect(formatProblems(problems)).toContain('resource.proxmox_virtual_environment_vm.talos-cp-1: unknown attribute "node_nmae"');
  });

  it("checks terraform's built-in terraform_data too (the disk-encryption record): a misspelled attribute is caught", () => {
    const problems = check(synthInMemory({}, (lab) => lab.zones.srv.talos.diskEncryptionRecord.addOverride("inptu", { mode: "tpm" })));
    expect(formatProblems(problems)).toContain('resource.terraform_data.disk_encryption: unknown attribute "inptu"');
  });

  it("catches a network_device object missing a key", () => {
    const problems = check(
      // firewall stays on: a NIC without it would bypass the VM's Proxmox rules, which the separation check refuses
      synthInMemory({}, (lab) => lab.vm("registry").vm.addOverride("network_device", [{ bridge: "vmbr1", model: "virtio", firewall: true }])),
    );
    expect(formatProblems(problems)).toContain('missing object attribute "vlan_id"');
  });

  it("catches a block written as an attribute of the wrong shape", () => {
    const problems = check(synthInMemory({}, (lab) => lab.vm("pfsense").vm.addOverride("cpu", "2 cores")));
    expect(problems.map((p) => p.message)).toContain('block "cpu" must be an object or an array of objects, got string "2 cores"');
  });

  // Random valid labs: node counts, subnets, VLANs, bridge management, encryption, SSH agent.
  const octet = fc.integer({ min: 1, max: 250 });
  const labArb = fc
    .record({
      nodes: fc.integer({ min: 1, max: 3 }),
      cps: fc.constantFrom(1, 3, 5),
      workers: fc.integer({ min: 0, max: 8 }),
      mgmt: octet,
      dmz: octet,
      srv: octet.filter((o) => o < 96 || (o > 111 && o !== 244)),
      vlans: fc.boolean(),
      manageBridges: fc.boolean(),
      encryption: fc.boolean(),
      sshAgent: fc.boolean(),
      secureBoot: fc.boolean(),
    })
    .map((r): LabSpecInput => {
      const uplinks: Record<string, string[]> = r.vlans ? { vmbr1: ["eno2"] } : { vmbr1: ["eno2"], vmbr2: ["eno3"], vmbr3: ["eno4"] };
      const nodes = Array.from({ length: r.nodes }, (_, i) => ({ name: `pve${i + 1}`, ...(r.nodes > 1 ? { uplinks } : {}) }));
      const zone = zoneSpec(r.vlans);
      const srv = `10.${r.srv}.0`;
      return {
        proxmox: { nodes, manageBridges: r.manageBridges || r.nodes > 1, sshAgent: r.sshAgent },
        zones: {
          mgmt: zone("vmbr1", `192.168.${r.mgmt}`, 10, "mgmt.lab.internal"),
          dmz: zone("vmbr2", `172.16.${r.dmz}`, 20, "dmz.lab.internal"),
          srv: zone("vmbr3", srv, 30, "srv.lab.internal"),
        },
        hosts: [
          { name: "registry", zone: "mgmt", role: "registry", ip: `192.168.${r.mgmt}.11`, node: nodes[nodes.length - 1].name },
          { name: "mgmt-client", zone: "mgmt", role: "client", ip: `192.168.${r.mgmt}.20` },
          { name: "haproxy-ingress-1", zone: "dmz", role: "ingress", ip: `172.16.${r.dmz}.10` },
        ],
        talos: {
          secureBoot: r.secureBoot,
          vip: `${srv}.10`,
          controlPlanes: Array.from({ length: r.cps }, (_, i) => ({ name: `cp-${i + 1}`, ip: `${srv}.${11 + i}` })),
          workers: Array.from({ length: r.workers }, (_, i) => ({ name: `worker-${i + 1}`, ip: `${srv}.${100 + i}` })),
        },
        state: { encryption: r.encryption },
      };
    });

  it("holds for random valid labs", () => {
    fc.assert(
      fc.property(labArb, (spec) => {
        const docs = synthInMemory(spec);
        expect(formatProblems(check(docs))).toBe("");
      }),
      { numRuns: 25, seed: 20261128 },
    );
  });
});
