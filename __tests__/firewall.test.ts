import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { XMLParser } from "fast-xml-parser";
import { afterAll, describe, expect, it } from "vitest";
import { pfSenseFileProblems } from "../constructs/policy/pfsense-checks";
import { proxmoxFirewallIpsets, proxmoxFirewallRules } from "../constructs/render/proxmox/proxmox-firewall-rules";
import { labFlows } from "../constructs/model/lab-flows";
import { buildLabModel } from "../constructs/lab/build";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { loadLabSpec } from "../constructs/lab/load";
import { SpecError } from "../constructs/input/spec-error";
import { validateLabSpec } from "../constructs/lab/validate";
import { changedFiles, changedPaths, PROJECT_ROOT, synthToTemp, tempDir } from "./support/tree";

const examples = ["lab.yaml", "three-nodes.yaml", "single-control-plane.yaml", "fifty-workers.yaml"];
const labs: [string, LabSpecInput][] = [["reference lab", {}], ...examples.map((f): [string, LabSpecInput] => [f, loadLabSpec(join(PROJECT_ROOT, "examples", f))])];
const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));
const synth = (spec: LabSpecInput) => {
  const out = synthToTemp(spec, "fw");
  cleanups.push(out.cleanup);
  const stack = [...out.files.keys()].find((p) => p.endsWith("/cdk.tf.json"))!.replace("/cdk.tf.json", "");
  return { files: out.files, stack, get: (p: string) => out.files.get(`${stack}/${p}`)! };
};
const pfFiles = (t: ReturnType<typeof synth>) => ({ aliases: t.get("pfsense/aliases.xml"), filter: t.get("pfsense/filter.xml"), nat: t.get("pfsense/nat.xml"), unbound: t.get("pfsense/unbound.xml") });

