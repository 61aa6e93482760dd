/**
 * A stand-in `talosctl` for testing the generated upgrade.sh: a small model of a Talos cluster kept in
 * a JSON file ($STANDIN_STATE), answering the commands the script uses in talosctl's own output
 * formats (siderolabs/talos v1.13.9: `get -o jsonpath`, cmd/talosctl/cmd/talos/etcd.go tables).
 *
 * The model: each node has a Talos version and the schematic it was installed from; each control
 * plane is an etcd member. An upgraded or rebooted control plane is down for the next `recovery`
 * invocations, as time passes: its `etcd status` row is missing (talosctl 1.13 prints a WARNING and
 * still exits 0, etcd.go:274-281) and other members report no leader while quorum is lost. The
 * stand-in refuses, and records as a violation, an upgrade or reboot that would lose etcd quorum
 * (fewer healthy voters left than a majority), a request sent through the node being rebooted while
 * other control planes exist, any worker upgrade before every control plane runs the image's version,
 * and a `health` whose node lists miss a node of the cluster (real `talosctl health` fails then). Like
 * talosctl, `get` warns on stderr when a node runs an older version than the client
 * ($STANDIN_CLIENT_VERSION).
 */
import { readFileSync, writeFileSync } from "node:fs";

interface StandinNode {
  readonly name: string;
  readonly ip: string;
  readonly role: "controlplane" | "worker";
  version: string;
  schematic: string;
  /** The VM id and Proxmox node of the node's VM (for the API reboot). */
  vmid?: number;
  pveNode?: string;
  /** Invocations until an upgraded control plane's member is healthy again. */
  recoverIn: number;
  memberId: string;
}

export interface StandinState {
  nodes: StandinNode[];
  /** Invocations a rebooted member stays unhealthy. */
  recovery: number;
  /** Upgrades in the order they ran: `<name> <image tag>`. */
  upgrades: string[];
  violations: string[];
  /** Addresses whose upgrade fails (a planted node fault). */
  failUpgrade?: string[];
}

const statePath = process.env.STANDIN_STATE;
if (!statePath) {
  process.stderr.write("talosctl stand-in: STANDIN_STATE is not set\n");
  process.exit(1);
}
const state = JSON.parse(readFileSync(statePath, "utf8")) as StandinState;
const save = () => writeFileSync(statePath, JSON.stringify(state, null, 2));
const die = (msg: string): never => {
  save();
  process.stderr.write(`error: ${msg}\n`);
  process.exit(1);
};

// Time passes with every call.
for (const n of state.nodes) if (n.recoverIn > 0) n.recoverIn--;

// `--curl`: the Proxmox API's VM reboot (POST …/nodes/<node>/qemu/<vmid>/status/reboot), the header
// read from a curl config on stdin (-K -).
if (process.argv[2] === "--curl") {
  const argv = process.argv.slice(3);
  if (argv.join(" ").includes("PVEAPIToken")) state.violations.push("the API token on curl's command line");
  const url = argv.find((a) => a.startsWith("http")) ?? die("curl stand-in: no URL");
  const m = /\/api2\/json\/nodes\/([^/]+)\/qemu\/(\d+)\/status\/reboot$/.exec(url) ?? die(`curl stand-in: unsupported URL ${url}`);
  const config = argv.includes("-K") ? readFileSync(0, "utf8") : "";
  if (!/^header = "Authorization: PVEAPIToken=[^"]+"$/m.test(config)) die("curl: (22) The requested URL returned error: 401");
  const n = state.nodes.find((x) => x.vmid === Number(m[2]) && x.pveNode === m[1]) ?? die(`curl: (22) The requested URL returned error: 500 (no VM ${m[2]} on ${m[1]})`);
  for (const x of state.nodes) if (x.recoverIn > 0) x.recoverIn--;
  if (n.role === "controlplane") {
    const others = state.nodes.filter((c) => c.role === "controlplane" && c !== n && c.recoverIn === 0).length;
    const total = state.nodes.filter((c) => c.role === "controlplane").length;
    if (total > 1 && others <= total / 2) {
      state.violations.push(`${n.name}: quorum would be lost (${others} healthy of ${total} left)`);
    }
    n.recoverIn = state.recovery;
  }
  state.upgrades.push(`${n.name} reboot`);
  writeFileSync(statePath, JSON.stringify(state, null, 2));
  process.stdout.write('{"data":"UPID:pve:0001:reboot"}\n');
  process.exit(0);
}

const args = process.argv.slice(2);
const flag = (name: string, short?: string): string | undefined => {
  const i = args.findIndex((a) => a === name || (short !== undefined && a === short));
  return i >= 0 ? args[i + 1] : undefined;
};
const has = (name: string) => args.includes(name);
const positional: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (["--talosconfig", "-e", "--endpoints", "-n", "--nodes", "-o", "--image", "--timeout"].includes(args[i])) i++;
  else if (!args[i].startsWith("-")) positional.push(args[i]);
}
if (!flag("--talosconfig")) die("--talosconfig is required by this stand-in");
const endpoint = flag("-e", "--endpoints");
const targets = (flag("-n", "--nodes") ?? "").split(",").filter(Boolean);
const node = (ip: string) => state.nodes.find((n) => n.ip === ip) ?? die(`rpc error: code = Unavailable desc = ${ip}: no such node`);
const cps = () => state.nodes.filter((n) => n.role === "controlplane");
const healthy = (n: StandinNode) => n.recoverIn === 0;
const leaderOf = () => cps().filter(healthy)[0]?.memberId ?? "0000000000000000";
const hasQuorum = () => cps().filter(healthy).length > cps().length / 2;

