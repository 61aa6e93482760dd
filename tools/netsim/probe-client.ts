import { createSocket } from "node:dgram";
import { connect } from "node:net";

/**
 * One probe (run inside the source namespace, as plain node after bundling):
 *   node probe-client.js <tcp|udp> <ip> <port> <timeoutMs> [source address]
 * Prints `connected <answering host>` and exits 0 when a TCP connection opens or a UDP echo comes
 * back; otherwise prints the outcome and exits 1 (`timeout`: dropped), 2 (`refused`), 3 (`unreachable`)
 * or 4 (anything else).
 */

type Outcome = "connected" | "timeout" | "refused" | "unreachable" | "error";
const CODE: Record<Outcome, number> = { connected: 0, timeout: 1, refused: 2, unreachable: 3, error: 4 };

function finish(outcome: Outcome, detail = ""): never {
  process.stdout.write(`${outcome}${detail ? ` ${detail}` : ""}\n`);
  process.exit(CODE[outcome]);
}

function fromError(e: NodeJS.ErrnoException): never {
  if (e.code === "ECONNREFUSED") finish("refused");
  if (e.code === "EHOSTUNREACH" || e.code === "ENETUNREACH") finish("unreachable", e.code);
  finish("error", e.code ?? e.message);
}

function main(): void {
  const [proto, host, portArg, timeoutArg, bind] = process.argv.slice(2);
  const port = Number(portArg);
  const timeout = Number(timeoutArg ?? 600);
  if ((proto !== "tcp" && proto !== "udp") || !host || !Number.isInteger(port)) {
    process.stderr.write("usage: probe-client <tcp|udp> <ip> <port> <timeoutMs> [source address]\n");
    process.exit(64);
  }
  if (proto === "tcp") {
    const s = connect({ host, port, localAddress: bind || undefined });
    let connected = false;
    let text = "";
    const timer = setTimeout(() => (connected ? finish("connected", text.trim() || "?") : finish("timeout")), timeout);
    s.on("connect", () => {
      connected = true;
    });
    s.on("data", (d) => {
      text += d.toString();
      if (text.includes("\n")) {
        clearTimeout(timer);
        finish("connected", text.trim());
      }
    });
    s.on("end", () => connected && finish("connected", text.trim() || "?"));
    s.on("error", (e) => (connected ? finish("connected", text.trim() || "?") : fromError(e)));
    return;
  }
  const s = createSocket("udp4");
  setTimeout(() => finish("timeout"), timeout);
  s.on("error", (e) => fromError(e));
  s.on("message", (m) => finish("connected", m.toString().trim()));
  s.bind({ address: bind || undefined, port: 0 }, () => {
    s.connect(port, host, () => s.send("probe"));
  });
}

main();
