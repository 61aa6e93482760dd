import { create } from "xmlbuilder2";
import type { XMLBuilder } from "xmlbuilder2/lib/interfaces";
import { PfEndpoint, PfSenseTables } from "./pfsense-rule-table";
import { PfSenseHostOverride } from "./pfsense-settings";

/**
 * pfSense "Restore area" files. Restoring an area replaces the whole section, so each file holds the
 * complete set: every alias, every interface's rules in first-match order, every port-forward.
 */

/**
 * Text content, the XML boundary: CDATA the way pfSense writes descriptions, unless the text holds the
 * CDATA terminator `]]>`; then escaped character data. Either way the text stays text.
 */
function text(el: XMLBuilder, value: string): void {
  if (value.includes("]]>")) el.txt(value);
  else el.dat(value);
}

function doc(root: string): XMLBuilder {
  return create({ version: "1.0", encoding: "UTF-8" }).ele(root);
}

function end(x: XMLBuilder): string {
  return `${x.end({ prettyPrint: true, indent: "  " })}\n`;
}

function endpoint(parent: XMLBuilder, tag: string, e: PfEndpoint): void {
  const el = parent.ele(tag);
  if (e.any) el.ele("any");
  if (e.network) el.ele("network").txt(e.network);
  if (e.address) el.ele("address").txt(e.address);
  if (e.not) el.ele("not");
  if (e.port) el.ele("port").txt(e.port);
}

/** `aliases.xml`: every alias of the tables, for pfSense's Restore area "Aliases". */
export function renderAliasesXml(t: PfSenseTables): string {
  const root = doc("aliases");
  for (const a of t.aliases) {
    const el = root.ele("alias");
    el.ele("name").txt(a.name);
    el.ele("type").txt(a.type);
    el.ele("address").txt(a.entries.map((e) => e.value).join(" "));
    text(el.ele("descr"), a.descr);
    text(el.ele("detail"), a.entries.map((e) => e.detail).join("||"));
  }
  return end(root);
}

/** `filter.xml`: every filter rule, interface by interface in first-match order, for the area "Firewall Rules". */
export function renderFilterXml(t: PfSenseTables): string {
  const root = doc("filter");
  for (const r of t.rules) {
    const el = root.ele("rule");
    el.ele("id");
    el.ele("tracker").txt(String(r.tracker));
    el.ele("type").txt(r.type);
    el.ele("interface").txt(r.interface);
    el.ele("ipprotocol").txt("inet");
    el.ele("statetype").txt("keep state");
    if (r.protocol) el.ele("protocol").txt(r.protocol);
    endpoint(el, "source", r.source);
    endpoint(el, "destination", r.destination);
    if (r.log) el.ele("log");
    if (r.disableReplyTo) el.ele("disablereplyto");
    text(el.ele("descr"), r.descr);
    if (r.associatedRuleId) el.ele("associated-rule-id").txt(r.associatedRuleId);
  }
  return end(root);
}

/**
 * `nat.xml`: the WAN port-forwards, for the area "NAT". Outbound NAT stays automatic, since restoring
 * the area replaces it too.
 */
export function renderNatXml(t: PfSenseTables): string {
  const root = doc("nat");
  // Restoring NAT replaces outbound NAT too: keep pfSense's automatic outbound NAT for MGMT's egress.
  root.ele("outbound").ele("mode").txt("automatic");
  for (const f of t.portForwards) {
    const el = root.ele("rule");
    el.ele("source").ele("any");
    const dst = el.ele("destination");
    dst.ele("network").txt("wanip");
    dst.ele("port").txt(f.externalPort);
    el.ele("ipprotocol").txt("inet");
    el.ele("protocol").txt(f.protocol);
    el.ele("target").txt(f.target);
    el.ele("local-port").txt(f.localPort);
    el.ele("interface").txt(f.interface);
    text(el.ele("descr"), f.descr);
    el.ele("associated-rule-id").txt(f.associatedRuleId);
  }
  return end(root);
}

/**
 * `unbound.xml`: the DNS Resolver with the lab's host overrides, for the area "DNS Resolver"
 * (`unbound`). Facts from pfsense/pfsense at 5060f7cf25 (RELENG_2_7_2, "Promote to 2.7.2-RELEASE"),
 * the same at 6a92af1458 (2.8):
 *
 * - Restoring an area sets the whole section: `restore_config_section` does
 *   `config_set_path($section_name, $section_xml)` (src/etc/inc/pfsense-utils.inc:905-950), and the
 *   restore page then runs only `filter_configure()` (src/usr/local/pfSense/include/www/backup.inc,
 *   execPost); the resolver reads the new section when it is next configured (the playback file calls
 *   `services_unbound_configure()`). The area list names it `"unbound" => "DNS Resolver"`
 *   (src/usr/local/www/diag_backup.php:84, build_area_list).
 * - So the section carries every setting the lab relies on, as pfSense's default config has them
 *   (`<enable/>`, `<dnssec/>`, empty `<active_interface>` and `<outgoing_interface>` = all interfaces,
 *   `<hideidentity/>`, `<hideversion/>`, `<dnssecstripped/>`, `<qname-minimisation/>`, empty
 *   `<custom_options>`: pfsense/FreeBSD-ports a6e2e68 sysutils/pfSense-default-config/files/config.xml;
 *   before 2.7.1 the same file was pfsense/pfsense src/conf.default/config.xml, last at dcc7c577b5,
 *   without qname-minimisation). Nothing else: no forwarding (the resolver recurses itself), port 53,
 *   automatic access lists for the internal networks (src/etc/inc/unbound.inc:254-259, 960-990).
 * - A host override is a repeated `<hosts>` element (a list tag, src/etc/inc/xmlparse.inc listtags)
 *   with `<host>`, `<domain>`, `<ip>` (comma-separated addresses), `<descr>` and `<aliases>`, as the
 *   GUI saves it (src/usr/local/www/services_unbound_host_edit.php:160-170); the resolver answers
 *   `host.domain` with each address (src/etc/inc/system.inc:436, system_hosts_override_entries) when
 *   `<enable>` is set.
 */
export function renderUnboundXml(overrides: readonly PfSenseHostOverride[]): string {
  const root = doc("unbound");
  root.ele("enable");
  root.ele("dnssec");
  root.ele("active_interface");
  root.ele("outgoing_interface");
  root.ele("custom_options");
  root.ele("hideidentity");
  root.ele("hideversion");
  root.ele("dnssecstripped");
  root.ele("qname-minimisation");
  for (const o of overrides) {
    const el = root.ele("hosts");
    el.ele("host").txt(o.host);
    el.ele("domain").txt(o.domain);
    el.ele("ip").txt(o.ip);
    text(el.ele("descr"), o.descr);
    el.ele("aliases");
  }
  return end(root);
}
