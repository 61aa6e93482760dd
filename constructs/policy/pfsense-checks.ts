import { XMLParser, XMLValidator } from "fast-xml-parser";
import { ALIAS_NAME_MAX, DESCR_MAX } from "../render/pfsense/pfsense-rule-table";

/** The four pfSense "Restore area" files of a lab, as text. */
export interface PfSenseFiles {
  /** Content of `aliases.xml`. */
  readonly aliases: string;
  /** Content of `filter.xml`. */
  readonly filter: string;
  /** Content of `nat.xml`. */
  readonly nat: string;
  /** Content of `unbound.xml` (the DNS Resolver with its host overrides). */
  readonly unbound: string;
}

const PROTOCOLS = ["tcp", "udp", "tcp/udp", "icmp", "esp", "ah", "gre", "etherip", "ipv6", "igmp", "pim", "ospf", "sctp", "carp", "pfsync"];
const INTERFACE = /^(wan|lan|opt[1-9][0-9]*)$/;
const SPECIAL_NETWORK = /^(wan|lan|opt[1-9][0-9]*)(ip)?$|^\(self\)$/;
const ALIAS_NAME = /^[A-Za-z0-9_]+$/;
const RESERVED_ALIAS = ["port", "pass", "block", "any", "all"];

type Node = Record<string, unknown>;

/**
 * pfSense's own name tests (pfsense/pfsense 5060f7cf25, src/etc/inc/util.inc): `is_domain` (:1158,
 * without wildcards) and `is_unqualified_hostname` (:1127), which the host override form applies to
 * Domain and Host (src/usr/local/www/services_unbound_host_edit.php:74-86).
 */
const DOMAIN = /^(?:(?:[a-z_0-9]|[a-z_0-9][a-z_0-9-]*[a-z_0-9])\.)*(?:[a-z_0-9]|[a-z_0-9][a-z_0-9-]*[a-z_0-9.])$/i;
const UNQUALIFIED_HOST = /^(?:[a-z0-9_]|[a-z0-9_][a-z0-9_-]*[a-z0-9_])$/i;
const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);
/** `<active_interface>`/`<outgoing_interface>`: empty or `all` (every interface), or a list of internal names. */
const RESOLVER_INTERFACES = /^(all|((wan|lan|opt[1-9][0-9]*|lo0)(,(wan|lan|opt[1-9][0-9]*|lo0))*))?$/;
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => ["rule", "alias", "hosts", "item"].includes(name) });

function list(root: Node | undefined, key: string): Node[] {
  return ((root?.[key] as Node[] | undefined) ?? []).map((n) => (typeof n === "object" && n !== null ? n : {}));
}

function text(n: Node, key: string): string | undefined {
  const v = n[key];
  if (v === undefined) return undefined;
  if (typeof v === "object" && v !== null) return String((v as Node)["#text"] ?? "");
  return String(v);
}

/**
 * Checks pfSense "Restore area" files the way pfSense would read them: well-formed XML with the area's
 * root element, and the element rules pfSense's own code enforces (interface names, ipprotocol,
 * protocol values, ports only with tcp/udp, unique trackers, aliases that exist, alias names; the DNS
 * Resolver enabled, its host overrides' names and IPv4 addresses, no name twice).
 *
 * @returns one message per problem; empty when pfSense would accept the files
 */
