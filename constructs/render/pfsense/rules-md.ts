import { isMember } from "../../model/lab-model";
import { FlowTable } from "../../model/flows";
import { markdownCell, markdownRow } from "../text/markdown";
import { PFSENSE_PLAYBACK, PfSenseSettings } from "./pfsense-settings";
import { PfEndpoint, PfSenseTables, segmentOf } from "./pfsense-rule-table";

function ep(e: PfEndpoint): string {
  const base = e.any ? "any" : (e.address ?? e.network ?? "?");
  return `${e.not ? "not " : ""}${base}`;
}


/**
 * RULES.md: every pfSense rule with the flow and purpose behind it, the aliases, the port-forwards,
 * the flows pfSense never sees (and why), a diagram of zones and allowed flows, and the import order.
 */
export function renderRulesMd(flows: FlowTable, t: PfSenseTables, settings: PfSenseSettings): string {
  const m = flows.model;
  const ifDescr = new Map(t.interfaces.map((i) => [i.name, i.descr]));
  const ruleRows = t.rules.map((r) =>
    [
      `${ifDescr.get(r.interface)} (${r.interface})`,
      String(r.order),
      r.type,
      r.protocol ?? "any",
      ep(r.source),
      ep({ ...r.destination, port: undefined }),
      r.destination.port ?? "any",
      r.flowId ?? (r.destination.network === "(self)" ? "(pfSense guard)" : "(default deny)"),
      r.purpose,
    ].map(markdownCell).join(" | "),
  );
  const aliasRows = t.aliases.map((a) => markdownRow([a.name, a.type, a.entries.map((e) => `${e.value} (${e.detail})`).join(", ")]));
  const natRows = t.portForwards.map((f) => markdownRow([`wanip:${f.externalPort}`, f.protocol, `${f.target}:${f.localPort}`, f.flowId]));
  const unfiltered = t.notFiltered.map((n) => markdownRow([`\`${n.flow.id}\``, `${n.flow.from} → ${n.flow.to} ${n.flow.protocol}/${n.flow.ports.join(",") || "-"}`, n.reason]));

  const registry = m.registry;
  const clients = m.hosts.filter((h) => h.role === "client");
  const clientTargets = clients.length
    ? `the client host${clients.length === 1 ? "" : "s"} ${clients.map((h) => `\`${markdownCell(h.name)}\` (${h.ip})`).join(", ")}`
    : "nothing (the lab has no client host)";
  const dnsRows = [
    ...m.vms.filter(isMember).map((v) => markdownRow([v.fqdn, v.ip])),
    ...(m.spec.registry.fqdn !== registry.fqdn ? [markdownRow([m.spec.registry.fqdn, registry.ip])] : []),
    markdownRow([m.kubernetesApi.fqdn, m.kubernetesApi.vip]),
  ];

  // Diagram: one edge per pair of segments that an allowed flow connects through pfSense.
  const edges = new Map<string, string[]>();
  for (const r of t.rules.filter((x) => x.type === "pass" && x.flowId)) {
    const f = flows.flows.find((x) => x.id === r.flowId)!;
    const from = segmentOf(m, f.from);
    const to = segmentOf(m, f.to);
    const key = `${from === "self" ? "FW" : from.toUpperCase()}-->${to === "self" ? "FW" : to.toUpperCase()}`;
    edges.set(key, [...new Set([...(edges.get(key) ?? []), `${f.protocol}/${r.destination.port ?? "any"}`])]);
  }
  const mermaid = [
    "flowchart LR",
    "  WAN((WAN / internet))",
    "  FW{{pfSense}}",
    `  MGMT[MGMT ${m.zones.mgmt.cidr}]`,
    `  DMZ[DMZ ${m.zones.dmz.cidr}]`,
    `  SRV[SRV ${m.zones.srv.cidr}]`,
    `  CLIENT[CLIENT LAN ${m.clientLan.cidr}]`,
    ...[...edges].map(([k, labels]) => {
      const [a, b] = k.split("-->");
      return `  ${a} -->|"${labels.join(" ")}"| ${b}`;
    }),
  ];

  return `# ${m.name}: firewall rules

