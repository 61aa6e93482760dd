/**
 * Where VMs run and which ids they get. Pure and name-based so that adding or removing one node of the
 * lab never moves or renumbers another.
 */

/** First VM id of each zone; a member's default id is this plus its offset in the zone subnet. */
export const ZONE_VM_ID_BASE = { mgmt: 1000, dmz: 2000, srv: 3000 } as const;
/** Offsets at or above this need an explicit vmId, or the next zone's range would be entered. */
export const ZONE_VM_ID_SPAN = 1000;

export function defaultVmId(zone: keyof typeof ZONE_VM_ID_BASE, offset: number): number | undefined {
  return offset > 0 && offset < ZONE_VM_ID_SPAN ? ZONE_VM_ID_BASE[zone] + offset : undefined;
}

/** FNV-1a, 32 bit: a stable hash that is the same on every machine and Node.js version. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const ch of Buffer.from(text, "utf8")) {
    h ^= ch;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Proxmox node for each member that does not pin one.
 * - control planes: spread in list order (an odd, rarely changed list), so three nodes get one each;
 * - everything else: by a hash of its name, so removing one worker moves no other.
 */
export function placeControlPlane(index: number, nodes: readonly string[]): string {
  return nodes[index % nodes.length];
}

export function placeByName(name: string, nodes: readonly string[]): string {
  return nodes[fnv1a(name) % nodes.length];
}
