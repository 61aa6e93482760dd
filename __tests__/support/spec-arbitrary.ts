import fc from "fast-check";

/**
 * Generated lab specs for the fuzz. A spec starts as a plausible, valid lab — random node counts,
 * subnets, VLANs, host roles, names (short, so they can collide with the project's own construct and
 * resource names), flows, backends — and then gets zero to three mutations of the kind users make:
 * any field set to another JSON value, to an edge number or to a hostile string, a key deleted, a list
 * entry duplicated, an unknown key added. About a third of the specs stay valid, so the fuzz reaches
 * synthesis as well as validation.
 */

const pick = <T>(...xs: T[]) => fc.constantFrom(...xs);

/** Names that are valid but sit close to the project's own words (construct ids, resource ids, keywords). */
const NEAR_NAMES = ["vms", "pool", "talos", "schematic", "bridges", "x-firewall", "x-user-data", "talos-image", "ubuntu-image", "output-addresses", "module-srv", "apply-x", "lab", "edge", "srv", "mgmt"];
const name = fc.oneof({ weight: 3, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,6}[a-z0-9]$/) }, { weight: 1, arbitrary: pick(...NEAR_NAMES) });
const RESERVED = new Set(["internet", "pods", "vip", "firewall", "proxmox"]);

/**
 * A zone of a generated lab: `<net>.0/24` with pfSense on `.1`; with `vlans`, every zone shares vmbr1
 * and is told apart by its tag.
 */
export function zoneSpec(vlans: boolean) {
  return (bridge: string, net: string, vlan: number, domain: string) => ({
    bridge: vlans ? "vmbr1" : bridge,
    ...(vlans ? { vlan } : {}),
    cidr: `${net}.0/24`,
    gateway: `${net}.1`,
    domain,
  });
}

const validLab = fc
  .record({
    nodes: fc.integer({ min: 1, max: 3 }),
    // 192.168.200.0/24 is the client LAN's default
    mgmt: fc.integer({ min: 1, max: 250 }).filter((o) => o !== 200),
    dmz: fc.integer({ min: 1, max: 250 }),
    srv: fc.integer({ min: 1, max: 250 }).filter((o) => o < 96 || (o > 111 && o !== 244)),
    vlans: fc.boolean(),
    manageBridges: fc.boolean(),
    names: fc.uniqueArray(name, { minLength: 14, maxLength: 14 }).filter((ns) => ns.every((n) => !RESERVED.has(n))),
    clients: fc.integer({ min: 0, max: 2 }),
    ingresses: fc.integer({ min: 0, max: 2 }),
    cps: pick(1, 3, 2),
    workers: fc.integer({ min: 0, max: 5 }),
    flows: fc.array(
      fc.record({
        fromIx: fc.nat(13),
        toIx: fc.nat(13),
        to: pick("", "zone:dmz", "group:workers", "pods", "firewall"),
        protocol: pick("tcp", "udp", "icmp"),
        port: fc.integer({ min: 1, max: 65535 }),
        purpose: pick("why it exists", '${file("/etc/passwd")}', "a | b `c` <d>", "%{ if true }x%{ endif }", "it's \"quoted\"", "$(touch /tmp/x)"),
      }),
      { maxLength: 3 },
    ),
    secureBoot: fc.boolean(),
    mesh: fc.boolean(),
    backend: pick<Record<string, unknown>>({ type: "local" }, { type: "local", path: "terraform.tfstate" }, { type: "pg" }, { type: "s3", bucket: "lab-state", endpoint: "https://minio.example:9000" }),
    encryption: fc.boolean(),
    // the client LAN: the lab's own bridge (default), or an operators' LAN that exists already
    clientLanExisting: fc.boolean(),
  })
  .map((r) => {
    // Zones spanning nodes need uplink ports on every node (a trunk of the tags when they share vmbr1).
    const uplinks: Record<string, string[]> = r.vlans ? { vmbr1: ["eno2"] } : { vmbr1: ["eno2"], vmbr2: ["eno3"], vmbr3: ["eno4"] };
    const proxmoxNodes = Array.from({ length: r.nodes }, (_, i) => ({ name: `pve${i + 1}`, ...(r.nodes > 1 ? { uplinks } : {}) }));
    const zone = zoneSpec(r.vlans);
    const m = `192.168.${r.mgmt}`;
    const d = `172.16.${r.dmz}`;
    const s = `10.${r.srv}.0`;
    const n = r.names;
    const hosts = [
      { name: n[0], zone: "mgmt", role: "registry", ip: `${m}.11`, node: proxmoxNodes[r.nodes - 1].name },
      ...Array.from({ length: r.clients }, (_, i) => ({ name: n[1 + i], zone: "mgmt", role: "client", ip: `${m}.${20 + i}` })),
      ...Array.from({ length: r.ingresses }, (_, i) => ({ name: n[3 + i], zone: "dmz", role: "ingress", ip: `${d}.${10 + i}` })),
    ];
    const cps = Array.from({ length: r.cps }, (_, i) => ({ name: n[5 + i], ip: `${s}.${11 + i}` }));
    const workers = Array.from({ length: r.workers }, (_, i) => ({ name: n[8 + i], ip: `${s}.${100 + i}`, ...(i % 2 ? { node: proxmoxNodes[0].name } : {}) }));
    const vmNames = [...hosts, ...cps, ...workers].map((v) => v.name);
    const flows = r.flows.map((f, i) => ({
      id: `extra-${i}`,
      from: vmNames[f.fromIx % vmNames.length],
      to: f.to || vmNames[f.toIx % vmNames.length],
      protocol: f.protocol,
      ports: f.protocol === "icmp" ? [] : [f.port],
      purpose: f.purpose,
    }));
    return {
      name: n[13],
      proxmox: { nodes: proxmoxNodes, manageBridges: r.manageBridges || r.nodes > 1 },
      zones: {
        mgmt: zone("vmbr1", m, 10, "mgmt.lab.internal"),
        dmz: zone("vmbr2", d, 20, "dmz.lab.internal"),
        srv: zone("vmbr3", s, 30, "srv.lab.internal"),
        ...(r.clientLanExisting ? { client: { bridge: "vmbr9", cidr: "192.168.200.0/24", existing: true, gateway: "192.168.200.254" } } : {}),
      },
      hosts,
      registry: { host: n[0] },
      talos: { vip: `${s}.10`, controlPlanes: cps, workers, allowEvenControlPlanes: r.cps === 2, secureBoot: r.secureBoot },
      bgp: { nodeToNodeMesh: r.mesh },
      flows,
      state: { encryption: r.encryption, backend: r.backend },
    } as Record<string, unknown>;
  });