Every rule below exists because a component of the lab declared a flow (\`flows.json\`); nothing is
written by hand. Rules match on the interface the packet enters, in order, first match wins; state
is kept, so replies pass; each interface ends with a logged default deny.

## Import order (Diagnostics > Backup & Restore > Restore area)

1. **Aliases** ← \`pfsense/aliases.xml\` (rules name them, so they come first)
2. **Firewall Rules** ← \`pfsense/filter.xml\` (replaces every rule of every interface)
3. **NAT** ← \`pfsense/nat.xml\` (port-forwards; outbound NAT stays automatic)
4. **DNS Resolver** ← \`pfsense/unbound.xml\` (the host overrides below; it replaces every resolver
   setting with pfSense's defaults: enabled, DNSSEC, all interfaces, resolving itself without forwarders)
5. FRR package: \`pfsense/frr.conf\` (BGP with Calico)
6. Settings: copy \`${PFSENSE_PLAYBACK.file}\` to \`/etc/phpshellsessions/${PFSENSE_PLAYBACK.name}\` and run
   \`pfSsh.php playback ${PFSENSE_PLAYBACK.name}\` (console option 8 or SSH). It changes only the settings
   below, then reloads the filter and the DNS Resolver (a restored area takes effect in the resolver
   only then); restoring the whole "System" area instead would replace every system setting.

Interfaces must be assigned as WAN = vtnet0, LAN (MGMT) = vtnet1, OPT1 (DMZ) = vtnet2, OPT2 (SRV) =
vtnet3, OPT3 (CLIENT) = vtnet4, with these addresses:

interface | zone | bridge | pfSense address
---|---|---|---
${t.interfaces.filter((i) => i.address !== undefined).map((i) => markdownRow([`${i.name} (vtnet${t.interfaces.indexOf(i)})`, i.descr, i.segment === "client" ? m.clientLan.bridge : m.zones[i.segment as "mgmt" | "dmz" | "srv"].bridge, `${i.address}/${i.subnet!.split("/")[1]}`])).join("\n")}

## The client LAN (operators' way in)

The client LAN ${m.clientLan.cidr} (OPT3, CLIENT) ${m.clientLan.existing ? `is the operators' existing network on \`${markdownCell(m.clientLan.bridge)}\`; the lab creates no bridge there. pfSense is ${m.clientLan.gateway} on it, which is not that LAN's own router: **the operators' machines need a route to the mgmt client's address (or ${m.zones.mgmt.cidr}) via ${m.clientLan.gateway}**, on each machine or on the LAN's router.` : `is a bridge the edge module creates (\`${markdownCell(m.clientLan.bridge)}\`); operators' machines on it use pfSense (${m.clientLan.gateway}) as their gateway and configure their own addresses: pfSense serves it no DHCP, DNS or NTP.`}
From it only ${clientTargets} ${clients.length === 1 ? "is" : "are"} reachable, on SSH (tcp/22)${m.spec.clientDesktop.enabled ? " and remote desktop (RDP through xrdp,\ntcp/3389)" : " (no remote desktop: clientDesktop is off)"}; everything else, pfSense itself included, meets the interface's logged default deny. No lab zone initiates into it:
no rule on another interface and no port-forward leads there, and \`N_LAB_INTERNAL\` holds it, so no flow to
"internet" does either.

## pfSense's own rules, and the settings the lab sets

pfSense adds rules of its own around the ones above (pfsense/pfsense \`src/etc/inc/filter.inc\`). What
each means here:

rule or setting | what pfSense does | in this lab
---|---|---
anti-lockout | passes tcp 443, 80 (and 22 with SSH on) from any MGMT host to the MGMT address, before every rule above | **off** (\`system/webgui/noantilockout\`, set by the playback file): only the mgmt client may reach the webGUI
reply-to | sends replies of WAN pass rules through the WAN gateway, even to hosts on the WAN subnet | **off** on the rules whose sources are the Proxmox hosts (\`<disablereplyto/>\`), so their replies go straight back; on for the internet port-forwards
block private networks (WAN) | drops sources in 10/8, 127/8, 172.16/12, 192.168/16 arriving on WAN, before every rule | ${settings.wanBlockPrivate ? "**on**: the Proxmox hosts have public addresses" : `**off** (\`interfaces/wan/blockpriv\` removed by the playback file): ${markdownCell(settings.wanBlockPrivateReason ?? "")}`}
block bogon networks (WAN) | drops sources in the bogon list (which leaves out RFC 1918) on WAN | **on**
automatic outbound NAT | translates every internal subnet leaving WAN to pfSense's WAN address | **on**: the Proxmox API and the internet see pfSense's WAN address, not the mgmt client's
antispoof | drops packets whose source belongs to another interface's network | on (pfSense's default)
default deny and pass out | blocks what no rule passes (logged); lets out everything leaving an interface | on (pfSense's default); the explicit rules above end each interface the same way

## Zones and allowed flows

\`\`\`mermaid
${mermaid.join("\n")}
\`\`\`

## Rules

interface | order | action | protocol | source | destination | ports | flow | purpose
---|---|---|---|---|---|---|---|---
${ruleRows.join("\n")}

## Port-forwards (WAN)

external | protocol | target | flow
---|---|---|---
${natRows.join("\n")}

## Aliases

alias | type | entries
---|---|---
${aliasRows.join("\n")}

## DNS host overrides (Services > DNS Resolver)

Every zone resolves through pfSense; these names must answer there (\`pfsense/unbound.xml\` holds them):

name | address
---|---
${dnsRows.join("\n")}

## Flows pfSense does not see

These are enforced by the Proxmox VM firewall and the Talos host firewall instead.

flow | path | why
---|---|---
${unfiltered.join("\n")}
`;
}
