import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { App, Aspects, IAspect } from "cdktf";
import { IConstruct } from "constructs";
import { afterAll, describe, expect, it } from "vitest";
import { VirtualEnvironmentVm } from "../.gen/providers/proxmox/virtual-environment-vm";
import { labPolicyPack } from "../constructs/checks/lab-policy-pack";
import { SpecError } from "../constructs/input/spec-error";
import { PolicyContext, PolicyPack, PolicyRule } from "../constructs/checks/policy-pack";
import { LabVm } from "../constructs/proxmox/lab-vm";
import { VmFirewall } from "../constructs/proxmox/vm-firewall";
import { TalosEnclave } from "../constructs/talos-enclave";
import { EdgeZone } from "../constructs/zones/edge-zone";
import { SrvZone } from "../constructs/zones/srv-zone";
import { ZoneModule } from "../constructs/zones/zone-module";
import { runAsync } from "./support/run";
import { PROJECT_ROOT, readTree, scratchApp, tempDir } from "./support/tree";

/**
 * The output checks as a policy pack of aspects: the lab's pack (pfSense files, separation, Talos
 * config) passes on the golden tree and fails each planted fault with the construct it concerns; a
 * user's rule fails a synth; checks see the tree after every aspect changed it, and a failing synth
 * writes no file.
 */

const GOLDEN = join(PROJECT_ROOT, "examples", "reference-lab", "stacks", "talos-lab");
const golden = () => readTree(GOLDEN);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The lab's pack run over a file tree, as lines: `<construct path>: <subject>: <value> — <message>`. */
function labFindings(files: Map<string, string>): string[] {
  const lab = new TalosEnclave(scratchApp(), "talos-lab");
  const context: PolicyContext = { host: lab, model: lab.model, files };
  return labPolicyPack()
    .run(lab, context)
    .map((r) => `${r.construct.node.path}: ${r.subject}: ${JSON.stringify(r.value ?? r.ruleId)} — ${r.message}`);
}

const edit = (path: string, fn: (text: string) => string) => {
  const files = golden();
  const before = files.get(path)!;
  const after = fn(before);
  expect(after, `the planted edit must change ${path}`).not.toBe(before);
  files.set(path, after);
  return files;
};

/** Synthesizes the reference lab with cdktf's App after `configure`; returns the SpecError lines, or [] and the tree. */
function synth(configure: (lab: TalosEnclave, app: App) => void): { lines: string[]; error?: unknown; written: string[]; lab: TalosEnclave } {
  const root = tempDir("policy");
  dirs.push(root);
  const outdir = join(root, "cdktf.out");
  const app = new App({ outdir, stackTraces: false });
  const lab = new TalosEnclave(app, "talos-lab");
  configure(lab, app);
  let error: unknown;
  try {
    app.synth();
  } catch (e) {
    error = e;
  }
  const written = [...readTree(outdir).keys()];
  return { lines: error instanceof SpecError ? error.lines() : [], error, written, lab };
}

/** An aspect from a function. */
const aspect = (visit: (node: IConstruct) => void): IAspect => ({ visit });

describe("the lab's policy pack", () => {
  it("holds the four rule groups", () => {
    expect(labPolicyPack().rules.map((r) => r.id)).toEqual(["lab-pfsense-files", "lab-separation", "lab-no-secret-on-proxmox", "lab-talos-config"]);
    for (const r of labPolicyPack().rules) expect(r.description.length).toBeGreaterThan(10);
  });

  it("passes on the golden tree", () => {
    expect(labFindings(golden())).toEqual([]);
  });

  it("is added by the enclave and runs at every synth: one check per rule and construct, nothing found", () => {
    const { lines, error, written, lab } = synth(() => {});
    expect(error).toBeUndefined();
    expect(lines).toEqual([]);
    expect(written).toContain("stacks/talos-lab/modules/edge/main.tf.json");
    // pfSense on the edge zone, separation and secrets at rest on the enclave, Talos on the srv zone
    expect(lab.policy.size).toBe(4);
  });
});

