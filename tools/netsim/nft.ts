import { cidrContains, isIpv4, networkOf, parseCidr } from "../twin/ipv4";
import type { PfAlias, PfEndpoint, PfRule, PfSenseTables } from "../../constructs/render/pfsense/pfsense-rule-table";

/**
 * pfSense's rule table as an nftables ruleset, for the packet simulation (tools/netsim): rules act on
 * the ingress interface, in order, first match wins (pass → accept, block → drop); state is kept
 * (`ct state established,related accept` comes first); anything no rule passes is dropped. Rules
 * whose destination is pfSense itself (`lanip`, `opt1ip`, …, `(self)`) land in the input chain, the
 * rest in the forward chain. Port-forwards become DNAT in prerouting, and their linked filter rule
 * matches the translated packet afterwards, as pfSense does. Pure: text in, text out.
 */

export interface NftContext {
  /** WAN is DHCP in the spec: the simulation says what pfSense got there. */
  readonly wan: { readonly subnet: string; readonly address: string };
  /** Linux device standing for each pfSense interface (`lan` → `br-mgmt`); default: the same name. */
  readonly devices?: Readonly<Record<string, string>>;
  /** Emit `log` on rules pfSense logs (default true; the kernel drops netns logs unless told otherwise). */
  readonly log?: boolean;
  /** nftables table name (default `pfsense`). */
  readonly table?: string;
  /**
   * pf does not tell routed from local traffic: a pass rule to `any`, `!alias` or a subnet also reaches
   * the firewall's own addresses the destination covers. true: put such rules in the input chain too
   * (what real pfSense does); false (default): forward only, as the table means them. Block rules that
   * may cover the firewall always go to both chains.
   */
  readonly wideRulesReachSelf?: boolean;
  /**
   * Rules that act before every rule of the table (pfSense's own quick rules: bogons, private
   * networks, anti-lockout), as nft rule texts for the input and forward base chains.
   */
  readonly preamble?: { readonly input?: readonly string[]; readonly forward?: readonly string[] };
  /** Statements put before a pass rule's `accept` (the twin marks states that carry pf's reply-to). */
  readonly passStatements?: (rule: PfRule) => readonly string[];
}

type Place = "input" | "forward";

const SPECIAL_SELF = "(self)";

function quote(text: string): string {
  return `"${text.replace(/["\\]/g, "'")}"`;
}

function chainName(kind: Place, iface: string): string {
  return `${kind === "input" ? "in" : "fwd"}_${iface}`;
}

/** "80" → 80, "2379-2380" or "2379:2380" → 2379-2380 (nft range syntax). */
function portValue(text: string): string | undefined {
  const m = /^(\d{1,5})(?:[-:](\d{1,5}))?$/.exec(text.trim());
  if (!m) return undefined;
  return m[2] === undefined || m[2] === m[1] ? m[1] : `${m[1]}-${m[2]}`;
}

