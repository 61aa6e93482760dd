import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { TerraformSandbox } from "../tools/tfsim/sandbox";
import { synthLab } from "../constructs/emit/synth-lab";
import { planChanges, prepareStack, terraformStep, VERIFY_STEPS, VerifyError, verifyStack, workDir } from "../tools/tfsim/verify-stack";
import { synthesizeExamples, verifyStacks } from "../tools/verify";
import { runAsync } from "./support/run";
import { countedOut, declaredResources, PROJECT_ROOT } from "./support/tree";

const schemaDir = findSchemaDir(PROJECT_ROOT);
const hasTerraform = spawnSync("terraform", ["version"], { encoding: "utf8" }).status === 0;
const skipReason = !schemaDir ? SCHEMA_DIR_MISSING : !hasTerraform ? "terraform is not on the PATH" : undefined;
if (skipReason) console.warn(`terraform: skipped — ${skipReason}`);

describe.skipIf(!!skipReason)("terraform accepts, plans and applies every synthesized stack", () => {
  let sandbox: TerraformSandbox;
  let stacks: string[];
  beforeAll(() => {
    sandbox = TerraformSandbox.create(schemaDir!);
    stacks = synthesizeExamples(join(sandbox.root, "synth"));
  });
  afterAll(() => sandbox?.dispose());

  it("verifies the reference lab and every example spec, reporting each step as it passes", async () => {
    const heard: string[] = [];
    const running = verifyStacks(sandbox, stacks, 2, (stack, step) => heard.push(`${stack} ${step}`));
    let settled = false;
    void running.finally(() => (settled = true));
    // the first step is reported while the rest still runs, not at the end
    while (heard.length === 0 && !settled) await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    const results = await running;
    for (const r of results) expect(heard.filter((h) => h.startsWith(`${r.stack} `))).toEqual(VERIFY_STEPS.map((s) => `${r.stack} ${s}`));
    console.log(results.map((r) => r.line).join("\n"));
    expect(results.map((r) => r.stack)).toEqual(["talos-lab", "fifty-workers", "homelab", "single-cp", "three-nodes"]);
    results.forEach((r, i) => {
      expect(r.line).toBe(`${r.stack}: init ok, validate ok, plan ${r.toAdd} to add, apply ok, re-plan no changes`);
      expect(r.toAdd).toBe(declaredResources(stacks[i]) - countedOut(stacks[i]));
    });
  }, 600_000); // five stacks, each init/validate/plan/apply/plan; minutes on a loaded machine

  it("answers RPCs it does not simulate with a clear diagnostic (import)", async () => {
    const dir = join(sandbox.root, "import");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "main.tf.json"),
      JSON.stringify({
        terraform: { required_providers: { proxmox: { source: "bpg/proxmox", version: "0.111.1" } } },
        resource: { proxmox_virtual_environment_pool: { lab: { pool_id: "lab" } } },
      }),
    );
    expect((await sandbox.run(dir, ["init", "-backend=false", "-no-color"])).status).toBe(0);
    const r = await sandbox.run(dir, ["import", "-no-color", "proxmox_virtual_environment_pool.lab", "lab"]);
    expect(r.status).toBe(1);
    expect(r.stderr.replace(/\s+/g, " ")).toContain("Import is not supported by the simulated provider");
  });

  it("keeps every VM when the Talos version and schematic change after apply", async () => {
    const before = synthLab({}, join(sandbox.root, "day2-before"));
    const after = synthLab(
      { talos: { version: "v1.13.10", extensions: ["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools"] } },
      join(sandbox.root, "day2-after"),
    );
    const work = workDir(sandbox, "day2");
    prepareStack(before, work);
    const step = (name: string, args: string[]) => terraformStep(sandbox, work, "day2", name, args);
    await step("init", ["init", "-backend=false", "-input=false"]);
    await step("apply", ["apply", "-input=false", "-auto-approve"]);
    prepareStack(after, work);
    await step("plan", ["plan", "-input=false", "-out=day2plan"]);
    const changes = await planChanges(sandbox, work, "day2", "day2plan");
    const vms = changes.filter((c) => c.type === "proxmox_virtual_environment_vm");
    expect(vms.length).toBe(9);
    expect(vms.filter((c) => c.change.actions.join() !== "no-op").map((c) => c.address)).toEqual([]);
    // what does change: the schematic, the boot image downloads, every node's configuration, and the
    // client's user-data snippet (its talosctl follows the cluster's version)
    const moved = new Set(changes.filter((c) => c.change.actions.join() !== "no-op").map((c) => c.type));
    expect([...moved].sort()).toEqual([
      "proxmox_download_file",
      "proxmox_virtual_environment_file",
      "talos_image_factory_schematic",
      "talos_machine_configuration_apply",
    ]);
  });

  // Negative controls: the harness must fail, with terraform's own message, on real mistakes.
  const planted = async (edit: (stackDir: string) => void): Promise<VerifyError> => {
    const dir = synthesizeExamples(join(sandbox.root, `planted-${Math.random().toString(36).slice(2)}`))[0];
    edit(dir);
    try {
      await verifyStack(sandbox, dir, "planted");
    } catch (e) {
      if (e instanceof VerifyError) return e;
      throw e;
    }
    throw new Error("the planted mistake was accepted");
  };
  const editJson = (file: string, fn: (doc: any) => void) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const doc = JSON.parse(readFileSync(file, "utf8"));
    fn(doc);
    writeFileSync(file, JSON.stringify(doc, null, 2));
  };
  const srvVm = (dir: string, fn: (vm: Record<string, unknown>) => void) =>
    editJson(join(dir, "modules", "srv", "main.tf.json"), (d) => fn(d.resource.proxmox_virtual_environment_vm["talos-cp-1"]));

  it.each([
    [
      "a misspelled attribute",
      (d: string) => srvVm(d, (vm) => ((vm.node_nmae = vm.node_name), delete vm.node_name)),
      'No argument or block type is named "node_nmae". Did you mean "node_name"?',
    ],
    ["a missing required attribute", (d: string) => srvVm(d, (vm) => delete vm.node_name), 'The argument "node_name" is required, but no definition was found.'],
    [
      "an object attribute missing a key",
      (d: string) => srvVm(d, (vm) => (vm.network_device = [{ bridge: "vmbr3" }])),
      'Inappropriate value for attribute "network_device": element 0: attributes "disconnected", "enabled", "firewall", "mac_address", "model", "mtu", "queues", "rate_limit", "trunks", and "vlan_id" are required.',
    ],
    [
      "a reference to an undeclared resource",
      (d: string) => srvVm(d, (vm) => (vm.pool_id = "${proxmox_virtual_environment_pool.nope.pool_id}")),
      'A managed resource "proxmox_virtual_environment_pool" "nope" has not been declared in module.srv.',
    ],
    [
      "a module output that does not exist",
      (d: string) => editJson(join(d, "cdk.tf.json"), (doc) => (doc.output.kubernetes_api_url.value = "${module.srv.no_such_output}")),
      'This object does not have an attribute named "no_such_output".',
    ],
  ])("rejects %s", async (_, edit, message) => {
    const err = await planted(edit);
    expect(err.step).toBe("validate");
    // terraform wraps long messages over several lines
    expect(err.message.replace(/\s+/g, " ")).toContain(message);
  });
});