describe("pfSense file rules", () => {
  it("fail a broken filter.xml, naming the edge zone", () => {
    const all = labFindings(edit("pfsense/filter.xml", (t) => t.replace("<interface>lan</interface>", "<interface>lan0</interface>")));
    // the separation check refuses the unknown interface too; these are pfSense's own rules
    const lines = all.filter((l) => l.includes('"lab-pfsense-files"'));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^talos-lab\/edge: pfsense\/filter\.xml: "lab-pfsense-files" — filter rule \d+: interface "lan0" is not an internal name/);
  });

  it("fail an unbound.xml with a bad address and a name twice, naming the edge zone and the file", () => {
    const lines = labFindings(
      edit("pfsense/unbound.xml", (t) => t.replace("<ip>192.168.100.20</ip>", "<ip>192.168.100.256</ip>").replace("<host>mgmt-client</host>", "<host>registry</host>")),
    ).filter((l) => l.includes('"lab-pfsense-files"'));
    expect(lines).toEqual([
      'talos-lab/edge: pfsense/unbound.xml: "lab-pfsense-files" — unbound host override 2 (registry.mgmt.lab.internal): ip "192.168.100.256" is not an IPv4 address',
      'talos-lab/edge: pfsense/unbound.xml: "lab-pfsense-files" — unbound host override 2 (registry.mgmt.lab.internal): host and domain already overridden by entry 1',
    ]);
  });

  it("fail a synth whose edge sidecar an aspect broke, and nothing is written", () => {
    const { lines, written } = synth((lab) =>
      Aspects.of(lab).add(
        aspect((node) => {
          if (!(node instanceof EdgeZone)) return;
          const sidecars = node.sidecars as Map<string, string>; // a generator bug, planted
          sidecars.set("pfsense/filter.xml", sidecars.get("pfsense/filter.xml")!.replace("<type>pass</type>", "<type>allow</type>"));
        }),
      ),
    );
    // rule 1 of filter.xml blocks; the first pass rule is rule 2
    expect(lines).toEqual(['talos-lab/edge: pfsense/filter.xml: "lab-pfsense-files" — filter rule 2: type must be pass, block or reject']);
    expect(written).toEqual([]);
  });
});

describe("separation rules", () => {
  it("fail a pfSense rule that opens SRV to the WAN side, naming the edge zone", () => {
    // first on the file, so no block rule of the WAN interface is ahead of it (pfSense matches first)
    const rule = `  <rule>\n    <tracker>1799999999</tracker>\n    <type>pass</type>\n    <interface>wan</interface>\n    <ipprotocol>inet</ipprotocol>\n    <protocol>tcp</protocol>\n    <source>\n      <any/>\n    </source>\n    <destination>\n      <address>10.10.100.0/24</address>\n      <port>22</port>\n    </destination>\n    <descr><![CDATA[planted]]></descr>\n  </rule>\n`;
    const lines = labFindings(edit("pfsense/filter.xml", (t) => t.replace("  <rule>", `${rule}  <rule>`)));
    expect(lines).toContainEqual(expect.stringMatching(/^talos-lab\/edge: separation: pfSense wan rule \d+ \(tracker 1799999999\): "\(no flow\)" — .*passes traffic no declared flow names/));
    expect(lines).toContainEqual(expect.stringMatching(/^talos-lab\/edge: separation: pfSense .* — lets the WAN side reach SRV/));
  });

  it("fail a synth where an aspect opened a Talos VM's Proxmox firewall: the check sees what aspects changed below the enclave", () => {
    const { lines, written } = synth((lab) =>
      Aspects.of(lab).add(
        aspect((node) => {
          if (node instanceof VmFirewall && node.node.id === "talos-worker-2.firewall") {
            node.rules.addOverride("rule", [{ type: "in", action: "ACCEPT", proto: "tcp", dport: "22", comment: "debug", enabled: true }]);
          }
        }),
      ),
    );
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^talos-lab\/srv\/vms\/talos-worker-2: separation: Proxmox talos-worker-2 rule \d+: /);
    expect(lines.join("\n")).toContain("admits sources outside the lab into SRV");
    expect(written).toEqual([]);
  });
});

describe("what cdktf would let slip by (the review's findings, kept fixed)", () => {
  it("fails a synth whose App holds an aspect, which cdktf never runs, instead of skipping it silently", () => {
    const { error, written } = synth((_, app) => Aspects.of(app).add(aspect(() => undefined)));
    expect(String(error)).toContain("1 aspect(s) were added to the App, which cdktf never runs: add them to the lab instead");
    expect(written).toEqual([]);
  });

  it("reports a VM whose NIC block an override turned into an object, instead of crashing the check", () => {
    const { lines, written } = synth((lab) => lab.vm("talos-worker-1").vm.addOverride("network_device", { model: "virtio", bridge: "vmbr3", firewall: false }));
    expect(lines).toContainEqual(expect.stringMatching(/^talos-lab\/srv\/vms\/talos-worker-1: separation: Proxmox talos-worker-1 network device 1: .*the NIC is not firewalled \(firewall false\)/));
    expect(written).toEqual([]);
  });
});

