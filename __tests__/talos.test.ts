import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { labFlows } from "../constructs/model/lab-flows";
import { buildLabModel } from "../constructs/lab/build";
import { loadLabSpec } from "../constructs/lab/load";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { validateLabSpec } from "../constructs/lab/validate";
import { talosConfigProblems } from "../constructs/policy/talos-config-checks";
import { talosFirewallRules } from "../constructs/render/talos/host-firewall";
import { roleDocuments } from "../constructs/render/talos/machine-documents";
import { renderSchematic, schematicId } from "../constructs/model/schematic";
import { nodePatchDocuments } from "../constructs/render/talos/talos-patch-files";
import { generateServerIdentity } from "../tools/tfsim/tls";
import { findSchemaDir, SCHEMA_DIR_MISSING } from "../providers/schema-dir";
import { loadTalosSchema } from "./support/talos-schema";
import { changedPaths, PROJECT_ROOT, synthToTemp } from "./support/tree";

const schemaDir = findSchemaDir(PROJECT_ROOT);
if (!schemaDir) console.warn(`talos schema: skipped — ${SCHEMA_DIR_MISSING}`);

const examples = ["lab.yaml", "three-nodes.yaml", "single-control-plane.yaml", "fifty-workers.yaml"];
const labs: [string, LabSpecInput][] = [
  ["reference lab", {}],
  ...examples.map((f): [string, LabSpecInput] => [f, loadLabSpec(join(PROJECT_ROOT, "examples", f))]),
  ["SecureBoot, keys sealed to the TPM", { talos: { secureBoot: true } }],
  ["disk encryption off", { talos: { diskEncryption: "off" } }],
];

/** Fills the registry TLS template as terraform's templatefile() would (indent + trimspace). */
function renderRegistryTls(template: string, ca: string): string {
  return template.replace(/\$\{indent\(2, trimspace\(ca\)\)\}/g, ca.trim().split("\n").join("\n  "));
}

function documents(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join("; "));
    return d.toJS() as Record<string, unknown>;
  });
}

describe("Image Factory schematic", () => {
  it("is written in the factory's canonical form, so its id is known before the factory answers", () => {
    // Ids the public factory gives for these schematics.
    expect(schematicId(renderSchematic({ officialExtensions: ["siderolabs/qemu-guest-agent"], extraKernelArgs: [] }))).toBe(
      "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515",
    );
    expect(schematicId(renderSchematic({ officialExtensions: [], extraKernelArgs: [] }))).toBe(
      "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba",
    );
  });
});

