import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { removeTempDir, synthToTemp, tempDir } from "./support/tree";
import { localExecEnvironment } from "./support/local-exec";

/**
 * The hand-off to the runner and the image mirror, judged on the written tree: the root module's
 * `terraform_data.runner-handoff` and its `provision/handoff.sh`, run as tofu runs them (the
 * resource's `local-exec` command in the stack's folder, its environment with the variables filled)
 * against a stand-in for ssh that runs the remote command here, in a temp "runner" home, and records
 * its arguments; and the srv module's `terraform_data.image-mirror`, read from the module JSON.
 */

type Json = Record<string, unknown>;
const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));
/** A talos-enclave temp folder, removed after the suite. */
function temp(prefix: string): string {
  const dir = tempDir(prefix);
  cleanups.push(() => removeTempDir(dir));
  return dir;
}

/** Stand-ins: ssh runs the remote command with HOME set to the runner's (a temp folder), recording its argv. */
const STANDINS = temp("handoff-standins");
writeFileSync(
  join(STANDINS, "ssh"),
  `#!/bin/bash
# records argv, one call a line, arguments tab-separated; runs the command in TE_REMOTE_HOME
{ printf 'ssh'; printf '\\t%s' "$@"; printf '\\n'; } >> "$TE_STANDIN_LOG"
[ -n "\${TE_REMOTE_HOME:-}" ] && [ -d "$TE_REMOTE_HOME" ] || { echo "ssh stand-in: no TE_REMOTE_HOME" >&2; exit 255; }
jump=0
args=("$@")
i=0
while [ $i -lt \${#args[@]} ]; do
  case "\${args[$i]}" in
    -o) i=$((i + 2)) ;;
    -J) jump=1; i=$((i + 2)) ;;
    -*) i=$((i + 1)) ;;
    *) break ;;
  esac
done
i=$((i + 1))   # the target
if [ "$jump" = 0 ] && [ "\${TE_STANDIN_DIRECT:-}" = refuse ]; then echo "ssh: connect to host port 22: Connection refused" >&2; exit 255; fi
cd "$TE_REMOTE_HOME" && HOME="$TE_REMOTE_HOME" exec bash -c "\${args[*]:$i}"
`,
);
writeFileSync(join(STANDINS, "sudo"), "#!/bin/bash\nexec \"$@\"\n");
writeFileSync(join(STANDINS, "cloud-init"), "#!/bin/bash\necho 'status: done'\n");
for (const f of ["ssh", "sudo", "cloud-init"]) chmodSync(join(STANDINS, f), 0o755);

/** Where a value's `$(touch …)` would leave its mark if a shell ran it. */
const MARKS = temp("handoff-marks");

/** A lab synthesized into `<base>/cdktf.out`. */
function lab(spec: LabSpecInput) {
  const t = synthToTemp(spec, "handoff");
  cleanups.push(t.cleanup);
  const stackRel = [...t.files.keys()].find((p) => p.endsWith("/cdk.tf.json"))!.replace(/\/cdk\.tf\.json$/, "");
  const stack = join(t.dir, stackRel);
  const root = JSON.parse(readFileSync(join(stack, "cdk.tf.json"), "utf8")) as {
    variable: Record<string, { type?: string; sensitive?: boolean; default?: unknown }>;
    resource?: Record<string, Record<string, Json>>;
    module: Record<string, Record<string, string>>;
    terraform: { backend?: Record<string, { path?: string }> };
  };
  const handoff = root.resource?.terraform_data?.["runner-handoff"] as Json;
  const exec = ((handoff.provisioner as Json[])[0]["local-exec"] ?? {}) as { command: string; environment: Record<string, string> };
  return { base: dirname(t.dir), out: t.dir, stack, root, handoff, exec };
}
type Lab = ReturnType<typeof lab>;

/** A value for every root variable without a default, each with characters a careless shell would act on. */
function values(root: Lab["root"]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(root.variable)
      .filter(([, v]) => v.default === undefined)
      .map(([name, v]) => [
        name,
        v.type === "list(string)" ? [`ssh-ed25519 AAAA ${name} it's "quoted"`, "second $HOME `id`"] : `${name}: it's a "value" with $HOME, $(touch ${MARKS}/${name}), \`id\`, \\n,\nand a second line\n`,
      ]),
  );
}

