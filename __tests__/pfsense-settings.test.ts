import { spawnSync } from "node:child_process";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { pfSenseHostOverrides, pfSenseSettings, renderPfSensePlayback } from "../constructs/render/pfsense/pfsense-settings";
import { pfSenseTables } from "../constructs/render/pfsense/pfsense-rule-table";
import { renderUnboundXml } from "../constructs/render/pfsense/pfsense-xml";
import { renderRulesMd } from "../constructs/render/pfsense/rules-md";
import { labFlows } from "../constructs/model/lab-flows";
import { buildLabModel } from "../constructs/lab/build";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { validateLabSpec } from "../constructs/lab/validate";

/**
 * The pfSsh.php playback file, judged against what pfSense CE 2.7.2 (the spec's default ISO) and 2.8
 * define (pfsense/pfsense 5060f7cf25 "Promote to 2.7.2-RELEASE" and 6a92af1458, the last 2.8.0
 * development commit): it calls only functions both have, or what only 2.8 has behind
 * `function_exists`; the lines the twin reads stay as they are; and the DNS host overrides of the
 * runbook are RULES.md's.
 */

/** Functions of src/etc/inc that exist on 2.7.2 and 2.8 with the arguments the file passes. */
const ON_BOTH = new Set(["parse_config", "config_set_path", "config_del_path", "write_config", "filter_configure_sync", "services_unbound_configure"]);
/** Defined only from 2.8 on (config.lib.inc, 735b76815b): callable only behind `function_exists`. */
const ONLY_28 = "config_read_file";
/** PHP's own. */
const PHP = new Set(["require_once", "function_exists", "exit", "if"]);

const model = (spec: LabSpecInput) => buildLabModel(validateLabSpec(spec));
const labs: [string, LabSpecInput][] = [
  ["hosts without addresses", {}],
  ["public Proxmox hosts", { proxmox: { nodes: [{ name: "pve", address: "198.51.100.7" }] } }],
  ["private Proxmox hosts", { proxmox: { nodes: [{ name: "pve", address: "192.168.1.5" }] } }],
];

/** The PHP code without comments and string contents. */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/'(?:[^'\\]|\\.)*'/g, "''");
}

describe.each(labs)("the playback file of a lab with %s", (_, spec) => {
  const m = model(spec);
  const s = pfSenseSettings(m);
  const text = renderPfSensePlayback(m, s);
  const php = code(text);

  it("calls only functions pfSense 2.7.2 and 2.8 both define, and config_read_file only where it exists", () => {
    const calls = [...php.matchAll(/\b([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)].map((x) => x[1]);
    expect(calls.filter((c) => !ON_BOTH.has(c) && !PHP.has(c) && c !== ONLY_28)).toEqual([]);
    // config_read_file is called once, inside `if (function_exists('config_read_file')) { … }`
    expect(calls.filter((c) => c === ONLY_28)).toHaveLength(1);
    const guard = text.indexOf("if (function_exists('config_read_file')) {");
    const call = text.indexOf("config_read_file(false, false)");
    const orElse = text.indexOf("} else {", guard);
    expect(guard).toBeGreaterThanOrEqual(0);
    expect(call).toBeGreaterThan(guard);
    expect(call).toBeLessThan(orElse);
  });

  it("re-reads config.xml on 2.7.2 into the global config (parse_config returns it and sets nothing)", () => {
    expect(text).toContain("$GLOBALS['config'] = parse_config(true);");
    // and before the first change, so nothing restored is lost and nothing stale is written
    expect(text.indexOf("parse_config(true)")).toBeLessThan(text.indexOf("config_set_path("));
    expect(text.indexOf("write_config(")).toBeGreaterThan(text.lastIndexOf("config_set_path("));
    expect(text.indexOf("filter_configure_sync()")).toBeGreaterThan(text.indexOf("write_config("));
    // a restored area reaches the resolver only when it is configured again (backup.inc runs only filter_configure)
    expect(text.trimEnd().split("\n").at(-1)).toBe("services_unbound_configure();");
  });

  it("keeps the config_set_path/config_del_path lines the twin parses, one call per line", () => {
    const set = text.split("\n").filter((l) => /^\s*config_set_path\('([^']+)',\s*(true|false|'[^']*')\);/.test(l));
    const del = text.split("\n").filter((l) => /^\s*config_del_path\('([^']+)'\);/.test(l));
    expect(set).toContain("config_set_path('system/webgui/noantilockout', true);");
    expect(set).toContain("config_set_path('interfaces/wan/blockbogons', true);");
    if (s.wanBlockPrivate) expect(set).toContain("config_set_path('interfaces/wan/blockpriv', true);");
    else expect(del).toEqual(["config_del_path('interfaces/wan/blockpriv');"]);
  });

  it("has no line pfSsh.php would run as a shell command or drop", () => {
    // pfSsh.php playback_text turns a line starting with ! into system() and drops one starting with = (pfSsh.php:358-372)
    expect(text.split("\n").filter((l) => l.startsWith("!") || l.startsWith("="))).toEqual([]);
  });

  const lint = spawnSync("php", ["--version"], { encoding: "utf8" });
  it.skipIf(lint.status !== 0)("is valid PHP (php -l, where php is installed)", () => {
    const r = spawnSync("php", ["-l"], { input: `<?php\n${text}`, encoding: "utf8" });
    expect(r.stdout + r.stderr).toContain("No syntax errors");
  });
});

