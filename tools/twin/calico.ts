import type { CalicoSettings } from "./stack";
import { cidrContains, intToIpv4, parseCidr } from "./ipv4";

/**
 * What calico-node's confd writes for BIRD on one node, from the Calico resources the charts install,
 * in BIRD 2 syntax (Debian's bird2 stands in for Calico's BIRD 1.x fork). Facts from
 * projectcalico/calico v3.31.0, confd/etc/calico/confd/templates/:
 *
 * - bird.cfg.template 93-152: `protocol kernel { learn; persist; scan time 2; import all; export
 *   filter calico_kernel_programming; graceful restart; merge paths on; }`, `protocol direct`, and a
 *   `bgp_template` with the node's AS (BGPConfiguration asNumber, default 64512), `gateway
 *   recursive`, `add paths on`, graceful restart and the connect timers.
 * - bird.cfg.template 159-213: with `nodeToNodeMeshEnabled` (default true) a `Mesh_<ip>` session to
 *   every other node, `passive on` towards higher addresses; with it off, nothing.
 * - bird.cfg.template 216-307: a global BGPPeer (no node, no nodeSelector) becomes `Global_<ip>` on
 *   every node: `ttl security off; multihop; neighbor <peerIP> as <asNumber>; source address
 *   <node ip>`, import all, export `calico_export_to_bgp_peers`; `next hop keep` only for
 *   keepOriginalNextHop to another AS; `allow local as N` for numAllowedLocalASNumbers.
 * - bird_aggr.cfg.template 3-15, 59-78: each block the node owns is a `blackhole` static route,
 *   exported as the block (the /32s inside it are not).
 * - bird_ipam.cfg.template 30-74: to peers, anything inside a pool with BGP export is exported.
 * - calico_kernel_programming (bird_ipam.cfg.template 76-112) accepts everything into the kernel
 *   (krt_tunnel is the fork's encapsulation attribute; with encapsulation None it is empty).
 *
 * Import and export move into `ipv4 { }` channels, and eBGP needs explicit filters (RFC 8212), as BIRD
 * 2 requires (bird.sgml 3655-3738). Only global peers are modelled; a node-scoped or selector peer is
 * refused rather than guessed.
 */
export function birdConfig(calico: CalicoSettings, node: { readonly ip: string }, block: string, meshPeers: readonly string[]): string {
  const pool = calico.pool.cidr;
  const sessions: string[] = [];
  if (calico.mesh) {
    for (const peer of meshPeers) {
      if (peer === node.ip) continue;
      sessions.push(`protocol bgp Mesh_${peer.replace(/\./g, "_")} from bgp_template {
  neighbor ${peer} as ${calico.asNumber};
  source address ${node.ip};${ipLess(peer, node.ip) ? "" : "\n  passive on;"}
  ipv4 { import all; export filter { calico_export_to_bgp_peers(); reject; }; };
}`);
    }
  }
  for (const p of calico.peers) {
    if (p.node !== undefined || p.nodeSelector !== undefined) throw new Error(`BGPPeer ${p.name}: only global peers are modelled`);
    const ebgp = p.asNumber !== calico.asNumber;
    sessions.push(`protocol bgp Global_${p.peerIP.replace(/\./g, "_")} from bgp_template {
  ttl security off;
  multihop;
  neighbor ${p.peerIP} as ${p.asNumber};
  source address ${node.ip};${p.allowLocalAs ? `\n  allow local as ${p.allowLocalAs};` : ""}
  ipv4 { import all; export filter { calico_export_to_bgp_peers(); reject; };${ebgp && p.keepNextHop ? " next hop keep;" : ""} };
}`);
  }
  return `# twin: what calico-node would run on this node (BIRD 2 syntax)
router id ${node.ip};
protocol device { scan time 2; }
protocol direct { ipv4; interface -"cali*", -"kube-ipvs*", "*"; }
protocol kernel {
  learn; persist; scan time 2; graceful restart; merge paths on;
  ipv4 { import all; export all; };
}
protocol static { ipv4; route ${block} blackhole; }
function calico_aggr() {
  if ( net = ${block} ) then { accept; }
  if ( net ~ ${block} ) then { reject; }
}
function calico_export_to_bgp_peers() {
  calico_aggr();
  if ( net ~ ${pool} ) then { accept; }
}
template bgp bgp_template {
  local as ${calico.asNumber};
  graceful restart;
  connect delay time 2;
  connect retry time 5;
  error wait time 5,30;
  ipv4 { gateway recursive; add paths on; };
}
${sessions.join("\n")}
`;
}

function ipLess(a: string, b: string): boolean {
  return parseCidr(`${a}/32`).network < parseCidr(`${b}/32`).network;
}

/**
 * The block Calico's IPAM would give the n-th node: blocks are handed out on demand, so any distinct
 * block of the pool stands for it; the twin takes them in order.
 */
export function nodeBlock(calico: CalicoSettings, n: number): string {
  const pool = parseCidr(calico.pool.cidr);
  const size = 2 ** (32 - calico.pool.blockSize);
  const start = pool.network + n * size;
  const block = `${intToIpv4(start)}/${calico.pool.blockSize}`;
  if (!cidrContains(pool, intToIpv4(start + size - 1))) throw new Error(`the pool ${calico.pool.cidr} has no block for node ${n + 1}`);
  return block;
}