describe("Talos patches", () => {
  const cleanups: (() => void)[] = [];
  afterAll(() => cleanups.forEach((c) => c()));
  const trees = labs.map(([name, spec]) => {
    const out = synthToTemp(spec, "talos");
    cleanups.push(out.cleanup);
    const stack = [...out.files.keys()].find((p) => p.endsWith("/cdk.tf.json"))!.replace("/cdk.tf.json", "");
    return { name, spec, files: out.files, stack };
  });

  describe.skipIf(!schemaDir)("against the official Talos v1.13 schema", () => {
    const talos = schemaDir ? loadTalosSchema(schemaDir) : undefined!;
    it.each(trees.map((t) => [t.name, t] as const))("%s: every document of every patch validates", async (_, t) => {
      const ca = (await generateServerIdentity()).certPem;
      const talosFiles = [...t.files].filter(([p]) => p.startsWith(`${t.stack}/talos/`) && !p.endsWith("schematic.yaml"));
      expect(talosFiles.length).toBeGreaterThanOrEqual(6);
      let count = 0;
      for (const [path, text] of talosFiles) {
        const body = path.endsWith(".tftpl") ? renderRegistryTls(text, ca) : text;
        for (const doc of documents(body)) {
          expect(talos.check(doc), `${path}: ${JSON.stringify(doc).slice(0, 80)}`).toBe("");
          count++;
        }
      }
      expect(count).toBeGreaterThan(20);
    });

    it("rejects a legacy key, so the check can fail", () => {
      expect(talos.check({ machine: { network: { hostname: "x" } } })).toMatch(/additional properties/);
    });

    it("holds the STATE and EPHEMERAL encryption documents, valid, keyed as talos.diskEncryption says", () => {
      const volumes = (name: string) => {
        const t = trees.find((x) => x.name === name)!;
        const docs = documents(t.files.get(`${t.stack}/talos/all-nodes.yaml`)!).filter((d) => d.kind === "VolumeConfig");
        for (const d of docs) expect(talos.check(d), JSON.stringify(d)).toBe("");
        return docs;
      };
      const nodeID = { provider: "luks2", keys: [{ slot: 0, nodeID: {} }] };
      expect(volumes("reference lab")).toEqual([
        { apiVersion: "v1alpha1", kind: "VolumeConfig", name: "STATE", encryption: nodeID },
        { apiVersion: "v1alpha1", kind: "VolumeConfig", name: "EPHEMERAL", encryption: { ...nodeID, keys: [{ ...nodeID.keys[0], lockToState: true }] } },
      ]);
      const tpm = { slot: 0, tpm: { checkSecurebootStatusOnEnroll: true } };
      expect(volumes("SecureBoot, keys sealed to the TPM").map((d) => [d.name, d.encryption])).toEqual([
        ["STATE", { provider: "luks2", keys: [tpm] }],
        ["EPHEMERAL", { provider: "luks2", keys: [{ ...tpm, lockToState: true }] }],
      ]);
      expect(volumes("disk encryption off")).toEqual([]);
    });

    it.each([
      ["an unknown key type", { slot: 0, password: "x" }, /additional properties/],
      ["a key slot that is no number", { slot: "zero", nodeID: {} }, /must be integer/],
    ])("rejects a planted VolumeConfig with %s, so the check can fail", (_, key, error) => {
      const bad = { apiVersion: "v1alpha1", kind: "VolumeConfig", name: "STATE", encryption: { provider: "luks2", keys: [key] } };
      expect(talos.check(bad)).toMatch(error);
      expect(talos.check({ ...bad, encryption: { provider: "luks1", keys: [] } })).toMatch(/must be equal to one of the allowed values/);
      expect(talos.check({ machine: { systemDiskEncryption: { state: { provider: "luks2" } } } })).toMatch(/additional properties/);
    });
  });

  it.each(trees.map((t) => [t.name, t] as const))("%s: Talos's own rules hold for every node", (_, t) => {
    const m = buildLabModel(validateLabSpec(t.spec));
    const flows = labFlows(m);
    for (const n of [...m.controlPlanes, ...m.workers]) expect(talosConfigProblems(nodePatchDocuments(m, flows, n))).toEqual([]);
  });

  it("document kinds per role are the ones the design names", () => {
    const t = trees[0];
    const kinds = (file: string) => documents(t.files.get(`${t.stack}/${file}`)!).map((d) => (d.kind as string) ?? "v1alpha1");
    const uniq = (k: string[]) => [...new Set(k)];
    expect(uniq(kinds("talos/all-nodes.yaml"))).toEqual(["v1alpha1", "RegistryMirrorConfig", "ResolverConfig", "TimeSyncConfig", "NetworkDefaultActionConfig", "VolumeConfig", "ImageVerificationConfig"]);
    expect(uniq(kinds("talos/controlplane.yaml"))).toEqual(["v1alpha1", "Layer2VIPConfig", "NetworkRuleConfig"]);
    expect(uniq(kinds("talos/worker.yaml"))).toEqual(["NetworkRuleConfig"]);
    expect(uniq(kinds("talos/nodes/talos-cp-1.yaml"))).toEqual(["HostnameConfig", "LinkConfig"]);
    const mirrors = documents(t.files.get(`${t.stack}/talos/all-nodes.yaml`)!).filter((d) => d.kind === "RegistryMirrorConfig");
    expect(mirrors.map((d) => d.name)).toEqual(["docker.io", "ghcr.io", "registry.k8s.io", "quay.io", "gcr.io"]);
    for (const d of mirrors) expect(d).toMatchObject({ skipFallback: true, endpoints: [{ overridePath: true }] });
    // image verification is on in the reference lab: each upstream is read from the lab's signed copies only
    for (const d of mirrors) expect(d.endpoints).toEqual([{ url: `https://registry.mgmt.lab.internal/v2/signed-${String(d.name)}`, overridePath: true }]);
  });

  it("gives every Talos VM a TPM 2.0 when the disk keys are sealed to one", () => {
    const tpmStates = (name: string) => {
      const t = trees.find((x) => x.name === name)!;
      const vms = JSON.parse(t.files.get(`${t.stack}/modules/srv/main.tf.json`)!).resource.proxmox_virtual_environment_vm as Record<string, { tpm_state?: unknown }>;
      return Object.values(vms).map((vm) => vm.tpm_state);
    };
    const sealed = tpmStates("SecureBoot, keys sealed to the TPM");
    expect(sealed.length).toBeGreaterThanOrEqual(5);
    for (const tpm of sealed) expect(tpm).toMatchObject({ version: "v2.0" });
    expect(tpmStates("reference lab").filter((tpm) => tpm !== undefined)).toEqual([]);
  });

  it("derives the host firewall from the flow model", () => {
    const t = trees[0];
    const rules = (file: string) =>
      Object.fromEntries(
        documents(t.files.get(`${t.stack}/${file}`)!)
          .filter((d) => d.kind === "NetworkRuleConfig")
          .map((d) => [d.name, `${(d.portSelector as { protocol: string }).protocol}/${(d.portSelector as { ports: unknown[] }).ports.join(",")} from ${(d.ingress as { subnet: string; except?: string }[]).map((i) => i.subnet + (i.except ? `-${i.except}` : "")).join(" ")}`]),
      );
    const cp = rules("talos/controlplane.yaml");
    expect(cp["mgmt-client.talos-apid"]).toBe("tcp/50000 from 192.168.100.20/32");
    expect(cp["mgmt-client.kube-api"]).toBe("tcp/6443 from 192.168.100.20/32");
    expect(cp["haproxy-ingress-1.kube-api"]).toBe("tcp/6443 from 172.16.100.10/32");
    expect(cp["etcd-peers"]).toBe("tcp/2379-2380 from 10.10.100.11/32 10.10.100.12/32 10.10.100.13/32");
    expect(cp["talos-trustd"]).toBe("tcp/50001 from 10.10.100.0/24-10.10.100.1/32");
    expect(cp["calico-bgp-firewall"]).toBe("tcp/179 from 10.10.100.1/32");
    const worker = rules("talos/worker.yaml");
    expect(worker["etcd-peers"]).toBeUndefined();
    expect(worker["mgmt-client.kube-api"]).toBeUndefined();
    expect(worker["kubelet-api"]).toBe("tcp/10250 from 10.10.100.11/32 10.10.100.12/32 10.10.100.13/32");
    // a spec flow to one worker lands in that worker's own patch only
    const homelab = trees[1];
    const w4 = documents(homelab.files.get(`${homelab.stack}/talos/nodes/talos-worker-4.yaml`)!);
    expect(w4.filter((d) => d.kind === "NetworkRuleConfig")).toEqual([]);
    expect(documents(homelab.files.get(`${homelab.stack}/talos/worker.yaml`)!).map((d) => d.name)).toContain("mgmt-client-to-workers-nodeports");
  });
});

