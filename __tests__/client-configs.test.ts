import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { HOST_STANDIN_DIR } from "../tools/tfsim/sandbox";
import { readStack, stackDirOf } from "../tools/twin/stack";
import { synthToTemp, tempDir } from "./support/tree";

/**
 * The client configurations and the gates, judged on the written files: the srv module writes the
 * talosconfig and the kubeconfig where tofu runs (local_sensitive_file, 0600, the spec's paths through
 * pathexpand), Harbor's gate comes before every Talos VM and the API VIP's before every Helm release,
 * the gate script waits and fails as it says (run against the curl stand-in), the runbook copies
 * nothing by hand, and the twin reads the gates' connections from the module JSON alone.
 */

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));

function synth(spec: LabSpecInput): { dir: string; file: (p: string) => string; json: (p: string) => Json } {
  const t = synthToTemp(spec, "client-configs");
  cleanups.push(t.cleanup);
  const dir = stackDirOf(t.dir);
  const file = (p: string) => readFileSync(join(dir, p), "utf8");
  return { dir, file, json: (p: string) => JSON.parse(file(p)) };
}

const reference = synth({});

describe("the client configurations on the runner", () => {
  it("are local_sensitive_files of the srv module, 0600 in 0700 directories, at the spec's default paths expanded by tofu", () => {
    const srv = reference.json("modules/srv/main.tf.json");
    expect(srv.terraform.required_providers.local).toEqual({ source: "hashicorp/local", version: "2.6.1" });
    expect(reference.json("cdk.tf.json").terraform.required_providers.local).toEqual({ source: "hashicorp/local", version: "2.6.1" });
    expect(srv.locals.client_config_paths).toEqual({ talosconfig: "~/.talos/config", kubeconfig: "~/.kube/config" });
    const files = srv.resource.local_sensitive_file;
    expect(Object.keys(files).sort()).toEqual(["kubeconfig", "talosconfig"]);
    for (const [name, f] of Object.entries<Json>(files)) {
      expect([f.file_permission, f.directory_permission]).toEqual(["0600", "0700"]);
      expect(f.filename).toBe(`\${pathexpand(local.client_config_paths.${name})}`);
    }
    expect(files.talosconfig.content).toBe("${data.talos_client_configuration.lab.talos_config}");
    expect(files.kubeconfig.content).toBe("${talos_cluster_kubeconfig.lab.kubeconfig_raw}");
    // nothing else in the tree holds them: no module writes another file, the tree has no copy
    for (const m of ["edge", "mgmt", "dmz", "platform"]) expect(reference.json(`modules/${m}/main.tf.json`).resource.local_sensitive_file).toBeUndefined();
  });

  it("follow the spec's paths, which reach the module as escaped literals", () => {
    const s = synth({ apply: { talosconfigPath: "/srv/ops/talos/config", kubeconfigPath: "~/clusters/lab.kubeconfig" } });
    expect(s.json("modules/srv/main.tf.json").locals.client_config_paths).toEqual({ talosconfig: "/srv/ops/talos/config", kubeconfig: "~/clusters/lab.kubeconfig" });
    const steps = s.json("apply-steps.json");
    const cluster = steps.steps.find((x: Json) => x.id === "cluster");
    expect(cluster.commands.join("\n")).toContain("/srv/ops/talos/config");
    expect(cluster.commands.join("\n")).toContain("~/clusters/lab.kubeconfig");
    expect(s.file("README.md")).toContain("`/srv/ops/talos/config`");
    // the runner's cloud-init names them, ~ being the admin user's home
    expect(s.file("cloud-init/mgmt-client.user-data.yaml.tftpl")).toContain("/home/labadmin/clusters/lab.kubeconfig");
  });

  it("leave the runbook: no step copies them by hand, and the README says where they are, outside the tree", () => {
    const steps = reference.json("apply-steps.json");
    const commands = steps.steps.flatMap((x: Json) => x.commands as string[]);
    expect(commands.filter((c: string) => /tofu output/.test(c))).toEqual([]);
    expect(commands.filter((c: string) => /\.talos|\.kube/.test(c) && !c.startsWith("#"))).toEqual([]);
    const readme = reference.file("README.md");
    expect(readme).not.toMatch(/tofu output -raw (talosconfig|kubeconfig)/);
    expect(readme).toMatch(/\| talosconfig and admin kubeconfig files \| on the runner, outside this tree: .*`~\/\.talos\/config` and `~\/\.kube\/config`.*mode 0600/);
  });
});

