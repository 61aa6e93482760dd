import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { changedPaths, PROJECT_ROOT, readTree, tempDir } from "./support/tree";

const work = tempDir("cli");
afterAll(() => rmSync(work, { recursive: true, force: true }));

function synth(args: string[], env: Record<string, string> = {}) {
  return spawnSync(join(PROJECT_ROOT, "node_modules", ".bin", "tsx"), [join(PROJECT_ROOT, "main.ts"), ...args], {
    cwd: work,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
}

describe("npm run synth", () => {
  // named like the golden tree's folder: the default state folder is named after it
  const out = join(work, "out", "reference-lab");

  it("writes the reference lab and says where", () => {
    const r = synth(["--out", out]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^synth: wrote out\/reference-lab\/stacks\/talos-lab — 5 modules, 69 resources, 38 sidecar files in \d+\.\d s$/);
    // nothing else lands in the working directory (no stray App output folders)
    expect(readdirSync(work)).toEqual(["out"]);
    expect(changedPaths(readTree(out), readTree(join(PROJECT_ROOT, "examples", "reference-lab")))).toEqual([]);
  });

  it("rejects a bad spec with every problem, exit code 2, no stack trace, and leaves the tree intact", () => {
    const before = readTree(out);
    const bad = join(work, "bad.yaml");
    writeFileSync(bad, "talos:\n  vip: 10.10.100.11\n  clusterName: Lab_1\nbgp:\n  clusterAs: 65000\n  firewallAs: 65000\n");
    const r = synth(["--spec", bad, "--out", out]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toEqual([
      "the lab spec has 3 problems:",
      `  talos.clusterName: "Lab_1" — must be a DNS label (lower-case letters, digits and '-', 1-63 characters, no leading or trailing '-')`,
      // the control planes' addresses are defaults, so the written VIP wins and the default is named
      `  talos.controlPlanes[0].ip: (missing) — defaults to 10.10.100.11 (controlPlane offset 11 + 0 in zones.srv.cidr), which equals talos.vip (give the node an ip; the VIP floats between control planes)`,
      `  bgp.clusterAs: 65000 — must differ from bgp.firewallAs (pfSense and Calico peer over eBGP)`,
    ]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readTree(out)).toEqual(before);
  });

  it("reports unreadable and malformed files as user errors", () => {
    const missing = synth(["--spec", "nope.yaml", "--out", out]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('(file): "nope.yaml" — cannot be read: ENOENT (check the --spec path)');
    const broken = join(work, "broken.yaml");
    writeFileSync(broken, "talos: [unclosed\n");
    const r = synth(["--spec", broken, "--out", out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("is not valid YAML");
  });

  it("shows help and the version with exit 0, writing nothing", () => {
    const before = readdirSync(work);
    const help = synth(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("usage: npm run synth -- [--spec lab.yaml] [--out dir]");
    expect(help.stdout).toContain("Exit codes: 0 written (or checked, or compared), 1 an internal failure, 2 bad arguments or a bad spec");
    expect(help.stdout).toContain("--check");
    expect(help.stdout).toContain("--diff");
    const version = synth(["--version"]);
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(`talos-enclave ${JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")).version}`);
    expect(readdirSync(work)).toEqual(before);
  });

  it("rejects unknown arguments", () => {
    const r = synth(["--sepc", "x"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("synth: unknown argument --sepc");
    const both = synth(["--check", "--diff"]);
    expect(both.status).toBe(2);
    expect(both.stderr).toContain("synth: --check and --diff exclude each other");
  });

  it("--check validates and renders without writing anything, and fails a bad spec with exit 2", () => {
    const before = readTree(out);
    const entries = readdirSync(work);
    const ok = synth(["--check", "--out", out]);
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(ok.stdout.trim()).toMatch(/^synth: check passed, nothing written — 5 modules, 69 resources, 38 sidecar files in \d+\.\d s$/);
    const fresh = join(work, "never-written");
    expect(synth(["--check", "--out", fresh]).status).toBe(0);
    const bad = join(work, "bad-check.yaml");
    writeFileSync(bad, "bgp:\n  clusterAs: 65000\n  firewallAs: 65000\n");
    const refused = synth(["--check", "--spec", bad, "--out", out]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("bgp.clusterAs: 65000 — must differ from bgp.firewallAs");
    expect(readTree(out)).toEqual(before);
    expect(readdirSync(work).filter((e) => e !== "bad-check.yaml")).toEqual(entries);
  });

  it("--diff lists what a synth would change, with line counts, and writes nothing", () => {
    const same = synth(["--diff", "--out", out]);
    expect(same.status).toBe(0);
    expect(same.stdout.trim()).toBe("synth: out/reference-lab is up to date, nothing written");
    const before = readTree(out);
    const spec = join(work, "three-workers.yaml");
    writeFileSync(spec, "talos:\n  workers:\n    - { name: talos-worker-1, ip: 10.10.100.21 }\n    - { name: talos-worker-2, ip: 10.10.100.22 }\n    - { name: talos-worker-3, ip: 10.10.100.23 }\n");
    const r = synth(["--diff", "--spec", spec, "--out", out]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^synth: \d+ files of out\/reference-lab would change \(\d+ changed, 1 added, 0 removed\), nothing written$/);
    // the new node's patch, every line of it added
    const patch = readFileSync(join(out, "stacks/talos-lab/talos/nodes/talos-worker-1.yaml"), "utf8").split("\n").length - 1;
    expect(lines).toContain(`  added    stacks/talos-lab/talos/nodes/talos-worker-3.yaml  +${patch}`);
    expect(lines.find((l) => l.includes("stacks/talos-lab/modules/srv/main.tf.json"))).toMatch(/^ {2}changed {2}stacks\/talos-lab\/modules\/srv\/main\.tf\.json {2}\+\d+( -\d+)?$/);
    // the operator's files are never listed, and nothing was written
    expect(lines.some((l) => l.includes(".state"))).toBe(false);
    expect(readTree(out)).toEqual(before);
  });

  it("--check and --diff refuse what a synth would refuse, and judge a symlinked folder by its target", () => {
    const foreign = join(work, "foreign");
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, "notes.md"), "mine\n");
    for (const mode of ["--check", "--diff"]) {
      const r = synth([mode, "--out", foreign]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("holds files talos-enclave did not write (notes.md)");
    }
    // an operator file where the new tree writes
    const clash = join(work, "clash", "reference-lab");
    expect(synth(["--out", clash]).status).toBe(0);
    const spec = join(work, "renamed.yaml");
    writeFileSync(spec, "name: other-lab\n");
    mkdirSync(join(clash, "stacks", "other-lab"), { recursive: true });
    writeFileSync(join(clash, "stacks", "other-lab", "flows.json"), "{}");
    const r = synth(["--diff", "--spec", spec, "--out", clash]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("was not written by synth, and the new tree writes there");
    // a link to a tree is the tree: nothing would change
    symlinkSync(out, join(work, "link-out"));
    const linked = synth(["--diff", "--out", join(work, "link-out")]);
    expect(linked.stdout.trim()).toBe("synth: link-out is up to date, nothing written");
    // a flag is never taken for a value
    const flag = synth(["--out", "--check"]);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain("--out needs a value (got --check");
    expect(readdirSync(work)).not.toContain("--check");
  });

  it("reports each phase on stderr for a lab of 100 Talos nodes or more", () => {
    const spec = join(work, "big.yaml");
    const workers = Array.from({ length: 97 }, (_, i) => `    - { name: talos-worker-${i + 1}, ip: 10.10.1.${i + 1} }`).join("\n");
    writeFileSync(
      spec,
      `zones:\n  srv: { bridge: vmbr3, cidr: 10.10.0.0/20, gateway: 10.10.0.1, domain: srv.lab.internal }\ntalos:\n  vip: 10.10.0.10\n  controlPlanes:\n    - { name: talos-cp-1, ip: 10.10.0.11 }\n    - { name: talos-cp-2, ip: 10.10.0.12 }\n    - { name: talos-cp-3, ip: 10.10.0.13 }\n  workers:\n${workers}\n`,
    );
    const r = synth(["--spec", spec, "--out", join(work, "big", "cdktf.out")]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.trim().split("\n").map((l) => l.replace(/\d+\.\d s$/, "T"))).toEqual([
      "synth: validate T",
      "synth: build    T",
      "synth: render   T",
      "synth: write    T",
    ]);
    expect(r.stdout.trim()).toMatch(/— 5 modules, \d+ resources, \d+ sidecar files in \d+\.\d s$/);
  });

  it("takes the spec from TALOS_ENCLAVE_SPEC, as cdktf synth does", () => {
    const env = synth(["--out", join(work, "env", "cdktf.out")], { TALOS_ENCLAVE_SPEC: join(PROJECT_ROOT, "examples", "lab.yaml") });
    const arg = synth(["--out", join(work, "arg", "cdktf.out"), "--spec", join(PROJECT_ROOT, "examples", "lab.yaml")]);
    expect(env.status).toBe(0);
    expect(arg.status).toBe(0);
    const a = readTree(join(work, "env", "cdktf.out"));
    expect([...a.keys()]).toContain("stacks/homelab/modules/srv/main.tf.json");
    expect(changedPaths(a, readTree(join(work, "arg", "cdktf.out")))).toEqual([]);
  });
});

describe("the compiled entry point (npm run synth)", () => {
  it("writes the same tree as the sources (build with npm run build)", () => {
    const dir = join(work, "compiled", "reference-lab");
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "dist", "main.js"), "--out", dir], { cwd: work, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(changedPaths(readTree(dir), readTree(join(PROJECT_ROOT, "examples", "reference-lab")))).toEqual([]);
  });
});

describe("the compiled entry point's code cache", () => {
  it("is used when it matches, and a damaged one is ignored: the tree is the same", () => {
    const dist = join(work, "dist-copy");
    cpSync(join(PROJECT_ROOT, "dist"), dist, { recursive: true });
    const run = (label: string) =>
      spawnSync(process.execPath, [join(dist, "main.js"), "--out", join(work, "cache", label, "reference-lab")], {
        cwd: work,
        encoding: "utf8",
        env: { ...process.env, TALOS_ENCLAVE_DEBUG: "1" },
      });
    const used = run("used");
    expect(used.status, used.stderr).toBe(0);
    expect(used.stderr).toContain("synth: code cache used");
    const caches = readdirSync(dist).filter((f) => /^synth\.js\.[0-9a-f]{12}\.cache$/.test(f));
    expect(caches).toHaveLength(2); // plain node, and the options cdktf-cli runs apps with
    const viaCli = spawnSync(process.execPath, [join(dist, "main.js"), "--check"], {
      cwd: work,
      encoding: "utf8",
      env: { ...process.env, TALOS_ENCLAVE_DEBUG: "1", NODE_OPTIONS: "--max-old-space-size=4096" },
    });
    expect(viaCli.stderr).toContain("synth: code cache used");
    // node's module-loading options do not change V8's code: a --require preload keeps the cache
    const preload = join(work, "preload.cjs");
    writeFileSync(preload, "");
    const withPreload = spawnSync(process.execPath, [join(dist, "main.js"), "--check"], {
      cwd: work,
      encoding: "utf8",
      env: { ...process.env, TALOS_ENCLAVE_DEBUG: "1", NODE_OPTIONS: `--require ${preload}` },
    });
    expect(withPreload.stderr).toContain("synth: code cache used");
    for (const cache of caches) {
      const stored = readFileSync(join(dist, cache));
      writeFileSync(join(dist, cache), Buffer.concat([stored.subarray(0, 64), Buffer.from("not a code cache")]));
    }
    const damaged = run("damaged");
    expect(damaged.status, damaged.stderr).toBe(0);
    expect(damaged.stderr).toContain("synth: code cache rejected");
    // a bundle changed in place, even to the same length, never runs with the old cache
    const bundle = readFileSync(join(dist, "synth.js"), "utf8");
    writeFileSync(join(dist, "synth.js"), bundle.replace("check passed, nothing written", "CHECK PASSED, NOTHING WRITTEN"));
    const edited = spawnSync(process.execPath, [join(dist, "main.js"), "--check"], { cwd: work, encoding: "utf8", env: { ...process.env, TALOS_ENCLAVE_DEBUG: "1" } });
    expect(edited.stderr).toContain("synth: code cache absent");
    expect(edited.stdout).toContain("CHECK PASSED, NOTHING WRITTEN");
    writeFileSync(join(dist, "synth.js"), bundle);
    for (const cache of caches) rmSync(join(dist, cache));
    const absent = run("absent");
    expect(absent.stderr).toContain("synth: code cache absent");
    for (const label of ["used", "damaged", "absent"]) {
      expect(changedPaths(readTree(join(work, "cache", label, "reference-lab")), readTree(join(PROJECT_ROOT, "examples", "reference-lab")))).toEqual([]);
    }
  });
});

describe("npx cdktf synth", () => {
  it("produces the same tree as npm run synth", () => {
    const dir = join(work, "cdktf-app", "reference-lab");
    const r = spawnSync("npx", ["cdktf", "synth", "--output", dir], {
      cwd: PROJECT_ROOT,
      encoding: "utf8",
      env: { ...process.env, CHECKPOINT_DISABLE: "1", CI: "1" },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(changedPaths(readTree(dir), readTree(join(PROJECT_ROOT, "examples", "reference-lab")))).toEqual([]);
  });
});
