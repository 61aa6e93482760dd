import { XMLParser } from "fast-xml-parser";
import type { PfAlias, PfEndpoint, PfInterface, PfPortForward, PfRule, PfSenseTables } from "../../constructs/render/pfsense/pfsense-rule-table";
import { nftablesFromPfSense } from "../netsim/nft";

/**
 * pfSense in the twin: the restore-area files read as pfSense reads them, the settings the playback
 * file changes applied over pfSense's defaults, and the rules pfSense adds on its own. Facts from
 * pfSense's source (pfsense/pfsense, src/etc/inc/filter.inc at 6a92af1, the 2.8 branch point):
 *
 * - Anti-lockout (filter_rules_generate, lines 4491-4513): unless `system/webgui/noantilockout` is
 *   present, `pass in quick on <lan> proto tcp from any to (<lan>) port { 443 80 }` (22 too with SSH
 *   on; SSH is off by default) comes before every user rule. The LAN address only.
 * - Block private networks / bogons on WAN (lines 4201-4253): `block in quick on $WAN from <net>` for
 *   10/8, 127/8, 172.16/12, 192.168/16 when `interfaces/wan/blockpriv` is present, and from the bogons
 *   table when `blockbogons` is; both are in the default config (src/conf.default/config.xml), before
 *   user rules, source address only.
 * - reply-to (filter_generate_user_rule, lines 3600-3614): a user pass rule on an interface with a
 *   gateway (a DHCP WAN has one) gets `reply-to (<wan-if> <gw>)` unless the rule carries
 *   `<disablereplyto/>` or `system/disablereplyto` is set: replies of its states leave through the
 *   WAN gateway whatever the routing table says.
 * - Automatic outbound NAT (filter_nat_rules_outbound_automatic, lines 2091-2275): on every interface
 *   with a gateway, sources in the subnets of the interfaces without one (and 127/8) are translated
 *   to the interface's address, whatever the destination. Mode from `nat/outbound/mode`.
 * - Pass out (lines 4379-4456): `pass out all keep state`, so pfSense never filters leaving traffic.
 * - Default deny (lines 4049-4056): what no rule passes is blocked.
 * - Antispoof (lines 4224-4234, 4688-4697) is non-quick, so any quick user pass overrides it and the
 *   default deny already drops the rest: it changes nothing the twin could observe, and is left out.
 * - Interface rules are quick: first match wins (lines 3580-3595); the translation keeps that order.
 *
 * The shipped bogons list (src/etc/bogons) without the RFC 1918 networks (rc.update_bogons.sh strips
 * them).
 */
export const BOGONS = ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"];
const PRIVATE = ["10.0.0.0/8", "127.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/** The pfSense settings that change what the rules mean, after the playback file ran on the defaults. */
export interface PfSettings {
  readonly noAntiLockout: boolean;
  readonly wanBlockPrivate: boolean;
  readonly wanBlockBogons: boolean;
  readonly disableReplyTo: boolean;
  readonly outboundNat: "automatic" | "hybrid" | "advanced" | "disabled";
}

type Node = Record<string, unknown>;
const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => ["rule", "alias"].includes(name) });

function text(n: unknown, key: string): string | undefined {
  const v = (n as Node | undefined)?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object") return String((v as Node)["#text"] ?? "");
  return String(v);
}

function has(n: unknown, key: string): boolean {
  return !!n && typeof n === "object" && key in (n as Node);
}

/**
 * Elements of a filter or NAT rule the twin models. pfSense reads more (floating rules, gateways
 * (route-to), schedules, state options, TCP flags, OS matches, …); a rule that uses any of them is
 * refused rather than silently read as something narrower, since each can widen or redirect what the
 * rule passes. `created`/`updated`/`id` are bookkeeping pfSense ignores for filtering.
 */
const FILTER_RULE_KEYS = new Set(["type", "interface", "ipprotocol", "protocol", "source", "destination", "log", "descr", "tracker", "associated-rule-id", "disablereplyto", "disabled", "statetype", "id", "created", "updated"]);
const NAT_RULE_KEYS = new Set(["interface", "ipprotocol", "protocol", "source", "destination", "target", "local-port", "descr", "associated-rule-id", "disabled", "created", "updated"]);
const ENDPOINT_KEYS = new Set(["any", "network", "address", "not", "port"]);