export function pfSenseFileProblems(files: PfSenseFiles): string[] {
  const problems: string[] = [];
  const parsed: Record<string, Node | undefined> = {};
  for (const [area, xml] of Object.entries(files)) {
    const valid = XMLValidator.validate(xml);
    if (valid !== true) {
      problems.push(`${area}.xml: not well-formed: ${valid.err.msg} (line ${valid.err.line})`);
      continue;
    }
    if (!xml.includes(`<${area}>`)) problems.push(`${area}.xml: pfSense needs the literal <${area}> tag to restore the area`);
    parsed[area] = (parser.parse(xml) as Node)[area] as Node | undefined;
  }

  const aliases = list(parsed.aliases, "alias");
  const aliasTypes = new Map<string, string>();
  for (const a of aliases) {
    const name = text(a, "name") ?? "";
    if (!ALIAS_NAME.test(name) || /^[0-9_]+$/.test(name)) problems.push(`alias ${JSON.stringify(name)}: only letters, digits and _ (not only digits/_)`);
    if (name.length > ALIAS_NAME_MAX) problems.push(`alias ${name}: longer than ${ALIAS_NAME_MAX} characters`);
    if (RESERVED_ALIAS.includes(name.toLowerCase())) problems.push(`alias ${name}: reserved word`);
    if (aliasTypes.has(name)) problems.push(`alias ${name}: defined twice`);
    const type = text(a, "type") ?? "";
    if (!["host", "network", "port", "url", "url_ports", "urltable", "urltable_ports"].includes(type)) problems.push(`alias ${name}: unknown type ${type}`);
    if (!(text(a, "address") ?? "").trim()) problems.push(`alias ${name}: no entries`);
    aliasTypes.set(name, type);
  }

  const isAddress = (v: string) => /^[0-9.]+(\/\d+)?$/.test(v);
  const checkEndpoint = (where: string, e: Node | undefined, protocol: string | undefined) => {
    if (!e || typeof e !== "object") return problems.push(`${where}: missing`);
    const address = text(e, "address");
    const network = text(e, "network");
    const port = text(e, "port");
    if ("any" in e === !!(address ?? network)) problems.push(`${where}: needs exactly one of any, address, network`);
    if (address && !isAddress(address) && aliasTypes.get(address) === undefined) problems.push(`${where}: alias ${address} is not defined in aliases.xml`);
    if (address && aliasTypes.get(address) === "port") problems.push(`${where}: port alias ${address} used as an address`);
    if (network && !SPECIAL_NETWORK.test(network)) problems.push(`${where}: unknown special network ${network}`);
    if (port !== undefined) {
      if (protocol !== "tcp" && protocol !== "udp" && protocol !== "tcp/udp") problems.push(`${where}: port ${port} with protocol ${protocol ?? "any"} (ports need tcp or udp)`);
      else if (!/^\d{1,5}(-\d{1,5})?$/.test(port) && aliasTypes.get(port) !== "port") problems.push(`${where}: port ${port} is neither a port, a range nor a port alias`);
    }
    return undefined;
  };

  const trackers = new Map<string, number>();
  const filterAssoc = new Set<string>();
  list(parsed.filter, "rule").forEach((r, i) => {
    const where = `filter rule ${i + 1}`;
    const iface = text(r, "interface") ?? "";
    if (!INTERFACE.test(iface)) problems.push(`${where}: interface ${JSON.stringify(iface)} is not an internal name (wan, lan, optN)`);
    if (!["pass", "block", "reject"].includes(text(r, "type") ?? "")) problems.push(`${where}: type must be pass, block or reject`);
    if (!["inet", "inet6", "inet46"].includes(text(r, "ipprotocol") ?? "")) problems.push(`${where}: ipprotocol must be inet, inet6 or inet46`);
    const protocol = text(r, "protocol");
    if (protocol !== undefined && !PROTOCOLS.includes(protocol)) problems.push(`${where}: unknown protocol ${protocol}`);
    checkEndpoint(`${where} source`, r.source as Node, protocol);
    checkEndpoint(`${where} destination`, r.destination as Node, protocol);
    const tracker = text(r, "tracker") ?? "";
    if (!/^\d{1,10}$/.test(tracker)) problems.push(`${where}: tracker ${JSON.stringify(tracker)} is not a number`);
    else if (trackers.has(tracker)) problems.push(`${where}: tracker ${tracker} also used by rule ${trackers.get(tracker)}`);
    else trackers.set(tracker, i + 1);
    const descr = text(r, "descr") ?? "";
    if (descr.length > DESCR_MAX) problems.push(`${where}: descr longer than ${DESCR_MAX} characters (pfSense cuts it in logs)`);
    const assoc = text(r, "associated-rule-id");
    if (assoc) filterAssoc.add(assoc);
  });

  const natAssoc = new Set<string>();
  list(parsed.nat, "rule").forEach((r, i) => {
    const where = `nat rule ${i + 1}`;
    if (!INTERFACE.test(text(r, "interface") ?? "")) problems.push(`${where}: interface is not an internal name`);
    const protocol = text(r, "protocol");
    if (protocol !== "tcp" && protocol !== "udp" && protocol !== "tcp/udp") problems.push(`${where}: port-forward protocol must be tcp, udp or tcp/udp`);
    checkEndpoint(`${where} destination`, r.destination as Node, protocol);
    if (!isAddress(text(r, "target") ?? "")) problems.push(`${where}: target must be an address`);
    if (!/^\d{1,5}$/.test(text(r, "local-port") ?? "")) problems.push(`${where}: local-port must be a port`);
    const assoc = text(r, "associated-rule-id") ?? "";
    if (!filterAssoc.has(assoc)) problems.push(`${where}: associated-rule-id ${assoc} has no filter rule`);
    natAssoc.add(assoc);
  });
  for (const a of filterAssoc) if (!natAssoc.has(a)) problems.push(`filter rule associated-rule-id ${a} has no port-forward`);
  if (parsed.unbound) problems.push(...unboundProblems(parsed.unbound));
  return problems;
}