/** Values a mutation puts somewhere: other JSON, edge numbers, hostile strings. */
const mutant = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  pick<unknown>(0, -1, 1.5, 65536, 2 ** 53, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, null, true, "", [], {}),
  pick('${file("/etc/passwd")}', "%{ if true }x%{ endif }", "a\nkey: v", "</descr><rule>", "'\"`", "$(touch /tmp/x)", "../..", "internet", "zone:srv", "talos-cp-1", "10.10.100.300", "x".repeat(300)),
);

type Path = (string | number)[];

function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (v !== null && typeof v === "object") {
    for (const [k, child] of Object.entries(v)) {
      const p = [...at, Array.isArray(v) ? Number(k) : k];
      out.push(p);
      paths(child, p, out);
    }
  }
  return out;
}

function parentOf(root: unknown, path: Path): Record<string | number, unknown> {
  let cur = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  return cur;
}

type Mutation = { kind: "set"; value: unknown } | { kind: "delete" } | { kind: "duplicate" } | { kind: "unknown-key"; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: mutant.map((value): Mutation => ({ kind: "set", value })) },
  { weight: 2, arbitrary: fc.constant<Mutation>({ kind: "delete" }) },
  { weight: 2, arbitrary: fc.constant<Mutation>({ kind: "duplicate" }) },
  { weight: 1, arbitrary: mutant.map((value): Mutation => ({ kind: "unknown-key", value })) },
);

function apply(spec: Record<string, unknown>, at: Path, m: Mutation): Record<string, unknown> {
  const parent = parentOf(spec, at);
  const key = at[at.length - 1];
  switch (m.kind) {
    case "set":
      parent[key] = m.value;
      break;
    case "delete":
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
      break;
    case "duplicate":
      if (Array.isArray(parent)) parent.push(structuredClone(parent[key]));
      else parent[key] = structuredClone(parent[key]);
      break;
    case "unknown-key":
      if (!Array.isArray(parent)) parent[`${String(key)}x`] = m.value;
      break;
  }
  return spec;
}

/** A lab spec as a user might write it, mistakes included. */
export const labSpecArbitrary: fc.Arbitrary<Record<string, unknown>> = validLab.chain((spec) => {
  const all = paths(spec);
  return fc
    .array(fc.tuple(fc.nat(all.length - 1), mutation), { minLength: 0, maxLength: 3 })
    .map((ms) => {
      let out = structuredClone(spec);
      for (const [i, m] of ms) {
        // Paths of the original spec; an earlier mutation may have removed one: skip it then.
        try {
          out = apply(out, all[i], m);
        } catch {
          /* the path no longer exists */
        }
      }
      return out;
    });
});