/** The encryption of one VolumeConfig in the shared patch. */
const volume = (d: Map<string, Record<string, unknown>[]>, name: string) =>
  d.get("talos/all-nodes.yaml")!.find((x) => x.kind === "VolumeConfig" && x.name === name)!.encryption as { keys: Record<string, unknown>[] };

describe("Talos config checks catch what the schema cannot", () => {
  const m = buildLabModel(validateLabSpec({}));
  const flows = labFlows(m);
  const node = m.workers[0];
  const planted = (edit: (docs: Map<string, Record<string, unknown>[]>) => void) => {
    const docs = nodePatchDocuments(m, flows, node);
    edit(docs);
    return talosConfigProblems(docs).map((p) => p.message);
  };
  it.each([
    ["a legacy key mixed in", (d: Map<string, Record<string, unknown>[]>) => d.get("talos/all-nodes.yaml")!.push({ machine: { time: { servers: ["x"] } } }), "legacy key machine.time (use the Talos ≥ 1.12 documents)"],
    ["a VIP on a node address", (d: Map<string, Record<string, unknown>[]>) => d.get("talos/worker.yaml")!.push({ apiVersion: "v1alpha1", kind: "Layer2VIPConfig", name: node.ip, link: "ens18" }), `VIP ${node.ip} is also a node address`],
    ["a plain-http mirror", (d: Map<string, Record<string, unknown>[]>) => d.get("talos/all-nodes.yaml")!.push({ apiVersion: "v1alpha1", kind: "RegistryMirrorConfig", name: "x.io", endpoints: [{ url: "http://h/v2/x" }] }), "mirror endpoint http://h/v2/x for x.io is not https"],
    ["a hostname with auto on", (d: Map<string, Record<string, unknown>[]>) => (d.get(`talos/nodes/${node.name}.yaml`)![0].auto = "stable"), `HostnameConfig sets hostname ${node.name} without auto: "off"`],
    ["the removed systemDiskEncryption field", (d: Map<string, Record<string, unknown>[]>) => d.get("talos/all-nodes.yaml")!.push({ machine: { systemDiskEncryption: { state: { provider: "luks2" } } } }), "legacy key machine.systemDiskEncryption (use the Talos ≥ 1.12 documents)"],
    ["STATE locked to itself", (d: Map<string, Record<string, unknown>[]>) => volume(d, "STATE").keys.push({ slot: 1, nodeID: {}, lockToState: true }), "VolumeConfig STATE locks a key to STATE itself (lockToState is for the other volumes)"],
    ["a key slot used twice", (d: Map<string, Record<string, unknown>[]>) => volume(d, "EPHEMERAL").keys.push({ slot: 0, static: { passphrase: "x" } }), "VolumeConfig EPHEMERAL uses key slot 0 twice"],
    ["a duplicated rule name", (d: Map<string, Record<string, unknown>[]>) => d.get("talos/all-nodes.yaml")!.push({ ...d.get("talos/worker.yaml")![0] }), "NetworkRuleConfig mgmt-client.talos-apid is also defined in talos/all-nodes.yaml"],
  ])("%s", (_, edit, message) => {
    expect(planted(edit)).toEqual([message]);
  });
});

