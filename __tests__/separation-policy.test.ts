import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AddressSet } from "../constructs/policy/address-set";
import { PortSet } from "../constructs/policy/port-set";
import { separationViolations } from "../constructs/policy/separation-policy";
import { labNetworks } from "../constructs/policy/separation-check";
import { buildLabModel } from "../constructs/lab/build";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { loadLabSpec } from "../constructs/lab/load";
import { SpecError } from "../constructs/input/spec-error";
import { validateLabSpec } from "../constructs/lab/validate";
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
/** A floating rule (pfSense's Floating tab): one rule on every interface of its comma list. */
const floatingRule = (ifaces: string, destination: string, opts: { quick?: boolean; direction?: string; extra?: string } = {}) =>
  `  <rule>\n    <tracker>1799999990</tracker>\n    <type>pass</type>\n    <interface>${ifaces}</interface>\n    <floating>yes</floating>\n` +
  (opts.quick === false ? "" : "    <quick>yes</quick>\n") +
  `    <direction>${opts.direction ?? "any"}</direction>\n    <ipprotocol>inet</ipprotocol>\n    <protocol>tcp</protocol>\n` +
  `    <source>\n      <any/>\n    </source>\n    <destination>\n      ${destination}\n      <port>22</port>\n    </destination>\n${opts.extra ?? ""}    <descr><![CDATA[planted floating]]></descr>\n  </rule>\n`;
/** Plants a floating rule where pfSense keeps them (the file's order does not matter: they come first). */
const withFloating = (rule: string) => (t: string) => t.replace("</filter>", `${rule}</filter>`);
/** The filter.xml rule whose description is `descr`. */
const ruleBlock = (t: string, descr: string) => {
  const block = [...t.matchAll(/  <rule>[\s\S]*?<\/rule>\n/g)].map((m) => m[0]).find((b) => b.includes(`<descr><![CDATA[${descr}]]></descr>`));
  if (!block) throw new Error(`no rule ${descr}`);
  return block;
};
/** Edits the filter.xml rule whose description is `descr`. */
const editRule = (descr: string, fn: (rule: string) => string) => (t: string) => {
  const block = ruleBlock(t, descr);
  return t.replace(block, fn(block));
};
/** Plants a pass rule right after the rule whose description is `descr`. */
const after = (descr: string, iface: string, destination: string, protocol = "udp", port = "16") => (t: string) => {
  const rule = pfRule(iface, destination, "1799999997", protocol).replace(/<\/filter>$/, "").replace("<port>22</port>", `<port>${port}</port>`);
  return editRule(descr, (b) => b + rule)(t);
};
const disable = (rule: string) => rule.replace("<type>", "<disabled/>\n    <type>");
const inet6 = (rule: string) => rule.replace("<ipprotocol>inet</ipprotocol>", "<ipprotocol>inet6</ipprotocol>");
/** Edits one resource of a module's JSON. */
const editJson = (module: string, fn: (resource: Record<string, Record<string, Record<string, unknown>>>) => void) => (t: string) => {
  const doc = JSON.parse(t);
  fn(doc.resource);
  return JSON.stringify(doc, null, 2);
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
    expect(AddressSet.parse("10.0.0.9 - 10.0.0.1")!.toString()).toBe("10.0.0.1-10.0.0.9");
    expect(AddressSet.parse("10.0.0.0/24-10.0.0.9")).toBeUndefined();
  });
});

