import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AddressSet } from "../constructs/policy/address-set";
import { separationViolations } from "../constructs/policy/separation-policy";
import { labNetworks } from "../constructs/policy/separation-check";
import { buildLabModel } from "../constructs/model/lab-model";
import { LabSpecInput } from "../constructs/spec/lab-spec";
import { loadLabSpec } from "../constructs/spec/load";
import { SpecError } from "../constructs/spec/spec-error";
import { validateLabSpec } from "../constructs/spec/validate";
import { TalosEnclave } from "../constructs/talos-enclave";
import { PROJECT_ROOT, readTree, scratchApp } from "./support/tree";

/**
 * The separation invariants judged on the written files. The reference tree and every example pass;
 * each planted fault — one edit of one generated file, the way a hand edit or a generator bug would
 * look — is caught with its layer, rule and flow.
 */

const GOLDEN = join(PROJECT_ROOT, "examples", "reference-lab", "stacks", "talos-lab");
const nets = labNetworks(buildLabModel(validateLabSpec({})));
const golden = () => new Map(readTree(GOLDEN));
const edit = (files: Map<string, string>, path: string, fn: (text: string) => string) => {
  const before = files.get(path)!;
  const after = fn(before);
  expect(after, `the planted edit must change ${path}`).not.toBe(before);
  files.set(path, after);
  return files;
};
/** A filter.xml rule element, appended before the closing tag. */
const pfRule = (iface: string, destination: string, tracker = "1799999999", protocol = "tcp") =>
  `  <rule>\n    <id/>\n    <tracker>${tracker}</tracker>\n    <type>pass</type>\n    <interface>${iface}</interface>\n    <ipprotocol>inet</ipprotocol>\n    <statetype>keep state</statetype>\n    <protocol>${protocol}</protocol>\n    <source>\n      <any/>\n    </source>\n    <destination>\n      ${destination}\n      <port>22</port>\n    </destination>\n    <descr><![CDATA[planted]]></descr>\n  </rule>\n</filter>`;
/** Plants a rule first on its interface (a later one would sit behind the interface's block to (self)). */
const planted = (iface: string, destination: string, tracker?: string, protocol?: string) => (t: string) => {
  const first = [...t.matchAll(/<rule>[\s\S]*?<\/rule>/g)].find((m) => m[0].includes(`<interface>${iface}</interface>`));
  if (!first) return t.replace("</filter>", pfRule(iface, destination, tracker, protocol));
  return t.slice(0, first.index) + pfRule(iface, destination, tracker, protocol).replace(/<\/filter>$/, "") + t.slice(first.index);
};
/** The tracker flows.json gives a flow's first pfSense rule. */
const trackerOf = (files: Map<string, string>, flow: string) =>
  String(JSON.parse(files.get("flows.json")!).flows.find((f: { id: string }) => f.id === flow).pfsense[0].tracker);

describe("address sets", () => {
  it("do the set algebra the policy needs", () => {
    const a = AddressSet.parse("10.0.0.0/24")!;
    const b = AddressSet.parse("10.0.0.128/25")!;
    expect(b.within(a)).toBe(true);
    expect(a.within(b)).toBe(false);
    expect(a.minus(b).toString()).toBe("10.0.0.0-10.0.0.127");
    expect(a.complement().meets(a)).toBe(false);
    expect(a.complement().or(a).toString()).toBe("any");
    expect(AddressSet.parse("10.0.0.300")).toBeUndefined();
  });
});

