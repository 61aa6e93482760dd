import ipaddr from "ipaddr.js";

/**
 * IPv4 arithmetic for the twin and the packet tools, on ipaddr.js: kept apart from the generator's own
 * addressing code so a fault there cannot hide in the checks.
 */

/** Whether the text is a dotted-quad IPv4 address. */
export function isIpv4(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text);
}

/** `10.0.0.1` → 167772161. */
export function ipv4ToInt(text: string): number {
  if (!isIpv4(text)) throw new Error(`not an IPv4 address: ${text}`);
  return ipaddr.IPv4.parse(text).octets.reduce((acc, o) => acc * 256 + o, 0);
}

/** 167772161 → `10.0.0.1`. */
export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** A parsed subnet: network address as a number and the prefix length. */
export interface Cidr {
  readonly network: number;
  readonly prefix: number;
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.0.0.0/24` (or a host address with its prefix, `10.0.0.5/24`, or a bare address as /32). */
export function parseCidr(text: string): Cidr {
  const [a, p] = text.split("/");
  const prefix = p === undefined ? 32 : Number(p);
  if (!isIpv4(a) || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`not an IPv4 subnet: ${text}`);
  return { network: (ipv4ToInt(a) & mask(prefix)) >>> 0, prefix };
}

/** Whether the subnet holds the address. */
export function cidrContains(c: Cidr, ip: string): boolean {
  return ((ipv4ToInt(ip) & mask(c.prefix)) >>> 0) === c.network;
}

/** Whether two subnets share an address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.network & mask(p)) >>> 0) === ((b.network & mask(p)) >>> 0);
}

/** `10.0.0.5/24` → `10.0.0.0/24`. */
export function networkOf(text: string): string {
  const c = parseCidr(text);
  return `${intToIpv4(c.network)}/${c.prefix}`;
}

/** The n-th address of a subnet (0 = the network address). */
export function nthAddress(cidr: string, n: number): string {
  const c = parseCidr(cidr);
  return intToIpv4(c.network + n);
}