describe("egress audit: nothing on the SRV side names a public endpoint", () => {
  const FORBIDDEN = [
    /factory\.talos\.dev/,
    /discovery\.talos\.dev/,
    /github(usercontent)?\.com/,
    /\b(time\.cloudflare\.com|pool\.ntp\.org|time\.google\.com)\b/,
    /\b(8\.8\.8\.8|8\.8\.4\.4|1\.1\.1\.1|1\.0\.0\.1|9\.9\.9\.9)\b/,
    /\b(registry-1\.docker\.io|index\.docker\.io|docker\.io|ghcr\.io|registry\.k8s\.io|quay\.io|gcr\.io|k8s\.gcr\.io)\b/,
  ];
  /**
   * SRV-side text with the allowed mentions removed: mirror keys, Harbor's proxy and signed project
   * names, and the image patterns of ImageVerificationConfig rules.
   */
  function srvSideText(files: Map<string, string>): Map<string, string> {
    const out = new Map<string, string>();
    for (const [p, text] of files) {
      if (!/\/(talos\/|charts\/|modules\/srv\/|modules\/platform\/)/.test(p)) continue;
      out.set(
        p,
        text
          .replace(/^(kind: RegistryMirrorConfig\nname: )\S+$/gm, "$1<mirror key>")
          .replace(/\/(v2\/)?(proxy|signed)-[a-z0-9.-]+/g, "/<harbor project>")
          // the image patterns of ImageVerificationConfig are names Talos matches, never endpoints
          .split(/^---$/m)
          .map((doc) => (/^kind: ImageVerificationConfig$/m.test(doc) ? doc.replace(/^(\s*- image: )\S+$/gm, "$1<image pattern>") : doc))
          .join("---"),
      );
    }
    return out;
  }
  const audit = (files: Map<string, string>) =>
    [...srvSideText(files)].flatMap(([p, text]) => FORBIDDEN.filter((re) => re.test(text)).map((re) => `${p}: ${re.source}`));

  it.each(labs)("%s", (_, spec) => {
    const out = synthToTemp(spec, "egress");
    try {
      expect(srvSideText(out.files).size).toBeGreaterThan(5);
      expect(audit(out.files)).toEqual([]);
    } finally {
      out.cleanup();
    }
  });

  it("fails on a planted public endpoint", () => {
    const out = synthToTemp({}, "egress");
    try {
      const files = new Map(out.files);
      const p = [...files.keys()].find((k) => k.endsWith("talos/all-nodes.yaml"))!;
      files.set(p, files.get(p)! + "---\napiVersion: v1alpha1\nkind: TimeSyncConfig\nntp:\n  servers: [time.cloudflare.com]\n");
      expect(audit(files)).toEqual([`${p}: ${FORBIDDEN[3].source}`]);
    } finally {
      out.cleanup();
    }
  });
});

