import { afterAll, describe, expect, it } from "vitest";
import { problemLines } from "./support/spec-problems";
import { parseAllDocuments } from "yaml";
import { BUILTIN_SERVICES, DEFAULT_HOST_OFFSETS, LabSpecInput, referenceLab, synthLab, validateLabSpec } from "../constructs/index";
import { readTree, tempDir } from "./support/tree";
import { rmSync } from "node:fs";
import { join } from "node:path";

/**
 * Defaults that derive from the zones: member addresses, the VIP and the gateways from the zones'
 * subnets, the zones' domains, the registry's FQDN from the MGMT domain. A lab that names only its
 * zones gets a lab laid out like the reference lab inside its own subnets and domains.
 */


// Three zones named by bridge, subnet and domain only: no host, VIP, gateway or registry name.
const MOVED: LabSpecInput = {
  zones: {
    mgmt: { bridge: "vmbr1", cidr: "10.77.1.0/24", domain: "mgmt.example.lan" },
    dmz: { bridge: "vmbr2", cidr: "10.77.2.0/24", domain: "dmz.example.lan" },
    srv: { bridge: "vmbr3", cidr: "10.77.3.0/24", domain: "srv.example.lan" },
  },
};

describe("derived defaults of the reference lab", () => {
  it("equal the addresses the reference lab always had", () => {
    const spec = referenceLab();
    expect(spec.hosts.map((h) => [h.name, h.ip])).toEqual([
      ["registry", "192.168.100.11"],
      ["mgmt-client", "192.168.100.20"],
      ["haproxy-ingress-1", "172.16.100.10"],
    ]);
    expect(spec.talos.controlPlanes.map((n) => n.ip)).toEqual(["10.10.100.11", "10.10.100.12", "10.10.100.13"]);
    expect(spec.talos.workers.map((n) => n.ip)).toEqual(["10.10.100.21", "10.10.100.22"]);
    expect(spec.talos.vip).toBe("10.10.100.10");
    expect(spec.registry.fqdn).toBe("registry.mgmt.lab.internal");
    expect(spec.zones.mgmt).toEqual({ bridge: "vmbr1", cidr: "192.168.100.0/24", gateway: "192.168.100.1", domain: "mgmt.lab.internal" });
    expect(spec.zones.dmz).toEqual({ bridge: "vmbr2", cidr: "172.16.100.0/24", gateway: "172.16.100.1", domain: "dmz.lab.internal" });
    expect(validateLabSpec({})).toEqual(spec);
  });

  it("come from the Talos node kinds' offsets and each service's descriptor", () => {
    expect(DEFAULT_HOST_OFFSETS).toEqual({ controlPlane: 11, worker: 21 });
    expect(BUILTIN_SERVICES.map((s) => [s.role, s.hostOffset])).toEqual([["client", 20], ["registry", 11], ["ingress", 10]]);
  });
});