/** Runs the resource's command in the stack's folder, as tofu's local-exec does. */
function run(l: Lab, vals: Record<string, unknown>, opts: { home?: string; extra?: Record<string, string>; drop?: string } = {}) {
  expect(l.exec.command).toBe("bash ${path.root}/provision/handoff.sh");
  const home = opts.home ?? temp("handoff-runner");
  const log = join(temp("handoff-log"), "ssh.log");
  const env: Record<string, string> = { PATH: `${STANDINS}:${process.env.PATH}`, HOME: temp("handoff-outside"), TE_STANDIN_LOG: log, TE_REMOTE_HOME: home, TE_WAIT: "0", ...opts.extra, ...localExecEnvironment("runner-handoff", l.exec.environment, vals) };
  if (opts.drop) delete env[opts.drop];
  const r = spawnSync("bash", ["./provision/handoff.sh"], { cwd: l.stack, env, encoding: "utf8", input: "" });
  const calls = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean).map((line) => line.split("\t").slice(1)) : [];
  return { status: r.status, stderr: r.stderr, home, calls };
}
type Run = ReturnType<typeof run>;

/** The variables a POSIX shell gets from sourcing the file; `error` when sourcing it fails. */
function sourced(file: string, names: string[]): Record<string, string> & { error?: string } {
  const r = spawnSync("sh", ["-c", `. "$1" && shift && for n in "$@"; do eval "printf '%s\\\\0' \\"\\$$n\\""; done`, "sh", file, ...names], { encoding: "utf8", env: { PATH: process.env.PATH } });
  const parts = r.stdout.split("\0");
  return { ...Object.fromEntries(names.map((n, i) => [n, parts[i]])), ...(r.status === 0 ? {} : { error: r.stderr.trim() }) };
}

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
const stackThere = (l: Lab, r: Run) => join(r.home, "cdktf.out", l.stack.slice(l.out.length + 1));

/** What is wrong with the copied tree: missing files, or a .terraform that came along. */
function treeProblems(l: Lab, r: Run): string[] {
  const there = stackThere(l, r);
  const out: string[] = [];
  const root = join(there, "cdk.tf.json");
  if (!existsSync(root) || readFileSync(root, "utf8") !== readFileSync(join(l.stack, "cdk.tf.json"), "utf8")) out.push("cdk.tf.json not copied");
  if (!existsSync(join(there, "provision", "handoff.sh"))) out.push("provision/handoff.sh not copied");
  if (existsSync(join(there, ".terraform"))) out.push(".terraform copied");
  return out;
}

/** What is wrong with tofu.env: its modes, a variable that does not come back unchanged, the guard. */
function envProblems(r: Run, vals: Record<string, unknown>): string[] {
  const env = join(r.home, "secrets", "tofu.env");
  if (!existsSync(env)) return ["no tofu.env"];
  const out: string[] = [];
  if (mode(join(r.home, "secrets")) !== "700") out.push(`secrets/ is ${mode(join(r.home, "secrets"))}`);
  if (mode(env) !== "600") out.push(`tofu.env is ${mode(env)}`);
  for (const f of readdirSync(MARKS)) rmSync(join(MARKS, f));
  const names = Object.keys(vals);
  const got = sourced(env, [...names.map((n) => `TF_VAR_${n}`), "TF_VAR_runner_handoff"]);
  if (got.error !== undefined) out.push(`sourcing tofu.env fails: ${got.error}`);
  for (const n of names) {
    const want = Array.isArray(vals[n]) ? JSON.stringify(vals[n]) : String(vals[n]);
    if (got[`TF_VAR_${n}`] !== want) out.push(`TF_VAR_${n} comes back as ${JSON.stringify(got[`TF_VAR_${n}`])}`);
  }
  for (const f of readdirSync(MARKS)) out.push(`sourcing ran the command in ${f}`);
  if (got.TF_VAR_runner_handoff !== "false") out.push("the guard is not false");
  return out;
}

