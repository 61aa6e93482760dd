import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { TerraformResult, TerraformSandbox } from "./sandbox";

/** What verifying one synthesized stack with terraform found. */
export interface StackVerification {
  readonly stack: string;
  /** Resources the first plan creates. */
  readonly toAdd: number;
  /** `<stack>: init ok, validate ok, plan N to add, apply ok, re-plan no changes` */
  readonly line: string;
}

/** A failed terraform step; the message carries terraform's own output. */
export class VerifyError extends Error {
  constructor(
    readonly stack: string,
    readonly step: string,
    readonly result: TerraformResult,
  ) {
    super(`${stack}: ${step} failed\n${(result.stderr + result.stdout).trim()}`);
    this.name = "VerifyError";
  }
}

/**
 * Blocks terraform cannot run: OpenTofu's state encryption, and the backend (init -backend=false
 * leaves a configured backend uninitialised, so plan would refuse; the copy uses the default local
 * state instead).
 */
export function stripForTerraform(root: Record<string, unknown>): Record<string, unknown> {
  const terraform = { ...(root.terraform as Record<string, unknown>) };
  delete terraform.encryption;
  delete terraform.backend;
  return { ...root, terraform };
}

/** Values for a root's required variables, for `<name>.auto.tfvars.json`. */
export function stackVariables(root: Record<string, unknown>): Record<string, unknown> {
  return dummyVariables(root);
}