describe("a lab that names only its zones", () => {
  const root = tempDir("defaults");
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const stackDir = synthLab(MOVED, join(root, "cdktf.out"));
  const files = readTree(join(root, "cdktf.out"));
  const stack = (path: string) => {
    const text = files.get(join("stacks", "talos-lab", path));
    if (text === undefined) throw new Error(`no ${path} in the tree`);
    return text;
  };

  it("is written without a trace of the reference lab's subnets or domains", () => {
    expect(stackDir).toBe(join(root, "cdktf.out", "stacks", "talos-lab"));
    expect(files.size).toBeGreaterThan(30);
    const traces = [...files].flatMap(([path, text]) =>
      ["lab.internal", "192.168.100.", "10.10.100.", "172.16.100."].filter((t) => text.includes(t)).map((t) => `${path}: ${t}`),
    );
    expect(traces).toEqual([]);
  });

  it("names the registry in the MGMT domain, in the Talos mirror patch and in cloud-init", () => {
    const patch = parseAllDocuments(stack("talos/all-nodes.yaml")).map((d) => d.toJSON() as Record<string, unknown>);
    const mirrors = patch.filter((d) => d.kind === "RegistryMirrorConfig");
    expect(mirrors.length).toBeGreaterThan(0);
    for (const m of mirrors) {
      for (const e of m.endpoints as { url: string }[]) expect(e.url).toMatch(/^https:\/\/registry\.mgmt\.example\.lan\/v2\/(proxy|signed)-/);
    }
    const registry = stack("cloud-init/registry.user-data.yaml.tftpl");
    expect(registry).toMatch(/^fqdn: registry\.mgmt\.example\.lan$/m);
    expect(registry).toContain('"api": "https://registry.mgmt.example.lan/api/v2.0"');
    // the ingress host's image is named where the provisioning pushes it from
    const dmz = JSON.parse(stack("modules/dmz/main.tf.json")) as { resource: { terraform_data: Record<string, { provisioner: { "local-exec": { environment: Record<string, string> } }[] }> } };
    expect(dmz.resource.terraform_data["haproxy-ingress-1-provision"].provisioner[0]["local-exec"].environment.TE_IMAGES).toMatch(/^registry\.mgmt\.example\.lan\/proxy-docker\.io\//);
  });

  it("puts the control planes at .11-.13 and the VIP at .10 of the new SRV subnet", () => {
    const srv = JSON.parse(stack("modules/srv/main.tf.json")) as { resource: Record<string, Record<string, { initialization?: { ip_config?: { ipv4?: { address: string; gateway: string } }[] } }>> };
    const addresses = Object.values(srv.resource.proxmox_virtual_environment_vm).map((vm) => vm.initialization?.ip_config?.[0]?.ipv4);
    expect(addresses.map((a) => a?.address).sort()).toEqual(["10.77.3.11/24", "10.77.3.12/24", "10.77.3.13/24", "10.77.3.21/24", "10.77.3.22/24"]);
    expect(new Set(addresses.map((a) => a?.gateway))).toEqual(new Set(["10.77.3.1"]));
    for (const n of [1, 2, 3]) expect(stack(`talos/nodes/talos-cp-${n}.yaml`)).toContain(`10.77.3.1${n}/24`);
    const cp = parseAllDocuments(stack("talos/controlplane.yaml")).map((d) => d.toJSON() as Record<string, unknown>);
    const vip = cp.find((d) => d.kind === "Layer2VIPConfig");
    expect(vip?.name).toBe("10.77.3.10");
  });
});

describe("derived addresses that do not fit", () => {
  const workers = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `w-${i + 1}` }));

  it("rejects 250 workers in a /24, once per worker past the end, naming its field", () => {
    // worker offsets 21..270: 21 + 233 = 254 is the last host address of a /24
    const lines = problemLines({ talos: { workers: workers(250) } });
    expect(lines).toHaveLength(16);
    expect(lines[0]).toBe(
      "talos.workers[234].ip: (missing) — has no default inside zones.srv.cidr (10.10.100.0/24): worker offset 21 + 234 is host offset 255, past the last host address (offset 254) (give it an ip, or make zones.srv.cidr larger)",
    );
    expect(lines.map((l) => l.split(":")[0])).toEqual(Array.from({ length: 16 }, (_, i) => `talos.workers[${234 + i}].ip`));
  });

  it("accepts 234 workers in a /24, and more in a larger subnet", () => {
    expect(problemLines({ talos: { workers: workers(234) } })).toEqual([]);
    const big = validateLabSpec({ zones: { srv: { bridge: "vmbr3", cidr: "10.10.96.0/22" } }, talos: { workers: workers(250) } });
    expect(big.talos.workers[249].ip).toBe("10.10.97.14"); // offset 270
    expect(big.zones.srv.gateway).toBe("10.10.96.1");
    expect(big.talos.vip).toBe("10.10.96.10");
  });

  it("reports a default that clashes with a written address at the default, which the written one wins", () => {
    expect(problemLines({ talos: { workers: [{ name: "w-1" }, { name: "w-2", ip: "10.10.100.21" }] } })).toEqual([
      "talos.workers[0].ip: (missing) — defaults to 10.10.100.21 (worker offset 21 + 0 in zones.srv.cidr), which duplicates the address of talos.workers[1].ip (give one of them an explicit ip)",
    ]);
    expect(problemLines({ hosts: [{ name: "registry", zone: "mgmt", role: "registry", ip: "192.168.100.20" }, { name: "c", zone: "mgmt", role: "client" }] })).toEqual([
      "hosts[1].ip: (missing) — defaults to 192.168.100.20 (client offset 20 + 0 in zones.mgmt.cidr), which duplicates the address of hosts[0].ip (give one of them an explicit ip)",
    ]);
  });

  it("reports a default VIP that clashes with a written node address at the VIP", () => {
    expect(problemLines({ talos: { workers: [{ name: "w-1", ip: "10.10.100.10" }] } })).toEqual([
      "talos.vip: (missing) — defaults to 10.10.100.10 (VIP offset 10 in zones.srv.cidr), which duplicates the address of talos.workers[0].ip (give one of them an explicit ip)",
    ]);
  });

  it("reports a default that lands on a written gateway", () => {
    expect(problemLines({ zones: { dmz: { bridge: "vmbr2", cidr: "172.16.100.0/24", gateway: "172.16.100.10" } } })).toEqual([
      "hosts[2].ip: (missing) — defaults to 172.16.100.10 (ingress offset 10 + 0 in zones.dmz.cidr), which is zones.dmz.gateway (give it an ip, or set the gateway to another address)",
    ]);
  });

  it("names a VM id clash with a node whose address is a default as before (the later VM in the spec)", () => {
    expect(problemLines({ talos: { workers: [{ name: "w-1", vmId: 3011 }] } })).toEqual([
      "talos.workers[0].vmId: 3011 — duplicates the default VM id of talos.controlPlanes[0] (every VM needs its own Proxmox id; set vmId explicitly)",
    ]);
  });
});