describe("no secret at rest on Proxmox", () => {
  it("fails a synth whose escape hatch put Harbor's password into the registry's snippet, however HCL spaces the reference, and nothing is written", () => {
    const { lines, written } = synth((lab) => {
      const file = lab.zones.mgmt.hosts.get("registry")!.userData;
      file.addOverride("source_raw.data", "${templatefile(\"${path.root}/cloud-init/registry.user-data.yaml.tftpl\", { pw = var . harbor_admin_password })}");
    });
    expect(lines).toEqual([
      'talos-lab: modules/mgmt/main.tf.json proxmox_virtual_environment_file.registry-user-data: "var.harbor_admin_password" — would store a secret on the hypervisor (Proxmox keeps what its resources carry in its storage; deliver the secret with the service\'s provision() (over SSH after boot))',
    ]);
    expect(written).toEqual([]);
  });

  it("fail a VM description that reads the Talos machine secrets", () => {
    const lines = labFindings(
      edit("modules/srv/main.tf.json", (t) => {
        const doc = JSON.parse(t);
        doc.resource.proxmox_virtual_environment_vm["talos-cp-1"].description = "${talos_machine_secrets.lab.client_configuration}";
        return JSON.stringify(doc);
      }),
    ).filter((l) => l.includes("would store a secret"));
    expect(lines).toEqual([expect.stringMatching(/^talos-lab: modules\/srv\/main\.tf\.json proxmox_virtual_environment_vm\.talos-cp-1: "talos_machine_secrets" — would store a secret on the hypervisor/)]);
  });
});

describe("Talos config rules", () => {
  it("fail a node document Talos would refuse, naming the node's VM", () => {
    const lines = labFindings(edit("talos/nodes/talos-cp-2.yaml", (t) => t.replace('auto: "off"', 'auto: "stable"')));
    expect(lines).toEqual(['talos-lab/srv/vms/talos-cp-2: talos/nodes/talos-cp-2.yaml: "lab-talos-config" — HostnameConfig sets hostname talos-cp-2 without auto: "off"']);
  });

  it("fail a shared document once, naming the srv zone", () => {
    const mirror = "---\napiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: planted.io\nendpoints:\n  - url: http://planted/v2/x\n";
    const lines = labFindings(edit("talos/all-nodes.yaml", (t) => t + mirror));
    expect(lines).toEqual(['talos-lab/srv: talos/all-nodes.yaml: "lab-talos-config" — mirror endpoint http://planted/v2/x for planted.io is not https']);
  });

  it("fail unreadable YAML", () => {
    const lines = labFindings(edit("talos/worker.yaml", (t) => `${t}\n  - : [\n`)).filter((l) => l.includes('"lab-talos-config"'));
    expect(lines).toEqual([expect.stringMatching(/^talos-lab\/srv: talos\/worker\.yaml: "lab-talos-config" — cannot be read as YAML/)]);
  });

  it("fail a synth whose srv sidecar an aspect broke (Talos config is checked at synth, not while building)", () => {
    const { lines, written } = synth((lab) =>
      Aspects.of(lab).add(
        aspect((node) => {
          if (!(node instanceof SrvZone)) return;
          const sidecars = node.sidecars as Map<string, string>;
          sidecars.set("talos/nodes/talos-worker-1.yaml", sidecars.get("talos/nodes/talos-worker-1.yaml")!.replace('auto: "off"', "auto: stable"));
        }),
      ),
    );
    expect(lines).toEqual(['talos-lab/srv/vms/talos-worker-1: talos/nodes/talos-worker-1.yaml: "lab-talos-config" — HostnameConfig sets hostname talos-worker-1 without auto: "off"']);
    expect(written).toEqual([]);
  });
});

