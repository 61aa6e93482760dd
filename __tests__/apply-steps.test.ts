import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadLabSpec } from "../constructs/spec/load";
import { LabSpecInput } from "../constructs/spec/lab-spec";
import { PROJECT_ROOT, synthToTemp } from "./support/tree";

/**
 * apply-steps.json judged on the written files: every connection a step opens is a flow of flows.json
 * that covers it (endpoints by the VMs' tags in the module JSON, protocol, port), or leaves the lab
 * entirely; the stack README is the same runbook; the runner, and only the runner, gets OpenTofu.
 */

interface Conn {
  from: string;
  to: string;
  protocol: string;
  port: number;
  why: string;
  flow?: string;
}
interface Step {
  id: string;
  title: string;
  where: string;
  host?: string;
  manual: boolean;
  commands: string[];
  connections: Conn[];
}
interface Flow {
  id: string;
  from: string;
  to: string;
  protocol: string;
  ports: (number | string)[];
}

const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));

function synth(spec: LabSpecInput): Map<string, string> {
  const t = synthToTemp(spec, "apply-steps");
  cleanups.push(t.cleanup);
  const stack = [...t.files.keys()].find((p) => p.endsWith("/apply-steps.json"))!.replace(/apply-steps\.json$/, "");
  return new Map([...t.files].filter(([p]) => p.startsWith(stack)).map(([p, c]) => [p.slice(stack.length), c]));
}

/** VM name → its zone and role tags, from the module JSON. */
function vmTags(files: Map<string, string>): Map<string, { zone: string; role: string }> {
  const out = new Map<string, { zone: string; role: string }>();
  for (const [path, text] of files) {
    if (!/^modules\/[a-z]+\/main\.tf\.json$/.test(path)) continue;
    const vms = (JSON.parse(text).resource?.proxmox_virtual_environment_vm ?? {}) as Record<string, { name: string; tags: string[] }>;
    for (const v of Object.values(vms)) out.set(v.name, { zone: v.tags[2], role: v.tags[3] });
  }
  return out;
}

function covers(tags: Map<string, { zone: string; role: string }>, flowEnd: string, end: string): boolean {
  if (flowEnd === end) return true;
  const t = tags.get(end);
  if (flowEnd === "group:talos") return end === "group:controlplanes" || end === "group:workers" || t?.role === "controlplane" || t?.role === "worker";
  if (flowEnd.startsWith("zone:")) return t?.zone === flowEnd.slice(5);
  return false;
}

function portIn(ports: (number | string)[], port: number): boolean {
  return ports.some((p) => {
    const [a, b] = String(p).split("-").map(Number);
    return port >= a && port <= (b ?? a);
  });
}

const labs: [string, LabSpecInput][] = [
  ["reference lab", {}],
  ...["lab.yaml", "single-control-plane.yaml", "three-nodes.yaml", "fifty-workers.yaml"].map((f): [string, LabSpecInput] => [f, loadLabSpec(join(PROJECT_ROOT, "examples", f))]),
];