describe("the gates", () => {
  const srv = reference.json("modules/srv/main.tf.json");
  const platform = reference.json("modules/platform/main.tf.json");
  const env = (r: Json) => r.provisioner[0]["local-exec"].environment as Record<string, string>;

  it("make every Talos VM wait for Harbor, and every Helm release for the API VIP, with their timeouts", () => {
    const harbor = srv.resource.terraform_data["registry-gate"];
    expect(harbor.provisioner[0]["local-exec"].command).toBe("bash ${path.root}/gates/wait-for-service.sh");
    expect(env(harbor)).toMatchObject({
      TE_GATE_URL: "https://registry.mgmt.lab.internal/api/v2.0/health",
      TE_GATE_ACCEPT: "200",
      TE_GATE_CA: "${var.lab_ca_certificate}",
      TE_GATE_TIMEOUT: "600",
      // Harbor answers its health with 200 either way: the body must say healthy
      TE_GATE_JSON: "status=healthy",
    });
    const vms = Object.values<Json>(srv.resource.proxmox_virtual_environment_vm);
    expect(vms.length).toBe(5);
    for (const vm of vms) expect(vm.depends_on, vm.name).toContain("terraform_data.registry-gate");
    // the schematic is registered with the Image Factory, which runs on Harbor: it waits too
    expect(srv.resource.talos_image_factory_schematic.lab.depends_on).toContain("terraform_data.registry-gate");

    const api = platform.resource.terraform_data["api-gate"];
    expect(env(api)).toMatchObject({
      TE_GATE_URL: "https://10.10.100.10:6443/readyz",
      TE_GATE_ACCEPT: "200 401 403",
      // the cluster CA orders the gate after the bootstrap
      TE_GATE_CA: "${var.kubernetes_ca_certificate}",
      TE_GATE_TIMEOUT: "900",
    });
    const releases = Object.entries<Json>(platform.resource.helm_release);
    expect(releases.length).toBeGreaterThan(3);
    for (const [name, r] of releases) expect(r.depends_on, name).toContain("terraform_data.api-gate");
    expect(reference.json("cdk.tf.json").module.platform.kubernetes_ca_certificate).toBe("${module.srv.kubernetes_ca_certificate}");
    expect(srv.output.kubernetes_ca_certificate).toMatchObject({
      sensitive: false,
      value: "${base64decode(talos_cluster_kubeconfig.lab.kubernetes_client_configuration.ca_certificate)}",
    });
  });

  it("carry no spec text into a command, and no sensitive value (which would hide their messages)", () => {
    for (const g of [srv.resource.terraform_data["registry-gate"], platform.resource.terraform_data["api-gate"]]) {
      expect(g.provisioner[0]["local-exec"].command).toBe("bash ${path.root}/gates/wait-for-service.sh");
      for (const [k, v] of Object.entries(env(g))) if (k !== "TE_GATE_CA") expect(v, k).not.toContain("${");
    }
    const sensitiveInputs = Object.entries<Json>({ ...srv.variable, ...platform.variable }).filter(([, v]) => v.sensitive).map(([k]) => k);
    expect(sensitiveInputs).not.toContain("lab_ca_certificate");
    expect(sensitiveInputs).not.toContain("kubernetes_ca_certificate");
  });

  it("are listed in the step that applies them: the runner reaches Harbor on 443 and the VIP on 6443", () => {
    const steps = reference.json("apply-steps.json");
    const cluster = steps.steps.find((x: Json) => x.id === "cluster");
    const gates = cluster.connections.filter((c: Json) => /^gate:/.test(c.why));
    expect(gates.map((c: Json) => [c.from, c.to, c.port])).toEqual([
      ["mgmt-client", "registry", 443],
      ["mgmt-client", "vip", 6443],
    ]);
    for (const c of gates) expect(c.flow, c.why).toBeTruthy();
  });

  it("are what the twin reads from the module JSON alone", () => {
    const stack = readStack(reference.dir);
    expect(stack.gates.map((g) => [g.module, g.to, g.port]).sort()).toEqual([
      ["platform", "vip", 6443],
      ["srv", "registry", 443],
    ]);
  });
});

