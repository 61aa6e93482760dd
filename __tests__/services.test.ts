import { rmSync } from "node:fs";
import { join } from "node:path";
import { XMLParser } from "fast-xml-parser";
import { load } from "js-yaml";
import { afterAll, describe, expect, it } from "vitest";
import { SpecError } from "../constructs/input/spec-error";
import { validateLabSpec } from "../constructs/lab/validate";
import { serviceCatalog, serviceUserData } from "../constructs/services";
import { synthLabTree } from "../constructs/emit/synth-lab";
import { ServiceCatalog, ServiceDescriptor } from "../constructs/model/service";
import { PROMETHEUS, PROMETHEUS_SPEC } from "./support/prometheus";
import { PROJECT_ROOT, readTree, tempDir } from "./support/tree";

/**
 * A service added from outside the package (examples/services/prometheus, which imports only the
 * package's public API) appears in every layer of the written tree. Each layer is read from the files,
 * the way the operator and the tools read them, never from the model that wrote them.
 */

const PROM_IP = "192.168.100.30";
const CLIENT_IP = "192.168.100.20";
const TALOS_IPS = ["10.10.100.11", "10.10.100.12", "10.10.100.13", "10.10.100.21", "10.10.100.22"];

const work = tempDir("services");
afterAll(() => rmSync(work, { recursive: true, force: true }));
const result = synthLabTree(PROMETHEUS_SPEC, `${work}/out`, { services: [PROMETHEUS] });
const tree = readTree(result.stackDir);
const file = (path: string) => {
  const text = tree.get(path);
  if (text === undefined) throw new Error(`no ${path} in the tree`);
  return text;
};
const json = (path: string) => JSON.parse(file(path));

const xml = new XMLParser({ ignoreAttributes: true, isArray: (name) => ["rule", "alias"].includes(name) });
type PfRule = { type: string; interface: string; protocol?: string; source: Record<string, string>; destination: Record<string, string>; descr: string; disabled?: unknown };

/** Addresses of a pfSense alias, from aliases.xml. */
function aliasAddresses(name: string): string[] {
  const aliases = xml.parse(file("pfsense/aliases.xml")).aliases.alias as { name: string; address: string }[];
  const a = aliases.find((x) => x.name === name);
  if (!a) throw new Error(`no alias ${name}`);
  return String(a.address).split(" ");
}