describe.each(labs)("apply-steps.json of %s", (_, spec) => {
  const files = synth(spec);
  const doc = JSON.parse(files.get("apply-steps.json")!) as { runner: string; steps: Step[]; manualSteps: number };
  const flows = (JSON.parse(files.get("flows.json")!) as { flows: Flow[] }).flows;
  const tags = vmTags(files);

  it("ties every connection inside the lab to a flow that covers it", () => {
    const problems: string[] = [];
    for (const s of doc.steps) {
      for (const c of s.connections) {
        const outside = c.from === "outside" || (c.from === "proxmox" && c.to === "internet");
        if (!c.flow) {
          if (!outside) problems.push(`${s.id}: ${c.from} -> ${c.to} ${c.protocol}/${c.port} names no flow`);
          continue;
        }
        const f = flows.find((x) => x.id === c.flow);
        if (!f) problems.push(`${s.id}: flow ${c.flow} is not in flows.json`);
        else if (!covers(tags, f.from, c.from) || !covers(tags, f.to, c.to) || f.protocol !== c.protocol || !portIn(f.ports, c.port)) {
          problems.push(`${s.id}: ${c.from} -> ${c.to} ${c.protocol}/${c.port} is not what flow ${f.id} allows (${f.from} -> ${f.to} ${f.protocol}/${f.ports.join(",")})`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("runs the bootstrap outside, hands over, then runs tofu only on the runner, which is a client", () => {
    const ids = doc.steps.map((s) => s.id);
    expect(ids).toEqual(["edge", "pfsense-install", "pfsense-import", "proxmox-prepare", "mgmt", "handoff", "chart-mirror", "cluster", "ingress-kubeconfig", "dmz"]);
    const tofu = doc.steps.filter((s) => s.commands.some((c) => c.startsWith("tofu apply")));
    for (const s of tofu.slice(0, 2)) expect(s.where, s.id).toBe("outside");
    for (const s of tofu.slice(2)) expect([s.where, s.host], s.id).toEqual(["runner", doc.runner]);
    expect(tags.get(doc.runner)?.role).toBe("client");
    expect(doc.manualSteps).toBe(doc.steps.filter((s) => s.manual).length);
  });

  it("is the runbook the stack README shows", () => {
    const readme = files.get("README.md")!;
    let at = readme.indexOf("## Apply");
    for (const [i, s] of doc.steps.entries()) {
      const heading = readme.indexOf(`### ${i + 1}. `, at);
      expect(heading, `step ${s.id} in the README`).toBeGreaterThan(at);
      at = heading;
      for (const c of s.commands) expect(readme.includes(c) || readme.includes(c.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")), `${s.id}: ${c}`).toBe(true);
    }
  });

  it("installs OpenTofu, pinned and checksummed, on the runner and on no other host", () => {
    for (const [path, text] of files) {
      const m = /^cloud-init\/(.+)\.user-data\.yaml\.tftpl$/.exec(path);
      if (!m) continue;
      const version = /TOFU_VERSION="([^"]*)"/.exec(text)?.[1];
      if (m[1] === doc.runner) {
        expect(version, m[1]).toMatch(/^v\d+\.\d+\.\d+$/);
        expect(text).toContain(`opentofu/releases/download/${version}/tofu_${version!.slice(1)}_SHA256SUMS`);
      } else {
        expect(version ?? "", m[1]).toBe("");
      }
    }
  });
});

describe("the spec's runner", () => {
  it("moves every runner connection, flow and the OpenTofu install to the named client", () => {
    const spec: LabSpecInput = {
      hosts: [
        { name: "registry", zone: "mgmt", role: "registry", ip: "192.168.100.11" },
        { name: "mgmt-client", zone: "mgmt", role: "client", ip: "192.168.100.20" },
        { name: "ops", zone: "mgmt", role: "client", ip: "192.168.100.21" },
        { name: "haproxy-ingress-1", zone: "dmz", role: "ingress", ip: "172.16.100.10" },
      ],
      apply: { runner: "ops" },
    };
    const files = synth(spec);
    const doc = JSON.parse(files.get("apply-steps.json")!) as { runner: string; steps: Step[] };
    expect(doc.runner).toBe("ops");
    const flows = (JSON.parse(files.get("flows.json")!) as { flows: Flow[] }).flows;
    const runnerFlows = ["ops.image-factory", "ops.proxmox-ssh", "proxmox.ssh.ops"];
    for (const id of runnerFlows) expect(flows.some((f) => f.id === id), id).toBe(true);
    for (const id of ["mgmt-client.image-factory", "mgmt-client.proxmox-ssh", "proxmox.ssh.mgmt-client"]) expect(flows.some((f) => f.id === id), id).toBe(false);
    expect(/TOFU_VERSION="v/.test(files.get("cloud-init/ops.user-data.yaml.tftpl")!)).toBe(true);
    expect(/TOFU_VERSION=""/.test(files.get("cloud-init/mgmt-client.user-data.yaml.tftpl")!)).toBe(true);
  });
});


