import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadLabSpec } from "../constructs/lab/load";
import { twinUnavailable } from "../tools/twin/netns";
import { formatReport, runTwin, toolConnections, TwinReport, unlistedToolConnections } from "../tools/twin/replay";
import { readStack, stackDirOf } from "../tools/twin/stack";
import { PROMETHEUS, PROMETHEUS_SPEC } from "./support/prometheus";
import { PROJECT_ROOT, synthToTemp, removeTempDir, tempDir } from "./support/tree";

/**
 * The twin (tools/twin) on real synthesized trees: it builds the lab from the generated files alone,
 * replays apply-steps.json and checks the running lab with FRR, BIRD, nftables and HAProxy. The three
 * labs pass; each planted fault — one edit of one generated file, of a kind the twin was seen to catch
 * on earlier output — makes it fail where it should.
 */

const skipReason = twinUnavailable();
if (skipReason) console.log(`twin tests skipped: ${skipReason}`);

const GOLDEN = join(PROJECT_ROOT, "examples", "reference-lab");
const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));

const MINUTES = 60_000;

function synthExample(file: string): string {
  const t = synthToTemp(loadLabSpec(join(PROJECT_ROOT, "examples", file)), "twin");
  cleanups.push(t.cleanup);
  return stackDirOf(t.dir);
}

/** A copy of a stack folder with one file edited; the edit must change the file. */
function planted(stackDir: string, path: string, edit: (text: string) => string): string {
  const dir = join(tempDir("twin-planted"), "stack");
  cpSync(stackDir, dir, { recursive: true });
  cleanups.push(() => removeTempDir(join(dir, "..")));
  const before = readFileSync(join(dir, path), "utf8");
  const after = edit(before);
  expect(after, `the planted edit must change ${path}`).not.toBe(before);
  writeFileSync(join(dir, path), after);
  return dir;
}

const wrong = (r: TwinReport) => r.probes.filter((p) => !p.ok);

function expectPass(r: TwinReport): void {
  expect(r.ok, formatReport(r)).toBe(true);
  const kinds = (why: RegExp) => r.probes.filter((p) => why.test(p.why) && p.ok).length;
  // the checks the lab must show, each seen at least once
  expect(kinds(/^step cluster/)).toBeGreaterThan(0);
  expect(kinds(/pod to pod on another node/)).toBeGreaterThan(0);
  expect(kinds(/HAProxy to pod backends/)).toBeGreaterThan(0);
  expect(kinds(/WAN port-forward, through HAProxy/)).toBeGreaterThan(0);
  expect(kinds(/node to Harbor/)).toBeGreaterThan(0);
  expect(kinds(/node DNS/)).toBeGreaterThan(0);
  expect(kinds(/provisioning of /)).toBeGreaterThan(0);
  expect(kinds(/no flow declares it/)).toBeGreaterThan(100);
}