describe("a service added from outside the package (Prometheus)", () => {
  it("is a VM in the mgmt module with its user-data snippet, start order and tags", () => {
    const mgmt = json("modules/mgmt/main.tf.json");
    const vm = mgmt.resource.proxmox_virtual_environment_vm.prometheus;
    expect(vm.tags).toEqual(expect.arrayContaining(["mgmt", "prometheus"]));
    expect(vm.startup.order).toBe(PROMETHEUS.startupOrder);
    expect([vm.cpu.cores, vm.memory.dedicated]).toEqual([PROMETHEUS.defaultSize.cores, PROMETHEUS.defaultSize.memoryMiB]);
    expect(vm.initialization.ip_config[0].ipv4.address).toBe(`${PROM_IP}/24`);
    const snippet = mgmt.resource.proxmox_virtual_environment_file["prometheus-user-data"];
    expect(snippet.source_raw.data).toContain("cloud-init/prometheus.user-data.yaml.tftpl");
    const userData = file("cloud-init/prometheus.user-data.yaml.tftpl");
    for (const ip of TALOS_IPS) expect(userData).toContain(`${ip}:9100`);
    expect(userData).toContain("hostname: prometheus\n");
  });

  it("gets pfSense rules: it scrapes every Talos node on 9100, the client reads its UI on 9090", () => {
    const rules = xml.parse(file("pfsense/filter.xml")).filter.rule as PfRule[];
    const scrape = rules.find((r) => r.descr === "prometheus.node-exporter")!;
    expect(scrape).toMatchObject({ type: "pass", interface: "lan", protocol: "tcp", destination: { port: 9100 } });
    expect(aliasAddresses(scrape.source.address)).toEqual([PROM_IP]);
    expect(aliasAddresses(scrape.destination.address).sort()).toEqual([...TALOS_IPS].sort());
    // MGMT to MGMT never crosses pfSense: the UI flow is enforced on the VM firewall only.
    expect(rules.find((r) => r.descr === "prometheus.ui.mgmt-client")).toBeUndefined();
  });

  it("gets Proxmox VM firewall rules on both ends", () => {
    const srv = json("modules/srv/main.tf.json");
    for (const [name, rules] of Object.entries(srv.resource.proxmox_virtual_environment_firewall_rules as Record<string, { rule: Record<string, string>[] }>)) {
      expect(rules.rule, name).toContainEqual(expect.objectContaining({ action: "ACCEPT", source: PROM_IP, dport: "9100", proto: "tcp", type: "in" }));
    }
    const mgmt = json("modules/mgmt/main.tf.json");
    const own = mgmt.resource.proxmox_virtual_environment_firewall_rules.prometheus.rule as Record<string, string>[];
    expect(own).toContainEqual(expect.objectContaining({ action: "ACCEPT", source: CLIENT_IP, dest: PROM_IP, dport: "9090", proto: "tcp" }));
    expect(own.filter((r) => r.action === "ACCEPT" && r.dport === "9090").map((r) => r.source)).toEqual([CLIENT_IP]);
  });

  it("gets a Talos host firewall rule on every node", () => {
    for (const role of ["controlplane", "worker"]) {
      const docs = file(`talos/${role}.yaml`)
        .split(/^---$/m)
        .map((d) => load(d) as { kind?: string; name?: string; portSelector?: { ports: unknown[]; protocol: string }; ingress?: { subnet: string }[] });
      const rule = docs.find((d) => d?.kind === "NetworkRuleConfig" && d.name === "prometheus.node-exporter");
      expect(rule, role).toMatchObject({ portSelector: { ports: [9100], protocol: "tcp" }, ingress: [{ subnet: `${PROM_IP}/32` }] });
    }
  });

  it("is in RULES.md, flows.json and the stack README", () => {
    const flows = json("flows.json").flows as { id: string; origin: string; from: string; to: string }[];
    expect(flows.filter((f) => f.id.startsWith("prometheus.")).map((f) => [f.id, f.origin, f.from, f.to])).toEqual([
      ["prometheus.node-exporter", "lab", "prometheus", "group:talos"],
      ["prometheus.ui.mgmt-client", "lab", "mgmt-client", "prometheus"],
    ]);
    expect(file("pfsense/RULES.md")).toContain("prometheus.node-exporter");
    const readme = file("README.md");
    expect(readme).toMatch(/\| prometheus \| prometheus \| mgmt \| pve \| \d+ \| 192\.168\.100\.30\/24 \|/);
    expect(readme).toContain("\n### prometheus (prometheus)\n\n- web UI and API: `http://prometheus.mgmt.lab.internal:9090/`");
    // after the lab's own client, whose desktop the section tells how to reach
    expect(readme.indexOf("## Services\n\n### mgmt-client (client)")).toBeGreaterThan(0);
    expect(readme.indexOf("### prometheus (prometheus)")).toBeGreaterThan(readme.indexOf("### mgmt-client (client)"));
  });

  it("leaves the lab's own part of the tree as the reference lab writes it", () => {
    const ref = readTree(join(PROJECT_ROOT, "examples", "reference-lab", "stacks", "talos-lab"));
    for (const path of ["modules/edge/main.tf.json", "modules/platform/main.tf.json", "modules/dmz/main.tf.json", "cloud-init/registry.user-data.yaml.tftpl"]) {
      expect(file(path), path).toBe(ref.get(path));
    }
    // Of the built-in services only the client has README lines (how to reach its desktop).
    const services = /## Services\n([\s\S]*?)\n## /.exec(ref.get("README.md")!)?.[1] ?? "";
    expect([...services.matchAll(/^### (.*)$/gm)].map((x) => x[1])).toEqual(["mgmt-client (client)"]);
  });
});

describe("the same service without its flows (planted)", () => {
  const out = synthLabTree(PROMETHEUS_SPEC, `${work}/no-flows`, { services: [{ ...PROMETHEUS, flows: undefined }] });
  const files = readTree(out.stackDir);

  it("gets no rule in any layer: pfSense, the VM firewalls and Talos all keep the scrape closed", () => {
    expect(files.get("pfsense/filter.xml")).not.toContain("prometheus.node-exporter");
    const srv = JSON.parse(files.get("modules/srv/main.tf.json")!);
    for (const rules of Object.values(srv.resource.proxmox_virtual_environment_firewall_rules as Record<string, { rule: Record<string, string>[] }>)) {
      expect(rules.rule.filter((r) => r.source === PROM_IP)).toEqual([]);
    }
    expect(files.get("talos/worker.yaml")).not.toContain("9100");
  });
});

describe("the service catalog", () => {
  const problems = (spec: unknown, services?: ServiceCatalog) => {
    try {
      validateLabSpec(spec, services);
      return [];
    } catch (e) {
      if (!(e instanceof SpecError)) throw e;
      return e.problems.map((p) => `${p.path}: ${JSON.stringify(p.value)} — ${p.message}`);
    }
  };

  it("rejects a role nobody registered, naming the field, the value and the known roles", () => {
    expect(problems(PROMETHEUS_SPEC)).toEqual([
      `hosts[3].role: "prometheus" — must be the role of a service of the lab (known roles: client, registry, ingress; a new role is a ServiceDescriptor passed to TalosEnclave's services (TypeScript))`,
    ]);
    expect(problems(PROMETHEUS_SPEC, serviceCatalog([PROMETHEUS]))).toEqual([]);
  });

  it("holds a host to its service's zone and minimum size", () => {
    const spec = { hosts: [...(PROMETHEUS_SPEC.hosts ?? []).slice(0, 3), { name: "prometheus", zone: "dmz", role: "prometheus", ip: "172.16.100.30", size: { cores: 1, memoryMiB: 1024, diskGiB: 64 } }] };
    expect(problems(spec, serviceCatalog([PROMETHEUS]))).toEqual([
      `hosts[3].zone: "dmz" — must be "mgmt" for role prometheus (${PROMETHEUS.zoneReason})`,
      `hosts[3].size.memoryMiB: 1024 — must be at least 2048 (${PROMETHEUS.minimumSize.source})`,
    ]);
  });

  it("refuses a role claimed twice or one that is not a name", () => {
    expect(() => serviceCatalog([{ ...PROMETHEUS, role: "registry" }])).toThrow("service role registry is registered twice");
    expect(() => new ServiceCatalog([{ ...PROMETHEUS, role: "Prom Etheus" } as ServiceDescriptor])).toThrow(/must be a name/);
    // The lab's own roles and tags: a service tagged controlplane would count as one to the checks.
    for (const role of ["firewall", "controlplane", "worker", "internet"]) {
      expect(() => serviceCatalog([{ ...PROMETHEUS, role }])).toThrow(`service role "${role}" is reserved`);
    }
  });
});

describe("a service that takes a secret", () => {
  const BASTION: ServiceDescriptor = {
    ...PROMETHEUS,
    role: "bastion",
    summary: "SSH bastion",
    hostOffset: 40,
    flows: undefined,
    readme: undefined,
    variables: { bastion_host_key: { type: "string", sensitive: true, description: "SSH host key of the bastion (PEM)" } },
    userData: (ctx) => serviceUserData(ctx, { name: "bastion.user-data.yaml", template: "package_update: false\n", vars: {} }),
    provision: () => ({ secrets: [{ variable: "bastion_host_key", path: "/etc/ssh/ssh_host_ed25519_key", mode: "0600", owner: "root:root" }], start: ["ssh.service"] }),
  };
  const spec = { hosts: [...(PROMETHEUS_SPEC.hosts ?? []).slice(0, 3), { name: "bastion", zone: "mgmt" as const, role: "bastion" }] };
  const out = synthLabTree(spec, `${work}/bastion`, { services: [BASTION] });
  const files = readTree(out.stackDir);

  it("gets the variable declared once in the root, passed to its zone, delivered over SSH (never in its snippet) and named in the README", () => {
    const root = JSON.parse(files.get("cdk.tf.json")!);
    expect(root.variable.bastion_host_key).toMatchObject({ type: "string", sensitive: true });
    expect(root.module.mgmt.bastion_host_key).toBe("${var.bastion_host_key}");
    expect(root.module.dmz.bastion_host_key).toBeUndefined();
    const mgmt = JSON.parse(files.get("modules/mgmt/main.tf.json")!);
    expect(mgmt.variable.bastion_host_key).toMatchObject({ sensitive: true });
    expect(mgmt.resource.proxmox_virtual_environment_file["bastion-user-data"].source_raw.data).not.toContain("bastion_host_key");
    const provision = mgmt.resource.terraform_data["bastion-provision"];
    const env = provision.provisioner[0]["local-exec"].environment;
    expect(env.TE_FILE_BASTION_HOST_KEY).toBe("${var.bastion_host_key}");
    expect(env.TE_FILES).toBe("bastion_host_key=/etc/ssh/ssh_host_ed25519_key:0600:root:root");
    expect(env.TE_JUMP).toMatch(/^root@/);
    expect(provision.triggers_replace.sha256_bastion_host_key).toBe("${sha256(var.bastion_host_key)}");
    expect(files.get("README.md")).toContain("export TF_VAR_bastion_host_key='…'");
    expect(mgmt.resource.proxmox_virtual_environment_vm.bastion.initialization.ip_config[0].ipv4.address).toBe("192.168.100.40/24");
  });

  it("refuses a user-data that reads a variable no service declares", () => {
    const leaky = {
      ...BASTION,
      variables: undefined,
      provision: undefined,
      userData: (ctx: Parameters<ServiceDescriptor["userData"]>[0]) => serviceUserData(ctx, { name: "b.user-data.yaml", template: "x: ${k}\n", vars: { k: "jsonencode(var.bastion_host_key)" } }),
    };
    expect(() => synthLabTree(spec, `${work}/leaky`, { services: [leaky] })).toThrow("reads var.bastion_host_key, which its service does not declare");
  });

  it("refuses a user-data that reads a sensitive variable: the snippet is stored on the Proxmox datastore", () => {
    const leaky = {
      ...BASTION,
      userData: (ctx: Parameters<ServiceDescriptor["userData"]>[0]) => serviceUserData(ctx, { name: "b.user-data.yaml", template: "x: ${k}\n", vars: { k: "jsonencode(var.bastion_host_key)" } }),
    };
    expect(() => synthLabTree(spec, `${work}/leaky2`, { services: [leaky] })).toThrow("reads the sensitive var.bastion_host_key: the snippet is stored in clear on the Proxmox datastore");
  });

  it("refuses a user-data variable that is more than one module variable, however HCL would space it", () => {
    for (const expr of ["var . bastion_host_key", "var\n.bastion_host_key", "nonsensitive(var.bastion_host_key)", "jsonencode(var.a)x", "jsonencode(var.a"]) {
      const sneaky = {
        ...BASTION,
        userData: (ctx: Parameters<ServiceDescriptor["userData"]>[0]) => serviceUserData(ctx, { name: "b.user-data.yaml", template: "x: ${k}\n", vars: { k: expr } }),
      };
      expect(() => synthLabTree(spec, `${work}/sneaky`, { services: [sneaky] }), expr).toThrow("a template variable must be var.<name>, jsonencode(var.<name>), base64encode(var.<name>) or yamlencode(var.<name>)");
    }
  });

  it("refuses a secret from a variable that is not sensitive, a unit that reads as an option, an image by digest", () => {
    const bad = {
      ...BASTION,
      variables: { ...BASTION.variables, bastion_banner: { type: "string", sensitive: false, description: "banner" } },
      provision: () => ({
        secrets: [{ variable: "bastion_banner", path: "/etc/issue.net", mode: "0600" as const, owner: "root:root" }],
        start: ["-Hroot@evil.service"],
        images: [`registry.example/x@sha256:${"a".repeat(64)}`],
      }),
    };
    const message = (() => {
      try {
        synthLabTree(spec, `${work}/bad-provision-2`, { services: [bad] });
        return "";
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toContain('unit "-Hroot@evil.service" is not a systemd unit name');
    expect(message).toContain("is not a registry/path:tag reference (by tag; no digest)");
    expect(message).toContain("reads variable bastion_banner, which is not sensitive");
  });

  it("refuses a provisioning that writes a variable its service does not declare, or a path that climbs", () => {
    const bad = { ...BASTION, provision: () => ({ secrets: [{ variable: "harbor_admin_password", path: "/etc/../x", mode: "0600" as const, owner: "root:root" }] }) };
    expect(() => synthLabTree(spec, `${work}/bad-provision`, { services: [bad] })).toThrow(/must be an absolute path[\s\S]*reads variable harbor_admin_password, which the service does not declare/);
  });
});

describe("hostile or broken descriptors (the review's findings, kept fixed)", () => {
  const evilHost = (zone: "mgmt" | "dmz" = "mgmt") => ({ name: "evil1", zone, role: "evil" });
  const spec = (zone: "mgmt" | "dmz" = "mgmt") => ({ hosts: [...(PROMETHEUS_SPEC.hosts ?? []).slice(0, 3), evilHost(zone)] });
  const evil = (over: Partial<ServiceDescriptor>): ServiceDescriptor => ({ ...PROMETHEUS, role: "evil", hostOffset: 40, flows: undefined, readme: undefined, ...over });
  const flow = (over: Record<string, unknown>) => ({ id: "evil1.x", from: "evil1", to: "group:talos", protocol: "tcp" as const, ports: [22], purpose: "test", ...over });
  const lines = (s: ServiceDescriptor, zone: "mgmt" | "dmz" = "mgmt") => {
    try {
      validateLabSpec(spec(zone), serviceCatalog([s]));
      return [];
    } catch (e) {
      if (!(e instanceof SpecError)) throw e;
      return e.lines();
    }
  };

  it("holds a service's flows to the spec flows' rules: the WAN edge, the air gap, known ends, pfSense's own name", () => {
    expect(lines(evil({ flows: () => [flow({ from: "internet", to: "evil1" })] }))).toEqual([
      'hosts[3] flow evil1.x.to: "evil1" — must be a DMZ host for a flow from the internet (pfSense forwards a WAN port to one address, and only the DMZ faces the internet; service evil declares this flow)',
    ]);
    expect(lines(evil({ flows: () => [flow({ from: "internet", to: "group:talos" })] }))[0]).toContain("would open the SRV side to the internet");
    expect(lines(evil({ flows: () => [flow({ to: "ghost-host" })] }))[0]).toContain('hosts[3] flow evil1.x.to: "ghost-host" — is not a known flow endpoint');
    expect(lines(evil({ flows: () => [flow({ to: "pfsense" })] }))[0]).toContain("must not name the pfSense VM");
  });

  it("checks a service flow's shape and refuses an id another flow of the lab has", () => {
    expect(lines(evil({ flows: () => [flow({ ports: [70000] })] }))[0]).toMatch(/^hosts\[3\] flow evil1\.x\.ports\[0\]: 70000 — must be a port or port range/);
    expect(lines(evil({ flows: () => [flow({ id: "a b]]></descr>" })] }))[0]).toContain("must be a service flow id");
    expect(lines(evil({ flows: () => [flow({ id: "mgmt-internet-web", from: "zone:mgmt", to: "internet", ports: [80, 443] })] }))).toEqual([
      'hosts[3] flow mgmt-internet-web.id: "mgmt-internet-web" — is declared twice: by the lab and by service evil of evil1 (a service prefixes its flow ids with the host name: hostFlowId(host.name, …))',
    ]);
  });

  it("keeps sidecars inside the stack folder and off the files the stack owns", () => {
    for (const path of ["../../../victim.txt", "/tmp/abs.txt", "cdk.tf.json", "modules/mgmt/main.tf.json", ".hidden", "a//b"]) {
      const s = evil({ sidecars: () => ({ [path]: "x" }) });
      expect(() => synthLabTree(spec(), `${work}/sidecar`, { services: [s] }), path).toThrow(/sidecar .* of module mgmt must/);
    }
  });

  it("lets a service add to the hardened head of the user-data, not replace it, and refuses YAML that does not parse", () => {
    const over = (template: string) => evil({ userData: (ctx) => serviceUserData(ctx, { name: "e.yaml", template }) });
    expect(() => synthLabTree(spec(), `${work}/head`, { services: [over("ssh_pwauth: true\n")] })).toThrow("sets ssh_pwauth again, which the lab's common head sets");
    expect(() => synthLabTree(spec(), `${work}/yaml`, { services: [over("runcmd: [unclosed\n")] })).toThrow("is not valid YAML");
  });

  it("gives a host its own service's secrets only: a DMZ service cannot read the registry's key", () => {
    const thief = evil({ userData: (ctx) => serviceUserData(ctx, { name: "e.yaml", template: "bootcmd:\n  - echo ${t}\n", vars: { t: "var.lab_tls_private_key" } }) });
    expect(() => synthLabTree(spec("dmz"), `${work}/thief`, { services: [{ ...thief, zone: "dmz" }] })).toThrow(
      "the user-data of evil1 (service evil) reads var.lab_tls_private_key, which its service does not declare",
    );
    expect(() => serviceCatalog([evil({ variables: { lab_tls_private_key: { type: "string", sensitive: true, description: "x" } } })])).toThrow(
      "service evil declares variable lab_tls_private_key, which service registry declares",
    );
  });

  it("refuses unusable numbers, the lab's own variables and types Terraform has no use for, all in one error", () => {
    const broken = evil({
      startupOrder: Number.NaN,
      hostOffset: 1.5,
      defaultSize: { cores: -1, memoryMiB: 4096, diskGiB: 64 },
      variables: {
        proxmox_api_token: { type: "string", sensitive: true, description: "x" },
        bridges: { type: "string", sensitive: false, description: "x" },
        odd: { type: "strin g)", sensitive: false, description: "x" },
      },
    });
    let message = "";
    try {
      serviceCatalog([broken]);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split("\n").slice(1).map((l) => l.trim())).toEqual([
      'service "evil": startupOrder must be a whole number from 1 to 10000, not NaN',
      'service "evil": hostOffset must be a whole number from 1 to 65534, not 1.5',
      'service "evil": defaultSize.cores must be a whole number from 1 to 512, not -1',
      'service "evil": defaultSize.cores -1 is below minimumSize.cores 1',
      "service \"evil\": variable proxmox_api_token is the lab's own and cannot be a service's",
      "service \"evil\": variable bridges is the lab's own and cannot be a service's",
      'service "evil": variable odd has type "strin g)"; use string, number, bool, or list/set/map of one of them',
    ]);
  });
});