export function nftablesFromPfSense(tables: PfSenseTables, ctx: NftContext): string {
  const table = ctx.table ?? "pfsense";
  const log = ctx.log ?? true;
  const aliases = new Map<string, PfAlias>(tables.aliases.map((a) => [a.name, a]));
  const device = (iface: string) => ctx.devices?.[iface] ?? iface;
  const ifaceNames = tables.interfaces.map((i) => i.name);
  for (const r of tables.rules) if (!ifaceNames.includes(r.interface)) ifaceNames.push(r.interface);

  const subnetOf = (iface: string): string => {
    if (iface === "wan") return ctx.wan.subnet;
    const i = tables.interfaces.find((x) => x.name === iface);
    if (!i?.subnet) throw new Error(`pfSense interface ${iface} has no subnet`);
    return i.subnet;
  };
  const addressOf = (iface: string): string => {
    if (iface === "wan") return ctx.wan.address;
    const i = tables.interfaces.find((x) => x.name === iface);
    if (!i?.address) throw new Error(`pfSense interface ${iface} has no address`);
    return i.address;
  };
  const selfAddresses = () => [...new Set([ctx.wan.address, ...ifaceNames.filter((n) => n !== "wan").map(addressOf)])];

  const usedSets = new Set<string>();
  const aliasRef = (name: string, want: "address" | "port"): string => {
    const a = aliases.get(name);
    if (!a) throw new Error(`unknown alias ${name}`);
    if ((want === "port") !== (a.type === "port")) throw new Error(`alias ${name} is a ${a.type} alias, used as ${want}`);
    for (const e of a.entries) {
      const ok = want === "port" ? portValue(e.value) !== undefined : isAddressLiteral(e.value);
      if (!ok) throw new Error(`alias ${name}: entry ${e.value} is not supported (nested aliases and FQDNs are not)`);
    }
    usedSets.add(name);
    return `@${name}`;
  };

  /** The nft expression for an endpoint's addresses, or undefined for any. */
  const addressExpr = (e: PfEndpoint): { expr?: string; self: boolean } => {
    if (e.any) return { self: false };
    if (e.network !== undefined) {
      if (e.network === SPECIAL_SELF) return { expr: `{ ${selfAddresses().join(", ")} }`, self: true };
      if (e.network.endsWith("ip")) return { expr: addressOf(e.network.slice(0, -2)), self: true };
      return { expr: subnetOf(e.network), self: false };
    }
    if (e.address !== undefined) {
      if (isAddressLiteral(e.address)) return { expr: e.address, self: selfAddresses().includes(e.address) };
      return { expr: aliasRef(e.address, "address"), self: false };
    }
    return { self: false };
  };
  /** Whether a (non-self) destination may include one of the firewall's addresses. */
  const mayCoverSelf = (e: PfEndpoint): boolean => {
    if (e.any || e.not) return true;
    const nets =
      e.network !== undefined ? [subnetOf(e.network)] : e.address === undefined ? [] : isAddressLiteral(e.address) ? [e.address] : (aliases.get(e.address)?.entries ?? []).map((x) => x.value);
    return nets.some((n) => selfAddresses().some((a) => cidrContains(parseCidr(n.includes("/") ? networkOf(n) : `${n}/32`), a)));
  };
  const portExpr = (port: string): string => {
    const v = portValue(port);
    return v ?? aliasRef(port, "port");
  };

  const ruleText = (r: PfRule): { text: string; places: Place[] } => {
    const parts: string[] = [];
    const hasPorts = r.source.port !== undefined || r.destination.port !== undefined;
    if (r.protocol === "icmp") {
      if (hasPorts) throw new Error(`rule ${r.interface}#${r.order}: ports on an icmp rule`);
      parts.push("meta l4proto icmp");
    } else if (r.protocol) {
      parts.push(`meta l4proto ${r.protocol}`);
    } else if (hasPorts) {
      parts.push("meta l4proto { tcp, udp }");
    }
    const src = addressExpr(r.source);
    if (src.expr) parts.push(`ip saddr ${r.source.not ? "!= " : ""}${src.expr}`);
    const dst = addressExpr(r.destination);
    if (dst.expr) parts.push(`ip daddr ${r.destination.not ? "!= " : ""}${dst.expr}`);
    if (r.source.port !== undefined) parts.push(`th sport ${portExpr(r.source.port)}`);
    if (r.destination.port !== undefined) parts.push(`th dport ${portExpr(r.destination.port)}`);
    const tag = `${r.interface}#${r.order} ${r.descr}`;
    if (r.log && log) parts.push(`log prefix ${quote(`pf ${r.interface}#${r.order} ${r.type}: `.slice(0, 60))}`);
    if (r.type === "pass") parts.push(...(ctx.passStatements?.(r) ?? []));
    parts.push(r.type === "pass" ? "accept" : "drop");
    parts.push(`comment ${quote(tag.slice(0, 120))}`);

    const places: Place[] =
      dst.self && !r.destination.not ? ["input"] : mayCoverSelf(r.destination) && (r.type === "block" || ctx.wideRulesReachSelf) ? ["input", "forward"] : ["forward"];
    return { text: parts.join(" "), places };
  };

  const chains = new Map<string, string[]>();
  for (const iface of ifaceNames) {
    chains.set(chainName("input", iface), []);
    chains.set(chainName("forward", iface), []);
  }
  const ordered = [...tables.rules].sort((a, b) => ifaceNames.indexOf(a.interface) - ifaceNames.indexOf(b.interface) || a.order - b.order);
  for (const r of ordered) {
    const { text, places } = ruleText(r);
    for (const p of places) chains.get(chainName(p, r.interface))!.push(text);
  }

  const nat: string[] = [];
  for (const pf of tables.portForwards) {
    const ext = portValue(pf.externalPort);
    const local = portValue(pf.localPort);
    if (!ext || !local) throw new Error(`port-forward ${pf.descr}: unsupported ports ${pf.externalPort} → ${pf.localPort}`);
    if (!isIpv4(pf.target)) throw new Error(`port-forward ${pf.descr}: target ${pf.target} is not an address`);
    const to = ext === local ? pf.target : local.includes("-") ? undefined : `${pf.target}:${local}`;
    if (!to) throw new Error(`port-forward ${pf.descr}: a port range must keep its ports`);
    nat.push(
      `iifname ${quote(device(pf.interface))} meta l4proto ${pf.protocol} ip daddr ${addressOf(pf.interface)} th dport ${ext} dnat ip to ${to} comment ${quote(`${pf.descr} (${pf.associatedRuleId})`)}`,
    );
  }

  const out: string[] = [`table inet ${table} {`];
  for (const name of [...usedSets].sort()) {
    const a = aliases.get(name)!;
    out.push(`  # ${a.descr.replace(/\n/g, " ")}`);
    out.push(`  set ${name} {`);
    out.push(`    type ${a.type === "port" ? "inet_service" : "ipv4_addr"}`);
    out.push(`    flags interval`);
    out.push(`    auto-merge`);
    if (a.entries.length > 0) {
      const values = a.entries.map((e) => (a.type === "port" ? portValue(e.value)! : e.value));
      out.push(`    elements = { ${values.join(", ")} }`);
    }
    out.push(`  }`);
  }
  const base = (hook: Place) => {
    out.push(`  chain ${hook} {`);
    out.push(`    type filter hook ${hook} priority filter; policy drop;`);
    if (hook === "input") out.push(`    iifname "lo" accept`);
    out.push(`    ct state established,related accept`);
    out.push(`    ct state invalid drop`);
    for (const line of ctx.preamble?.[hook] ?? []) out.push(`    ${line}`);
    for (const iface of ifaceNames) out.push(`    iifname ${quote(device(iface))} jump ${chainName(hook, iface)}`);
    out.push(`  }`);
  };
  base("input");
  base("forward");
  out.push(`  chain output {`, `    type filter hook output priority filter; policy accept;`, `  }`);
  out.push(`  chain prerouting {`, `    type nat hook prerouting priority dstnat; policy accept;`, ...nat.map((l) => `    ${l}`), `  }`);
  for (const [name, lines] of chains) {
    out.push(`  chain ${name} {`);
    for (const l of lines) out.push(`    ${l}`);
    out.push(`  }`);
  }
  out.push(`}`);
  return out.join("\n") + "\n";
}

function isAddressLiteral(text: string): boolean {
  const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(text);
  return !!m && isIpv4(m[1]) && (m[2] === undefined || Number(m[2]) <= 32);
}