/** Secrets, or lines of them, in an argument of the program that crosses to the runner. */
function argvProblems(r: Run, vals: Record<string, unknown>): string[] {
  const argv = r.calls.flat().join("\n");
  return Object.entries(vals).flatMap(([n, v]) =>
    [v]
      .flat()
      .flatMap((x) => String(x).split("\n"))
      .filter((p) => p.length > 6 && argv.includes(p))
      .map((p) => `${n}: ${JSON.stringify(p)} in an argument`),
  );
}

/** A copy of the lab with its handoff.sh edited. */
function plantedScript(l: Lab, edit: (text: string) => string): Lab {
  const before = readFileSync(join(l.stack, "provision", "handoff.sh"), "utf8");
  const after = edit(before);
  expect(after, "the planted edit must change handoff.sh").not.toBe(before);
  const base = temp("handoff-planted");
  cpSync(l.base, base, { recursive: true });
  const planted = { ...l, base, out: join(base, l.out.slice(l.base.length + 1)), stack: join(base, l.stack.slice(l.base.length + 1)) };
  writeFileSync(join(planted.stack, "provision", "handoff.sh"), after);
  return planted;
}

describe("the hand-off to the runner (reference lab, local state)", () => {
  const l = lab({});
  const vals = values(l.root);
  // what the bootstrap left: the state beside the output folder, and an init's .terraform in the stack
  const backendPath = Object.values(l.root.terraform.backend ?? {})[0]?.path as string;
  const state = resolve(l.stack, backendPath);
  mkdirSync(dirname(state), { recursive: true });
  writeFileSync(state, '{"version": 4, "serial": 7, "lineage": "handoff-test"}\n');
  mkdirSync(join(l.stack, ".terraform", "providers"), { recursive: true });
  writeFileSync(join(l.stack, ".terraform", "providers", "big-binary"), "not to be copied");
  const r = run(l, vals);

  it("is a root resource after module.mgmt, switched off by a variable, whose triggers hold no value", () => {
    expect(l.handoff.depends_on).toEqual(["module.mgmt"]);
    expect(l.handoff.count).toBe("${var.runner_handoff ? 1 : 0}");
    expect(l.root.variable.runner_handoff).toMatchObject({ type: "bool", default: true });
    const triggers = l.handoff.triggers_replace as Record<string, string>;
    expect(Object.keys(triggers).sort()).toEqual(["inputs", "runner_vm"]);
    expect(triggers.runner_vm).toMatch(/^\$\{module\.mgmt\.vm_ids\["[a-z0-9-]+"\]\}$/);
    expect(triggers.inputs).toMatch(/^\$\{sha256\(jsonencode\(\["[0-9a-f]{64}", (var\.[a-z0-9_]+(, )?)+\]\)\)\}$/);
    // every root variable but the guard reaches the script, each by reference only
    const names = l.exec.environment.TE_HANDOFF_VARIABLES.split(" ");
    expect([...names].sort()).toEqual(Object.keys(l.root.variable).filter((n) => n !== "runner_handoff").sort());
    for (const n of names) expect(l.exec.environment[`TE_VAR_${n}`], n).toMatch(new RegExp(`^\\$\\{(var\\.${n}|jsonencode\\(var\\.${n}\\))\\}$`));
  });

  it("runs, and reaches the runner directly when it answers", () => {
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls.every((c) => !c.includes("-J")), JSON.stringify(r.calls)).toBe(true);
  });

  it("copies the output folder without .terraform to the same place under the runner's home", () => {
    expect(treeProblems(l, r)).toEqual([]);
  });

  it("copies the state where the backend's relative path finds it from the copied stack", () => {
    const stateThere = resolve(stackThere(l, r), backendPath);
    expect(stateThere.startsWith(r.home)).toBe(true);
    expect(readFileSync(stateThere, "utf8")).toBe(readFileSync(state, "utf8"));
    expect(mode(stateThere)).toBe("600");
  });

  it("writes ~/secrets/tofu.env 0600 in a 0700 folder, every variable coming back unchanged when sourced, the guard off", () => {
    expect(envProblems(r, vals)).toEqual([]);
    // the list variable is JSON, which tofu reads back as HCL from TF_VAR_
    const got = sourced(join(r.home, "secrets", "tofu.env"), ["TF_VAR_admin_ssh_public_keys"]);
    expect(JSON.parse(got.TF_VAR_admin_ssh_public_keys)).toEqual(vals.admin_ssh_public_keys);
  });

  it("writes the Proxmox SSH key to ~/secrets/id_ed25519, 0600, ending with a newline", () => {
    const key = join(r.home, "secrets", "id_ed25519");
    expect(mode(key)).toBe("600");
    const want = String(vals.proxmox_ssh_private_key);
    expect(readFileSync(key, "utf8")).toBe(want.endsWith("\n") ? want : `${want}\n`);
  });

  it("never puts a secret, or a line of one, in an argument", () => {
    expect(r.calls.length).toBeGreaterThan(3);
    expect(argvProblems(r, vals)).toEqual([]);
  });

  it("fails with a clear message when a variable is missing, and contacts nothing", () => {
    const bad = run(l, vals, { drop: "TE_VAR_harbor_admin_password" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("TE_VAR_harbor_admin_password is not set: the value of the root variable harbor_admin_password");
    expect(existsSync(join(bad.home, "secrets"))).toBe(false);
    expect(bad.calls).toEqual([]);
  });

  it("goes through the runner's Proxmox node when the runner does not answer directly", () => {
    const jumped = run(l, vals, { extra: { TE_STANDIN_DIRECT: "refuse" } });
    expect(jumped.status, jumped.stderr).toBe(0);
    const jump = l.exec.environment.TE_HANDOFF_JUMP;
    expect(jump).toMatch(/^root@/);
    expect(jumped.calls.length).toBeGreaterThan(3);
    expect(jumped.calls.slice(1).every((c) => c.join(" ").includes(`-J ${jump}`))).toBe(true);
    expect(envProblems(jumped, vals)).toEqual([]);
  });

  it("refuses to replace a different state on the runner (tofu ran there since), and accepts the same one again", () => {
    expect(run(l, vals, { home: r.home }).status).toBe(0);
    const home = temp("handoff-newer");
    cpSync(r.home, home, { recursive: true });
    const stateThere = resolve(join(home, "cdktf.out", l.stack.slice(l.out.length + 1)), backendPath);
    writeFileSync(stateThere, '{"version": 4, "serial": 12, "lineage": "handoff-test"}\n');
    const again = run(l, vals, { home });
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/the runner has a different state .*tofu has run there since the hand-off/);
    expect(readFileSync(stateThere, "utf8")).toContain('"serial": 12');
  });

  describe("fails on planted faults", () => {
    it("a tree copied with .terraform", () => {
      const p = plantedScript(l, (t) => t.replace("--exclude=.terraform ", ""));
      expect(treeProblems(p, run(p, vals))).toEqual([".terraform copied"]);
    });
    it("values double-quoted instead of single-quoted", () => {
      const p = plantedScript(l, (t) =>
        t
          .split("\n")
          .map((line) => (line.startsWith("quote() {") ? `quote() { printf '"%s"' "$1"; }` : line))
          .join("\n"),
      );
      const problems = envProblems(run(p, vals), vals);
      expect(problems.some((x) => /comes back as/.test(x)), problems.join("\n")).toBe(true);
      expect(problems.some((x) => /sourcing (ran the command|tofu\.env fails)/.test(x)), problems.join("\n")).toBe(true);
    });
    it("tofu.env left with a readable mode", () => {
      const p = plantedScript(l, (t) => t.replace(' && chmod 600 "$HOME/secrets/.tofu.env.new"', "").replace("umask 077 && mkdir -p \"$HOME/secrets\"", "umask 022 && mkdir -p \"$HOME/secrets\""));
      expect(envProblems(run(p, vals), vals)).toContain("tofu.env is 644");
    });
    it("the variables sent as an argument", () => {
      const p = plantedScript(l, (t) =>
        t
          .split("\n")
          .map((line) =>
            line.startsWith(`printf '%s' "$env_text" | remote`)
              ? `${line.replace(`printf '%s' "$env_text" | `, "").replace('cat > "$HOME/secrets/.tofu.env.new"', 'printf "%s" "$1" > "$HOME/secrets/.tofu.env.new"')} sh "$env_text"`
              : line,
          )
          .join("\n"),
      );
      const planted = run(p, vals);
      expect(envProblems(planted, vals)).toEqual([]);
      expect(argvProblems(planted, vals).length).toBeGreaterThan(0);
    });
  });

  it("is shellcheck-clean", () => {
    if (spawnSync("shellcheck", ["--version"]).status !== 0) return console.log("handoff lint skipped: shellcheck is not installed");
    const lint = spawnSync("shellcheck", [join(l.stack, "provision", "handoff.sh")], { encoding: "utf8" });
    expect(lint.stdout + lint.stderr).toBe("");
    expect(lint.status).toBe(0);
  });
});

