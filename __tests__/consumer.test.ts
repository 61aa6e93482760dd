import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAsync } from "./support/run";
import { changedPaths, PROJECT_ROOT, readTree, tempDir } from "./support/tree";

/**
 * The library as a platform team uses it: packed, installed from the tarball into a project that has
 * only cdktf, constructs and the tarball (npm resolves them as a user's install does), composed in TypeScript into a
 * lab that differs from the reference, and synthesized.
 */

const work = tempDir("consumer");
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs a command without holding the test worker's event loop; throws with its output when it fails. */
async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const r = await runAsync(cmd, args, { cwd, env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false" } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The guide's complete example, every file of it, run as written: the docs cannot drift from what works. */
const GUIDE = join(PROJECT_ROOT, "docs", "compose-your-own-lab.md");
const FILES = new Map([...readFileSync(GUIDE, "utf8").matchAll(/```[a-z]+ file=([\w.-]+)\n([\s\S]*?)```/g)].map((m) => [m[1], m[2]]));

describe("a consumer project using the packed library", () => {
  let outA = "";
  let outB = "";
  let packed = "";
  beforeAll(async () => {
    // dist/ as `npm ci` (prepare) or `npm run build` made it; packing does not build it a second time
    const pack = JSON.parse(await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], PROJECT_ROOT))[0];
    packed = `${pack.filename} (${(pack.size / 1024).toFixed(0)} KiB packed, ${pack.entryCount} files)`;
    const project = join(work, "project");
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
    await run("mkdir", ["-p", project], work);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({
        name: "team-lab",
        private: true,
        dependencies: {
          cdktf: pkg.devDependencies.cdktf,
          constructs: pkg.devDependencies.constructs,
          "talos-enclave": `file:${join(work, pack.filename)}`,
          // the service reads its template with node:fs
          "@types/node": pkg.devDependencies["@types/node"],
        },
      }),
    );
    // From the cache where it has the packages, else from the registry: a fresh machine has an empty cache.
    await run("npm", ["install", "--prefer-offline", "--no-package-lock", "--ignore-scripts"], project);
    for (const [name, text] of FILES) writeFileSync(join(project, name), text);
    // Typed against the package's own declarations, compiled by the project's TypeScript.
    await run(process.execPath, [join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc"), "--strict", "--module", "commonjs", "--target", "es2022", "--moduleResolution", "node", "--skipLibCheck", "main.ts"], project);
    outA = join(work, "out-a");
    outB = join(work, "out-b");
    for (const out of [outA, outB]) {
      await run(process.execPath, ["main.js"], project);
      renameSync(join(project, "cdktf.out"), out);
    }
  }, 300_000);

  it("installs with nothing but cdktf, constructs, the tarball (and node's types for the guide's service)", () => {
    const installed = readdirSync(join(work, "project", "node_modules")).filter((d) => !d.startsWith("."));
    expect(installed).toContain("talos-enclave");
    const own = readdirSync(join(work, "project", "node_modules", "talos-enclave"));
    expect(own.sort()).toEqual(["CHANGELOG.md", "README.md", "dist", "lab-spec.schema.json", "package.json"]);
    console.log(`packed: ${packed}`);
  });

  it("synthesizes every module of the composed lab", () => {
    const tree = readTree(outA);
    const modules = [...tree.keys()].filter((p) => p.endsWith("main.tf.json") && p.includes("/modules/")).sort();
    console.log(`modules: ${modules.join(", ")}`);
    expect(modules).toEqual(["edge", "mgmt", "dmz", "srv", "platform"].map((m) => `stacks/team-lab/modules/${m}/main.tf.json`).sort());
    expect(tree.get("stacks/team-lab/talos/all-nodes.yaml")).toContain("validSubnets:\n        - 10.50.0.0/24");
  });

  it("shows the escape-hatch override and the extra flow in the output", () => {
    const tree = readTree(outA);
    const srv = JSON.parse(tree.get("stacks/team-lab/modules/srv/main.tf.json")!);
    expect(srv.resource.proxmox_virtual_environment_vm["worker-3"].cpu.type).toBe("x86-64-v2-AES");
    expect(srv.resource.proxmox_virtual_environment_vm["worker-3"].node_name).toBe("pve-b");
    expect(srv.resource.proxmox_virtual_environment_vm["worker-2"].cpu.type).toBe("host");
    expect(srv.resource.talos_machine_configuration_apply["worker-3"].apply_mode).toBe("staged");
    expect(tree.get("stacks/team-lab/pfsense/filter.xml")).toContain("client-grafana");
    const flows = JSON.parse(tree.get("stacks/team-lab/flows.json")!).flows;
    expect(flows.find((f: { id: string }) => f.id === "client-grafana")).toMatchObject({ origin: "spec", ports: [3000] });
  });

  it("shows the service the guide adds (Prometheus) in every layer it has", () => {
    const tree = readTree(outA);
    const at = (p: string) => tree.get(`stacks/team-lab/${p}`)!;
    const mgmt = JSON.parse(at("modules/mgmt/main.tf.json"));
    expect(mgmt.resource.proxmox_virtual_environment_vm.prometheus.tags).toContain("prometheus");
    expect(at("cloud-init/prometheus.user-data.yaml.tftpl")).toContain("10.50.0.23:9100");
    expect(at("pfsense/filter.xml")).toContain("<descr><![CDATA[prometheus.node-exporter]]></descr>");
    expect(at("pfsense/RULES.md")).toContain("prometheus.node-exporter");
    expect(at("talos/worker.yaml")).toMatch(/name: prometheus\.node-exporter\nportSelector:\n  ports:\n    - 9100\n  protocol: tcp\ningress:\n  - subnet: 192\.168\.50\.30\/32/);
    const srv = JSON.parse(at("modules/srv/main.tf.json"));
    expect(srv.resource.proxmox_virtual_environment_firewall_rules["worker-3"].rule).toContainEqual(expect.objectContaining({ source: "192.168.50.30", dport: "9100", action: "ACCEPT" }));
    expect(JSON.parse(at("flows.json")).flows.map((f: { id: string }) => f.id)).toContain("prometheus.ui.mgmt-client");
    // in the Services section, after the lab's own client (its desktop)
    expect(at("README.md")).toMatch(/## Services\n\n### mgmt-client \(client\)\n[\s\S]*\n### prometheus \(prometheus\)\n/);
  });

  it("shows the same service as examples/services/prometheus, which the packet proof and the twin run", () => {
    const dir = join(PROJECT_ROOT, "examples", "services", "prometheus");
    expect(FILES.get("prometheus.ts")).toBe(readFileSync(join(dir, "prometheus.ts"), "utf8"));
    expect(FILES.get("prometheus.user-data.yaml")).toBe(readFileSync(join(dir, "prometheus.user-data.yaml"), "utf8"));
  });

  it("is deterministic", () => {
    expect(changedPaths(readTree(outA), readTree(outB))).toEqual([]);
  });
});