describe("port sets", () => {
  it("read single ports and both range spellings, and subtract", () => {
    const etcd = PortSet.parse("2379:2380")!;
    expect(PortSet.parse("2379-2380")!.within(etcd)).toBe(true);
    expect(PortSet.union([PortSet.parse("80")!, PortSet.parse("443")!]).toString()).toBe("80, 443");
    expect(PortSet.ALL.minus(PortSet.parse("22")!).toString()).toBe("0-21, 23-65535");
    expect(PortSet.parse("ssh")).toBeUndefined();
    expect(PortSet.parse("70000")).toBeUndefined();
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

  const cases: [string, (f: Map<string, string>) => Map<string, string>, Partial<{ layer: string; flow: string; message: RegExp; rule: RegExp; invariant: number }>][] = [
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
      "a DMZ pass rule to the registry (the controller pull the DMZ host once made)",
      (f) => edit(f, "pfsense/filter.xml", planted("opt1", "<address>192.168.100.11</address>")),
      { layer: "pfSense", invariant: 5, rule: /^opt1 rule 1 /, message: /^lets the DMZ reach into MGMT \(192\.168\.100\.11\)$/ },
    ],
    [
      "a DMZ pass rule to the MGMT network",
      (f) => edit(f, "pfsense/filter.xml", planted("opt1", "<network>lan</network>")),
      { layer: "pfSense", invariant: 5, message: /lets the DMZ reach into MGMT \(192\.168\.100\.0\/24 without|lets the DMZ reach into MGMT/ },
    ],
    [
      "a port-forward on the DMZ interface into MGMT",
      (f) =>
        edit(f, "pfsense/nat.xml", (t) =>
          t.replace("</nat>", "  <rule>\n    <source>\n      <any/>\n    </source>\n    <destination>\n      <network>opt1ip</network>\n      <port>3142</port>\n    </destination>\n    <protocol>tcp</protocol>\n    <target>192.168.100.11</target>\n    <local-port>3142</local-port>\n    <interface>opt1</interface>\n    <descr><![CDATA[planted]]></descr>\n  </rule>\n</nat>"),
        ),
      { layer: "pfSense", invariant: 5, rule: /^port-forward \d+ \(planted\)$/, message: /forwards what arrives from the DMZ into MGMT \(192\.168\.100\.11\)/ },
    ],
    [
      "a registry Proxmox ACCEPT from the DMZ ingress host",
      (f) =>
        edit(
          f,
          "modules/mgmt/main.tf.json",
          editJson("mgmt", (r) => {
            (r.proxmox_virtual_environment_firewall_rules.registry.rule as Record<string, unknown>[])[1].source = "172.16.100.10";
          }),
        ),
      { layer: "Proxmox", invariant: 5, rule: /^registry rule 2$/, message: /^admits DMZ sources into a MGMT VM \(172\.16\.100\.10\)$/ },
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
    // Floating rules: before every interface rule, on each interface of their list.
    [
      "a quick floating pass on wan,opt2 into SRV (no crash: judged on each interface)",
      (f) => edit(f, "pfsense/filter.xml", withFloating(floatingRule("wan,opt2", "<address>10.10.100.11</address>"))),
      { layer: "pfSense", invariant: 1, rule: /^floating rule 1 \(tracker 1799999990\) on wan$/, message: /lets the WAN side reach SRV \(10\.10\.100\.11\)/ },
    ],
    [
      "a quick floating pass on wan,opt2 to pfSense itself, ahead of the interfaces' blocks to (self)",
      (f) => edit(f, "pfsense/filter.xml", withFloating(floatingRule("wan,opt2", "<network>(self)</network>"))),
      { layer: "pfSense", invariant: 4, rule: /^floating rule 1 .* on opt2$/, message: /lets SRV reach pfSense itself \(tcp\/22\)/ },
    ],
    [
      "a quick floating pass on opt2 (direction in) to the internet",
      (f) => edit(f, "pfsense/filter.xml", withFloating(floatingRule("opt2", "<address>N_LAB_INTERNAL</address>\n      <not/>", { direction: "in" }))),
      { layer: "pfSense", invariant: 2, rule: /^floating rule 1 .* on opt2$/, message: /lets SRV reach outside the lab/ },
    ],
    [
      "a floating pass on an interface the lab does not have",
      (f) => edit(f, "pfsense/filter.xml", withFloating(floatingRule("opt2,opt7", "<address>H_REGISTRY</address>"))),
      { layer: "pfSense", invariant: 3, rule: /^floating rule 1 .* on opt7$/, message: /interface "opt7", which is none of the lab's/ },
    ],
    [
      "a non-quick floating pass on a WAN whose catch-all block is disabled",
      (f) =>
        edit(
          edit(f, "pfsense/filter.xml", withFloating(floatingRule("wan", "<address>10.10.100.11</address>", { quick: false }))),
          "pfsense/filter.xml",
          editRule("default deny WAN (logged)", disable),
        ),
      { layer: "pfSense", invariant: 1, rule: /^floating rule 1 .* on wan$/, message: /lets the WAN side reach SRV/ },
    ],
    // Disabled and IPv6-only rules do nothing for IPv4.
    [
      "a DMZ block to (self) that is disabled, ahead of a pass to the internet",
      (f) =>
        edit(
          edit(f, "pfsense/filter.xml", after("no other access to pfSense on DMZ", "opt1", "<address>N_LAB_INTERNAL</address>\n      <not/>")),
          "pfsense/filter.xml",
          editRule("no other access to pfSense on DMZ", disable),
        ),
      { layer: "pfSense", invariant: 4, message: /lets DMZ reach pfSense itself \(udp\/16\)/ },
    ],
    [
      "a DMZ block to (self) that is IPv6-only, ahead of a pass to the internet",
      (f) =>
        edit(
          edit(f, "pfsense/filter.xml", after("no other access to pfSense on DMZ", "opt1", "<address>N_LAB_INTERNAL</address>\n      <not/>")),
          "pfsense/filter.xml",
          editRule("no other access to pfSense on DMZ", inet6),
        ),
      { layer: "pfSense", invariant: 4, message: /lets DMZ reach pfSense itself \(udp\/16\)/ },
    ],
    [
      "a WAN catch-all block that is disabled, ahead of a pass into SRV",
      (f) =>
        edit(
          edit(f, "pfsense/filter.xml", after("default deny WAN (logged)", "wan", "<address>10.10.100.21</address>", "tcp", "22")),
          "pfsense/filter.xml",
          editRule("default deny WAN (logged)", disable),
        ),
      { layer: "pfSense", invariant: 1, message: /lets the WAN side reach SRV \(10\.10\.100\.21\)/ },
    ],
    // A rule that carries a flow's name opens only what the flow declares.
    [
      "a MGMT rule carrying a flow's tracker, widened to any destination and port",
      (f) => edit(f, "pfsense/filter.xml", editRule("mgmt-client.ssh.haproxy-ingress-1", (b) => b.replace(/<address>H_HAPROXY_INGRESS_1<\/address>\s*<port>22<\/port>/, "<any/>"))),
      { layer: "pfSense", invariant: 3, flow: "mgmt-client.ssh.haproxy-ingress-1", message: /^passes destinations .* the flow does not declare \(to haproxy-ingress-1: 172\.16\.100\.10\)$/ },
    ],
    [
      "a MGMT rule carrying a flow's tracker, widened to every port",
      (f) => edit(f, "pfsense/filter.xml", editRule("mgmt-client.ssh.haproxy-ingress-1", (b) => b.replace("<port>22</port>", "<port>1-65535</port>"))),
      { layer: "pfSense", invariant: 3, flow: "mgmt-client.ssh.haproxy-ingress-1", message: /^passes ports 1-21, 23-65535 the flow does not declare \(22\)$/ },
    ],
    [
      "a MGMT rule carrying a flow's tracker, widened to every MGMT source",
      (f) => edit(f, "pfsense/filter.xml", editRule("mgmt-client.talos-apid", (b) => b.replace("<address>H_MGMT_CLIENT</address>", "<network>lan</network>"))),
      { layer: "pfSense", invariant: 3, flow: "mgmt-client.talos-apid", message: /^passes sources 192\.168\.100\.0-192\.168\.100\.19, .* the flow does not declare \(from mgmt-client: 192\.168\.100\.20\)$/ },
    ],
    [
      "a flow's rule moved to another interface (first there, ahead of its catch-all block)",
      (f) =>
        edit(f, "pfsense/filter.xml", (t) => {
          const rule = ruleBlock(t, "haproxy-ingress-1.kube-api");
          const lan = ruleBlock(t, "mgmt-dns-udp");
          return t.replace(rule, "").replace(lan, rule.replace("<interface>opt1</interface>", "<interface>lan</interface>") + lan);
        }),
      { layer: "pfSense", invariant: 3, flow: "haproxy-ingress-1.kube-api", message: /passes on lan where flows\.json places the flow's rule on opt1/ },
    ],
    [
      "a host alias widened inside the lab, used by a flow's rule",
      (f) => edit(f, "pfsense/aliases.xml", (t) => t.replace(/(<name>H_MGMT_CLIENT<\/name>\s*<type>host<\/type>\s*<address>)192\.168\.100\.20/, "$1192.168.100.0/24")),
      { layer: "pfSense", invariant: 3, flow: "mgmt-client.kube-api", message: /^passes sources .* the flow does not declare/ },
    ],
    [
      "a registry Proxmox ACCEPT from 0.0.0.0/0 on every port, commented like a declared flow",
      (f) =>
        edit(
          f,
          "modules/mgmt/main.tf.json",
          editJson("mgmt", (r) => {
            const rule = (r.proxmox_virtual_environment_firewall_rules.registry.rule as Record<string, unknown>[])[1];
            expect(rule.comment).toMatch(/^mgmt-client\.ssh\.registry: /);
            rule.source = "0.0.0.0/0";
            delete rule.dport;
          }),
        ),
      { layer: "Proxmox", invariant: 3, rule: /^registry rule 2$/, flow: "mgmt-client.ssh.registry", message: /^accepts ports 0-21, 23-65535 the flow does not declare \(22\)$/ },
    ],
    [
      "a registry Proxmox ACCEPT from 0.0.0.0/0, commented like a declared flow (its sources)",
      (f) =>
        edit(
          f,
          "modules/mgmt/main.tf.json",
          editJson("mgmt", (r) => {
            (r.proxmox_virtual_environment_firewall_rules.registry.rule as Record<string, unknown>[])[1].source = "0.0.0.0/0";
          }),
        ),
      { layer: "Proxmox", invariant: 3, flow: "mgmt-client.ssh.registry", message: /^accepts sources .* the flow does not declare \(from mgmt-client: 192\.168\.100\.20\)$/ },
    ],
    [
      "a Talos rule carrying a flow's name, widened to every port",
      (f) => edit(f, "talos/worker.yaml", (t) => t.replace(/(name: kubelet-api\nportSelector:\n  ports:\n    - )10250/, '$1"1-65535"')),
      { layer: "Talos", invariant: 3, flow: "kubelet-api", message: /^admits ports 1-10249, 10251-65535 the flow does not declare \(10250\)$/ },
    ],
    [
      "a Talos rule carrying a flow's name, widened to all of MGMT",
      (f) => edit(f, "talos/controlplane.yaml", (t) => t.replace(/(name: mgmt-client\.talos-apid\n[\s\S]*?- subnet: )192\.168\.100\.20\/32/, "$1192.168.100.0/24")),
      { layer: "Talos", invariant: 3, flow: "mgmt-client.talos-apid", message: /^admits sources .* the flow does not declare \(from mgmt-client: 192\.168\.100\.20\)$/ },
    ],
    // Interface networks hold pfSense's own address on them.
    [
      "a DMZ pass rule to the DMZ network (which holds pfSense's DMZ address)",
      (f) => edit(f, "pfsense/filter.xml", planted("opt1", "<network>opt1</network>")),
      { layer: "pfSense", invariant: 4, rule: /^opt1 rule 1 /, message: /lets DMZ reach pfSense itself \(tcp\/22\)/ },
    ],
    [
      "an SRV pass rule to the MGMT network (which holds pfSense's MGMT address)",
      (f) => edit(f, "pfsense/filter.xml", planted("opt2", "<network>lan</network>")),
      { layer: "pfSense", invariant: 4, rule: /^opt2 rule 1 /, message: /lets SRV reach pfSense itself \(tcp\/22\)/ },
    ],
    // The host firewalls must act at all, and pfSense must not policy-route SRV.
    [
      "a Talos NetworkDefaultActionConfig with ingress: accept",
      (f) => edit(f, "talos/all-nodes.yaml", (t) => t.replace(/(kind: NetworkDefaultActionConfig\ningress: )block/, "$1accept")),
      { layer: "Talos", invariant: 1, rule: /^talos\/all-nodes\.yaml NetworkDefaultActionConfig$/, message: /ingress "accept" admits every source/ },
    ],
    [
      "a Talos port written with a leading zero (octal to Talos: 06443 opens 3363)",
      (f) => edit(f, "talos/worker.yaml", (t) => t.replace(/(name: kubelet-api\nportSelector:\n  ports:\n    - )10250/, "$1024022")),
      { layer: "Talos", invariant: 3, flow: "kubelet-api", message: /admits ports 10258 the flow does not declare/ },
    ],
    [
      "a Talos rule widened through a merge key (yaml.v3 applies <<)",
      (f) => edit(f, "talos/worker.yaml", (t) => t.replace(/(name: kubelet-api\n)/, "$1<<: { ingress: [ { subnet: 0.0.0.0/0 } ] }\n").replace(/(<<: .*\n(?:.*\n)*?)ingress:\n(  - subnet: .*\n)+/, "$1")),
      { layer: "Talos", invariant: 1, rule: /kubelet-api/, message: /admits sources outside the lab \(subnet 0\.0\.0\.0\/0\)/ },
    ],
    [
      "a Talos patch that is not valid YAML (a key given twice)",
      (f) => edit(f, "talos/worker.yaml", (t) => t.replace(/(name: kubelet-api\n)/, "$1name: kubelet-api-again\n")),
      { layer: "Talos", invariant: 1, rule: /^talos\/worker\.yaml$/, message: /cannot be read as YAML \(duplicated mapping key/ },
    ],
    [
      "no Talos NetworkDefaultActionConfig at all",
      (f) => edit(f, "talos/all-nodes.yaml", (t) => t.replace(/(---\n)?apiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: block\n/, "")),
      { layer: "Talos", invariant: 1, message: /no NetworkDefaultActionConfig/ },
    ],
    [
      "an SRV VM's Proxmox firewall with input policy ACCEPT",
      (f) => edit(f, "modules/srv/main.tf.json", editJson("srv", (r) => void (r.proxmox_virtual_environment_firewall_options["talos-cp-2"].input_policy = "ACCEPT"))),
      { layer: "Proxmox", invariant: 1, rule: /^talos-cp-2 firewall options$/, message: /input policy ACCEPT/ },
    ],
    [
      "an SRV VM's Proxmox firewall switched off",
      (f) => edit(f, "modules/srv/main.tf.json", editJson("srv", (r) => void (r.proxmox_virtual_environment_firewall_options["talos-cp-3"].enabled = false))),
      { layer: "Proxmox", invariant: 1, rule: /^talos-cp-3 firewall options$/, message: /not enabled/ },
    ],
    [
      "an SRV VM's NIC with firewall = false",
      (f) =>
        edit(
          f,
          "modules/srv/main.tf.json",
          editJson("srv", (r) => void ((r.proxmox_virtual_environment_vm["talos-worker-2"].network_device as Record<string, unknown>[])[0].firewall = false)),
        ),
      { layer: "Proxmox", invariant: 1, rule: /^talos-worker-2 network device 1$/, message: /the NIC is not firewalled/ },
    ],
    [
      "a MGMT VM's NIC with firewall = false",
      (f) =>
        edit(
          f,
          "modules/mgmt/main.tf.json",
          editJson("mgmt", (r) => void ((r.proxmox_virtual_environment_vm.registry.network_device as Record<string, unknown>[])[0].firewall = false)),
        ),
      { layer: "Proxmox", invariant: 3, rule: /^registry network device 1$/, message: /the NIC is not firewalled/ },
    ],
    // Invariant 6: the client LAN reaches only the client hosts' SSH and RDP; nothing reaches into it.
    [
      "a CLIENT pass rule to the registry",
      (f) => edit(f, "pfsense/filter.xml", planted("opt3", "<address>H_REGISTRY</address>")),
      { layer: "pfSense", invariant: 6, rule: /^opt3 rule 1 /, message: /^lets the client LAN reach more than the client hosts \(192\.168\.100\.11\)$/ },
    ],
    [
      "a CLIENT pass rule to the SRV network",
      (f) => edit(f, "pfsense/filter.xml", planted("opt3", "<network>opt2</network>")),
      { layer: "pfSense", invariant: 6, message: /lets the client LAN reach more than the client hosts \(10\.10\.100\.0-10\.10\.100\.255\)/ },
    ],
    [
      "a CLIENT rule carrying the SSH flow's tracker, widened to every port of the mgmt client",
      (f) => edit(f, "pfsense/filter.xml", editRule("mgmt-client.client-lan-ssh", (b) => b.replace("<port>22</port>", "<port>1:65535</port>"))),
      { layer: "pfSense", invariant: 6, flow: "mgmt-client.client-lan-ssh", message: /on more than SSH and RDP \(tcp\/1:65535\)/ },
    ],
    [
      "a MGMT pass rule into the client LAN",
      (f) => edit(f, "pfsense/filter.xml", planted("lan", "<network>opt3</network>")),
      { layer: "pfSense", invariant: 6, rule: /^lan rule 1 /, message: /^lets MGMT initiate into the client LAN \(192\.168\.200\.0-192\.168\.200\.255\)$/ },
    ],
    [
      "an SRV pass rule to an operator's machine",
      (f) => edit(f, "pfsense/filter.xml", planted("opt2", "<address>192.168.200.50</address>")),
      { layer: "pfSense", invariant: 6, message: /^lets SRV initiate into the client LAN \(192\.168\.200\.50\)$/ },
    ],
    [
      "N_LAB_INTERNAL without the client LAN (MGMT's web flow to the internet then reaches it)",
      (f) => edit(f, "pfsense/aliases.xml", (t) => t.replace(/ 192\.168\.200\.0\/24/, "")),
      { layer: "pfSense", invariant: 6, flow: "mgmt-internet-web", message: /lets MGMT initiate into the client LAN/ },
    ],
    [
      "a WAN port-forward into the client LAN",
      (f) => edit(f, "pfsense/nat.xml", (t) => t.replace("<target>172.16.100.10</target>", "<target>192.168.200.50</target>")),
      { layer: "pfSense", invariant: 6, rule: /^port-forward 1 /, message: /forwards into the client LAN \(192\.168\.200\.50\)/ },
    ],
    [
      "a registry Proxmox ACCEPT from the client LAN",
      (f) =>
        edit(
          f,
          "modules/mgmt/main.tf.json",
          editJson("mgmt", (r) => {
            (r.proxmox_virtual_environment_firewall_rules.registry.rule as Record<string, unknown>[])[1].source = "192.168.200.0/24";
          }),
        ),
      { layer: "Proxmox", invariant: 6, rule: /^registry rule 2$/, message: /^admits client-LAN sources into registry, which is not a client host \(192\.168\.200\.0-192\.168\.200\.255\)$/ },
    ],
    [
      "a Talos rule open to the client LAN",
      (f) => edit(f, "talos/controlplane.yaml", (t) => t.replace("- subnet: 192.168.100.20/32", "- subnet: 192.168.200.0/24")),
      { layer: "Talos", invariant: 6, message: /admits client-LAN sources into a Talos node \(subnet 192\.168\.200\.0\/24\)/ },
    ],
    [
      "an SRV pass rule with a gateway (route-to)",
      (f) => edit(f, "pfsense/filter.xml", editRule("talos-registry-https", (b) => b.replace("<descr>", "<gateway>WAN_DHCP</gateway>\n    <descr>"))),
      { layer: "pfSense", invariant: 2, flow: "talos-registry-https", message: /routes what it passes to gateway WAN_DHCP/ },
    ],
    [
      "a floating pass on opt2 with a gateway (route-to)",
      (f) => edit(f, "pfsense/filter.xml", withFloating(floatingRule("opt2", "<address>H_REGISTRY</address>", { extra: "    <gateway>WAN_DHCP</gateway>\n" }))),
      { layer: "pfSense", invariant: 2, rule: /^floating rule 1 .* on opt2$/, message: /routes what it passes to gateway WAN_DHCP/ },
    ],
  ];

  it.each(cases)("catch %s", (_, fault, expected) => {
    const violations = separationViolations(nets, fault(golden()));
    expect(violations.length).toBeGreaterThan(0);
    const v = violations.find(
      (x) =>
        (!expected.layer || x.layer === expected.layer) &&
        (!expected.invariant || x.invariant === expected.invariant) &&
        (!expected.flow || x.flow === expected.flow) &&
        (!expected.message || expected.message.test(x.message)) &&
        (!expected.rule || expected.rule.test(x.rule)),
    );
    expect(v, JSON.stringify(violations, null, 1)).toBeDefined();
  });
});

describe("an unreadable Talos patch", () => {
  it("is one violation, not also a missing default action it may well hold", () => {
    const files = edit(golden(), "talos/all-nodes.yaml", (t) => `${t}\nkind: twice\nkind: again\n`);
    const talos = separationViolations(nets, files).filter((v) => v.layer === "Talos");
    expect(talos).toEqual([expect.objectContaining({ rule: "talos/all-nodes.yaml", invariant: 1, message: expect.stringMatching(/^cannot be read as YAML/) })]);
  });
});

describe("rules pfSense does not apply to IPv4 count for nothing", () => {
  const wanIntoSrv = pfRule("wan", "<address>10.10.100.11</address>").replace(/<\/filter>$/, "");
  const first = (rule: string) => (t: string) => t.replace(ruleBlock(t, "no other access to pfSense on WAN"), (b) => rule + b);
  it("a disabled WAN pass rule into SRV", () => {
    expect(separationViolations(nets, edit(golden(), "pfsense/filter.xml", first(disable(wanIntoSrv))))).toEqual([]);
  });
  it("an IPv6-only WAN pass rule into SRV", () => {
    expect(separationViolations(nets, edit(golden(), "pfsense/filter.xml", first(inet6(wanIntoSrv))))).toEqual([]);
  });
  it("the same rule enabled for IPv4 is caught", () => {
    expect(separationViolations(nets, edit(golden(), "pfsense/filter.xml", first(wanIntoSrv)))).toContainEqual(expect.objectContaining({ invariant: 1, rule: "wan rule 1 (tracker 1799999999)" }));
  });
  it("a pass rule behind its interface's catch-all block", () => {
    const files = edit(golden(), "pfsense/filter.xml", after("default deny WAN (logged)", "wan", "<address>10.10.100.21</address>", "tcp", "22"));
    expect(separationViolations(nets, files)).toEqual([]);
  });
  it("a disabled Proxmox ACCEPT from anywhere on an SRV VM", () => {
    const files = edit(golden(), "modules/srv/main.tf.json", editJson("srv", (r) => {
      (r.proxmox_virtual_environment_firewall_rules["talos-cp-1"].rule as unknown[]).push({ type: "in", action: "ACCEPT", proto: "tcp", dport: "22", comment: "by hand", enabled: false });
    }));
    expect(separationViolations(nets, files)).toEqual([]);
  });
  it("a non-quick floating pass on an interface whose own rules end with a block of everything (the interface rule decides)", () => {
    const files = edit(golden(), "pfsense/filter.xml", withFloating(floatingRule("wan", "<address>10.10.100.11</address>", { quick: false })));
    expect(separationViolations(nets, files)).toEqual([]);
  });
  it("a floating pass for outbound packets only (pfSense passes everything out; the inbound interface decides)", () => {
    const files = edit(golden(), "pfsense/filter.xml", withFloating(floatingRule("opt2", "<address>N_LAB_INTERNAL</address>\n      <not/>", { direction: "out" })));
    expect(separationViolations(nets, files)).toEqual([]);
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
      // each finding starts with the construct it concerns: the worker's VM in the srv module
      // the override adds a twelfth rule to the eleven the flows give the worker (ten flows and the DROP of pfSense);
      // it names nodes-to-pods but opens more than that flow (any source, any destination)
      'talos-lab/srv/vms/talos-worker-1: separation: Proxmox talos-worker-1 rule 12: "nodes-to-pods" — accepts sources 0.0.0.0-10.10.99.255, 10.10.101.0-255.255.255.255 the flow does not declare (from group:talos: 10.10.100.0-10.10.100.255) (every rule that lets traffic through must come from a flow in flows.json and open no more than that flow)',
      'talos-lab/srv/vms/talos-worker-1: separation: Proxmox talos-worker-1 rule 12: "nodes-to-pods" — accepts destinations 0.0.0.0-10.243.255.255, 10.245.0.0-255.255.255.255 the flow does not declare (to pods: 10.244.0.0-10.244.255.255) (every rule that lets traffic through must come from a flow in flows.json and open no more than that flow)',
      'talos-lab/srv/vms/talos-worker-1: separation: Proxmox talos-worker-1 rule 12: "nodes-to-pods" — admits sources outside the lab into SRV (source any) (nothing from the internet or the Proxmox hosts reaches SRV; remove the flow or point it at the DMZ)',
      // any source includes the operators' LAN, which reaches only the client hosts
      'talos-lab/srv/vms/talos-worker-1: separation: Proxmox talos-worker-1 rule 12: "nodes-to-pods" — admits client-LAN sources into talos-worker-1, which is not a client host (192.168.200.0-192.168.200.255) (the client LAN is the operators\' way in: from it only the client hosts\' SSH (22) and RDP (3389), and nothing in the lab initiates into it)',
    ]);
  });
});