describe("the hand-off of a lab with a pg state and the Proxmox key in the agent", () => {
  const l = lab({ proxmox: { sshAgent: true }, state: { encryption: false, backend: { type: "pg" } } });
  const vals = values(l.root);
  const pg = "postgres://lab:pa'ss $word@db.example/lab_state";
  const r = run(l, vals, { extra: { PG_CONN_STR: pg } });

  it("copies no state file and no key file, and the backend's credentials that are set", () => {
    expect(r.status, r.stderr).toBe(0);
    expect(l.exec.environment.TE_HANDOFF_STATE).toBe("");
    expect(readdirSync(r.home).sort()).toEqual(["cdktf.out", "secrets"]);
    expect(existsSync(join(r.home, "secrets", "id_ed25519"))).toBe(false);
    expect(envProblems(r, vals)).toEqual([]);
    expect(sourced(join(r.home, "secrets", "tofu.env"), ["PG_CONN_STR"]).PG_CONN_STR).toBe(pg);
    expect(r.calls.flat().join("\n")).not.toContain("pa'ss");
  });
});

describe("the image mirror (talos.imageVerification)", () => {
  const on = lab({});
  const srvOf = (l: Lab) => JSON.parse(readFileSync(join(l.stack, "modules", "srv", "main.tf.json"), "utf8")) as { variable: Record<string, Json>; resource: Record<string, Record<string, Json>> };

  it("is tofu's: a srv resource after the registry gate, before every Talos VM, with the key in its environment only", () => {
    const srv = srvOf(on);
    const mirror = srv.resource.terraform_data["image-mirror"];
    expect(mirror.depends_on).toEqual(["terraform_data.registry-gate"]);
    const vms = Object.entries(srv.resource.proxmox_virtual_environment_vm);
    expect(vms.length).toBeGreaterThan(0);
    for (const [name, vm] of vms) expect(vm.depends_on, name).toContain("terraform_data.image-mirror");
    const exec = (mirror.provisioner as Json[])[0]["local-exec"] as { command: string; environment: Record<string, string> };
    expect(exec.command).toBe("bash ${path.root}/images/mirror-and-sign.sh");
    // cosign reads the key from the variable the reference names (env://), its password from COSIGN_PASSWORD
    expect(exec.environment.LAB_COSIGN_KEY).toBe("env://COSIGN_PRIVATE_KEY");
    const refs: Record<string, string> = { COSIGN_PRIVATE_KEY: "cosign_private_key", COSIGN_PASSWORD: "cosign_password", HARBOR_PASSWORD: "harbor_admin_password" };
    for (const [env, v] of Object.entries(refs)) {
      expect(exec.environment[env], env).toBe(`\${var.${v}}`);
      expect(srv.variable[v], v).toMatchObject({ sensitive: true });
      expect(on.root.variable[v], v).toMatchObject({ sensitive: true });
      expect(on.root.module.srv[v], v).toBe(`\${var.${v}}`);
    }
    // the script signs with that reference, and the trigger is the script's own hash
    const script = readFileSync(join(on.stack, "images", "mirror-and-sign.sh"), "utf8");
    expect(script).toContain('cosign sign --yes --key "$LAB_COSIGN_KEY"');
    expect(script).not.toMatch(/cosign\.key|read -rs/);
    expect(mirror.triggers_replace).toEqual({ script: '${filesha256("${path.root}/images/mirror-and-sign.sh")}' });
  });

  it("is absent, with its variables, when the lab does not verify images", () => {
    const off = lab({ talos: { imageVerification: { enabled: false } } });
    expect(srvOf(off).resource.terraform_data["image-mirror"]).toBeUndefined();
    expect(Object.keys(off.root.variable)).not.toContain("cosign_private_key");
    expect(existsSync(join(off.stack, "images", "mirror-and-sign.sh"))).toBe(false);
  });
});

