import * as ipaddr from "ipaddr.js";

/** IPv4 arithmetic the model needs; pure, no cdktf. Addresses are dotted quads, subnets a.b.c.d/len. */

export interface Ipv4Cidr {
  readonly network: number;
  readonly prefix: number;
  readonly text: string;
}

const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(text: string): boolean {
  return DOTTED_QUAD.test(text);
}

export function ipv4ToInt(text: string): number {
  if (!isIpv4(text)) throw new Error(`not an IPv4 address: ${text}`);
  return ipaddr.IPv4.parse(text).octets.reduce((acc, o) => acc * 256 + o, 0);
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Why a CIDR text is unusable, or undefined when it is a proper network address with a prefix. */
export function cidrProblem(text: string): string | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m || !isIpv4(m[1]) || Number(m[2]) > 32) return "write it as a.b.c.d/len, e.g. 10.10.100.0/24";
  const addr = ipv4ToInt(m[1]);
  const prefix = Number(m[2]);
  if ((addr & ~mask(prefix)) >>> 0 !== 0) {
    return `host bits are set; the network address is ${intToIpv4((addr & mask(prefix)) >>> 0)}/${prefix}`;
  }
  return undefined;
}

export function parseCidr(text: string): Ipv4Cidr {
  const problem = cidrProblem(text);
  if (problem) throw new Error(`${text}: ${problem}`);
  const [a, p] = text.split("/");
  return { network: ipv4ToInt(a), prefix: Number(p), text };
}

export function cidrSize(c: Ipv4Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Ipv4Cidr, ip: string): boolean {
  return ((ipv4ToInt(ip) & mask(c.prefix)) >>> 0) === c.network;
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.network & mask(p)) >>> 0) === ((b.network & mask(p)) >>> 0);
}

/** Position of an address inside its subnet (0 = network address). */
export function hostOffset(c: Ipv4Cidr, ip: string): number {
  return ipv4ToInt(ip) - c.network;
}

export function isNetworkOrBroadcast(c: Ipv4Cidr, ip: string): boolean {
  const off = hostOffset(c, ip);
  return c.prefix < 31 && (off === 0 || off === cidrSize(c) - 1);
}

/** `10.10.100.11` in `10.10.100.0/24` → `10.10.100.11/24` (the form Proxmox ip_config wants). */
export function withPrefix(c: Ipv4Cidr, ip: string): string {
  return `${ip}/${c.prefix}`;
}