describe("the DNS host overrides", () => {
  it.each(labs)("are the names RULES.md lists, split into pfSense's Host and Domain fields (%s)", (_, spec) => {
    const m = model(spec);
    const flows = labFlows(m);
    const rules = renderRulesMd(flows, pfSenseTables(flows), pfSenseSettings(m));
    const table = rules.slice(rules.indexOf("## DNS host overrides"), rules.indexOf("## Flows pfSense does not see"));
    const rows = [...table.matchAll(/^([a-z0-9.-]+) \| ([0-9.]+)$/gm)].map((r) => [r[1], r[2]]);
    const overrides = pfSenseHostOverrides(m);
    expect(overrides.map((o) => [o.fqdn, o.ip])).toEqual(rows);
    for (const o of overrides) expect(o.host ? `${o.host}.${o.domain}` : o.domain).toBe(o.fqdn);
  });

  it("give the registry its own name when the spec names it apart from the host's", () => {
    const m = model({ registry: { fqdn: "harbor.example.internal" } });
    const registry = m.hosts.find((h) => h.name === m.spec.registry.host)!;
    expect(pfSenseHostOverrides(m)).toContainEqual(expect.objectContaining({ fqdn: "harbor.example.internal", host: "harbor", domain: "example.internal", ip: registry.ip }));
  });

  it.each(labs)("are the DNS Resolver area's <hosts> entries, in pfSense's element names (%s)", (_, spec) => {
    const m = model(spec);
    const xml = renderUnboundXml(pfSenseHostOverrides(m));
    expect(XMLValidator.validate(xml)).toBe(true);
    const hosts = new XMLParser({ parseTagValue: false, isArray: (n) => n === "hosts" }).parse(xml).unbound.hosts as Record<string, string>[];
    expect(hosts.map((h) => [h.host, h.domain, h.ip])).toEqual(pfSenseHostOverrides(m).map((o) => [o.host, o.domain, o.ip]));
    for (const h of hosts) expect(Object.keys(h)).toEqual(["host", "domain", "ip", "descr", "aliases"]);
  });

  it("keep a description text, in CDATA, even one that tries to close it", () => {
    const xml = renderUnboundXml([{ fqdn: "a.b", host: "a", domain: "b", ip: "10.0.0.1", descr: "x]]><enable/>&<y" }]);
    expect(XMLValidator.validate(xml)).toBe(true);
    const unbound = new XMLParser({ parseTagValue: false, isArray: (n) => n === "hosts" }).parse(xml).unbound;
    expect(unbound.hosts[0].descr).toBe("x]]><enable/>&<y");
    expect(renderUnboundXml([{ fqdn: "a.b", host: "a", domain: "b", ip: "10.0.0.1", descr: "<y>" }])).toContain("<descr><![CDATA[<y>]]></descr>");
  });
});