function refuseUnknown(n: Node, allowed: ReadonlySet<string>, where: string): void {
  const extra = Object.keys(n).filter((k) => !allowed.has(k));
  if (extra.length) throw new Error(`${where}: ${extra.map((k) => `<${k}>`).join(", ")} is not modelled by the twin`);
}

/**
 * Whether a rule takes part in IPv4 filtering: pfSense skips rules marked `<disabled/>`
 * (filter.inc, filter_rules_generate: `if (isset($rule['disabled'])) continue;`) and an `inet6` rule
 * never matches IPv4 (`<ipprotocol>` inet = IPv4, inet46 = both).
 */
function activeForIpv4(r: Node, where: string): boolean {
  if (has(r, "disabled")) return false;
  const ipp = text(r, "ipprotocol") ?? "inet";
  if (!["inet", "inet6", "inet46"].includes(ipp)) throw new Error(`${where}: ipprotocol ${ipp} is not modelled`);
  return ipp !== "inet6";
}

function endpoint(n: unknown, where: string): PfEndpoint {
  if (!n || typeof n !== "object") throw new Error(`${where}: no source or destination`);
  const e = n as Node;
  refuseUnknown(e, ENDPOINT_KEYS, `${where} source/destination`);
  const port = text(e, "port");
  const base = has(e, "any") ? { any: true as const } : text(e, "network") !== undefined ? { network: text(e, "network")! } : text(e, "address") !== undefined ? { address: text(e, "address")! } : undefined;
  if (!base) throw new Error(`${where}: an endpoint with neither any, network nor address`);
  return { ...base, ...(has(e, "not") ? { not: true as const } : {}), ...(port !== undefined ? { port: port.replace(":", "-") } : {}) };
}

/** Config paths the playback file may set or delete: the ones whose effect the twin models. */
const MODELLED_SETTINGS = new Set(["system/webgui/noantilockout", "interfaces/wan/blockpriv", "interfaces/wan/blockbogons", "system/disablereplyto", "nat/outbound/mode"]);

/** The PHP calls of the playback file the twin understands, applied over pfSense's default config. */
export function pfSettings(playback: string | undefined, nat: string): PfSettings {
  const paths = new Map<string, boolean>([
    ["interfaces/wan/blockpriv", true],
    ["interfaces/wan/blockbogons", true],
  ]);
  const values = new Map<string, string>();
  for (const line of (playback ?? "").split("\n")) {
    const set = /^\s*config_set_path\('([^']+)',\s*(true|false|'[^']*')\);/.exec(line);
    const del = /^\s*config_del_path\('([^']+)'\);/.exec(line);
    const path = set?.[1] ?? del?.[1];
    // A setting the twin does not model could change what every rule means: refuse it.
    if (path !== undefined && !MODELLED_SETTINGS.has(path)) throw new Error(`playback file: the setting ${path} is not modelled by the twin`);
    if (/config_set_path|config_del_path/.test(line) && !set && !del) throw new Error(`playback file: cannot read ${line.trim()}`);
    if (set) {
      paths.set(set[1], set[2] !== "false");
      values.set(set[1], set[2].replace(/^'|'$/g, ""));
    }
    if (del) paths.delete(del[1]);
  }
  const natDoc = (xml.parse(nat) as Node).nat as Node | undefined;
  const outboundNode = natDoc?.outbound as Node | undefined;
  if (outboundNode && has(outboundNode, "rule")) throw new Error("nat.xml: outbound NAT rules are not modelled by the twin");
  const outbound = values.get("nat/outbound/mode") ?? text(outboundNode, "mode") ?? "automatic";
  if (!["automatic", "hybrid", "advanced", "disabled"].includes(outbound)) throw new Error(`outbound NAT mode ${outbound} is not modelled`);
  return {
    noAntiLockout: paths.has("system/webgui/noantilockout"),
    wanBlockPrivate: paths.has("interfaces/wan/blockpriv"),
    wanBlockBogons: paths.has("interfaces/wan/blockbogons"),
    disableReplyTo: paths.has("system/disablereplyto"),
    outboundNat: outbound as PfSettings["outboundNat"],
  };
}

/** The interfaces pfSense has in the twin, with the addresses the operator assigned at install. */
export interface PfInterfaceAddress {
  readonly name: string;
  readonly device: string;
  readonly subnet: string;
  readonly address: string;
}