describe("a user's own rules", () => {
  /** Every Proxmox VM, as the written module JSON shows it, carries the team's owner tag. */
  const ownerTag: PolicyRule = {
    id: "team-owner-tag",
    description: "every lab VM carries an owner tag in the written module JSON",
    appliesTo: (c) => c instanceof LabVm,
    check(c, context) {
      const vm = c as LabVm;
      const zone = vm.node.scopes.find((s): s is ZoneModule => s instanceof ZoneModule)!;
      const json = JSON.parse(context.files.get(`modules/${zone.moduleName}/main.tf.json`)!) as { resource: Record<string, Record<string, { name: string; tags?: string[] }>> };
      const written = Object.values(json.resource.proxmox_virtual_environment_vm).find((r) => r.name === vm.vm.nameInput)!;
      return written.tags?.includes("owner-platform") ? [] : [{ construct: vm, subject: `modules/${zone.moduleName}/main.tf.json`, message: "no owner tag" }];
    },
  };
  const tagging = aspect((node) => {
    if (node instanceof VirtualEnvironmentVm) node.tags = [...(node.tagsInput ?? []), "owner-platform"];
  });

  it("fails a synth, one line per VM, and nothing is written", () => {
    const { lines, written } = synth((lab) => Aspects.of(lab).add(new PolicyPack("team", [ownerTag])));
    const goldenVms = [...golden()]
      .filter(([p]) => p.startsWith("modules/"))
      .flatMap(([, t]) => Object.values((JSON.parse(t) as { resource?: Record<string, Record<string, { name: string }>> }).resource?.proxmox_virtual_environment_vm ?? {}).map((r) => r.name));
    expect(goldenVms.length).toBeGreaterThanOrEqual(9);
    expect(lines.length).toBe(goldenVms.length);
    for (const l of lines) expect(l).toMatch(/^talos-lab\/(edge|mgmt|dmz|srv)\/vms\/[a-z0-9-]+: modules\/[a-z]+\/main\.tf\.json: "team-owner-tag" — no owner tag$/);
    expect(written).toEqual([]);
  });

  it("passes once a tagging aspect, added after the pack and reaching the VMs below the enclave, tagged every VM", () => {
    const { lines, error } = synth((lab) => {
      Aspects.of(lab).add(new PolicyPack("team", [ownerTag]));
      Aspects.of(lab).add(tagging);
    });
    expect(error).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it("checks only below the construct the pack was added to (a zone)", () => {
    const { lines } = synth((lab) => Aspects.of(lab.zones.srv).add(new PolicyPack("team", [ownerTag])));
    expect(lines.length).toBe(5);
    for (const l of lines) expect(l).toMatch(/^talos-lab\/srv\/vms\/talos-(cp|worker)-\d: /);
  });

  it("fails files() outside a synth when the pack was added to the enclave", () => {
    const lab = new TalosEnclave(scratchApp(), "talos-lab");
    Aspects.of(lab).add(new PolicyPack("team", [ownerTag]));
    expect(() => lab.files()).toThrow(SpecError);
  });

  it("refuses two rules with one id in a pack", () => {
    expect(() => new PolicyPack("team", [ownerTag, ownerTag])).toThrow("two rules with id team-owner-tag");
  });
});

describe("a whole-lab rule of a user", () => {
  it("checks the enclave once by default and fails with the lab's path", () => {
    const always: PolicyRule = { id: "always", description: "fails always", check: (c) => [{ construct: c, subject: "test", message: "planted" }] };
    const { lines, written } = synth((lab) => Aspects.of(lab).add(new PolicyPack("team", [always])));
    expect(lines).toEqual(['talos-lab: test: "always" — planted']);
    expect(written).toEqual([]);
  });
});

describe("the command", () => {
  it("fails with exit 2, one line per finding and no tree when a rule of the lab's pack finds something", async () => {
    const work = tempDir("policy-cli");
    dirs.push(work);
    // the real command, with a rule planted in every lab pack before main.ts runs
    const wrapper = join(work, "planted-main.ts");
    writeFileSync(
      wrapper,
      `import { PolicyPack } from ${JSON.stringify(join(PROJECT_ROOT, "constructs", "checks", "policy-pack"))};
const visit = PolicyPack.prototype.visit;
PolicyPack.prototype.visit = function (this: PolicyPack, node) {
  if (this.name === "lab" && !this.rules.some((r) => r.id === "planted")) {
    this.addRule({ id: "planted", description: "always fails", check: (c) => [{ construct: c, subject: "planted", message: "a planted finding" }] });
  }
  visit.call(this, node);
};
require(${JSON.stringify(join(PROJECT_ROOT, "main.ts"))});
`,
    );
    const tsx = join(PROJECT_ROOT, "node_modules", ".bin", "tsx");
    for (const mode of [[], ["--check"]]) {
      const r = await runAsync(tsx, [wrapper, "--out", join(work, "out"), ...mode], { cwd: work });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toEqual(["the rendered lab has 1 problem:", '  talos-lab: planted: "planted" — a planted finding']);
      expect(existsSync(join(work, "out"))).toBe(false);
    }
  });
});