describe.skipIf(!!skipReason)("the simulated providers as daemons", () => {
  let sandbox: TerraformSandbox;
  beforeAll(() => (sandbox = TerraformSandbox.create(schemaDir!)));
  afterAll(() => sandbox?.dispose());

  it("still checks the lock file: validate loads the providers through it, and a forged hash fails", async () => {
    const work = workDir(sandbox, "lock");
    prepareStack(synthLab({}, join(sandbox.root, "lock-synth")), work);
    expect((await sandbox.run(work, ["init", "-backend=false", "-input=false", "-no-color"])).status).toBe(0);
    const lock = join(work, ".terraform.lock.hcl");
    writeFileSync(lock, readFileSync(lock, "utf8").replace(/"h1:[^"]+"/g, '"h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="'));
    const r = await sandbox.run(work, ["validate", "-no-color"]);
    expect(r.status).toBe(1);
    expect(r.stderr.replace(/\s+/g, " ")).toMatch(/does not match any of the checksums|lock file/);
  });

  it("npm run verify runs every step of a stack and exits 0 only after the last", async () => {
    const stack = synthLab({}, join(sandbox.root, "cli-synth"));
    const r = await runAsync(join(PROJECT_ROOT, "node_modules", ".bin", "tsx"), [join(PROJECT_ROOT, "tools", "verify.ts"), stack], { cwd: PROJECT_ROOT });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, 5).map((l) => l.replace(/ \(\d+\.\d s\)$/, ""))).toEqual(VERIFY_STEPS.map((s) => `verify: talos-lab: ${s} ok`));
    expect(lines[5]).toMatch(/^talos-lab: init ok, validate ok, plan \d+ to add, apply ok, re-plan no changes$/);
    expect(lines[6]).toMatch(/^verify: 1 stack in \d+\.\d s$/);
  }, 300_000);
});
