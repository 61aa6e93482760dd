import { ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { namespacesUnavailable } from "../twin/netns";
import { SimHost, SimPlan } from "./plan";

/**
 * The simulated lab as Linux network namespaces: one router namespace standing for pfSense, with a
 * bridge per segment (named after the pfSense interface: wan, lan, opt1, opt2) holding its addresses;
 * one namespace per host, attached to its segment's bridge by a veth. Traffic inside a segment is
 * bridged and never filtered (br_netfilter is switched off in the router), traffic between segments is
 * routed by the router and filtered by the nftables ruleset loaded there. Nothing touches the host's
 * own namespace besides creating and deleting the named namespaces.
 */

export const ROUTER = "router";

export interface ProbeRequest {
  /** A host name of the plan, or ROUTER. */
  readonly from: string;
  readonly bind?: string;
  readonly protocol: "tcp" | "udp";
  readonly ip: string;
  readonly port: number;
  readonly timeoutMs: number;
}

export interface ProbeOutcome {
  readonly outcome: "connected" | "timeout" | "refused" | "unreachable" | "error";
  /** The answering host's name (connected only). */
  readonly responder?: string;
  readonly detail: string;
}

export interface Listeners {
  readonly tcp: readonly number[];
  readonly udp: readonly number[];
}

export interface Topology {
  readonly plan: SimPlan;
  readonly prefix: string;
  /** Namespace of a host (or ROUTER). */
  ns(host: string): string;
  /** Replaces the router's ruleset (atomically) with an nftables text of one `table inet <name>`. */
  loadRuleset(text: string, table?: string): Promise<void>;
  /** The router's current ruleset, as nft lists it. */
  listRuleset(): Promise<string>;
  /** Starts one listener process per host and the router, each bound to every given port; it answers with its host name (ROUTER for the router). */
  startListeners(ports: Listeners): Promise<void>;
  probe(p: ProbeRequest): Promise<ProbeOutcome>;
  teardown(): Promise<void>;
}

export interface TopologyOptions {
  /** Namespace name prefix; default `ns` + 4 random characters (unique per run). */
  readonly prefix?: string;
}

function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(cmd, args, { timeout: 20_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")}: ${stderr.trim() || err.message}`));
      else resolvePromise(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Bundles the listener and probe scripts into plain node scripts (esbuild, a dev dependency). */
async function bundleAgents(dir: string): Promise<{ server: string; probe: string }> {
  const esbuild = await import("esbuild");
  const here = resolve(__dirname);
  await esbuild.build({
    entryPoints: { "echo-server": join(here, "echo-server.ts"), "probe-client": join(here, "probe-client.ts") },
    outdir: dir,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    logLevel: "silent",
  });
  return { server: join(dir, "echo-server.js"), probe: join(dir, "probe-client.js") };
}

/** Whether this process can build the simulation; the reason it cannot otherwise. */
export function netsimUnavailable(): string | undefined {
  return namespacesUnavailable([
    ["ip", ["-V"], "iproute2"],
    ["nft", ["--version"], "nftables"],
  ]);
}

export async function buildTopology(plan: SimPlan, options: TopologyOptions = {}): Promise<Topology> {
  const prefix = options.prefix ?? `ns${randomBytes(3).toString("hex").slice(0, 4)}`;
  const names = new Map<string, string>([[ROUTER, `${prefix}-r`]]);
  plan.hosts.forEach((h, i) => names.set(h.name, `${prefix}-${i}`));
  const ns = (host: string): string => {
    const n = names.get(host);
    if (!n) throw new Error(`no namespace for ${host}`);
    return n;
  };
  const created: string[] = [];
  const children: ChildProcess[] = [];
  const work = mkdtempSync(join(tmpdir(), "netsim-"));
  let agents: { server: string; probe: string } | undefined;
  let torn = false;

  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  const emergency = () => {
    // Synchronous last resort when the process exits without teardown().
    killAll();
    for (const n of created) {
      try {
        execFileSync("ip", ["netns", "del", n], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
    rmSync(work, { recursive: true, force: true });
  };
  process.once("exit", emergency);

  const teardown = async (): Promise<void> => {
    if (torn) return;
    torn = true;
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGTERM");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    }
    killAll();
    const errors: string[] = [];
    for (const n of [...created].reverse()) {
      try {
        await run("ip", ["netns", "del", n]);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    created.length = 0;
    rmSync(work, { recursive: true, force: true });
    process.removeListener("exit", emergency);
    if (errors.length > 0) throw new Error(`netsim teardown: ${errors.join("; ")}`);
  };

  const ip = (n: string, ...args: string[]) => run("ip", ["-n", n, ...args]);
  const sh = (n: string, script: string) => run("ip", ["netns", "exec", n, "sh", "-c", script]);

  try {
    agents = await bundleAgents(work);
    const r = ns(ROUTER);
    await run("ip", ["netns", "add", r]);
    created.push(r);
    await ip(r, "link", "set", "lo", "up");
    // Forwarding on; bridged frames must not enter the IP hooks (a switch does not filter); no
    // reverse-path filter (the pod routes make paths asymmetric by design).
    await sh(
      r,
      [
        "echo 1 > /proc/sys/net/ipv4/ip_forward",
        "for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done",
        "for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables /proc/sys/net/bridge/bridge-nf-call-arptables; do [ -e $f ] && echo 0 > $f; done; true",
      ].join("; "),
    );
    for (const s of plan.segments) {
      await ip(r, "link", "add", s.iface, "type", "bridge");
      await ip(r, "link", "set", s.iface, "up");
      for (const a of s.addresses) await ip(r, "addr", "add", a, "dev", s.iface);
    }
    const hostSegment = (h: SimHost) => plan.segments.find((s) => s.segment === h.segment)!;
    for (const [i, h] of plan.hosts.entries()) {
      const n = ns(h.name);
      await run("ip", ["netns", "add", n]);
      created.push(n);
      const port = `h${i}`;
      await ip(n, "link", "set", "lo", "up");
      await ip(n, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", r);
      await ip(n, "addr", "add", `${h.ip}/${h.prefix}`, "dev", "eth0");
      if (h.vip) await ip(n, "addr", "add", `${h.vip}/32`, "dev", "eth0");
      if (h.pod) await ip(n, "addr", "add", `${h.pod}/32`, "dev", "lo");
      await ip(n, "link", "set", "eth0", "up");
      await ip(r, "link", "set", port, "master", hostSegment(h).iface);
      await ip(r, "link", "set", port, "up");
      await ip(n, "route", "add", "default", "via", h.gateway);
      for (const rt of h.routes) await ip(n, "route", "add", rt.to, "via", rt.via);
    }
    for (const rt of plan.routerRoutes) await ip(r, "route", "add", rt.to, "via", rt.via);
  } catch (e) {
    await teardown().catch(() => undefined);
    throw e;
  }

  const startListener = (host: string, addresses: readonly string[], ports: Listeners): Promise<void> =>
    new Promise((resolvePromise, reject) => {
      const args = ["netns", "exec", ns(host), "node", agents!.server, host, ports.tcp.join(","), ports.udp.join(","), addresses.join(",")];
      const child = spawn("ip", args, {
        stdio: ["pipe", "pipe", "pipe"],
      });
      children.push(child);
      let out = "";
      let err = "";
      const timer = setTimeout(() => reject(new Error(`listener in ${host} not ready after 15 s: ${err}`)), 15_000);
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("ready")) {
          clearTimeout(timer);
          resolvePromise();
        }
      });
      child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      child.once("exit", (code) => {
        clearTimeout(timer);
        if (!out.includes("ready")) reject(new Error(`listener in ${host} exited (${code}): ${err.trim()}`));
      });
    });

  return {
    plan,
    prefix,
    ns,
    async loadRuleset(text: string, table = "pfsense") {
      // Declaring the table first makes the delete valid on the first load; the file applies atomically.
      await run("ip", ["netns", "exec", ns(ROUTER), "nft", "-f", "-"], `table inet ${table}\ndelete table inet ${table}\n${text}`);
    },
    listRuleset() {
      return run("ip", ["netns", "exec", ns(ROUTER), "nft", "list", "ruleset"]);
    },
    async startListeners(ports: Listeners) {
      const routerAddresses = plan.segments.flatMap((s) => s.addresses.map((a) => a.split("/")[0]));
      const hostAddresses = (h: SimHost) => [h.ip, ...(h.vip ? [h.vip] : []), ...(h.pod ? [h.pod] : [])];
      await Promise.all([startListener(ROUTER, routerAddresses, ports), ...plan.hosts.map((h) => startListener(h.name, hostAddresses(h), ports))]);
    },
    probe(p: ProbeRequest): Promise<ProbeOutcome> {
      const args = ["netns", "exec", ns(p.from), "node", agents!.probe, p.protocol, p.ip, String(p.port), String(p.timeoutMs)];
      if (p.bind) args.push(p.bind);
      return new Promise((resolvePromise) => {
        execFile("ip", args, { timeout: p.timeoutMs + 10_000 }, (_err, stdout, stderr) => {
          const line = stdout.trim().split("\n").pop() ?? "";
          const [word, ...rest] = line.split(" ");
          const known = ["connected", "timeout", "refused", "unreachable", "error"] as const;
          const outcome = (known as readonly string[]).includes(word) ? (word as ProbeOutcome["outcome"]) : "error";
          resolvePromise({
            outcome,
            responder: outcome === "connected" ? rest.join(" ") : undefined,
            detail: outcome === "error" ? `${line} ${stderr.trim()}`.trim() : rest.join(" "),
          });
        });
      });
    },
    teardown,
  };
}
