import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { changedPaths, PROJECT_ROOT, readTree, synthToTemp } from "./support/tree";

const GOLDEN = join(PROJECT_ROOT, "examples", "reference-lab");

describe("reference lab golden tree", () => {
  const out = synthToTemp({}, "golden", "reference-lab");
  afterAll(() => out.cleanup());

  it("is committed", () => {
    expect(existsSync(GOLDEN)).toBe(true);
  });

  it("reproduces examples/reference-lab byte for byte (regenerate with npm run golden)", () => {
    const golden = readTree(GOLDEN);
    expect(changedPaths(golden, out.files)).toEqual([]);
    expect([...out.files.keys()]).toEqual([...golden.keys()]);
  });

  it("has the output contract's layout", () => {
    const stack = "stacks/talos-lab";
    for (const f of ["cdk.tf.json", "README.md", ...["edge", "mgmt", "dmz", "srv", "platform"].map((m) => `modules/${m}/main.tf.json`)]) {
      expect(out.files.has(`${stack}/${f}`), f).toBe(true);
    }
  });

  it("contains no absolute paths, timestamps or secret-looking literals", () => {
    for (const [path, text] of out.files) {
      // paths of the build machine; the admin's home on the lab VMs (/home/labadmin) is meant
      expect(text, path).not.toMatch(/\/(root|tmp|work|Users)\/|\/home\/(?!labadmin\/)/);
      expect(text, path).not.toMatch(/\b20\d\d-\d\d-\d\dT\d\d:\d\d/);
      expect(text, path).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY|PVEAPIToken=|"password":\s*"[^$]/);
    }
  });
});
