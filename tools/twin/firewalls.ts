import type { PveRule, TwinVm } from "./stack";

type Json = Record<string, unknown>;

const q = (s: string) => JSON.stringify(s);

/** `80,443`, `2379:2380`, `2379-2380` → nft set text. */
function ports(text: string): string {
  const items = text.split(",").map((p) => p.trim().replace(":", "-"));
  for (const i of items) if (!/^\d{1,5}(-\d{1,5})?$/.test(i)) throw new Error(`port ${i} is not modelled`);
  return items.length === 1 ? items[0] : `{ ${items.join(", ")} }`;
}

/** `10.0.0.1,10.0.0.0/24` → nft set text; ipsets and aliases are not modelled. */
function addresses(text: string): string {
  const items = text.split(",").map((a) => a.trim());
  for (const i of items) if (!/^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/.test(i)) throw new Error(`address ${i} is not modelled (ipsets and aliases are not)`);
  return items.length === 1 ? items[0] : `{ ${items.join(", ")} }`;
}

type Ipsets = ReadonlyMap<string, { readonly match: readonly string[]; readonly nomatch: readonly string[] }>;

/** A source or destination: addresses, or `+name` of the VM's IP set (its entries minus its nomatch ones). */
function addressMatch(dir: "saddr" | "daddr", text: string, ipsets: Ipsets): string {
  if (!text.startsWith("+")) return `ip ${dir} ${addresses(text)}`;
  const set = ipsets.get(text.slice(1));
  if (!set) throw new Error(`IP set ${text} is not defined for this VM`);
  const match = `ip ${dir} { ${set.match.join(", ")} }`;
  return set.nomatch.length ? `${match} ip ${dir} != { ${set.nomatch.join(", ")} }` : match;
}

function pveRule(r: PveRule, ipsets: Ipsets): string {
  const parts: string[] = [];
  if (r.proto) parts.push(`meta l4proto ${r.proto}`);
  if (r.source) parts.push(addressMatch("saddr", r.source, ipsets));
  if (r.dest) parts.push(addressMatch("daddr", r.dest, ipsets));
  if (r.sport) parts.push(`th sport ${ports(r.sport)}`);
  if (r.dport) parts.push(`th dport ${ports(r.dport)}`);
  parts.push(r.action === "ACCEPT" ? "accept" : r.action === "REJECT" ? "reject" : "drop");
  if (r.comment) parts.push(`comment ${q(r.comment.slice(0, 120))}`);
  return parts.join(" ");
}

const policy = (p: string) => (p === "ACCEPT" ? "accept" : p === "REJECT" ? "reject" : "drop");

/**
 * The Proxmox VM firewall of one VM as nftables in the VM's namespace, acting on what enters and
 * leaves its NIC (as pve-firewall's tap<vmid>i<n>-IN/-OUT chains do on the host's firewall bridge:
 * every frame to or from the VM, whatever its IP destination, forwarded traffic included). Facts from
 * pve-firewall (src/PVE/Firewall.pm, ruleset_generate_vm_chain and ruleset_add_chain_policy): invalid
 * states are dropped and established ones accepted before the rules; rules apply in order, first
 * match; then the direction's policy (input_policy default DROP, output_policy default ACCEPT). The
 * firewall acts only when the NIC has `firewall=1` and the VM's options enable it (and, on the host,
 * the datacenter firewall is on; the apply steps say to switch it on).
 */
export function pveFirewallNft(vm: TwinVm, device: string): string | undefined {
  const fw = vm.pveFirewall;
  if (!fw || !fw.enabled || !vm.nics[0]?.firewall) return undefined;
  const rules = fw.rules.filter((r) => r.enabled);
  const chain = (name: string, hook: "prerouting" | "postrouting", dir: "in" | "out", pol: string) => `  chain ${name} {
    type filter hook ${hook} priority mangle; policy accept;
    ${dir === "in" ? "iifname" : "oifname"} != ${q(device)} accept
    ct state invalid drop
    ct state established,related accept
${rules
  .filter((r) => r.type === dir)
  .map((r) => `    ${pveRule(r, fw.ipsets)}`)
  .join("\n")}
    ${policy(pol)}
  }`;
  return `table inet pve_firewall {
${chain("vm_in", "prerouting", "in", fw.inputPolicy)}
${chain("vm_out", "postrouting", "out", fw.outputPolicy)}
}
`;
}

/**
 * Talos's ingress firewall on one node as nftables, from its NetworkDefaultActionConfig and
 * NetworkRuleConfig documents. Facts from siderolabs/talos,
 * internal/app/machined/pkg/controllers/network/nftables_chain_config.go (buildIngressChain,
 * buildPreroutingChain): an input chain at priority mangle+10 — lo accepted; in block mode
 * established/related accepted, invalid dropped, ICMP timestamp/mask dropped, other ICMP accepted at
 * 5 pps, pod/service ↔ pod/service accepted, each rule `saddr in subnets, not in except, proto, dport`
 * accepted, policy drop — and a prerouting chain at priority dstnat-10 that lets anything not
 * addressed to the node pass, accepts new connections the rules allow, and in block mode drops other
 * new TCP and UDP connections.
 */
export function talosFirewallNft(docs: readonly Json[], myAddresses: readonly string[], podAndService: readonly string[]): string | undefined {
  const action = docs.find((d) => d.kind === "NetworkDefaultActionConfig")?.ingress ?? "accept";
  const rules = docs.filter((d) => d.kind === "NetworkRuleConfig");
  if (action === "accept" && rules.length === 0) return undefined;
  const block = action === "block";
  const ruleText = (r: Json, prefix: string) => {
    const sel = (r.portSelector ?? {}) as Json;
    const proto = String(sel.protocol);
    const ps = ((sel.ports as (number | string)[]) ?? []).map((p) => String(p));
    const ingress = (r.ingress as Json[]) ?? [];
    const subnets = ingress.map((i) => String(i.subnet));
    const except = ingress.filter((i) => i.except !== undefined).map((i) => String(i.except));
    const verdict = block ? "accept" : "drop";
    const src = block ? `ip saddr { ${subnets.join(", ")} }${except.length ? ` ip saddr != { ${except.join(", ")} }` : ""}` : `ip saddr != { ${subnets.join(", ")} }`;
    return `${prefix}${src} meta l4proto ${proto} th dport { ${ps.join(", ")} } ${verdict} comment ${q(String(r.name).slice(0, 100))}`;
  };
  const pods = `{ ${podAndService.join(", ")} }`;
  return `table inet talos_firewall {
  chain ingress {
    type filter hook input priority mangle + 10; policy ${block ? "drop" : "accept"};
    iifname "lo" accept
${
  block
    ? `    ct state established,related accept
    ct state invalid drop
    icmp type { timestamp-request, timestamp-reply, address-mask-request, address-mask-reply } drop
    meta l4proto icmp limit rate 5/second accept
    ip saddr ${pods} ip daddr ${pods} accept
`
    : ""
}${rules.map((r) => ruleText(r, "    ")).join("\n")}
  }
  chain prerouting {
    type filter hook prerouting priority dstnat - 10; policy accept;
    iifname "lo" accept
    ip daddr != { ${myAddresses.join(", ")} } accept
${rules.map((r) => ruleText(r, "    ct state new ")).join("\n")}
${block ? "    ct state new meta l4proto tcp drop\n    ct state new meta l4proto udp drop" : ""}
  }
}
`;
}