describe("day 2", () => {
  const srvVms = (files: Map<string, string>) => {
    const p = [...files.keys()].find((k) => k.endsWith("modules/srv/main.tf.json"))!;
    return JSON.stringify(JSON.parse(files.get(p)!).resource.proxmox_virtual_environment_vm);
  };
  it.each([
    ["a new Talos version", { talos: { version: "v1.13.10" } }],
    ["a new schematic", { talos: { extensions: ["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools"] } }],
  ])("%s leaves every VM as it was and names the new installer image", (_, change) => {
    const a = synthToTemp({}, "day2");
    const b = synthToTemp(change as LabSpecInput, "day2");
    try {
      expect(srvVms(b.files)).toBe(srvVms(a.files));
      const changed = changedPaths(a.files, b.files);
      expect(changed).toContain("stacks/talos-lab/talos/all-nodes.yaml");
      expect(changed).toContain("stacks/talos-lab/UPGRADE.md");
      expect(changed).toContain("stacks/talos-lab/upgrade.sh");
      const image = /image: (\S+)/.exec(b.files.get("stacks/talos-lab/talos/all-nodes.yaml")!)![1];
      expect(b.files.get("stacks/talos-lab/upgrade.sh")).toContain(`readonly INSTALLER_IMAGE='${image}'`);
      expect(changed.filter((p) => p.includes("/talos/nodes/"))).toEqual([]);
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it("upgrade.sh lists the control planes, then the workers, of the reference lab (upgrade-script.test.ts runs it)", () => {
    const text = readFileSync(join(PROJECT_ROOT, "examples", "reference-lab", "stacks", "talos-lab", "upgrade.sh"), "utf8");
    expect(/^readonly CONTROL_PLANES=\((.*)\)$/m.exec(text)![1]).toBe("'talos-cp-1 10.10.100.11' 'talos-cp-2 10.10.100.12' 'talos-cp-3 10.10.100.13'");
    expect(/^readonly WORKERS=\((.*)\)$/m.exec(text)![1]).toBe("'talos-worker-1 10.10.100.21' 'talos-worker-2 10.10.100.22'");
  });
});

describe("Talos firewall rules derived once", () => {
  it("are shared by every caller, and frozen: no caller can change what the next one gets", () => {
    const m = buildLabModel(validateLabSpec({}));
    const flows = labFlows(m);
    const first = talosFirewallRules(flows, m.workers);
    expect(talosFirewallRules(flows, m.workers)).toBe(first);
    expect(() => (first.shared as unknown[]).push(first.shared[0])).toThrow(TypeError);
    for (const docs of first.perNode.values()) expect(() => (docs as unknown[]).push(1)).toThrow(TypeError);
    expect(roleDocuments(m, flows, "worker")).toEqual(first.shared);
  });
});