/**
 * A second hand-off, which the resource's triggers ask for whenever a root variable changes where the
 * bootstrap ran, must write nothing on a runner where tofu has run since (its state moved on), and never
 * replace secrets files there that it did not write. (Each case failed on the hand-off script before.)
 */
describe("a second hand-off to a runner that moved on", () => {
  /** The reference lab handed off once, with a local state beside the output folder. */
  function handedOff() {
    const l = lab({});
    const vals = values(l.root);
    const backendPath = Object.values(l.root.terraform.backend ?? {})[0]?.path as string;
    const state = resolve(l.stack, backendPath);
    mkdirSync(dirname(state), { recursive: true });
    writeFileSync(state, '{"version": 4, "serial": 7, "lineage": "review"}\n');
    const first = run(l, vals);
    expect(first.status, first.stderr).toBe(0);
    return { l, vals, backendPath, first };
  }

  it("leaves the runner's tree as it was when it refuses the stale state (default local state)", () => {
    const { l, vals, backendPath, first } = handedOff();
    // on the runner: tofu ran (a newer state), and the tree there changed (a later synth on the runner)
    const there = stackThere(l, first);
    writeFileSync(resolve(there, backendPath), '{"version": 4, "serial": 12, "lineage": "review"}\n');
    writeFileSync(join(there, "cdk.tf.json"), '{"runner": "newer tree"}\n');
    const again = run(l, vals, { home: first.home });
    expect(again.status).not.toBe(0);
    expect(readFileSync(join(there, "cdk.tf.json"), "utf8")).toBe('{"runner": "newer tree"}\n');
  });

  it("never replaces the runner's newer state when the state lives inside the tree (state.backend.path)", () => {
    const l = lab({ state: { backend: { type: "local", path: "terraform.tfstate" } } });
    const vals = values(l.root);
    writeFileSync(join(l.stack, "terraform.tfstate"), '{"version": 4, "serial": 7, "lineage": "review"}\n');
    const first = run(l, vals);
    expect(first.status, first.stderr).toBe(0);
    const stateThere = join(stackThere(l, first), "terraform.tfstate");
    writeFileSync(stateThere, '{"version": 4, "serial": 12, "lineage": "review"}\n');
    const again = run(l, vals, { home: first.home });
    expect(readFileSync(stateThere, "utf8")).toContain('"serial": 12');
    expect(again.status).not.toBe(0);
  });

  it("leaves a tofu.env and an SSH key on the runner that it did not write, and copies nothing", () => {
    const { l, vals, first } = handedOff();
    const env = join(first.home, "secrets", "tofu.env");
    writeFileSync(env, "export TF_VAR_mine='kept'\n");
    const again = run(l, vals, { home: first.home });
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain("was not written by the hand-off");
    expect(readFileSync(env, "utf8")).toBe("export TF_VAR_mine='kept'\n");
    rmSync(env);
    const key = join(first.home, "secrets", "id_ed25519");
    writeFileSync(key, "the operator's own key\n");
    const third = run(l, vals, { home: first.home });
    expect(third.status).not.toBe(0);
    expect(third.stderr).toContain("is another key than proxmox_ssh_private_key");
    expect(readFileSync(key, "utf8")).toBe("the operator's own key\n");
    expect(existsSync(env)).toBe(false);
  });
});