describe("the gate script, run as tofu runs it against the curl stand-in", () => {
  const work = tempDir("gate-script");
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const script = join(reference.dir, "gates", "wait-for-service.sh");
  const run = (extra: Record<string, string>) => {
    const log = join(work, `curl-${Math.random().toString(36).slice(2)}.log`);
    writeFileSync(log, "");
    const r = spawnSync("bash", [script], {
      encoding: "utf8",
      env: {
        PATH: `${HOST_STANDIN_DIR}:${process.env.PATH}`,
        TE_STANDIN_LOG: log,
        TE_GATE_NAME: "Harbor (registry.mgmt.lab.internal)",
        TE_GATE_URL: "https://registry.mgmt.lab.internal/api/v2.0/health",
        TE_GATE_ACCEPT: "200",
        TE_GATE_CA: "-----BEGIN CERTIFICATE-----\nU1RBTkRJTg==\n-----END CERTIFICATE-----",
        TE_GATE_HINT: "Harbor is still starting",
        TE_GATE_TIMEOUT: "2",
        TE_GATE_INTERVAL: "1",
        ...extra,
      },
    });
    const calls = readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => l.split("\t"));
    return { status: r.status, stderr: r.stderr, calls };
  };

  it("passes at once when the service answers, asking over TLS verified against the CA it was given", () => {
    const r = run({});
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("answers at https://registry.mgmt.lab.internal/api/v2.0/health (HTTP 200)");
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0][1]).toBe("https://registry.mgmt.lab.internal/api/v2.0/health");
    expect(r.calls[0][2]).toMatch(/^cacert=file:\d+:[0-9a-f]{64}$/);
    expect(r.calls[0][3]).toBe("insecure=0");
  });

  it("counts 401 and 403 as answering where the gate says so (the API VIP)", () => {
    const r = run({ TE_STANDIN_CURL: "401", TE_GATE_URL: "https://10.10.100.10:6443/readyz", TE_GATE_ACCEPT: "200 401 403" });
    expect(r.status, r.stderr).toBe(0);
  });

  it("gives up after its timeout, naming what did not answer, the last answer, the likely cause and what to do", () => {
    const t0 = Date.now();
    const refused = run({ TE_STANDIN_CURL: "refuse" });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(refused.status).toBe(1);
    expect(refused.calls.length).toBeGreaterThanOrEqual(2);
    expect(refused.stderr).toMatch(
      /wait-for-service: Harbor \(registry\.mgmt\.lab\.internal\): did not answer at https:\/\/registry\.mgmt\.lab\.internal\/api\/v2\.0\/health within 2s \(\d+ tries; last: no HTTP answer: curl: \(7\) Failed to connect to registry\.mgmt\.lab\.internal: Connection refused\)\. Likely: Harbor is still starting\. Once it answers, run tofu apply again\./,
    );
    const unhealthy = run({ TE_STANDIN_CURL: "503", TE_GATE_TIMEOUT: "0" });
    expect(unhealthy.status).toBe(1);
    expect(unhealthy.stderr).toContain("last: HTTP 503 (waiting for 200)");
  });

  it("waits while a 200 says unhealthy where the gate asks the body (Harbor), and passes once it says healthy", () => {
    const unhealthy = run({ TE_GATE_JSON: "status=healthy", TE_STANDIN_CURL_BODY: '{"components":[{"name":"core","status":"healthy"}],"status":"unhealthy"}', TE_GATE_TIMEOUT: "0" });
    expect(unhealthy.status).toBe(1);
    expect(unhealthy.stderr).toContain('last: HTTP 200, but the body does not say status=healthy: {"components"');
    const garbage = run({ TE_GATE_JSON: "status=healthy", TE_STANDIN_CURL_BODY: "<html>proxy error</html>", TE_GATE_TIMEOUT: "0" });
    expect(garbage.status).toBe(1);
    const healthy = run({ TE_GATE_JSON: "status=healthy" });
    expect(healthy.status, healthy.stderr).toBe(0);
  });

  it("refuses bad inputs with the variable's name", () => {
    expect(run({ TE_GATE_TIMEOUT: "ten" }).stderr).toContain("TE_GATE_TIMEOUT must be a number of seconds, not 'ten'");
    expect(run({ TE_GATE_URL: "http://registry/" }).stderr).toContain("TE_GATE_URL must be an https URL");
  });

  it.skipIf(spawnSync("shellcheck", ["--version"]).status !== 0)("passes shellcheck, and so does the curl stand-in", () => {
    for (const f of [script, join(HOST_STANDIN_DIR, "curl")]) {
      const r = spawnSync("shellcheck", ["-S", "style", f], { encoding: "utf8" });
      expect(r.status, r.stdout).toBe(0);
    }
  });
});
