import { create } from "xmlbuilder2";
import type { XMLBuilder } from "xmlbuilder2/lib/interfaces";
import { PfEndpoint, PfSenseTables } from "./pfsense-rule-table";

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