describe("the separation invariants on the written files", () => {
  it("hold for the reference tree", () => {
    expect(separationViolations(nets, golden())).toEqual([]);
  });

  it("hold for every example lab", () => {
    for (const f of ["lab.yaml", "three-nodes.yaml", "single-control-plane.yaml", "fifty-workers.yaml"]) {
      const spec = loadLabSpec(join(PROJECT_ROOT, "examples", f));
      const app = scratchApp();
      // files() runs the check itself; a violation would throw here
      expect(() => new TalosEnclave(app, spec.name, { spec }).files()).not.toThrow();
    }
  });

  it("read pfSense's rules first-match: a DMZ flow to the internet behind the block to (self) does not reach pfSense", () => {
    const spec = loadLabSpec(join(PROJECT_ROOT, "examples", "lab.yaml"));
    const flows = [...(spec.flows ?? []), { id: "dmz-out", from: spec.hosts.find((h) => h.role === "ingress")!.name, to: "internet", protocol: "udp" as const, ports: [16], purpose: "test" }];
    const files = new TalosEnclave(scratchApp(), spec.name, { spec: { ...spec, flows } }).files();
    expect(separationViolations(labNetworks(buildLabModel(validateLabSpec(spec))), files)).toEqual([]);
    // The same rule moved ahead of the block does reach pfSense (its WAN address is "not internal").
    const moved = edit(files, "pfsense/filter.xml", (t) => {
      const blocks = [...t.matchAll(/  <rule>[\s\S]*?<\/rule>\n/g)].map((m) => m[0]);
      const rule = blocks.find((b) => b.includes("<descr><![CDATA[dmz-out]]>"))!;
      const first = blocks.find((b) => b.includes("<interface>opt1</interface>"))!;
      return t.replace(rule, "").replace(first, rule + first);
    });
    expect(separationViolations(labNetworks(buildLabModel(validateLabSpec(spec))), moved)).toEqual([expect.objectContaining({ invariant: 4, flow: "dmz-out", message: expect.stringMatching(/lets DMZ reach pfSense itself \(udp\/16\)/) })]);
  });

  const cases: [string, (f: Map<string, string>) => Map<string, string>, Partial<{ layer: string; flow: string; message: RegExp; rule: RegExp }>][] = [
    [
      "a WAN pass rule to a control plane",
      (f) => edit(f, "pfsense/filter.xml", planted("wan", "<address>10.10.100.11</address>")),
      { layer: "pfSense", rule: /^wan rule \d+ \(tracker 1799999999\)$/, message: /lets the WAN side reach SRV \(10\.10\.100\.11\)/ },
    ],
    [
      "a WAN pass rule to everything but MGMT (a `not` that still covers SRV)",
      (f) => edit(f, "pfsense/filter.xml", planted("wan", "<network>lan</network>\n      <not/>")),
      { layer: "pfSense", message: /lets the WAN side reach SRV/ },
    ],
    [
      "a port-forward whose target is a worker",
      (f) => edit(f, "pfsense/nat.xml", (t) => t.replace("<target>172.16.100.10</target>", "<target>10.10.100.21</target>")),
      { layer: "pfSense", rule: /^port-forward 1 /, message: /forwards the WAN side into SRV \(10\.10\.100\.21\)/ },
    ],
    [
      "an SRV pass rule to the internet",
      (f) => edit(f, "pfsense/filter.xml", planted("opt2", "<address>N_LAB_INTERNAL</address>\n      <not/>")),
      { layer: "pfSense", rule: /^opt2 rule/, message: /lets SRV reach outside the lab/ },
    ],
    [
      "an SRV pass rule to the WAN subnet",
      (f) => edit(f, "pfsense/filter.xml", planted("opt2", "<network>wan</network>")),
      { layer: "pfSense", message: /lets SRV reach outside the lab/ },
    ],
    [
      "an alias widened to the internet, used by an SRV rule",
      (f) => edit(f, "pfsense/aliases.xml", (t) => t.replace(/(<name>H_REGISTRY<\/name>\s*<type>host<\/type>\s*<address>)192\.168\.100\.11/, "$1192.168.100.11 0.0.0.0/0")),
      { layer: "pfSense", rule: /^opt2 rule/, flow: "talos-registry-https", message: /lets SRV reach outside the lab/ },
    ],
    [
      "a WAN pass rule to pfSense's own address (its webGUI on the WAN)",
      (f) => edit(f, "pfsense/filter.xml", planted("wan", "<network>wanip</network>")),
      { layer: "pfSense", message: /lets the WAN side reach pfSense itself \(tcp\/22\)/ },
    ],
    [
      "a DMZ pass rule to pfSense's SSH",
      (f) => edit(f, "pfsense/filter.xml", planted("opt1", "<network>opt1ip</network>")),
      { layer: "pfSense", rule: /^opt1 rule/, message: /lets DMZ reach pfSense itself \(tcp\/22\)/ },
    ],
    [
      "a pass rule no flow declares",
      (f) => edit(f, "pfsense/filter.xml", planted("lan", "<address>H_REGISTRY</address>", "1799999998")),
      { layer: "pfSense", message: /no declared flow names/ },
    ],
    [
      "a pass rule whose protocol is not its flow's",
      (f) => edit(f, "pfsense/filter.xml", planted("opt2", "<address>H_REGISTRY</address>", trackerOf(f, "talos-registry-https"), "udp")),
      { layer: "pfSense", flow: "talos-registry-https", message: /passes protocol udp where the flow declares tcp/ },
    ],
    [
      "a Talos VM's Proxmox rule without a source",
      (f) =>
        edit(f, "modules/srv/main.tf.json", (t) => {
          const doc = JSON.parse(t);
          delete doc.resource.proxmox_virtual_environment_firewall_rules["talos-cp-1"].rule[0].source;
          return JSON.stringify(doc, null, 2);
        }),
      { layer: "Proxmox", rule: /^talos-cp-1 rule 1$/, message: /admits sources outside the lab into SRV \(source any\)/ },
    ],
    [
      "a Proxmox rule no flow declares",
      (f) =>
        edit(f, "modules/mgmt/main.tf.json", (t) => {
          const doc = JSON.parse(t);
          // rule 1 is the DROP of pfSense's own address; rule 2 is the first flow
          doc.resource.proxmox_virtual_environment_firewall_rules.registry.rule[1].comment = "made-up: by hand";
          return JSON.stringify(doc, null, 2);
        }),
      { layer: "Proxmox", rule: /^registry rule 2$/, message: /no declared flow names/ },
    ],
    [
      "a Talos rule open to the internet",
      (f) => edit(f, "talos/controlplane.yaml", (t) => t.replace("- subnet: 192.168.100.20/32", "- subnet: 0.0.0.0/0")),
      { layer: "Talos", flow: "mgmt-client.talos-apid", message: /admits sources outside the lab \(subnet 0\.0\.0\.0\/0\)/ },
    ],
    [
      "a Talos rule no flow declares",
      (f) => edit(f, "talos/worker.yaml", (t) => t.replace("name: kubelet-api", "name: kubelet-api-by-hand")),
      { layer: "Talos", rule: /NetworkRuleConfig kubelet-api-by-hand$/, message: /no declared flow names/ },
    ],
  ];

  it.each(cases)("catch %s", (_, fault, expected) => {
    const violations = separationViolations(nets, fault(golden()));
    expect(violations.length).toBeGreaterThan(0);
    const v = violations.find(
      (x) =>
        (!expected.layer || x.layer === expected.layer) &&
        (!expected.flow || x.flow === expected.flow) &&
        (!expected.message || expected.message.test(x.message)) &&
        (!expected.rule || expected.rule.test(x.rule)),
    );
    expect(v, JSON.stringify(violations, null, 1)).toBeDefined();
  });
});

describe("synth refuses a lab that breaks separation", () => {
  it("through the escape hatch: a Talos VM's Proxmox firewall opened to everyone", () => {
    const spec: LabSpecInput = {};
    const app = scratchApp();
    const lab = new TalosEnclave(app, "talos-lab", { spec });
    lab.zones.srv.firewalls.get("talos-worker-1")!.rules.addOverride("rule", [
      { type: "in", action: "ACCEPT", proto: "tcp", dport: "22", comment: "nodes-to-pods: debug", enabled: true },
    ]);
    let error: unknown;
    try {
      lab.files();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecError);
    expect((error as SpecError).lines()).toEqual([
      // the override adds a twelfth rule to the eleven the flows give the worker (ten flows and the DROP of pfSense)
      'separation: Proxmox talos-worker-1 rule 12: "nodes-to-pods" — admits sources outside the lab into SRV (source any) (nothing from the internet or the Proxmox hosts reaches SRV; remove the flow or point it at the DMZ)',
    ]);
  });
});
