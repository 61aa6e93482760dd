import { createSocket } from "node:dgram";
import { createServer, Server } from "node:net";
import type { Socket as UdpSocket } from "node:dgram";

/**
 * Listener for one simulated host (run inside its namespace, as plain node after bundling):
 *   node echo-server.js <name> <tcp ports> <udp ports> [udp addresses]   (lists comma separated)
 * Binds every TCP port on all addresses, every UDP port on each given address (so that an answer
 * leaves from the address the datagram was sent to: VIP, pod address) or on all; a TCP client gets
 * `<name>\n`, a UDP datagram is answered with `<name>`. Prints `ready` once every port is bound, exits when stdin closes (its parent is gone) or on
 * SIGTERM.
 */

function list(arg: string | undefined): string[] {
  return (arg ?? "").split(",").filter((p) => p !== "");
}

async function main(): Promise<void> {
  const [name, tcpArg, udpArg, addrArg] = process.argv.slice(2);
  const udpAddresses = list(addrArg).length > 0 ? list(addrArg) : ["0.0.0.0"];
  if (!name) throw new Error("usage: echo-server <name> <tcp ports> <udp ports> [udp addresses]");
  const servers: (Server | UdpSocket)[] = [];
  const reply = Buffer.from(`${name}\n`);
  for (const port of list(tcpArg).map(Number)) {
    const s = createServer((c) => {
      c.on("error", () => undefined);
      c.end(reply);
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen({ port, host: "0.0.0.0" }, () => resolve());
    });
    servers.push(s);
  }
  for (const port of list(udpArg).map(Number)) {
    for (const address of udpAddresses) {
      const s = createSocket("udp4");
      s.on("message", (_msg, rinfo) => s.send(reply, rinfo.port, rinfo.address));
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.bind(port, address, () => resolve());
      });
      s.on("error", () => undefined);
      servers.push(s);
    }
  }
  const stop = () => process.exit(0);
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  process.stdout.write("ready\n");
}

main().catch((e: Error) => {
  process.stderr.write(`echo-server: ${e.message}\n`);
  process.exit(1);
});
