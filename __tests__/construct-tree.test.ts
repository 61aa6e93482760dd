import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { App, Aspects, IAspect } from "cdktf";
import { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VirtualEnvironmentVm } from "../.gen/providers/proxmox/virtual-environment-vm";
import { Release } from "../.gen/providers/helm/release";
import { stableJson } from "../constructs/render/text/stable-json";
import { validateLabSpec } from "../constructs/lab/validate";
import { labFlows } from "../constructs/model/lab-flows";
import { buildLabModel } from "../constructs/lab/build";
import { LabVm } from "../constructs/proxmox/lab-vm";
import { MODULE_ORDER, TalosEnclave } from "../constructs/talos-enclave";
import { EdgeZone } from "../constructs/zones/edge-zone";
import { ZoneModule } from "../constructs/zones/zone-module";
import { PROJECT_ROOT, readTree, removeTempDir, tempDir } from "./support/tree";

/**
 * The zone modules are children of the enclave in the construct tree: aspects added to the enclave
 * reach every module's resources, `enclave.node.findAll()` finds every VM, and the written tree is the
 * same as when the modules lived on private roots (the golden tree).
 */

const GOLDEN = join(PROJECT_ROOT, "examples", "reference-lab");
const STACK = "stacks/talos-lab";
const TAG = "aspect-audited";

type ModuleJson = { resource?: Record<string, Record<string, Record<string, unknown>>> };
const moduleJson = (root: string, name: string): ModuleJson => JSON.parse(readFileSync(join(root, STACK, "modules", name, "main.tf.json"), "utf8"));
/** VM names as the written module JSON lists them, by module. */
const writtenVms = (root: string) =>
  Object.fromEntries(MODULE_ORDER.map((m) => [m, Object.values(moduleJson(root, m).resource?.proxmox_virtual_environment_vm ?? {}).map((vm) => vm.name as string)]));

/** Synthesizes the reference lab with cdktf's App (as synth does), after `configure` added aspects. */
function synthApp(outName: string, configure: (lab: TalosEnclave) => void = () => {}): { root: string; lab: TalosEnclave } {
  const root = join(tempDir("tree"), outName);
  const app = new App({ outdir: root, stackTraces: false });
  const lab = new TalosEnclave(app, "talos-lab");
  configure(lab);
  app.synth();
  return { root, lab };
}

describe("an aspect added to the enclave", () => {
  const visitedVms: LabVm[] = [];
  let root = "";
  // root stays "" when the synth throws: only a folder tempDir made is ever removed
  afterAll(() => root && removeTempDir(join(root, "..")));
  beforeAll(() => {
    root = synthApp("cdktf.out", (lab) => {
      // records every lab VM it meets
      Aspects.of(lab).add({ visit: (node: IConstruct) => void (node instanceof LabVm && visitedVms.push(node)) } satisfies IAspect);
      // tags every Proxmox VM and describes every Helm release: an escape hatch on every zone
      Aspects.of(lab).add({
        visit: (node: IConstruct) => {
          if (node instanceof VirtualEnvironmentVm) node.tags = [...(node.tagsInput ?? []), TAG];
          if (node instanceof Release) node.description = TAG;
        },
      } satisfies IAspect);
    }).root;
  });

  it("visits every VM of every module, as the written module JSON lists them", () => {
    const written = writtenVms(root);
    const all = Object.values(written).flat().sort();
    expect(all.length).toBeGreaterThanOrEqual(9);
    expect(visitedVms.map((v) => v.vm.nameInput).sort()).toEqual(all);
    for (const m of ["edge", "mgmt", "dmz", "srv"]) expect(written[m].length, m).toBeGreaterThan(0);
  });

  it("changes the written module JSON of every zone", () => {
    for (const m of MODULE_ORDER) {
      const resources = moduleJson(root, m).resource ?? {};
      const vms = Object.entries(resources.proxmox_virtual_environment_vm ?? {});
      const releases = Object.entries(resources.helm_release ?? {});
      expect(vms.length + releases.length, `${m} has VMs or releases`).toBeGreaterThan(0);
      for (const [name, vm] of vms) expect(vm.tags, `${m}.${name}`).toContain(TAG);
      for (const [name, release] of releases) expect(release.description, `${m}.${name}`).toBe(TAG);
    }
    const golden = readFileSync(join(GOLDEN, STACK, "modules", "edge", "main.tf.json"), "utf8");
    expect(golden, "the golden tree has no such tag (the planted change is the aspect's)").not.toContain(TAG);
  });

  it("leaves the manifest with the one root stack and no stack folders for the modules", () => {
    const manifest = JSON.parse(readFileSync(join(root, "manifest.json"), "utf8"));
    expect(Object.keys(manifest.stacks)).toEqual(["talos-lab"]);
    expect(readdirSync(join(root, "stacks"))).toEqual(["talos-lab"]);
    for (const m of MODULE_ORDER) {
      const json = moduleJson(root, m) as Record<string, unknown>;
      expect(JSON.stringify((json.terraform as Record<string, unknown>) ?? {}), m).not.toContain("backend");
    }
  });
});

describe("the enclave's construct tree", () => {
  const { root, lab } = synthApp("reference-lab");
  afterAll(() => removeTempDir(join(root, "..")));

  it("holds the zone modules as children with their module names as ids", () => {
    for (const m of MODULE_ORDER) {
      expect(lab.zones[m].node.scope, m).toBe(lab);
      expect(lab.zones[m].node.id).toBe(m);
      expect(lab.node.tryFindChild(m)).toBe(lab.zones[m]);
    }
  });

  it("finds every VM with node.findAll()", () => {
    const found = lab.node.findAll().filter((c): c is LabVm => c instanceof LabVm);
    const written = Object.values(writtenVms(root)).flat().sort();
    expect(found.map((v) => v.vm.nameInput).sort()).toEqual(written);
    for (const v of found) expect(lab.vm(v.node.id)).toBe(v);
  });

  it("writes the golden tree byte for byte (manifest, cdk.tf.json, module JSON, sidecars)", () => {
    // the marker is synth's (writeOutputTree), not cdktf's App
    const golden = new Map([...readTree(GOLDEN)].filter(([p]) => !p.endsWith(".talos-enclave-synth.json")));
    const written = readTree(root);
    expect([...written.keys()]).toEqual([...golden.keys()]);
    for (const [path, text] of golden) expect(written.get(path), path).toBe(text);
    // the construct paths in the module JSON start at the module, not at the enclave
    expect(written.get(`${STACK}/modules/edge/main.tf.json`)).toContain('"path": "edge/ubuntu-image/pve"');
    expect(written.get(`${STACK}/modules/edge/main.tf.json`)).not.toContain("talos-lab/edge");
  });

  it("writes no stack folder of a module's own", () => {
    for (const m of MODULE_ORDER) expect(existsSync(join(root, "stacks", m)), m).toBe(false);
  });
});

describe("a zone module built on its own (ZoneModule.host())", () => {
  it("renders the same module JSON as inside the enclave", () => {
    const model = buildLabModel(validateLabSpec({}));
    const edge = new EdgeZone(ZoneModule.host(), "edge", { model, flows: labFlows(model) });
    expect(stableJson(edge.toModuleJson())).toBe(readFileSync(join(GOLDEN, STACK, "modules", "edge", "main.tf.json"), "utf8"));
  });
});