const [verb, sub] = positional;
const skewWarning = (n: StandinNode) => {
  const client = process.env.STANDIN_CLIENT_VERSION;
  if (client && n.version !== client) process.stderr.write(`WARNING: ${n.ip}: server version ${n.version} is older than client version ${client}\n`);
};
const rebootThrough = (n: StandinNode, what: string) => {
  if (n.role !== "controlplane") return;
  if (endpoint === n.ip && cps().length > 1) state.violations.push(`${n.name} ${what} through itself as endpoint`);
  const others = cps().filter((c) => c !== n && healthy(c)).length;
  if (cps().length > 1 && others <= cps().length / 2) {
    state.violations.push(`${n.name}: quorum would be lost (${others} healthy of ${cps().length} left)`);
    die(`${n.name}: etcd quorum would be lost`);
  }
};
if (verb === "get" && sub === "version") {
  if (flag("-o") !== "jsonpath={.spec.version}") die(`stand-in: unsupported output ${flag("-o")}`);
  for (const ip of targets) {
    skewWarning(node(ip));
    process.stdout.write(`${node(ip).version}\n`);
  }
} else if (verb === "get" && sub === "extensions") {
  // One line per result, as talosctl's jsonpath output prints them; only single-field paths are
  // answered (a composite template prints each of its parts on a line of its own in real talosctl).
  const field = { "jsonpath={.spec.metadata.name}": "name", "jsonpath={.spec.metadata.version}": "version" }[flag("-o") ?? ""];
  if (!field) die(`stand-in: unsupported output ${flag("-o")}`);
  for (const ip of targets) {
    const n = node(ip);
    skewWarning(n);
    const extensions = [
      { name: "qemu-guest-agent", version: "10.0.2" },
      { name: "schematic", version: n.schematic },
    ];
    for (const e of extensions) process.stdout.write(`${field === "name" ? e.name : e.version}\n`);
  }
} else if (verb === "etcd" && sub === "status") {
  const rows = ["NODE   MEMBER   DB SIZE   IN USE   LEADER   RAFT INDEX   RAFT TERM   RAFT APPLIED INDEX   LEARNER   PROTOCOL   STORAGE   ERRORS"];
  let answered = 0;
  for (const ip of targets) {
    const n = node(ip);
    if (n.role !== "controlplane") die(`${ip}: etcd is only available on control plane nodes`);
    if (!healthy(n)) {
      process.stderr.write(`WARNING: ${ip}: rpc error: code = Unavailable desc = connection refused\n`);
      continue;
    }
    answered++;
    const ok = hasQuorum();
    rows.push(
      [n.ip, n.memberId, "17 MB", "4.9 MB (28.41%)", ok ? leaderOf() : "0000000000000000", "1234", "5", "1234", "false", "3.6.5", "3.6.0", ok ? "" : "etcdserver: no leader"].join("   "),
    );
  }
  if (answered === 0) die("rpc error: code = Unavailable desc = connection refused");
  process.stdout.write(rows.join("\n") + "\n");
} else if (verb === "reboot") {
  if (targets.length !== 1) die("refusing a parallel reboot");
  const n = node(targets[0]);
  rebootThrough(n, "rebooted");
  if (n.role === "controlplane") n.recoverIn = state.recovery;
  state.upgrades.push(`${n.name} reboot`);
} else if (verb === "health") {
  const listed = [...(flag("--control-plane-nodes") ?? "").split(","), ...(flag("--worker-nodes") ?? "").split(",")].filter(Boolean);
  const missing = state.nodes.filter((n) => !listed.includes(n.ip));
  if (missing.length) {
    state.violations.push(`health: the node lists miss ${missing.map((n) => n.name).join(", ")}`);
    die(`cluster has nodes the lists do not name: ${missing.map((n) => n.ip).join(", ")}`);
  }
  if (!cps().every(healthy)) die("waiting for etcd members to be healthy: timeout");
  process.stderr.write("discovered nodes: …\nwaiting for all nodes to finish boot sequence: OK\n");
} else if (verb === "etcd" && sub === "members") {
  const n = node(targets[0]);
  if (!healthy(n) || !hasQuorum()) die("rpc error: code = Unavailable desc = etcdserver: no leader");
  const rows = ["NODE   ID   HOSTNAME   PEER URLS   CLIENT URLS   LEARNER"];
  for (const m of cps()) rows.push([n.ip, m.memberId, m.name, `https://${m.ip}:2380`, `https://${m.ip}:2379`, "false"].join("   "));
  process.stdout.write(rows.join("\n") + "\n");
} else if (verb === "upgrade") {
  const image = flag("--image") ?? die("--image is required");
  if (!has("--wait")) state.violations.push("an upgrade without --wait");
  if (targets.length !== 1) {
    state.violations.push(`one upgrade for ${targets.length} nodes (talosctl upgrades them in parallel)`);
    die("refusing a parallel upgrade");
  }
  const n = node(targets[0]);
  const tag = image.split(":").pop()!;
  const schematic = image.split(":")[image.split(":").length - 2].split("/").pop()!;
  if (n.role === "controlplane") {
    rebootThrough(n, "upgraded");
  } else if (cps().some((c) => c.version !== tag)) {
    state.violations.push(`${n.name} (worker) upgraded before every control plane ran ${tag}`);
  }
  if (state.failUpgrade?.includes(n.ip)) die(`${n.name}: upgrade failed: error pulling ${image}`);
  n.version = tag;
  n.schematic = schematic;
  if (n.role === "controlplane") n.recoverIn = state.recovery;
  state.upgrades.push(`${n.name} ${tag}`);
} else {
  die(`stand-in: unsupported command ${positional.join(" ")}`);
}
save();
