import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** What a probe saw: connected (with who answered), or how it failed. */
export interface ProbeOutcome {
  readonly outcome: "connected" | "timeout" | "refused" | "unreachable" | "error";
  readonly responder?: string;
  readonly detail?: string;
}

/**
 * The TypeScript side of agent.py: one Python process listens in every namespace of the twin and
 * probes from any of them (see agent.py for the protocol).
 */
export class TwinAgent {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>();
  private next = 1;
  private stderr = "";

  constructor() {
    this.child = spawn("python3", [join(__dirname, "agent.py")], { stdio: ["pipe", "pipe", "pipe"] });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      const done = this.waiting.get(Number(msg.id));
      this.waiting.delete(Number(msg.id));
      done?.(msg);
    });
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.child.once("exit", (code) => {
      for (const [, done] of this.waiting) done({ error: `agent exited (${code}): ${this.stderr.trim()}` });
      this.waiting.clear();
    });
  }

  get process(): ChildProcess {
    return this.child;
  }

  private request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ ...body, id })}\n`);
    });
  }

  /** Listens in a namespace: TCP on every port, UDP on every port at each address (or all). */
  async listen(nsPath: string, name: string, tcp: readonly number[], udp: readonly number[], udpAddresses: readonly string[]): Promise<void> {
    const r = await this.request({ op: "listen", ns: nsPath, name, tcp, udp, udpAddresses });
    if (r.error) throw new Error(String(r.error));
  }

  /** Opens a connection (TCP) or sends a datagram and waits for the echo (UDP). */
  async probe(nsPath: string, proto: "tcp" | "udp", ip: string, port: number, timeoutMs: number, bind?: string): Promise<ProbeOutcome> {
    const r = await this.request({ op: "probe", ns: nsPath, proto, ip, port, timeoutMs, ...(bind ? { bind } : {}) });
    if (r.error) return { outcome: "error", detail: String(r.error) };
    return { outcome: r.outcome as ProbeOutcome["outcome"], responder: r.responder as string | undefined, detail: r.detail as string | undefined };
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.stdin!.end();
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}