/** pfSense's restore-area files as the table shape the nftables translation reads. */
export function pfTables(files: { aliases: string; filter: string; nat: string }, interfaces: readonly PfInterfaceAddress[]): PfSenseTables & { readonly replyToOff: ReadonlySet<number> } {
  const aliasNodes = (((xml.parse(files.aliases) as Node).aliases as Node | undefined)?.alias as Node[] | undefined) ?? [];
  const aliases: PfAlias[] = aliasNodes.map((a) => ({
    name: text(a, "name")!,
    type: text(a, "type") as PfAlias["type"],
    entries: (text(a, "address") ?? "").split(/\s+/).filter(Boolean).map((value) => ({ value, detail: "" })),
    descr: text(a, "descr") ?? "",
  }));
  const ruleNodes = (((xml.parse(files.filter) as Node).filter as Node | undefined)?.rule as Node[] | undefined) ?? [];
  const order = new Map<string, number>();
  const replyToOff = new Set<number>();
  const rules: PfRule[] = ruleNodes.flatMap((r, i) => {
    const iface = text(r, "interface");
    if (!iface || iface.includes(",")) throw new Error(`filter.xml rule ${i + 1}: interface ${iface ?? "(none)"} is not modelled (one interface per rule; floating rules are not)`);
    const n = (order.get(iface) ?? 0) + 1;
    order.set(iface, n);
    const where = `filter.xml ${iface} rule ${n}`;
    refuseUnknown(r, FILTER_RULE_KEYS, where);
    const state = text(r, "statetype") ?? "keep state";
    if (state !== "keep state") throw new Error(`${where}: statetype ${state} is not modelled`);
    if (!activeForIpv4(r, where)) return [];
    const type = text(r, "type");
    if (type !== "pass" && type !== "block") throw new Error(`${where}: type ${type} is not modelled`);
    const protocol = text(r, "protocol");
    const tracker = Number(text(r, "tracker") ?? 0);
    if (has(r, "disablereplyto")) replyToOff.add(tracker);
    return {
      interface: iface,
      order: n,
      type,
      protocol: protocol === undefined || protocol === "tcp/udp" ? undefined : (protocol as PfRule["protocol"]),
      source: endpoint(r.source, where),
      destination: endpoint(r.destination, where),
      log: has(r, "log"),
      descr: text(r, "descr") ?? "",
      tracker,
      purpose: "",
      associatedRuleId: text(r, "associated-rule-id"),
      disableReplyTo: has(r, "disablereplyto"),
    };
  });
  const natNodes = (((xml.parse(files.nat) as Node).nat as Node | undefined)?.rule as Node[] | undefined) ?? [];
  const portForwards: PfPortForward[] = natNodes.flatMap((r, i) => {
    const where = `nat.xml rule ${i + 1}`;
    refuseUnknown(r, NAT_RULE_KEYS, where);
    if (!activeForIpv4(r, where)) return [];
    const dst = r.destination as Node;
    if (text(r, "interface") !== "wan") throw new Error(`${where}: a port-forward on ${text(r, "interface") ?? "(no interface)"} is not modelled (WAN only)`);
    if (text(dst, "network") !== "wanip") throw new Error(`${where}: only port-forwards to the WAN address are modelled`);
    const src = r.source as Node | undefined;
    if (!src || !has(src, "any") || Object.keys(src).length !== 1) throw new Error(`${where}: a port-forward from a restricted source is not modelled`);
    return {
      interface: "wan",
      protocol: text(r, "protocol") as PfPortForward["protocol"],
      externalPort: (text(dst, "port") ?? "").replace(":", "-"),
      target: text(r, "target")!,
      localPort: (text(r, "local-port") ?? "").replace(":", "-"),
      descr: text(r, "descr") ?? "",
      associatedRuleId: text(r, "associated-rule-id") ?? "",
      flowId: "",
    };
  });
  const ifaces: PfInterface[] = interfaces.map((i) => ({ name: i.name, segment: "wan", descr: i.name.toUpperCase(), subnet: i.subnet, address: i.address }));
  return { interfaces: ifaces, aliases, rules, portForwards, notFiltered: [], replyToOff };
}

/** The mark pfSense's reply-to states carry in the twin, and the routing table their replies use. */
export const REPLY_TO = { mark: 0x1, table: 100 } as const;