/** A stand-in value for a variable of the given type constraint. */
export function dummyValue(name: string, type: string | undefined): unknown {
  const t = (type ?? "string").replace(/\s+/g, "");
  if (t === "string") return `sim-${name}-value`;
  if (t === "number") return 1;
  if (t === "bool") return false;
  if (/^(list|set)\(string\)$/.test(t)) return [`sim-${name}-value`];
  if (/^(list|set|tuple)\(/.test(t)) return [];
  if (/^(map|object)\(/.test(t)) return {};
  return null;
}

/**
 * Stand-in values of the shape the stack checks, for variables whose validation, precondition or
 * consumer (the Proxmox nodes' preparation script) refuses any other string: pfSense's WAN address
 * (an IPv4 address of TEST-NET-2, RFC 5737; its default, empty, stops the mgmt module's plan until
 * pfSense is installed) and the lab CA (PEM-shaped).
 */
const SHAPED_VALUES: Readonly<Record<string, string>> = {
  firewall_wan_address: "198.51.100.2",
  lab_ca_certificate: "-----BEGIN CERTIFICATE-----\nc2ltLWxhYi1jYQ==\n-----END CERTIFICATE-----\n",
};

function dummyVariables(root: Record<string, unknown>): Record<string, unknown> {
  const vars = (root.variable ?? {}) as Record<string, { type?: string; default?: unknown }>;
  return {
    ...Object.fromEntries(
      Object.entries(vars)
        .filter(([k, v]) => !("default" in v) || k in SHAPED_VALUES)
        .map(([k, v]) => [k, SHAPED_VALUES[k] ?? dummyValue(k, v.type)]),
    ),
    ...Object.fromEntries(handoffGuards(root).map((g) => [g, false])),
  };
}

/**
 * The variables that switch a hand-off off: the `count = var.<x> ? 1 : 0` of a root `terraform_data`
 * whose `local-exec` hands the stack to a host (its environment names TE_HANDOFF_HOST). The simulator
 * plays the runner after the hand-off, as the runner's `tofu.env` sets them: its state is the
 * sandbox's own, with no bootstrap outside to hand over from (__tests__/runner-handoff.test.ts runs the
 * hand-off against stand-ins).
 */
function handoffGuards(root: Record<string, unknown>): string[] {
  const data = (((root.resource ?? {}) as Record<string, unknown>).terraform_data ?? {}) as Record<string, { count?: unknown; provisioner?: { "local-exec"?: { environment?: Record<string, unknown> } }[] }>;
  return Object.values(data).flatMap((r) => {
    const guard = /^\$\{var\.([A-Za-z0-9_]+) \? 1 : 0\}$/.exec(String(r.count ?? ""))?.[1];
    const handsOff = (r.provisioner ?? []).some((p) => typeof p["local-exec"]?.environment?.TE_HANDOFF_HOST === "string");
    return guard && handsOff ? [guard] : [];
  });
}

/** Copies a stack's files into `work` as terraform can run them (tofu-only blocks stripped, dummy variables). */
export function prepareStack(stackDir: string, work: string): void {
  cpSync(stackDir, work, { recursive: true });
  const rootFile = join(work, "cdk.tf.json");
  const root = JSON.parse(readFileSync(rootFile, "utf8"));
  writeFileSync(rootFile, JSON.stringify(stripForTerraform(root), null, 2));
  writeFileSync(join(work, "verify.auto.tfvars.json"), JSON.stringify(dummyVariables(root), null, 2));
}

/** A fresh working folder inside the sandbox. */
export function workDir(sandbox: TerraformSandbox, label: string): string {
  return join(sandbox.root, "stacks", `${label}-${Math.random().toString(36).slice(2, 8)}`);
}

/** Runs one terraform step in `work`, throwing VerifyError with terraform's output when it fails. */
export async function terraformStep(
  sandbox: TerraformSandbox,
  work: string,
  label: string,
  name: string,
  args: string[],
  ok = (r: TerraformResult) => r.status === 0,
): Promise<TerraformResult> {
  const r = await sandbox.run(work, [...args, "-no-color"]);
  if (!ok(r)) throw new VerifyError(label, name, r);
  return r;
}

/** Resource changes of a saved plan, as `terraform show -json` reports them. */
export async function planChanges(sandbox: TerraformSandbox, work: string, label: string, planFile: string) {
  const shown = await terraformStep(sandbox, work, label, "show", ["show", "-json", planFile]);
  return (JSON.parse(shown.stdout).resource_changes ?? []) as { address: string; type: string; change: { actions: string[] } }[];
}

/** The terraform steps of {@link verifyStack}, in order. */
export const VERIFY_STEPS = ["init", "validate", "plan", "apply", "re-plan"] as const;
/** One of {@link VERIFY_STEPS}. */
export type VerifyStepName = (typeof VERIFY_STEPS)[number];

/**
 * Copies a stack into the sandbox and runs terraform's own checks on it: init (from the simulated
 * providers' mirror), validate, plan, apply into local state, and a second plan that must be empty.
 * `onStep` hears of each step as it passes, with its wall time in ms.
 */
export async function verifyStack(
  sandbox: TerraformSandbox,
  stackDir: string,
  label = basename(stackDir),
  onStep?: (stack: string, step: VerifyStepName, ms: number) => void,
): Promise<StackVerification> {
  const work = workDir(sandbox, label);
  prepareStack(stackDir, work);
  const step = async (name: VerifyStepName, args: string[]) => {
    const start = Date.now();
    const r = await terraformStep(sandbox, work, label, name, args);
    onStep?.(label, name, Date.now() - start);
    return r;
  };
  await step("init", ["init", "-backend=false", "-input=false"]);
  await step("validate", ["validate"]);
  await step("plan", ["plan", "-input=false", "-out=tfplan"]);
  const toAdd = (await planChanges(sandbox, work, label, "tfplan")).filter((c) => c.change.actions.includes("create")).length;
  await step("apply", ["apply", "-input=false", "-auto-approve", "tfplan"]);
  // -detailed-exitcode: 0 = no changes, 2 = changes; a stable stack has nothing left to do.
  await step("re-plan", ["plan", "-input=false", "-detailed-exitcode"]);
  return { stack: label, toAdd, line: `${label}: init ok, validate ok, plan ${toAdd} to add, apply ok, re-plan no changes` };
}