describe("the flow model", () => {
  const m = buildLabModel(validateLabSpec({}));
  const flows = labFlows(m);
  const ids = flows.flows.map((f) => f.id);

  it("declares what the lab needs, across the firewall", () => {
    for (const id of [
      "mgmt-dns-udp", "dmz-dns-udp", "srv-dns-udp", "mgmt-ntp", "dmz-ntp", "srv-ntp", "mgmt-internet-web",
      "mgmt-client.talos-apid", "mgmt-client.kube-api", "mgmt-client.ssh.registry", "mgmt-client.ssh.haproxy-ingress-1",
      "mgmt-client.proxmox-api", "talos-registry-https", "talos-image-factory", "proxmox-image-factory",
      "calico-bgp-nodes", "calico-bgp-firewall", "haproxy-ingress-1.kube-api", "haproxy-ingress-1.pod-backends",
      "internet.haproxy-ingress-1.web",
    ]) expect(ids).toContain(id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each([
    ["a flow to an unknown host", { from: "mgmt-client", to: "nas", protocol: "tcp", ports: [445] }, 'flows[0].to: "nas" — is not a known flow endpoint'],
    ["a flow that opens SRV to the internet", { from: "group:workers", to: "internet", protocol: "tcp", ports: [443] }, 'flows[0]: "group:workers -> internet" — would open the SRV side to the internet (SRV never reaches the internet; mirror what it needs through the registry)'],
    ["a flow repeating a lab flow", { from: "mgmt-client", to: "vip", protocol: "tcp", ports: [6443] }, 'flows[0]: "extra" — overlaps flow mgmt-client.kube-api (the same source, destination, protocol and ports are already allowed)'],
    ["a bad port", { from: "mgmt-client", to: "registry", protocol: "tcp", ports: [70000] }, "flows[0].ports[0]: 70000 — must be a port or port range"],
  ])("rejects %s", (_, flow, line) => {
    let lines: string[] = [];
    try {
      validateLabSpec({ flows: [{ id: "extra", purpose: "test", ...flow }] });
    } catch (e) {
      lines = (e as SpecError).lines();
    }
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain(line);
  });

  it("gives each Proxmox VM firewall exactly the flows into it", () => {
    const registry = proxmoxFirewallRules(flows, m.hosts.find((h) => h.name === "registry")!);
    expect(registry.map((r) => `${r.action} ${r.proto ?? "all"}/${r.dport ?? "all"} ${r.source ?? "any"}${r.dest ? ` -> ${r.dest}` : ""}`)).toEqual([
      // pfSense's own address lies inside the SRV subnet the Talos rules admit: it is dropped first
      "DROP all/all 192.168.100.1",
      "ACCEPT tcp/22 192.168.100.20 -> 192.168.100.11",
      "ACCEPT tcp/443 10.10.100.0/24 -> 192.168.100.11",
      "ACCEPT tcp/9443 10.10.100.0/24 -> 192.168.100.11",
      // the Proxmox hosts' addresses are not in the spec: anything outside the lab's networks
      "ACCEPT tcp/9443 +outside-lab -> 192.168.100.11",
      "ACCEPT tcp/443 192.168.100.20 -> 192.168.100.11",
      "ACCEPT tcp/9443 192.168.100.20 -> 192.168.100.11",
      // the bootstrap's provisioning, from outside through a Proxmox host (ssh -J); nothing from the DMZ
      "ACCEPT tcp/22 +outside-lab -> 192.168.100.11",
    ]);
    expect(proxmoxFirewallIpsets(flows, registry)).toEqual([
      expect.objectContaining({ name: "outside-lab", cidr: expect.arrayContaining([{ name: "0.0.0.0/0", comment: "anywhere" }, { name: "10.244.0.0/16", nomatch: true, comment: "pod network" }]) }),
    ]);
  });
});

describe.each(labs)("pfSense sidecars of %s", (_, spec) => {
  const t = synth(spec);

  it("pass pfSense's element rules and are well-formed", () => {
    expect(pfSenseFileProblems(pfFiles(t))).toEqual([]);
  });

  it("close every interface with a logged default deny, in first-match order", () => {
    const rules = [...t.get("pfsense/filter.xml").matchAll(/<rule>([\s\S]*?)<\/rule>/g)].map((r) => r[1]);
    for (const iface of ["wan", "lan", "opt1", "opt2"]) {
      const mine = rules.filter((r) => r.includes(`<interface>${iface}</interface>`));
      expect(mine.length).toBeGreaterThan(1);
      expect(mine.at(-1)).toMatch(/<type>block<\/type>[\s\S]*<any\/>[\s\S]*<any\/>[\s\S]*<log\/>/);
      // before it: passes, and one logged block of anything else to pfSense itself
      const blocks = mine.slice(0, -1).filter((r) => !r.includes("<type>pass</type>"));
      expect(blocks.length).toBe(1);
      expect(blocks[0]).toMatch(/<network>\(self\)<\/network>[\s\S]*<log\/>/);
    }
  });

  it("give the DNS Resolver, enabled on all interfaces with DNSSEC, a host override for every name RULES.md lists", () => {
    const xml = t.get("pfsense/unbound.xml");
    const unbound = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (n) => n === "hosts" }).parse(xml).unbound;
    for (const key of ["enable", "dnssec"]) expect(unbound, key).toHaveProperty(key);
    expect([unbound.active_interface, unbound.outgoing_interface, unbound.forwarding]).toEqual(["", "", undefined]);
    const md = t.get("pfsense/RULES.md");
    const table = md.slice(md.indexOf("## DNS host overrides"), md.indexOf("## Flows pfSense does not see"));
    const rows = [...table.matchAll(/^([a-z0-9.-]+) \| ([0-9.]+)$/gm)].map((r) => `${r[1]} ${r[2]}`);
    const hosts = (unbound.hosts as { host: string; domain: string; ip: string }[]).map((h) => `${h.host ? `${h.host}.` : ""}${h.domain} ${h.ip}`);
    expect(rows.length).toBeGreaterThan(3);
    expect(hosts).toEqual(rows);
    // the names the lab's hosts look up: Talos's registry mirrors, the Kubernetes API, the Image Factory
    const names = new Set(hosts.map((h) => h.split(" ")[0]));
    for (const m of t.get("talos/all-nodes.yaml").matchAll(/url: https:\/\/([^/:]+)/g)) expect(names, m[1]).toContain(m[1]);
    const m = buildLabModel(validateLabSpec(spec));
    for (const name of [m.kubernetesApi.fqdn, m.spec.registry.fqdn, new URL(m.imageFactory.url).hostname]) expect(names, name).toContain(name);
  });

  it("list every rule in RULES.md with its flow and purpose", () => {
    const md = t.get("pfsense/RULES.md");
    const ruleCount = (t.get("pfsense/filter.xml").match(/<rule>/g) ?? []).length;
    const rows = md.split("\n").filter((l) => /^(WAN|MGMT|DMZ|SRV|CLIENT) \((wan|lan|opt\d)\) \|/.test(l));
    expect(rows.length).toBe(ruleCount);
    expect(md).toContain("```mermaid");
    expect(md.indexOf("pfsense/aliases.xml")).toBeLessThan(md.indexOf("pfsense/filter.xml"));
  });

  it("FRR peers with every Talos node, takes only pod blocks and hands each node the others' blocks", () => {
    const frr = t.get("pfsense/frr.conf");
    const nodes = (validateLabSpec(spec).talos.controlPlanes.length + validateLabSpec(spec).talos.workers.length);
    expect((frr.match(/peer-group CALICO$/gm) ?? []).length).toBe(nodes);
    expect(frr).toContain("ip prefix-list CALICO-PODS seq 10 permit 10.244.0.0/16 le 26");
    expect(frr).toContain("neighbor CALICO route-map CALICO-OUT out");
    // the nodes accept routes from their own AS only through as-override; next hops stay the nodes'
    expect(frr).toContain("neighbor CALICO as-override");
    expect(frr).toContain("neighbor CALICO attribute-unchanged next-hop");
    expect((frr.match(/ solo$/gm) ?? []).length).toBe(nodes);
  });
});

describe("pfSense checks catch planted mistakes", () => {
  const t = synth({});
  const files = pfFiles(t);
  it.each([
    ["a display name as interface", (f: typeof files) => ({ ...f, filter: f.filter.replace("<interface>opt1</interface>", "<interface>DMZ</interface>") }), 'is not an internal name'],
    ["an unknown protocol", (f: typeof files) => ({ ...f, filter: f.filter.replace("<protocol>udp</protocol>", "<protocol>udpp</protocol>") }), "unknown protocol udpp"],
    ["a port without tcp/udp", (f: typeof files) => ({ ...f, filter: f.filter.replace("<protocol>tcp</protocol>", "<protocol>icmp</protocol>") }), "(ports need tcp or udp)"],
    ["a duplicated tracker", (f: typeof files) => {
      const [a, b] = [...f.filter.matchAll(/<tracker>(\d+)<\/tracker>/g)].map((x) => x[1]);
      return { ...f, filter: f.filter.replace(`<tracker>${b}</tracker>`, `<tracker>${a}</tracker>`) };
    }, "also used by rule"],
    ["a missing alias", (f: typeof files) => ({ ...f, aliases: f.aliases.replace(/<alias>\s*<name>H_REGISTRY<\/name>[\s\S]*?<\/alias>/, "") }), "alias H_REGISTRY is not defined in aliases.xml"],
    ["a long alias name", (f: typeof files) => ({ ...f, aliases: f.aliases.replace("<name>H_REGISTRY</name>", "<name>H_THIS_ALIAS_NAME_IS_FAR_TOO_LONG</name>") }), "longer than 31 characters"],
    ["broken XML", (f: typeof files) => ({ ...f, nat: f.nat.replace("</nat>", "") }), "nat.xml: not well-formed"],
    ["a host override with a bad address", (f: typeof files) => ({ ...f, unbound: f.unbound.replace("<ip>192.168.100.11</ip>", "<ip>192.168.100.311</ip>") }), 'ip "192.168.100.311" is not an IPv4 address'],
    ["a host override without an address", (f: typeof files) => ({ ...f, unbound: f.unbound.replace("<ip>192.168.100.11</ip>", "<ip/>") }), "no ip (the form requires one)"],
    ["a host named twice", (f: typeof files) => ({ ...f, unbound: f.unbound.replace("<host>mgmt-client</host>", "<host>registry</host>") }), "(registry.mgmt.lab.internal): host and domain already overridden by entry 1"],
    ["a host override with a dotted host", (f: typeof files) => ({ ...f, unbound: f.unbound.replace("<host>registry</host>", "<host>registry.mgmt</host>") }), 'host "registry.mgmt" is not an unqualified host name'],
    ["a host override with a bad domain", (f: typeof files) => ({ ...f, unbound: f.unbound.replace("<domain>mgmt.lab.internal</domain>", "<domain>mgmt..lab</domain>") }), 'domain "mgmt..lab" is not a domain name'],
    ["the DNS Resolver not enabled", (f: typeof files) => ({ ...f, unbound: f.unbound.replace(/\s*<enable\/>/, "") }), "unbound: <enable> is missing"],
    ["the resolver on a display-name interface", (f: typeof files) => ({ ...f, unbound: f.unbound.replace("<active_interface/>", "<active_interface>MGMT</active_interface>") }), '<active_interface> "MGMT" is neither all'],
    ["broken DNS Resolver XML", (f: typeof files) => ({ ...f, unbound: f.unbound.replace("</unbound>", "") }), "unbound.xml: not well-formed"],
  ])("%s", (_, edit, message) => {
    expect(pfSenseFileProblems(edit(files)).join("\n")).toContain(message);
  });
});

const vtysh = spawnSync("vtysh", ["--help"], { encoding: "utf8" }).status === 0;
if (!vtysh) console.warn("frr: skipped — vtysh (Debian package frr) is not installed");
describe.skipIf(!vtysh)("frr.conf", () => {
  const check = (text: string) => {
    const dir = tempDir("frr");
    cleanups.push(() => spawnSync("rm", ["-rf", dir]));
    writeFileSync(join(dir, "frr.conf"), text);
    return spawnSync("vtysh", ["-C", "-f", join(dir, "frr.conf")], { encoding: "utf8" });
  };
  it.each(labs)("of %s passes vtysh --dryrun", (_, spec) => {
    const r = check(synth(spec).get("pfsense/frr.conf"));
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
  it("and a broken one does not", () => {
    expect(check(synth({}).get("pfsense/frr.conf").replace("remote-as 64512", "remote-as")).status).not.toBe(0);
  });
});

describe("spec changes change the tables and nothing else", () => {
  const base = synth({});
  const diffModules = (a: ReturnType<typeof synth>, b: ReturnType<typeof synth>) =>
    changedPaths(a.files, b.files).filter((p) => p.includes("/modules/"));
  it("a new flow", () => {
    const withFlow = synth({ flows: [{ id: "client-harbor-ui", from: "mgmt-client", to: "registry", protocol: "tcp", ports: [8080], purpose: "Harbor UI over plain HTTP in the lab" }] });
    const changed = changedFiles(base.files, withFlow.files);
    // RULES.md lists the flows pfSense never sees, this one among them
    expect(changed).toEqual(["stacks/talos-lab/flows.json", "stacks/talos-lab/modules/mgmt/main.tf.json", "stacks/talos-lab/pfsense/RULES.md"]);
    // in the module, only the registry's firewall rules moved
    const a = JSON.parse(base.get("modules/mgmt/main.tf.json")).resource;
    const b = JSON.parse(withFlow.get("modules/mgmt/main.tf.json")).resource;
    expect({ ...a, proxmox_virtual_environment_firewall_rules: undefined }).toEqual({ ...b, proxmox_virtual_environment_firewall_rules: undefined });
    expect(diffModules(base, withFlow)).toEqual(["stacks/talos-lab/modules/mgmt/main.tf.json"]);
  });
  it("a new flow through the firewall", () => {
    const withFlow = synth({ flows: [{ id: "client-haproxy-stats", from: "mgmt-client", to: "haproxy-ingress-1", protocol: "tcp", ports: [8404], purpose: "HAProxy stats page" }] });
    expect(changedFiles(base.files, withFlow.files)).toEqual([
      "stacks/talos-lab/flows.json",
      "stacks/talos-lab/modules/dmz/main.tf.json",
      "stacks/talos-lab/pfsense/RULES.md",
      "stacks/talos-lab/pfsense/filter.xml",
    ]);
  });
});
