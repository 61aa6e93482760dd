/**
 * A stand-in `talosctl` for testing the generated upgrade.sh: a small model of a Talos cluster kept in
 * a JSON file ($STANDIN_STATE), answering the commands the script uses in talosctl's own output
 * formats (siderolabs/talos v1.13.9: `get -o jsonpath`, cmd/talosctl/cmd/talos/etcd.go tables).
 *
 * The model: each node has a Talos version; each control plane is an etcd member. An upgraded control
 * plane reboots and its member is unhealthy (no leader, an error) for the next RECOVERY invocations,
 * as time passes. The stand-in refuses, and records as a violation, an upgrade that would lose etcd
 * quorum (fewer healthy voters left than a majority), an upgrade sent through the node itself as
 * endpoint while other control planes exist, and any worker upgrade before every control plane runs
 * the image's version.
 */
import { readFileSync, writeFileSync } from "node:fs";

interface StandinNode {
  readonly name: string;
  readonly ip: string;
  readonly role: "controlplane" | "worker";
  version: string;
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
if (verb === "get" && sub === "version") {
  if (flag("-o") !== "jsonpath={.spec.version}") die(`stand-in: unsupported output ${flag("-o")}`);
  for (const ip of targets) process.stdout.write(`${node(ip).version}\n`);
} else if (verb === "etcd" && sub === "status") {
  const rows = ["NODE   MEMBER   DB SIZE   IN USE   LEADER   RAFT INDEX   RAFT TERM   RAFT APPLIED INDEX   LEARNER   PROTOCOL   STORAGE   ERRORS"];
  for (const ip of targets) {
    const n = node(ip);
    if (n.role !== "controlplane") die(`${ip}: etcd is only available on control plane nodes`);
    const ok = healthy(n) && hasQuorum();
    rows.push(
      [n.ip, n.memberId, "17 MB", "4.9 MB (28.41%)", ok ? leaderOf() : "0000000000000000", "1234", "5", "1234", "false", "3.6.5", "3.6.0", ok ? "" : "etcdserver: no leader"].join("   "),
    );
  }
  process.stdout.write(rows.join("\n") + "\n");
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
  if (n.role === "controlplane") {
    if (endpoint === n.ip && cps().length > 1) state.violations.push(`${n.name} upgraded through itself as endpoint`);
    const others = cps().filter((c) => c !== n && healthy(c)).length;
    if (cps().length > 1 && others <= cps().length / 2) {
      state.violations.push(`${n.name}: quorum would be lost (${others} healthy of ${cps().length} left)`);
      die(`${n.name}: etcd quorum would be lost`);
    }
  } else if (cps().some((c) => c.version !== tag)) {
    state.violations.push(`${n.name} (worker) upgraded before every control plane ran ${tag}`);
  }
  if (state.failUpgrade?.includes(n.ip)) die(`${n.name}: upgrade failed: error pulling ${image}`);
  n.version = tag;
  if (n.role === "controlplane") n.recoverIn = state.recovery;
  state.upgrades.push(`${n.name} ${tag}`);
} else {
  die(`stand-in: unsupported command ${positional.join(" ")}`);
}
save();