/**
 * The whole pfSense ruleset for the twin: the user rules through the shared translation with pfSense's
 * own quick rules ahead of them, reply-to marking, and outbound NAT. `wan` is pfSense's WAN address
 * and subnet (its DHCP lease in the twin).
 */
export function pfRuleset(
  files: { aliases: string; filter: string; nat: string },
  interfaces: readonly PfInterfaceAddress[],
  settings: PfSettings,
): string {
  const tables = pfTables(files, interfaces);
  const wan = interfaces.find((i) => i.name === "wan");
  const lan = interfaces.find((i) => i.name === "lan");
  if (!wan) throw new Error("pfSense has no WAN interface");
  const devices = Object.fromEntries(interfaces.map((i) => [i.name, i.device]));
  const q = (d: string) => JSON.stringify(d);
  const preamble: string[] = [];
  if (settings.wanBlockBogons) preamble.push(`iifname ${q(wan.device)} ip saddr { ${BOGONS.join(", ")} } drop comment "block bogon networks (WAN)"`);
  if (settings.wanBlockPrivate) preamble.push(`iifname ${q(wan.device)} ip saddr { ${PRIVATE.join(", ")} } drop comment "block private networks (WAN)"`);
  const input = [...preamble];
  if (!settings.noAntiLockout && lan) input.push(`iifname ${q(lan.device)} ip daddr ${lan.address} tcp dport { 80, 443 } accept comment "anti-lockout rule"`);
  const ruleset = nftablesFromPfSense(tables, {
    wan: { subnet: wan.subnet, address: wan.address },
    devices,
    log: false,
    wideRulesReachSelf: true,
    preamble: { input, forward: preamble },
    passStatements: (r) => (r.interface === "wan" && !settings.disableReplyTo && !r.disableReplyTo ? [`ct mark set ${REPLY_TO.mark}`] : []),
  });
  const internal = [...interfaces.filter((i) => i.name !== "wan").map((i) => i.subnet), "127.0.0.0/8"];
  const nat =
    settings.outboundNat === "automatic" || settings.outboundNat === "hybrid"
      ? `    oifname ${q(wan.device)} ip saddr { ${internal.join(", ")} } snat ip to ${wan.address} comment "automatic outbound NAT"`
      : "";
  return `${ruleset}
table ip pfsense_implicit {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
${nat}
  }
  # reply-to: replies of states a WAN pass rule created leave through the WAN gateway (policy routing on the mark)
  chain replies {
    type filter hook prerouting priority mangle; policy accept;
    ct direction reply ct mark ${REPLY_TO.mark} meta mark set ${REPLY_TO.mark}
  }
  chain local_replies {
    type route hook output priority mangle; policy accept;
    ct direction reply ct mark ${REPLY_TO.mark} meta mark set ${REPLY_TO.mark}
  }
}
`;
}

const unboundXml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => ["hosts", "item"].includes(name) });

/**
 * The names pfSense's DNS Resolver answers from its host overrides, read from the restored `unbound`
 * area on its own terms (pfsense/pfsense src/etc/inc/system.inc, system_hosts_override_entries): with
 * `<enable>` set, each `<hosts>` answers `host.domain` (or `domain` when `host` is empty) and each of its
 * aliases' `host.domain` with every address of its comma-separated `<ip>`; without `<enable>`, none.
 * Names are compared case-insensitively, as DNS does.
 *
 * @returns address list per lower-case name
 * @throws Error when the file is not the DNS Resolver area
 */
export function pfHostOverrides(unbound: string): Map<string, string[]> {
  const root = (unboundXml.parse(unbound) as Node).unbound;
  if (!root || typeof root !== "object") throw new Error("unbound.xml: no <unbound> section");
  const out = new Map<string, string[]>();
  if (!has(root, "enable")) return out;
  const fqdn = (n: unknown) => [text(n, "host"), text(n, "domain")].filter((p) => p).join(".").toLowerCase();
  for (const h of ((root as Node).hosts as Node[] | undefined) ?? []) {
    const ips = (text(h, "ip") ?? "").split(",").map((s) => s.trim()).filter((s) => s);
    const aliases = h.aliases && typeof h.aliases === "object" ? (((h.aliases as Node).item as Node[] | undefined) ?? []) : [];
    for (const name of [fqdn(h), ...aliases.map(fqdn)]) out.set(name, [...(out.get(name) ?? []), ...ips]);
  }
  return out;
}