describe("written values win", () => {
  it("keeps explicit addresses, VIP, gateway, domain and registry FQDN, and derives only the rest", () => {
    const spec = validateLabSpec({
      zones: { mgmt: { bridge: "vmbr1", cidr: "10.1.0.0/24", gateway: "10.1.0.254", domain: "ops.example.org" } },
      registry: { fqdn: "harbor.example.org" },
      hosts: [
        { name: "registry", zone: "mgmt", role: "registry", ip: "10.1.0.5" },
        { name: "client-a", zone: "mgmt", role: "client" },
        { name: "client-b", zone: "mgmt", role: "client", ip: "10.1.0.30" },
        { name: "client-c", zone: "mgmt", role: "client" },
      ],
      talos: { vip: "10.10.100.100", controlPlanes: [{ name: "cp-1", ip: "10.10.100.50" }, { name: "cp-2" }, { name: "cp-3" }] },
    });
    expect(spec.hosts.map((h) => h.ip)).toEqual(["10.1.0.5", "10.1.0.20", "10.1.0.30", "10.1.0.21"]);
    expect(spec.zones.mgmt.gateway).toBe("10.1.0.254");
    expect(spec.zones.mgmt.domain).toBe("ops.example.org");
    expect(spec.zones.srv.domain).toBe("srv.lab.internal");
    expect(spec.registry.fqdn).toBe("harbor.example.org");
    expect(spec.talos.vip).toBe("10.10.100.100");
    expect(spec.talos.controlPlanes.map((n) => n.ip)).toEqual(["10.10.100.50", "10.10.100.11", "10.10.100.12"]);
  });

  it("derives the registry FQDN from registry.host and the MGMT domain", () => {
    const spec = validateLabSpec({
      zones: { mgmt: { bridge: "vmbr1", cidr: "192.168.100.0/24", domain: "mgmt.example.lan" } },
      registry: { host: "harbor" },
      hosts: [
        { name: "harbor", zone: "mgmt", role: "registry" },
        { name: "mgmt-client", zone: "mgmt", role: "client" },
      ],
    });
    expect(spec.registry.fqdn).toBe("harbor.mgmt.example.lan");
    expect(spec.hosts[0].ip).toBe("192.168.100.11");
  });

  it("with a shape problem elsewhere, still reports a default that does not fit", () => {
    expect(problemLines({ name: "Lab", talos: { workers: [{ name: "w-1" }, { name: "w-2", ip: "10.10.100.21" }] } })).toEqual([
      `name: "Lab" — must be a name (lower-case letters, digits and '-', 1-63 characters, starting with a letter and not ending in '-'; it is a host name and part of terraform identifiers)`,
      "talos.workers[0].ip: (missing) — defaults to 10.10.100.21 (worker offset 21 + 0 in zones.srv.cidr), which duplicates the address of talos.workers[1].ip (give one of them an explicit ip)",
    ]);
  });

  it("does not guess at defaults that a broken entry before them would move", () => {
    // Once w_1 is fixed it takes .21 and clashes with w-3; w-2's default is .22 then, so nothing is
    // said about w-2 while w_1 is left out.
    expect(problemLines({ talos: { workers: [{ name: "w_1" }, { name: "w-2" }, { name: "w-3", ip: "10.10.100.21" }] } })).toEqual([
      `talos.workers[0].name: "w_1" — must be a name (lower-case letters, digits and '-', 1-63 characters, starting with a letter and not ending in '-'; it is a host name and part of terraform identifiers)`,
    ]);
  });

  it("a malformed written address is reported, not replaced by a default", () => {
    expect(problemLines({ talos: { workers: [{ name: "w-1", ip: "10.10.100.300" }, { name: "w-2" }] } })).toEqual([
      'talos.workers[0].ip: "10.10.100.300" — must be an IPv4 address (dotted quad such as 10.10.100.11, without a prefix length)',
    ]);
  });
});
