import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { synthLabTree } from "../constructs/emit/synth-lab";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { TerraformSandbox } from "../tools/tfsim/sandbox";
import { stackVariables } from "../tools/tfsim/verify-stack";
import { S3StandIn } from "./support/s3-stand-in";
import { countedOut, declaredResources, PROJECT_ROOT, tempDir } from "./support/tree";

/**
 * Remote state, for teams: a stack whose spec selects the pg backend is applied with terraform (against
 * the simulated providers) into a real PostgreSQL, the state lands in the database and nowhere on
 * disk, a second apply started meanwhile is refused by the lock, and a re-synth changes nothing for
 * terraform: no re-init, no diff, the same state. .ci/run starts Debian's PostgreSQL and exports
 * TALOS_ENCLAVE_PG_CONN; without it the suite skips with one line.
 */

const conn = process.env.TALOS_ENCLAVE_PG_CONN;
const schemaDir = findSchemaDir(PROJECT_ROOT);
const hasTerraform = spawnSync("terraform", ["version"], { encoding: "utf8" }).status === 0;
const hasPsql = spawnSync("psql", ["--version"], { encoding: "utf8" }).status === 0;
const terraformSkip = !schemaDir ? SCHEMA_DIR_MISSING : !hasTerraform ? "terraform is not on the PATH" : undefined;
const skipReason = terraformSkip ?? (!conn || !hasPsql ? "no PostgreSQL (TALOS_ENCLAVE_PG_CONN and psql; .ci/run provides both)" : undefined);
if (skipReason) console.warn(`state backends (pg): skipped — ${skipReason}`);
if (terraformSkip) console.warn(`state backends (s3): skipped — ${terraformSkip}`);

const SCHEMA = "talos_enclave_pg_lab";
const SPEC: LabSpecInput = { name: "pg-lab", state: { encryption: false, backend: { type: "pg" } } };

