import { ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

/**
 * Network namespaces for the twin: named, tracked and torn down together, with the few primitives the
 * twin needs (links, bridges with VLAN filtering, nftables, daemons). Nothing touches the machine's
 * own namespace besides adding and deleting the twin's named namespaces.
 */

/** Runs a command; rejects with its stderr. */
export function run(cmd: string, args: readonly string[], input?: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/**
 * Why these tools cannot run here (undefined when they can): Linux, root, each tool answering its
 * version flag (with the Debian package that brings it), and the right to make a namespace.
 */
export function namespacesUnavailable(tools: readonly (readonly [string, readonly string[], string])[]): string | undefined {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "needs root (ip netns, nft)";
  for (const [tool, args, pkg] of tools) {
    try {
      execFileSync(tool, args, { stdio: "ignore" });
    } catch {
      return `${tool} not found (apt-get install -y ${pkg})`;
    }
  }
  // Root in a container may still lack the right to make namespaces.
  const probe = `nsprobe-${randomBytes(3).toString("hex")}`;
  try {
    execFileSync("ip", ["netns", "add", probe], { stdio: "ignore" });
    execFileSync("ip", ["netns", "del", probe], { stdio: "ignore" });
  } catch {
    return "cannot create network namespaces here (ip netns add failed; needs CAP_SYS_ADMIN)";
  }
  return undefined;
}

/** Why this machine cannot run the twin (undefined when it can). */
export function twinUnavailable(): string | undefined {
  return namespacesUnavailable([
    ["ip", ["-V"], "iproute2"],
    ["bridge", ["-V"], "iproute2"],
    ["nft", ["--version"], "nftables"],
    ["bird", ["--version"], "bird2"],
    ["/usr/lib/frr/bgpd", ["--version"], "frr"],
    ["python3", ["--version"], "python3"],
    ["haproxy", ["-v"], "haproxy"],
  ]);
}

/**
 * A temporary folder every user can pass through. FRR's daemons drop to the `frr` user, so the
 * folder holding their sockets and pid files must be reachable by it; a private TMPDIR (mode 0700,
 * as `mktemp -d` makes) is not, so the twin falls back to the system's shared temporary folders.
 */
function traversableTmp(): string {
  const open = (dir: string): boolean => {
    for (let d = resolve(dir); ; d = dirname(d)) {
      try {
        if ((statSync(d).mode & 0o001) === 0) return false;
      } catch {
        return false;
      }
      if (dirname(d) === d) return true;
    }
  };
  return [tmpdir(), "/var/tmp", "/tmp"].find(open) ?? tmpdir();
}

const OWNER_FILE = "owner";

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The twin's namespaces, temporary folder and processes. */
export class NetnsLab {
  readonly prefix: string;
  readonly work: string;
  private readonly names = new Map<string, string>();
  private readonly created: string[] = [];
  private readonly children: ChildProcess[] = [];
  private links = 0;
  private torn = false;
  private readonly emergency = () => this.teardownSync();

  constructor(prefix?: string) {
    this.prefix = prefix ?? `tw${randomBytes(2).toString("hex")}`;
    NetnsLab.reapStale();
    this.work = mkdtempSync(join(traversableTmp(), "twin-"));
    // Who owns the namespaces: a later run removes them if this process dies without tearing down (SIGKILL).
    writeFileSync(join(this.work, OWNER_FILE), `${process.pid} ${this.prefix}\n`);
    process.once("exit", this.emergency);
  }

  /**
   * Removes what earlier twins left when they were killed outright: for every twin folder whose owner
   * process is gone, its namespaces (with the processes in them) and the folder.
   */
  static reapStale(): void {
    const base = traversableTmp();
    let entries: string[] = [];
    try {
      entries = readdirSync(base).filter((e) => e.startsWith("twin-"));
    } catch {
      return;
    }
    const namespaces = (() => {
      try {
        return execFileSync("ip", ["netns", "list"], { stdio: ["ignore", "pipe", "ignore"] }).toString().split("\n").map((l) => l.split(" ")[0]).filter(Boolean);
      } catch {
        return [];
      }
    })();
    for (const e of entries) {
      const dir = join(base, e);
      let owner: string;
      try {
        owner = readFileSync(join(dir, OWNER_FILE), "utf8").trim();
      } catch {
        continue;
      }
      const [pid, prefix] = owner.split(" ");
      if (alive(Number(pid)) || !/^tw[0-9a-f]+$/.test(prefix ?? "")) continue;
      for (const n of namespaces.filter((x) => x.startsWith(`${prefix}-`))) {
        try {
          for (const p of execFileSync("ip", ["netns", "pids", n], { stdio: ["ignore", "pipe", "ignore"] }).toString().split(/\s+/).filter(Boolean)) process.kill(Number(p), "SIGKILL");
        } catch {
          // gone
        }
        try {
          execFileSync("ip", ["netns", "del", n], { stdio: "ignore" });
        } catch {
          // gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The namespace of a twin host (`router`, `pve:pve1`, a VM name, `pod:<node>`). */
  ns(host: string): string {
    const n = this.names.get(host);
    if (!n) throw new Error(`the twin has no host ${host}`);
    return n;
  }

  has(host: string): boolean {
    return this.names.has(host);
  }

  /** Path of a host's namespace, for setns(2). */
  nsPath(host: string): string {
    return `/run/netns/${this.ns(host)}`;
  }

  /** A new namespace with loopback up, forwarding as asked, no reverse-path filter, no bridge netfilter. */
  async add(host: string, forwarding: boolean): Promise<string> {
    if (this.names.has(host)) throw new Error(`twin host ${host} exists`);
    const n = `${this.prefix}-${this.names.size}`;
    await run("ip", ["netns", "add", n]);
    this.created.push(n);
    this.names.set(host, n);
    await this.ip(host, "link", "set", "lo", "up");
    await this.sh(
      host,
      [
        `echo ${forwarding ? 1 : 0} > /proc/sys/net/ipv4/ip_forward`,
        "for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done",
        "echo 0 > /proc/sys/net/ipv4/conf/all/send_redirects; echo 0 > /proc/sys/net/ipv4/conf/default/send_redirects",
        "for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-arptables; do [ -e $f ] && echo 0 > $f; done; true",
      ].join("; "),
    );
    return n;
  }

  ip(host: string, ...args: string[]): Promise<string> {
    return run("ip", ["-n", this.ns(host), ...args]);
  }

  sh(host: string, script: string): Promise<string> {
    return run("ip", ["netns", "exec", this.ns(host), "sh", "-c", script]);
  }

  exec(host: string, cmd: string, args: readonly string[], input?: string): Promise<string> {
    return run("ip", ["netns", "exec", this.ns(host), cmd, ...args], input);
  }

  /** Loads an nftables text in the host's namespace (atomically, as `nft -f` does). */
  nft(host: string, text: string): Promise<string> {
    return this.exec(host, "nft", ["-f", "-"], text);
  }

  /** A short link name, unique in the twin (Linux allows 15 characters). */
  linkName(kind: string): string {
    return `${kind}${(this.links++).toString(36)}`;
  }

  /** A veth pair from one host to another, with the given names on each side, both up. */
  async veth(a: string, aName: string, b: string, bName: string): Promise<void> {
    await this.ip(a, "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", this.ns(b));
    await this.ip(a, "link", "set", aName, "up");
    await this.ip(b, "link", "set", bName, "up");
  }

  /**
   * A bridge: one L2 segment. (VLANs are separate bridges, one per VLAN, joined per VLAN across
   * nodes: the same isolation a VLAN-aware bridge and a trunk give, without needing the kernel's
   * bridge VLAN filtering or 802.1q, which a minimal kernel may lack.)
   */
  async bridge(host: string, name: string): Promise<void> {
    await this.ip(host, "link", "add", name, "type", "bridge", "stp_state", "0");
    await this.ip(host, "link", "set", name, "up");
  }

  /** Puts a port on a bridge. */
  async bridgePort(host: string, bridge: string, port: string): Promise<void> {
    await this.ip(host, "link", "set", port, "master", bridge);
  }

  /** Starts a long-running process inside a host's namespace; it dies with the twin. */
  spawn(host: string, cmd: string, args: readonly string[]): ChildProcess {
    const child = spawn("ip", ["netns", "exec", this.ns(host), cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    this.children.push(child);
    return child;
  }

  /** Tracks a process started elsewhere, so teardown stops it. */
  track(child: ChildProcess): void {
    this.children.push(child);
  }

  async teardown(): Promise<void> {
    if (this.torn) return;
    this.torn = true;
    for (const c of this.children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGTERM");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }
    // Daemons that fork (bgpd, zebra, bird) live on in the namespace: kill what is left in each.
    for (const n of [...this.created].reverse()) {
      await run("ip", ["netns", "pids", n]).then(
        (pids) => pids.split(/\s+/).filter(Boolean).forEach((p) => {
          try {
            process.kill(Number(p), "SIGKILL");
          } catch {
            // gone
          }
        }),
        () => undefined,
      );
      await run("ip", ["netns", "del", n]).catch(() => undefined);
    }
    this.created.length = 0;
    rmSync(this.work, { recursive: true, force: true });
    process.removeListener("exit", this.emergency);
  }

  private teardownSync(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const n of this.created) {
      try {
        const pids = execFileSync("ip", ["netns", "pids", n]).toString().split(/\s+/).filter(Boolean);
        for (const p of pids) process.kill(Number(p), "SIGKILL");
      } catch {
        // gone
      }
      try {
        execFileSync("ip", ["netns", "del", n], { stdio: "ignore" });
      } catch {
        // gone
      }
    }
    rmSync(this.work, { recursive: true, force: true });
  }
}
