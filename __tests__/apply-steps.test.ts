import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadLabSpec } from "../constructs/lab/load";
import { LabSpecInput } from "../constructs/input/lab-spec";
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
  why?: string;
  commands: string[];
  environment?: string[];
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
  ["a lab with agent SSH, no state encryption and a pg state", { proxmox: { sshAgent: true }, state: { encryption: false, backend: { type: "pg" } } }],
  ["a lab with an s3 state, public Proxmox hosts and its own ISO", {
    proxmox: {
      nodes: [
        { name: "pve-a", address: "198.51.100.7", uplinks: { vmbr1: ["eno2"], vmbr2: ["eno3"], vmbr3: ["eno4"] } },
        { name: "pve-b", address: "198.51.100.8", uplinks: { vmbr1: ["eno2"], vmbr2: ["eno3"], vmbr3: ["eno4"] } },
      ],
    },
    firewall: { node: "pve-b", isoFileId: "isos:iso/pfSense-CE-2.8.0-RELEASE-amd64.iso" },
    state: { backend: { type: "s3", bucket: "lab-state" } },
  }],
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
    // the pfSense installer is put on the storage by hand only when the spec names an ISO already there
    const handIso = spec.firewall?.isoFileId !== undefined;
    expect(ids).toEqual([
      ...(handIso ? ["pfsense-iso"] : []),
      "edge",
      "pfsense-install",
      "pfsense-import",
      "mgmt",
      "handoff",
      "cluster",
    ]);
    // The twin replays these ids, in this order (new steps go between them).
    const twinIds = ["edge", "pfsense-install", "pfsense-import", "mgmt", "handoff", "cluster"];
    expect(ids.filter((id) => twinIds.includes(id))).toEqual(twinIds);
    const tofu = doc.steps.filter((s) => s.commands.some((c) => c.startsWith("tofu apply")));
    for (const s of tofu.slice(0, 3)) expect(s.where, s.id).toBe("outside");
    for (const s of tofu.slice(3)) expect([s.where, s.host], s.id).toEqual(["runner", doc.runner]);
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

  const step = (id: string) => doc.steps.find((s) => s.id === id)!;
  const index = (id: string) => doc.steps.findIndex((s) => s.id === id);

  it("imports the DNS host overrides with the restore areas, as unbound.xml, and has no step that types them in the GUI", () => {
    const imp = step("pfsense-import");
    expect([imp.where, imp.manual]).toEqual(["pfsense-console", true]);
    const restore = imp.commands.find((c) => c.startsWith("restore "))!;
    // aliases first (the rules name them); the resolver's area with the others, before the playback file reloads it
    expect(restore).toMatch(/^restore pfsense\/aliases\.xml, filter\.xml, nat\.xml, unbound\.xml in that order/);
    expect(restore).toContain("replaces every DNS Resolver setting");
    expect(imp.commands.findIndex((c) => c.includes("pfSsh.php playback"))).toBeGreaterThan(imp.commands.indexOf(restore));
    expect(files.has("pfsense/unbound.xml")).toBe(true);
    for (const s of doc.steps) for (const c of s.commands) expect(c, s.id).not.toMatch(/Host Overrides|DNS Resolver > General Settings/);
    // Talos resolves its registry mirrors' name only through pfSense: that name is in the file
    const mirror = /url: https:\/\/([^/:]+)/.exec(files.get("talos/all-nodes.yaml")!)![1];
    const [host, ...domain] = mirror.split(".");
    expect(files.get("pfsense/unbound.xml")).toMatch(new RegExp(`<host>${host}</host>\\s*<domain>${domain.join("\\.")}</domain>`));
  });

  it("has no hand step for the platform's charts: the registry host fetches them itself while MGMT is created", () => {
    for (const s of doc.steps) for (const c of s.commands) expect(c, s.id).not.toMatch(/\bhelm (repo add|pull|push)\b/);
    const fetch = step("mgmt").connections.find((c) => tags.get(c.from)?.role === "registry" && c.to === "internet" && /tigera-operator/.test(c.why));
    expect(fetch, JSON.stringify(step("mgmt").connections)).toBeDefined();
    expect(fetch!.why).toMatch(/registry host mirrors into Harbor \(oci:\/\/[^)]+\/charts\) by itself: tigera-operator v3\.\d+\.\d+ with their published checksums/);
    expect(flows.find((f) => f.id === fetch!.flow)).toMatchObject({ to: "internet", protocol: "tcp" });
    // the runner only pulls the chart, through the helm provider, when it installs the platform
    expect(step("cluster").connections.some((c) => /helm provider: fetches the tigera-operator chart/.test(c.why))).toBe(true);
  });

  it("has the pfSense VM's node download and check the installer, or the operator upload the ISO the spec names before the edge step", () => {
    const edge = JSON.parse(files.get("modules/edge/main.tf.json")!);
    const pf = Object.values(edge.resource.proxmox_virtual_environment_vm as Record<string, { node_name: string; cdrom?: { file_id: string } }>).find((v) => v.cdrom && v.cdrom.file_id !== "none")!;
    const download = /^\$\{proxmox_download_file\.([A-Za-z0-9_-]+)\.id\}$/.exec(pf.cdrom!.file_id)?.[1];
    if (download) {
      // the reference: Netgate's public CE 2.7.2, its .gz checked against the published SHA-256, gunzipped on the VM's node
      expect(spec.firewall?.isoFileId).toBeUndefined();
      const d = edge.resource.proxmox_download_file[download];
      expect(d).toMatchObject({ node_name: pf.node_name, content_type: "iso", decompression_algorithm: "gz", checksum_algorithm: "sha256", overwrite: false });
      expect(d.url).toMatch(/^https:\/\/[^/]+\/.+\.iso\.gz$/);
      expect(d.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(d.file_name).toMatch(/\.iso$/);
      const root = JSON.parse(files.get("cdk.tf.json")!);
      expect(d.datastore_id).toBe(spec.proxmox?.isoDatastore ?? "local");
      expect(root.module.edge).toBeDefined();
      expect(index("pfsense-iso")).toBe(-1);
      // the node's download is a connection of the step that applies the edge module
      expect(step("edge").connections.some((c) => c.from === "proxmox" && c.to === "internet" && c.port === 443 && c.why.includes(new URL(d.url).hostname))).toBe(true);
      return;
    }
    const [, storage, file] = /^([^:]+):iso\/(.+)$/.exec(pf.cdrom!.file_id)!;
    expect(pf.cdrom!.file_id).toBe(spec.firewall?.isoFileId);
    expect(edge.resource.proxmox_download_file?.["pfsense-installer"]).toBeUndefined();
    const iso = step("pfsense-iso");
    expect(index("pfsense-iso")).toBeLessThan(index("edge"));
    expect([iso.where, iso.manual]).toEqual(["outside", true]);
    expect(iso.why).toMatch(/firewall\.isoFileId/);
    // root on the node that holds the pfSense VM (pvesm needs root), at the address the spec gives it
    const node = (spec.proxmox?.nodes ?? []).find((n) => n.name === pf.node_name);
    const host = `root@${node?.sshAddress ?? node?.address ?? `<address of ${pf.node_name}>`}`;
    expect(iso.commands.find((c) => c.startsWith("scp "))).toBe(`scp ${file} ${host}:"$(ssh ${host} pvesm path ${pf.cdrom!.file_id})"   # where ${storage} keeps ISO images`);
    expect(iso.commands).toContain(`ssh ${host} pvesm list ${storage} --content iso | grep -F '${pf.cdrom!.file_id}'`);
    expect(iso.connections.map((c) => `${c.from}>${c.to}:${c.port}`)).toEqual(["outside>proxmox:22"]);
  });

  it("has tofu prepare every Proxmox node before the MGMT provisioning that jumps through it and the Talos ISO download, with no hand step for it", () => {
    expect(index("proxmox-prepare")).toBe(-1);
    const mgmt = JSON.parse(files.get("modules/mgmt/main.tf.json")!);
    const srv = JSON.parse(files.get("modules/srv/main.tf.json")!);
    const root = JSON.parse(files.get("cdk.tf.json")!);
    const data = mgmt.resource.terraform_data as Record<string, { provisioner: { "local-exec": { command: string; environment: Record<string, string> } }[]; depends_on?: string[]; triggers_replace: Record<string, string> }>;
    // one per Proxmox node any VM runs on
    const nodes = [...new Set([mgmt, srv, JSON.parse(files.get("modules/edge/main.tf.json")!), JSON.parse(files.get("modules/dmz/main.tf.json")!)].flatMap((d) => Object.values((d.resource?.proxmox_virtual_environment_vm ?? {}) as Record<string, { node_name: string }>).map((v) => v.node_name)))].filter((n) => !n.includes("${"));
    const prepares = Object.keys(data).filter((k) => k.endsWith("-prepare"));
    expect(prepares.sort()).toEqual(expect.arrayContaining(nodes.map((n) => `${n}-prepare`)));
    // the route is for the subnet the MGMT VMs' own addresses are in (their cloud-init ip_config)
    const mgmtAddresses = Object.values(mgmt.resource.proxmox_virtual_environment_vm as Record<string, { initialization: { ip_config: { ipv4: { address: string } }[] } }>).map((v) => v.initialization.ip_config[0].ipv4.address);
    const toInt = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
    const inCidr = (cidr: string, ip: string) => {
      const [net, bits] = cidr.split("/");
      const size = 2 ** (32 - Number(bits));
      return Math.floor(toInt(net) / size) === Math.floor(toInt(ip) / size) && toInt(net) % size === 0;
    };
    for (const k of prepares) {
      const x = data[k].provisioner[0]["local-exec"];
      expect(x.command).toBe("bash ${path.root}/provision/prepare-proxmox-node.sh");
      expect(x.environment.TE_ROUTE_VIA).toBe("${var.firewall_wan_address}");
      expect(x.environment.TE_CA).toBe("${var.lab_ca_certificate}");
      for (const a of mgmtAddresses) expect(inCidr(x.environment.TE_ROUTE_CIDR, a.split("/")[0]), `${k}: ${a} in ${x.environment.TE_ROUTE_CIDR}`).toBe(true);
      expect(x.environment.TE_ROUTE_CIDR.split("/")[1]).toBe(mgmtAddresses[0].split("/")[1]);
      // the key goes on stdin to an agent of the run, or the run uses the operator's agent
      expect(x.environment.TE_SSH_KEY).toBe(spec.proxmox?.sshAgent ? undefined : "${var.proxmox_ssh_private_key}");
      expect(data[k].triggers_replace.sha256_lab_ca_certificate).toBe("${sha256(var.lab_ca_certificate)}");
    }
    // the MGMT hosts' provisioning waits for every node's preparation
    for (const [k, r] of Object.entries(data).filter(([k]) => k.endsWith("-provision"))) {
      expect(r.depends_on, k).toEqual(expect.arrayContaining(prepares.map((p) => `terraform_data.${p}`)));
    }
    // the Talos ISO downloads wait for the mgmt module's output of them
    expect(root.module.srv.proxmox_prepared).toBe("${module.mgmt.proxmox_prepared}");
    for (const [k, d] of Object.entries(srv.resource.proxmox_download_file as Record<string, { depends_on?: string[] }>)) expect(d.depends_on, k).toContain("var.proxmox_prepared");
    expect(Object.keys(mgmt.output.proxmox_prepared.value).sort()).toEqual(prepares.map((p) => p.slice(0, -"-prepare".length)).sort());
    // pfSense's WAN address: a validated, non-secret root variable the install step has the operator set
    expect(root.variable.firewall_wan_address).toMatchObject({ type: "string", default: "" });
    expect(root.variable.firewall_wan_address.sensitive).toBeUndefined();
    expect(root.variable.firewall_wan_address.validation[0].condition).toContain("regex(");
    expect(step("pfsense-install").commands.some((c) => c.startsWith("export TF_VAR_firewall_wan_address="))).toBe(true);
    expect(index("pfsense-install")).toBeLessThan(index("mgmt"));
    // the step that applies module mgmt from outside lists tofu's SSH to the nodes
    expect(step("mgmt").connections.some((c) => c.from === "outside" && c.to === "proxmox" && c.port === 22 && /prepares each Proxmox node/.test(c.why))).toBe(true);
    expect(files.has("provision/prepare-proxmox-node.sh")).toBe(true);
  });

  it("switches the datacenter firewall on with the edge module's apply, with no hand command left", () => {
    // no step's command touches the cluster firewall by hand
    expect(doc.steps.filter((s) => s.commands.some((c) => /datacenter firewall|\/cluster\/firewall\/options|pve-firewall/.test(c))).map((s) => s.id)).toEqual([]);
    // the edge module, which the edge step applies, carries the switch
    const edge = JSON.parse(files.get("modules/edge/main.tf.json")!);
    expect(Object.values(edge.resource.proxmox_virtual_environment_cluster_firewall ?? {}).map((r) => (r as { enabled: boolean }).enabled)).toEqual([true]);
    expect(step("edge").commands).toContain("tofu apply -target=module.edge");
    expect(step("edge").title).toMatch(/switch the datacenter firewall on/);
    // before any VM with a firewall is created
    expect(index("edge")).toBeLessThan(index("mgmt"));
  });

  it("hands over by tofu, and leaves no hand step for the variables or the image mirror", () => {
    expect(doc.steps.filter((s) => ["handoff", "runner-variables", "image-mirror"].includes(s.id)).map((s) => [s.id, s.manual])).toEqual([["handoff", false]]);
    const root = JSON.parse(files.get("cdk.tf.json")!) as { variable: Record<string, { default?: unknown }>; resource: Record<string, Record<string, Record<string, unknown>>> };
    // the hand-off step applies the root's hand-off resource, after the MGMT apply finished
    const handoff = step("handoff");
    const applies = handoff.commands.filter((c) => c.startsWith("tofu apply"));
    expect(applies).toHaveLength(1);
    const target = /^tofu apply -target=([a-z_]+)\.([a-z0-9_-]+)$/.exec(applies[0])!;
    const resource = root.resource[target[1]]?.[target[2]];
    expect(resource, applies[0]).toBeDefined();
    expect(resource.depends_on).toEqual(["module.mgmt"]);
    expect(index("handoff")).toBe(index("mgmt") + 1);
    expect(step("mgmt").commands.filter((c) => c.startsWith("tofu apply"))).toEqual(["tofu apply -target=module.mgmt"]);
    // the hand-off's count variable defaults to true; the script writes it false into the runner's file
    const guard = /^\$\{var\.([a-z_]+) \? 1 : 0\}$/.exec(String(resource.count))![1];
    expect(root.variable[guard].default).toBe(true);
    const exec = (resource.provisioner as { "local-exec": { environment: Record<string, string> } }[])[0]["local-exec"].environment;
    expect(exec.TE_HANDOFF_GUARD).toBe(guard);
    const script = files.get("provision/handoff.sh")!;
    expect(script).toContain('env_text+="export TF_VAR_$TE_HANDOFF_GUARD=false"');
    expect(script).toContain('mv -f "$HOME/secrets/.tofu.env.new" "$HOME/secrets/tofu.env"');
    // every tofu command on the runner runs after sourcing that file
    const runnerTofu = doc.steps.filter((x) => x.where === "runner" && x.commands.some((c) => c.startsWith("tofu ")));
    expect(runnerTofu.length).toBeGreaterThan(0);
    for (const s of runnerTofu) {
      const source = s.commands.findIndex((c) => c.startsWith(". ~/secrets/tofu.env"));
      expect(source, s.id).toBeGreaterThanOrEqual(0);
      expect(source, s.id).toBeLessThan(s.commands.findIndex((c) => c.startsWith("tofu ")));
      // the key file the hand-off writes goes into an agent when the stack reads the key from a variable
      expect(s.commands.some((c) => c.includes("ssh-add ~/secrets/id_ed25519")), s.id).toBe(exec.TE_HANDOFF_SSH_KEY !== "");
    }
  });

  it("says which credentials the state backend reads, in the README, and the hand-off copies them", () => {
    const backend = JSON.stringify(JSON.parse(files.get("cdk.tf.json")!).terraform.backend ?? {});
    const readme = files.get("README.md")!;
    const expected = backend.includes('"pg"') ? ["PG_CONN_STR"] : backend.includes('"s3"') ? ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] : [];
    const root = JSON.parse(files.get("cdk.tf.json")!) as { resource: Record<string, Record<string, { provisioner: { "local-exec": { environment: Record<string, string> } }[] }>> };
    const copied = root.resource.terraform_data["runner-handoff"].provisioner[0]["local-exec"].environment.TE_HANDOFF_BACKEND.split(" ").filter(Boolean);
    for (const e of expected) {
      expect(readme, e).toContain(`export ${e}=`);
      expect(copied, e).toContain(e);
    }
    if (!expected.length) expect(copied).toEqual([]);
  });

  it("mirrors the images in the cluster step's apply, listing its connections, when the lab verifies images", () => {
    const srv = JSON.parse(files.get("modules/srv/main.tf.json")!) as { resource: Record<string, Record<string, unknown>> };
    const mirror = srv.resource.terraform_data?.["image-mirror"];
    const cluster = step("cluster");
    const registry = [...tags].find(([, t]) => t.role === "registry")![0];
    const lists = (to: string) => cluster.connections.some((c) => c.from === doc.runner && c.to === to && c.protocol === "tcp" && c.port === 443 && /image mirror/.test(c.why));
    expect(lists("internet"), "runner -> internet 443").toBe(mirror !== undefined);
    expect(lists(registry), "runner -> registry 443").toBe(mirror !== undefined);
  });

  it("creates the cluster, the platform and the DMZ in one apply on the runner, with no step by hand after it", () => {
    const last = doc.steps.at(-1)!;
    expect(last.id).toBe("cluster");
    expect([last.manual, last.where]).toEqual([false, "runner"]);
    expect(last.commands.filter((c) => c.startsWith("tofu apply"))).toEqual(["tofu apply"]);
    // no step builds a kubeconfig by hand, reads a service account token or sets one in a variable
    const text = JSON.stringify(doc.steps.map((s) => [s.commands, s.environment ?? []]));
    expect(text).not.toMatch(/ingress_kubeconfig|ingress\.kubeconfig|get secret|create token/);
    expect(doc.steps.filter((s) => s.manual).map((s) => s.id)).not.toContain("ingress-kubeconfig");
    expect(doc.manualSteps).toBe(doc.steps.filter((s) => s.manual).length);
    // the provisioning mints the ingress token through the API VIP, from the runner
    const mint = last.connections.filter((c) => c.to === "vip" && c.port === 6443 && /mints .*token/.test(c.why));
    expect(mint.map((c) => c.from)).toEqual(tags.has("haproxy-ingress-1") || [...tags.values()].some((t) => t.role === "ingress") ? [doc.runner] : []);
    // the README's apply section follows: no hand-built kubeconfig, the renewal explained
    const readme = files.get("README.md")!;
    expect(readme).not.toMatch(/ingress_kubeconfig|ingress\.kubeconfig/);
    if (mint.length) expect(readme).toMatch(/## Renewing the service account tokens[\s\S]*Run `tofu apply` on the runner at least every \d+ days/);
  });

  it("lists every connection the full apply opens: the runner's providers, and each DMZ host as it boots", () => {
    const dmz = step("cluster");
    const has = (from: string, to: string, protocol: string, port: number) => dmz.connections.some((c) => c.from === from && c.to === to && c.protocol === protocol && c.port === port);
    // every flow of a DMZ host to MGMT (the apt proxy, Harbor) and to the API VIP, and DNS and NTP at pfSense
    const dmzHosts = [...tags].filter(([, t]) => t.zone === "dmz").map(([n]) => n);
    expect(dmzHosts.length).toBeGreaterThan(0);
    for (const f of flows.filter((x) => dmzHosts.includes(x.from) && (tags.get(x.to)?.zone === "mgmt" || x.to === "vip"))) {
      for (const p of f.ports) expect(has(f.from, f.to, f.protocol, Number(p)), f.id).toBe(true);
    }
    expect(has("zone:dmz", "firewall", "udp", 53)).toBe(true);
    expect(has("zone:dmz", "firewall", "udp", 123)).toBe(true);
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

describe("the spec's datacenter firewall switch (proxmox.datacenterFirewall)", () => {
  const handCommand =
    "pvesh set /cluster/firewall/options --enable 1   # the datacenter firewall, without which no VM firewall acts (cluster-wide: once per cluster is enough)";

  it("off: the Proxmox hosts switch it on by hand in a step of its own, after checking who reaches them, and tofu leaves it alone", () => {
    const files = synth({ proxmox: { datacenterFirewall: false } });
    const doc = JSON.parse(files.get("apply-steps.json")!) as { steps: Step[] };
    const at = (id: string) => doc.steps.findIndex((s) => s.id === id);
    const dcfw = doc.steps[at("datacenter-firewall")];
    const firewallSteps = doc.steps.filter((s) => s.commands.some((c) => /datacenter firewall|\/cluster\/firewall\/options/.test(c)));
    expect(firewallSteps.map((s) => [s.id, s.where, s.manual])).toEqual([["datacenter-firewall", "proxmox", true]]);
    expect(dcfw.why).toMatch(/proxmox\.datacenterFirewall is off/);
    expect(dcfw.commands).toContain(handCommand);
    expect(dcfw.commands.findIndex((c) => c.startsWith("pve-firewall localnet"))).toBe(dcfw.commands.indexOf(handCommand) - 1);
    expect(at("datacenter-firewall")).toBeLessThan(at("mgmt"));
    expect(at("proxmox-prepare")).toBe(-1);
    expect(doc.steps[at("edge")].title).not.toMatch(/datacenter firewall/);
    for (const [path, text] of files) if (path.endsWith(".tf.json")) expect(text, path).not.toContain("proxmox_virtual_environment_cluster_firewall");
    // the stack's runbook says the same
    expect(files.get("README.md")).toContain("pvesh set /cluster/firewall/options --enable 1");
  });

  it("on (the default): the runbook has no hand command for it", () => {
    const files = synth({});
    expect(files.get("apply-steps.json")).not.toContain("/cluster/firewall/options");
    expect(files.get("README.md")).not.toContain("pvesh set /cluster/firewall/options");
  });
});

describe("the keys the runbook asks for", () => {
  const WARNING = "This spec still carries the reference lab's public keys";
  it("warns while the spec keeps the reference keys, and not once it carries keys of its own (pasted with CRLF)", () => {
    const reference = synthToTemp({}, "keys-reference");
    const pem = () => (generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }) as string).replace(/\n/g, "\r\n");
    const own = synthToTemp({ talos: { imageVerification: { publicKey: pem(), factoryPublicKey: pem() } } }, "keys-own");
    try {
      const readme = (t: typeof own) => t.files.get([...t.files.keys()].find((k) => k.endsWith("/README.md"))!)!;
      expect(readme(reference)).toContain(WARNING);
      expect(readme(own)).not.toContain(WARNING);
      expect(readme(own)).toContain("cosign generate-key-pair");
    } finally {
      reference.cleanup();
      own.cleanup();
    }
  });
});