function psql(sql: string): string {
  const r = spawnSync("psql", [conn!, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * A slow apply (the simulator answers each resource after 1.5 s) and, once it is creating, a second
 * apply that must not wait for the lock. Resolves with the first run's output and exit code and the
 * second run's result; `whileHeld` runs while the first holds the lock.
 */
async function racingApplies(sandbox: TerraformSandbox, stack: string, env: Record<string, string>, whileHeld: () => void = () => {}) {
  const first = spawn("terraform", ["apply", "-input=false", "-auto-approve", "-no-color"], {
    cwd: stack,
    env: { ...sandbox.env(), ...env, TFSIM_APPLY_DELAY_MS: "1500" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  first.stdout.on("data", (d) => (output += d));
  first.stderr.on("data", (d) => (output += d));
  const done = new Promise<number | null>((resolve) => first.on("exit", resolve));
  // Generous: on a loaded machine terraform may take a while to start; the wait ends as soon as it creates.
  let exited = false;
  void done.then(() => (exited = true));
  for (let i = 0; i < 900 && !exited && !/Creating\.\.\./.test(output); i++) await new Promise((r) => setTimeout(r, 100));
  expect(output, "the first apply never started creating").toMatch(/Creating\.\.\./);
  whileHeld();
  const second = await sandbox.run(stack, ["apply", "-input=false", "-auto-approve", "-lock-timeout=0s", "-no-color"], env);
  return { first: { status: await done, output }, second };
}

describe.skipIf(!!skipReason)("the pg backend", () => {
  let sandbox: TerraformSandbox;
  const work = tempDir("pg");
  const out = join(work, "cdktf.out");
  let stack = "";
  const env = () => ({ PG_CONN_STR: conn! });

  beforeAll(() => {
    sandbox = TerraformSandbox.create(schemaDir!);
    psql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    stack = synthLabTree(SPEC, out).stackDir;
  }, 60_000);
  afterAll(() => {
    sandbox?.dispose();
    rmSync(work, { recursive: true, force: true });
    if (!skipReason) psql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  });

  it("writes a pg backend with a schema of the lab's own and no credentials", () => {
    const root = JSON.parse(readFileSync(join(stack, "cdk.tf.json"), "utf8"));
    expect(root.terraform.backend).toEqual({ pg: { schema_name: SCHEMA } });
    expect(root.terraform.encryption).toBeUndefined();
    expect(readFileSync(join(stack, "cdk.tf.json"), "utf8")).not.toContain("postgres://");
  });

  it("applies into the database; a concurrent apply is refused by the lock; a re-synth changes nothing", async () => {
    const root = JSON.parse(readFileSync(join(stack, "cdk.tf.json"), "utf8"));
    // The operator's variable file: an operator file in the stack folder, which the re-synth keeps.
    writeFileSync(join(stack, "lab.auto.tfvars.json"), JSON.stringify(stackVariables(root), null, 2));
    const init = await sandbox.run(stack, ["init", "-input=false", "-no-color"], env());
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toContain('Successfully configured the backend "pg"');

    // A slow first apply holds the lock while a second one starts.
    const { first, second } = await racingApplies(sandbox, stack, env());
    expect(second.status).toBe(1);
    expect(second.stderr.replace(/\s+/g, " ")).toContain("Error acquiring the state lock");
    expect(first.status, first.output).toBe(0);
    const firstOut = first.output;
    const created = Number(/Apply complete! Resources: (\d+) added/.exec(firstOut)?.[1]);
    expect(created).toBe(declaredResources(stack) - countedOut(stack));

    // The state is in the database, and nowhere in the tree.
    expect(psql(`SELECT name FROM ${SCHEMA}.states`)).toBe("default");
    const state = JSON.parse(psql(`SELECT data FROM ${SCHEMA}.states WHERE name = 'default'`));
    expect(state.resources.filter((r: { mode: string }) => r.mode === "managed").length).toBe(created);
    expect(readdirSync(stack).filter((f) => f.includes("tfstate"))).toEqual([]);
    const before = psql(`SELECT md5(data) FROM ${SCHEMA}.states`);

    // Re-synth: the operator's files stay, terraform needs no re-init and sees no change.
    const again = synthLabTree(SPEC, out);
    expect(again.mode).toBe("exchanged");
    expect(again.preserved).toContain("stacks/pg-lab/.terraform.lock.hcl");
    expect(again.preserved).toContain("stacks/pg-lab/lab.auto.tfvars.json");
    expect(again.preserved.some((p) => p.startsWith("stacks/pg-lab/.terraform/"))).toBe(true);
    expect(existsSync(join(stack, ".terraform", "terraform.tfstate"))).toBe(true);
    const plan = await sandbox.run(stack, ["plan", "-input=false", "-detailed-exitcode", "-no-color"], env());
    expect(plan.status, plan.stderr + plan.stdout).toBe(0);
    expect(psql(`SELECT md5(data) FROM ${SCHEMA}.states`)).toBe(before);
  }, 240_000);
});

/**
 * The same for s3, against a stand-in S3-compatible store on loopback (path-style, as MinIO and Ceph
 * serve it): terraform's own s3 backend initialises with the generated settings, keeps the state as
 * an object, takes its lock with a conditional write (`use_lockfile`) that refuses a second apply, and
 * removes the lock when done.
 */
describe.skipIf(!!terraformSkip)("the s3 backend", () => {
  let sandbox: TerraformSandbox;
  const store = new S3StandIn(["lab-state"]);
  const work = tempDir("s3");
  let stack = "";
  const env = { AWS_ACCESS_KEY_ID: "stand-in", AWS_SECRET_ACCESS_KEY: "stand-in", AWS_EC2_METADATA_DISABLED: "true" };

  beforeAll(async () => {
    sandbox = TerraformSandbox.create(schemaDir!);
    const endpoint = await store.start();
    stack = synthLabTree({ name: "s3-lab", state: { encryption: false, backend: { type: "s3", bucket: "lab-state", endpoint } } }, join(work, "cdktf.out")).stackDir;
  }, 60_000);
  afterAll(async () => {
    sandbox?.dispose();
    await store.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("keeps the state as an object, locked while a run holds it", async () => {
    const root = JSON.parse(readFileSync(join(stack, "cdk.tf.json"), "utf8"));
    expect(root.terraform.backend.s3).toMatchObject({ bucket: "lab-state", key: "s3-lab/terraform.tfstate", use_path_style: true, use_lockfile: true });
    expect(root.terraform.required_version).toBe(">= 1.10.0");
    writeFileSync(join(stack, "lab.auto.tfvars.json"), JSON.stringify(stackVariables(root), null, 2));
    const init = await sandbox.run(stack, ["init", "-input=false", "-no-color"], env);
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toContain('Successfully configured the backend "s3"');

    const { first, second } = await racingApplies(sandbox, stack, env, () =>
      expect(store.objects.has("lab-state/s3-lab/terraform.tfstate.tflock")).toBe(true),
    );
    expect(second.status).toBe(1);
    expect(second.stderr.replace(/\s+/g, " ")).toContain("Error acquiring the state lock");
    expect(first.status, first.output).toBe(0);

    const state = JSON.parse(store.objects.get("lab-state/s3-lab/terraform.tfstate")!.toString("utf8"));
    expect(state.resources.filter((r: { mode: string }) => r.mode === "managed").length).toBe(declaredResources(stack) - countedOut(stack));
    expect(store.objects.has("lab-state/s3-lab/terraform.tfstate.tflock")).toBe(false);
    expect(store.requests.some((r) => r.startsWith("PUT /lab-state/s3-lab/terraform.tfstate.tflock"))).toBe(true);
    expect(readdirSync(stack).filter((f) => f.includes("tfstate"))).toEqual([]);
  }, 240_000);
});