/**
 * The DNS Resolver area: enabled (pfSense answers no host override otherwise: system.inc
 * system_hosts_override_entries), interfaces it knows, and each `<hosts>` entry as the host override form
 * accepts it: a Domain, an optional unqualified Host, IPv4 addresses (the lab has no IPv6), aliases with
 * a Domain; no host and domain twice with IPv4 addresses.
 */
function unboundProblems(unbound: Node): string[] {
  const problems: string[] = [];
  if (!("enable" in unbound)) problems.push("unbound: <enable> is missing: the DNS Resolver would be off and answer none of the host overrides");
  for (const key of ["active_interface", "outgoing_interface"]) {
    const v = text(unbound, key) ?? "";
    if (!RESOLVER_INTERFACES.test(v)) problems.push(`unbound: <${key}> ${JSON.stringify(v)} is neither all nor a list of internal interface names`);
  }
  const seen = new Map<string, number>();
  list(unbound, "hosts").forEach((h, i) => {
    const host = text(h, "host") ?? "";
    const domain = text(h, "domain") ?? "";
    const ip = text(h, "ip") ?? "";
    const name = host ? `${host}.${domain}` : domain;
    const where = `unbound host override ${i + 1} (${name})`;
    if (!domain) problems.push(`${where}: no domain (the form requires one)`);
    else if (!DOMAIN.test(domain)) problems.push(`${where}: domain ${JSON.stringify(domain)} is not a domain name`);
    if (host && !UNQUALIFIED_HOST.test(host)) problems.push(`${where}: host ${JSON.stringify(host)} is not an unqualified host name`);
    if (!ip) problems.push(`${where}: no ip (the form requires one)`);
    for (const a of ip ? ip.split(",") : []) if (!IPV4.test(a)) problems.push(`${where}: ip ${JSON.stringify(a)} is not an IPv4 address`);
    const key = name.toLowerCase();
    if (seen.has(key)) problems.push(`${where}: host and domain already overridden by entry ${seen.get(key)}`);
    else seen.set(key, i + 1);
    const aliases = h.aliases;
    list(typeof aliases === "object" && aliases !== null ? (aliases as Node) : undefined, "item").forEach((a, j) => {
      const ad = text(a, "domain") ?? "";
      const ah = text(a, "host") ?? "";
      if (!DOMAIN.test(ad)) problems.push(`${where} alias ${j + 1}: domain ${JSON.stringify(ad)} is not a domain name`);
      if (ah && !UNQUALIFIED_HOST.test(ah)) problems.push(`${where} alias ${j + 1}: host ${JSON.stringify(ah)} is not an unqualified host name`);
    });
  });
  return problems;
}
