import { join } from "node:path";
import { TerraformOutput, TerraformStack, Testing } from "cdktf";
import { afterAll, describe, expect, it } from "vitest";
import { ProxmoxProvider } from "../.gen/providers/proxmox/provider";
import { VirtualEnvironmentVm } from "../.gen/providers/proxmox/virtual-environment-vm";
import { generateBindings } from "../providers/gen";
import { lazyBindings } from "../providers/lazy-bindings";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { changedPaths, PROJECT_ROOT, readTree, removeTempDir, tempDir } from "./support/tree";

const schemaDir = findSchemaDir(PROJECT_ROOT);
if (!schemaDir) console.warn(`bindings: skipped — ${SCHEMA_DIR_MISSING}`);

describe.skipIf(!schemaDir)(".gen bindings", () => {
  const out = join(tempDir("gen"), ".gen");
  afterAll(() => removeTempDir(join(out, "..")));

  it("are what npm run gen produces from the pinned schemas (run npm run gen and commit)", async () => {
    await generateBindings(out, schemaDir!);
    const fresh = readTree(out);
    const committed = readTree(join(PROJECT_ROOT, ".gen"));
    expect(fresh.size).toBeGreaterThan(10);
    expect(changedPaths(committed, fresh)).toEqual([]);
  });
});

describe("lazy nested blocks in the bindings", () => {
  it("makes a block's reference only when it is used, with the same getters, putters, resets and output", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "lazy");
    new ProxmoxProvider(stack, "proxmox", {});
    const vm = new VirtualEnvironmentVm(stack, "vm", { nodeName: "pve", agent: { enabled: true }, cpu: { cores: 2 } });
    vm.resetAgent();
    vm.putMemory({ dedicated: 4096 });
    const ref = vm.cpu.cores; // a reference into a block set in the config
    new TerraformOutput(stack, "cores", { value: ref });
    const json = JSON.parse(Testing.synth(stack)) as { resource: Record<string, Record<string, Record<string, unknown>>>; output: Record<string, { value: string }> };
    const synthesized = json.resource.proxmox_virtual_environment_vm.vm;
    expect(synthesized.agent).toBeUndefined();
    expect(synthesized.cpu).toEqual({ cores: 2 });
    expect(synthesized.memory).toEqual({ dedicated: 4096 });
    expect(synthesized.disk).toBeUndefined();
    expect(json.output.cores.value).toBe("${proxmox_virtual_environment_vm.vm.cpu[0].cores}"); // as the eager bindings wrote it
    // an untouched block still answers its getters
    expect(vm.efiDiskInput).toBeUndefined();
    expect(vm.watchdog.enabledInput).toBeUndefined();
  });

  it("refuses generated code of a shape the transform does not know", () => {
    const reassigning = "export class X extends cdktf.TerraformResource {\n  private _a = new A(this, \"a\");\n  f() { this._a = undefined; }\n}\n";
    expect(() => lazyBindings(reassigning, "x.ts")).toThrow("lazy bindings: x.ts reassigns _a");
    const plain = "// header\n";
    expect(lazyBindings(plain, "y.ts")).toBe(plain);
    const nested = "export class Y extends cdktf.ComplexObject {\n  private _a = new A(this, \"a\");\n  set v(value) {\n    this._a.internalValue = value.a;\n  }\n}\n";
    expect(lazyBindings(nested, "y.ts")).toBe(
      "export class Y extends cdktf.ComplexObject {\n  private __a?: A;\n  private get _a(): A {\n    return (this.__a ??= new A(this, \"a\"));\n  }\n  set v(value) {\n    if (value.a !== undefined || this.__a !== undefined) this._a.internalValue = value.a;\n  }\n}\n",
    );
  });
});