describe.skipIf(!!skipReason)("the twin", () => {
  const golden = stackDirOf(GOLDEN);

  it("passes the reference lab, an operator's machine on the client LAN reaching the mgmt client's SSH and RDP and nothing else", async () => {
    const r = await runTwin(golden);
    expectPass(r);
    // pfSense's fifth interface, addressed from RULES.md, with an operator's machine behind it
    const operator = "operator:opt3";
    const seen = (from: string, to: string, port: number, expect: string) => r.probes.some((p) => p.ok && p.from === from && p.to === to && p.port === port && p.expect === expect);
    expect(seen(operator, "mgmt-client", 22, "connect")).toBe(true);
    expect(seen(operator, "mgmt-client", 3389, "connect")).toBe(true);
    for (const [to, port] of [["registry", 443], ["registry", 9443], ["registry", 22], ["talos-cp-1", 50000], ["haproxy-ingress-1", 443], ["pve:pve", 8006], ["pfsense", 443]] as const) {
      expect(seen(operator, to, port, "blocked"), `${operator} -> ${to} ${port}`).toBe(true);
    }
    for (const from of ["mgmt-client", "registry", "talos-cp-1", "haproxy-ingress-1"]) expect(seen(from, operator, 22, "blocked"), `${from} -> ${operator}`).toBe(true);
  }, 10 * MINUTES);

  it("passes a single-control-plane lab", async () => {
    expectPass(await runTwin(synthExample("single-control-plane.yaml")));
  }, 10 * MINUTES);

  it("passes a lab on two Proxmox nodes whose zones span them (examples/lab.yaml)", async () => {
    const stack = synthExample("lab.yaml");
    const r = await runTwin(stack);
    expectPass(r);
    expect(r.probes.some((p) => p.ok && /pod to pod/.test(p.why) && p.from === "pod:talos-cp-1" && p.to === "pod:talos-cp-2")).toBe(true);
  }, 10 * MINUTES);

  it("passes a lab with a service added from outside the package (Prometheus), probing its flows", async () => {
    const t = synthToTemp(PROMETHEUS_SPEC, "twin", "cdktf.out", [PROMETHEUS]);
    cleanups.push(t.cleanup);
    const r = await runTwin(stackDirOf(t.dir));
    expectPass(r);
    const scrapes = r.probes.filter((p) => p.why === "flow prometheus.node-exporter");
    expect(scrapes.length).toBeGreaterThanOrEqual(2);
    expect(scrapes.every((p) => p.ok && p.from === "prometheus")).toBe(true);
    expect(r.probes.some((p) => p.ok && p.why === "flow prometheus.ui.mgmt-client" && p.to === "prometheus")).toBe(true);
    // Planted: the workers' Talos host firewall opens the wrong port for the scrape.
    const dir = planted(stackDirOf(t.dir), "talos/worker.yaml", (y) => y.replace("    - 9100\n", "    - 9101\n"));
    const broken = await runTwin(dir);
    expect(broken.ok).toBe(false);
    expect(wrong(broken).map((p) => p.why)).toContain("flow prometheus.node-exporter");
  }, 20 * MINUTES);

  describe("fails on planted faults", () => {
    it("FRR that sends the nodes nothing (route-map out DENY-ALL)", async () => {
      const dir = planted(golden, "pfsense/frr.conf", (t) => t.replace("neighbor CALICO route-map CALICO-OUT out", "neighbor CALICO route-map DENY-ALL out").replace("!\nrouter bgp", "route-map DENY-ALL deny 10\n!\nrouter bgp"));
      const r = await runTwin(dir);
      expect(r.findings.some((f) => /talos-cp-1 has no route to talos-worker-1's block/.test(f)), formatReport(r)).toBe(true);
      expect(wrong(r).some((p) => /pod to pod on another node/.test(p.why))).toBe(true);
    }, 10 * MINUTES);

    it("a zone bridge without its uplink on the second node", async () => {
      const stack = synthExample("lab.yaml");
      const dir = planted(stack, "modules/edge/main.tf.json", (t) => {
        const doc = JSON.parse(t);
        doc.resource.proxmox_network_linux_bridge["vmbr1-pve2"].ports = [];
        return JSON.stringify(doc, null, 2);
      });
      const r = await runTwin(dir);
      // talos-cp-2 runs on pve2: cut off from pfSense, its peers and the registry
      expect(wrong(r).some((p) => p.from === "talos-cp-2" && /node DNS/.test(p.why)), formatReport(r)).toBe(true);
      expect(r.findings.some((f) => /pfSense's session with 10\.10\.100\.12|talos-cp-2 has no route/.test(f))).toBe(true);
    }, 10 * MINUTES);

    it("the client LAN's default deny turned into a pass", async () => {
      const dir = planted(golden, "pfsense/filter.xml", (t) => {
        const block = [...t.matchAll(/  <rule>[\s\S]*?<\/rule>\n/g)].map((m) => m[0]).find((b) => b.includes("default deny CLIENT (logged)"))!;
        return t.replace(block, block.replace("<type>block</type>", "<type>pass</type>"));
      });
      const r = await runTwin(dir);
      expect(wrong(r).some((p) => p.from === "operator:opt3" && p.expect === "blocked"), formatReport(r)).toBe(true);
    }, 10 * MINUTES);

    it("a RULES.md without the client LAN's address: pfSense's fifth interface cannot be assigned", async () => {
      const dir = planted(golden, "pfsense/RULES.md", (t) => t.replace(/^opt3 \(vtnet4\) .*\n/m, ""));
      const r = await runTwin(dir);
      expect(r.ok).toBe(false);
      expect(r.findings.join("\n"), formatReport(r)).toMatch(/step pfsense-install: pfSense opt3 \(vmbr4\): the hosts on it name 0 gateways/);
    }, 10 * MINUTES);

    it("pfSense's anti-lockout rule left on", async () => {
      const dir = planted(golden, "pfsense/phpshellsessions/talos-enclave", (t) => t.replace(/^config_set_path\('system\/webgui\/noantilockout', true\);$/m, ""));
      const r = await runTwin(dir);
      expect(wrong(r).some((p) => p.from === "registry" && p.to === "pfsense" && p.port === 443 && p.expect === "blocked"), formatReport(r)).toBe(true);
    }, 10 * MINUTES);

    it("reply-to left on the rules from the Proxmox hosts", async () => {
      const dir = planted(golden, "pfsense/filter.xml", (t) => t.replace(/\s*<disablereplyto\/>/g, ""));
      const r = await runTwin(dir);
      expect(wrong(r).some((p) => p.from.startsWith("pve:") && p.to === "registry" && p.expect === "connect"), formatReport(r)).toBe(true);
    }, 10 * MINUTES);

    it("a Talos VM firewall without the DROP of pfSense's own address", async () => {
      const dir = planted(golden, "modules/srv/main.tf.json", (t) => {
        const doc = JSON.parse(t);
        // the middle control plane: every Talos node is a probe destination, not a sample of them
        const rules = doc.resource.proxmox_virtual_environment_firewall_rules["talos-cp-2"].rule as { action: string }[];
        doc.resource.proxmox_virtual_environment_firewall_rules["talos-cp-2"].rule = rules.filter((r) => r.action !== "DROP");
        return JSON.stringify(doc, null, 2);
      });
      const r = await runTwin(dir);
      // pfSense's address is inside the SRV subnet the node-to-pod rule admits: it reaches the pods behind the node
      expect(wrong(r).some((p) => p.from === "pfsense" && p.to === "pod:talos-cp-2" && p.expect === "blocked"), formatReport(r)).toBe(true);
    }, 10 * MINUTES);

    it("a disabled pfSense rule does nothing (SRV loses DNS)", async () => {
      const dir = planted(golden, "pfsense/filter.xml", (t) => t.replace(/(<rule>)(\s*)((?:(?!<\/rule>)[\s\S])*srv-dns-udp)/, "$1$2<disabled/>$2$3"));
      const r = await runTwin(dir);
      expect(wrong(r).some((p) => p.from.startsWith("talos-") && p.to === "pfsense" && p.protocol === "udp" && p.port === 53), formatReport(r)).toBe(true);
    }, 10 * MINUTES);

    it.each([
      ["a floating rule", (t: string) => t.replace("<interface>opt2</interface>", "<interface>wan,opt2</interface>"), /interface wan,opt2 is not modelled/],
      ["a rule with a gateway (route-to)", (t: string) => t.replace("<interface>opt2</interface>", "<interface>opt2</interface><gateway>WANGW</gateway>"), /<gateway> is not modelled/],
      ["a rule without state", (t: string) => t.replace(/<statetype>[^<]*<\/statetype>/, "<statetype>none</statetype>"), /statetype none is not modelled/],
    ])("refuses, before building anything, %s it cannot model", async (_, edit, message) => {
      const r = await runTwin(planted(golden, "pfsense/filter.xml", edit));
      expect(r.ok).toBe(false);
      expect(r.probes).toEqual([]);
      expect(r.findings.join("\n")).toMatch(message);
    });

    it.each([
      ["a playback setting it does not model", "pfsense/phpshellsessions/talos-enclave", (t: string) => t.replace(/^(config_set_path\('interfaces\/wan\/blockbogons', true\);)$/m, "$1\nconfig_set_path('system/webgui/protocol', 'http');"), /the setting system\/webgui\/protocol is not modelled/],
      ["outbound NAT rules", "pfsense/nat.xml", (t: string) => t.replace(/<outbound>/, "<outbound><rule><interface>wan</interface><nonat/></rule>"), /outbound NAT rules are not modelled/],
    ])("refuses %s", async (_, file, edit, message) => {
      const r = await runTwin(planted(golden, file, edit));
      expect(r.ok).toBe(false);
      expect(r.probes).toEqual([]);
      expect(r.findings.join("\n")).toMatch(message);
    });

    it("a VM firewall without its options, a step flow that does not exist, a wrong hosts entry, a wrong DNS host override, a step that hides what tofu connects to", async () => {
      let dir = planted(golden, "modules/mgmt/main.tf.json", (t) => {
        const doc = JSON.parse(t);
        delete doc.resource.proxmox_virtual_environment_firewall_options["mgmt-client"];
        return JSON.stringify(doc, null, 2);
      });
      const steps = JSON.parse(readFileSync(join(dir, "apply-steps.json"), "utf8"));
      const cluster = steps.steps.find((s: { id: string }) => s.id === "cluster");
      cluster.connections = cluster.connections.filter((c: { port: number }) => c.port !== 50000);
      const mgmt = steps.steps.find((s: { id: string }) => s.id === "mgmt");
      mgmt.connections.find((c: { from: string; to: string }) => c.from === "registry" && c.to === "internet").flow = "no-such-flow";
      writeFileSync(join(dir, "apply-steps.json"), JSON.stringify(steps, null, 2));
      // tofu's preparation of the Proxmox node writes the registry's name at a wrong address
      dir = planted(dir, "modules/mgmt/main.tf.json", (t) => t.replace('"TE_HOSTS": "192.168.100.11=registry.', '"TE_HOSTS": "192.168.100.99=registry.'));
      dir = planted(dir, "pfsense/unbound.xml", (t) => t.replace("<ip>192.168.100.20</ip>", "<ip>192.168.100.98</ip>"));
      const r = await runTwin(dir);
      // Proxmox's VM firewall is off without options: mgmt-client answers what no flow allows
      expect(wrong(r).some((p) => p.to === "mgmt-client" && p.expect === "blocked"), formatReport(r)).toBe(true);
      const findings = r.findings.join("\n");
      expect(findings).toContain("flow no-such-flow is not in flows.json");
      expect(findings).toMatch(/step cluster: tofu \(runner\): machine configuration \(apid\) needs mgmt-client -> group:talos tcp\/50000, which the step does not list/);
      expect(findings).toContain("/etc/hosts maps registry.mgmt.lab.internal to 192.168.100.99, but registry is at 192.168.100.11");
      expect(findings).toContain("DNS: pfSense answers mgmt-client.mgmt.lab.internal with 192.168.100.98, but mgmt-client is at 192.168.100.20");
    }, 10 * MINUTES);

    it("a DMZ host whose Proxmox firewall drops the runner's SSH, and steps that hide the provisioning of MGMT through a Proxmox node, tofu's SSH to the node, and the hand-off's", async () => {
      let dir = planted(golden, "modules/dmz/main.tf.json", (t) => {
        const doc = JSON.parse(t);
        const rules = doc.resource.proxmox_virtual_environment_firewall_rules["haproxy-ingress-1"].rule as { comment?: string }[];
        doc.resource.proxmox_virtual_environment_firewall_rules["haproxy-ingress-1"].rule = rules.filter((r) => !/^mgmt-client\.ssh\.haproxy-ingress-1:/.test(r.comment ?? ""));
        return JSON.stringify(doc, null, 2);
      });
      dir = planted(dir, "apply-steps.json", (t) => {
        const steps = JSON.parse(t);
        const mgmt = steps.steps.find((s: { id: string }) => s.id === "mgmt");
        // neither the provisioning through the node nor tofu's SSH to the node (its preparation)
        mgmt.connections = mgmt.connections.filter((c: { from: string; to: string; port: number }) => !(c.from === "proxmox" && c.port === 22) && !(c.from === "outside" && c.to === "proxmox" && c.port === 22));
        const handoff = steps.steps.find((s: { id: string }) => s.id === "handoff");
        handoff.connections = handoff.connections.filter((c: { from: string; to: string; port: number }) => !(c.from === "proxmox" && c.to === steps.runner && c.port === 22));
        return JSON.stringify(steps, null, 2);
      });
      const r = await runTwin(dir);
      // the runner cannot push the ingress host's packages, image and kubeconfig
      expect(wrong(r).some((p) => p.from === "mgmt-client" && p.to === "haproxy-ingress-1" && p.port === 22 && /provisioning of haproxy-ingress-1/.test(p.why)), formatReport(r)).toBe(true);
      expect(r.findings.join("\n")).toMatch(/step mgmt: tofu \(outside\): provisioning of registry through its Proxmox node needs proxmox -> registry tcp\/22, which the step does not list/);
      expect(r.findings.join("\n")).toMatch(/step mgmt: tofu \(outside\): preparation of Proxmox node pve over SSH needs outside -> proxmox tcp\/22, which the step does not list/);
      expect(r.findings.join("\n")).toMatch(/step handoff: tofu \(outside\): hand-off to mgmt-client through its Proxmox node needs proxmox -> mgmt-client tcp\/22, which the step does not list/);
    }, 10 * MINUTES);

    it("a preparation of the Proxmox nodes that forgets their route to MGMT", async () => {
      // the script tofu runs on each node sets the route no more (the unit that would persist it stays)
      const dir = planted(golden, "provision/prepare-proxmox-node.sh", (t) => t.replace(/^ip route replace "\$cidr" via "\$via"\n/m, ""));
      const r = await runTwin(dir);
      expect(wrong(r).some((p) => p.from.startsWith("pve:") && p.to === "registry" && /step cluster/.test(p.why)), formatReport(r)).toBe(true);
    }, 10 * MINUTES);
  });
});

describe("what the twin reads of tofu's provisioning, from the module JSON alone", () => {
  it("tofu prepares the Proxmox node in module mgmt with the stack's script: route to MGMT via the WAN address the operator sets, the registry's line", () => {
    const stack = readStack(stackDirOf(GOLDEN));
    expect(stack.preparations.map((p) => [p.module, p.key, p.node, p.script])).toEqual([["mgmt", "pve-prepare", "pve", "provision/prepare-proxmox-node.sh"]]);
    const env = stack.preparations[0].environment;
    expect(env.TE_ROUTE_CIDR).toBe("192.168.100.0/24");
    expect(env.TE_ROUTE_VIA).toEqual({ variable: "firewall_wan_address" });
    expect(env.TE_HOSTS).toBe("192.168.100.11=registry.mgmt.lab.internal");
    // the step that applies module mgmt from outside lists tofu's SSH to the node
    const mgmt = stack.steps.find((s) => s.commands.some((c) => c.trim() === "tofu apply -target=module.mgmt"))!;
    expect(mgmt.connections.some((c) => c.from === "outside" && c.to === "proxmox" && c.port === 22 && /prepares each Proxmox node/.test(c.why))).toBe(true);
  });

  it("the DMZ host's provisioning mints its token at the API VIP: the runner needs vip tcp/6443 in the step that applies the dmz module", () => {
    const stack = readStack(stackDirOf(GOLDEN));
    const ingress = stack.provisions.find((p) => p.host === "haproxy-ingress-1")!;
    expect(ingress.module).toBe("dmz");
    expect(ingress.kubernetesApis).toEqual([{ to: "vip", port: 6443 }]);
    expect(stack.provisions.find((p) => p.host === "registry")!.kubernetesApis).toEqual([]);
    const step = stack.steps.find((s) => s.commands.some((c) => c.trim() === "tofu apply"))!;
    expect(step.connections.some((c) => c.from === stack.runner && c.to === "vip" && c.port === 6443 && /mints .*token/.test(c.why))).toBe(true);
  });
});

describe("what the twin reads of the hand-off and the image mirror, from the root and module JSON alone", () => {
  const t = synthToTemp({}, "twin-handoff");
  cleanups.push(t.cleanup);
  const dir = stackDirOf(t.dir);
  const unlisted = (stackDir: string) => {
    const stack = readStack(stackDir);
    return stack.steps.flatMap((step) => unlistedToolConnections(stack, step));
  };

  it("the hand-off goes to the runner through its Proxmox node, off where the runner's env file is sourced; the mirror pushes to the registry", () => {
    const stack = readStack(dir);
    expect(stack.handoffs).toEqual([{ address: "terraform_data.runner-handoff", host: stack.runner, jump: true, guard: { variable: "runner_handoff", default: true }, guardFile: "secrets/tofu.env" }]);
    expect(stack.imageMirrors).toEqual([{ module: "srv", registry: "registry", port: 443 }]);
    const tool = (id: string) => toolConnections(stack, stack.steps.find((s) => s.id === id)!).map((c) => `${c.from}>${c.to}:${c.port}`);
    // the hand-off step targets the root resource only: no module's connections, the hand-off's SSH
    expect(tool("handoff")).toEqual(["outside>proxmox:8006", "outside>proxmox:22", `proxmox>${stack.runner}:22`]);
    // the cluster step sources the env file: no hand-off there (the runner's own provisioning still goes
    // through its Proxmox node), the image mirror's connections instead
    const handoff = (id: string) => toolConnections(stack, stack.steps.find((s) => s.id === id)!).filter((c) => /hand-off/.test(c.why));
    expect(handoff("cluster")).toEqual([]);
    expect(tool("cluster")).toEqual(expect.arrayContaining([`${stack.runner}>internet:443`, `${stack.runner}>registry:443`]));
    expect(handoff("mgmt")).toEqual([]);
    expect(unlisted(dir)).toEqual([]);
  });

  it("fails on planted faults: a hand-off step that hides proxmox -> runner 22, a cluster step that does not source the env file", () => {
    const hidden = planted(dir, "apply-steps.json", (text) => {
      const steps = JSON.parse(text);
      const handoff = steps.steps.find((s: { id: string }) => s.id === "handoff");
      handoff.connections = handoff.connections.filter((c: { from: string; to: string; port: number }) => !(c.from === "proxmox" && c.to === steps.runner && c.port === 22));
      return JSON.stringify(steps, null, 2);
    });
    expect(unlisted(hidden)).toEqual(["step handoff: tofu (outside): hand-off to mgmt-client through its Proxmox node needs proxmox -> mgmt-client tcp/22, which the step does not list"]);
    const unsourced = planted(dir, "apply-steps.json", (text) => text.replace(/\s*"\. ~\/secrets\/tofu\.env[^"]*",/, ""));
    expect(unlisted(unsourced)).toEqual([
      "step cluster: tofu (runner) plans the hand-off to mgmt-client on mgmt-client itself: the step must switch it off (source the file the hand-off wrote, or set its guard variable false)",
    ]);
  });
});
