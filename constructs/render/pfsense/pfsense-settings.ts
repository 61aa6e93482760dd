import { isMember, LabModel } from "../../model/lab-model";
import { cidrContains, isIpv4, parseCidr } from "../../input/addressing";

/**
 * The pfSense settings outside the filter and NAT areas that decide what the lab's rules mean, chosen
 * from the lab's flows. Facts from pfSense's source (pfsense/pfsense, src/etc/inc/filter.inc, 2.8
 * branch point 6a92af1):
 *
 * - Anti-lockout: unless `system/webgui/noantilockout` is present, pfSense passes tcp to the LAN
 *   address on the webGUI ports (443, 80, and 22 with SSH on) from any MGMT host, before every user
 *   rule (filter_rules_generate). The lab lets only the mgmt client reach the GUI, so it is disabled.
 * - Block private networks (`interfaces/wan/blockpriv`): drops sources in 10/8, 127/8, 172.16/12,
 *   192.168/16 arriving on WAN, before user rules. The Proxmox hosts sit on the WAN side and download
 *   from the Image Factory; where their addresses are private or unknown, the block is switched off.
 *   Bogons (`blockbogons`) stay on: the bogon table strips RFC 1918 (rc.update_bogons.sh).
 * - Automatic outbound NAT (`nat/outbound/mode` automatic) translates internal subnets leaving WAN to
 *   pfSense's WAN address: the Proxmox API sees the firewall, not the mgmt client. The lab keeps it
 *   (nat.xml says so), and RULES.md states it.
 *
 * A restore area replaces its whole top-level section, and there is no `system/webgui` area
 * (diag_backup.php build_area_list), so these settings come as a pfSsh.php playback file that changes
 * exactly them (`config_set_path`/`config_del_path`, then `write_config` and a filter reload).
 *
 * The playback file runs on the spec's default pfSense CE 2.7.2 and on 2.8. Facts from pfsense/pfsense
 * at 5060f7cf25 ("Promote to 2.7.2-RELEASE", branch RELENG_2_7_2; the repository has no v2.7.2 tag)
 * and at 6a92af1458 (the last 2.8.0-DEVELOPMENT commit of master before "Bump to 2.9.0-DEVELOPMENT"):
 *
 * - 2.7.2 has no `config_read_file` (git grep finds no definition in src/etc/inc); it appeared with
 *   735b76815b "Introduce explicit config file read/write functions" (2024-08), in 2.8:
 *   6a92af1:src/etc/inc/config.lib.inc:1274 `config_read_file(bool $use_backup = false, bool $use_cache = false)`.
 *   Calling it on 2.7.2 is a fatal "Call to undefined function" before any setting is written.
 * - 2.7.2 re-reads config.xml with `parse_config($parse = false)` (5060f7cf25:src/etc/inc/config.lib.inc:85),
 *   which returns the array and does not set the global: `$config = parse_config(true)` stores it
 *   (config.inc:136-137 does the same at load). pfSsh.php's `playback_text` evals the file inside a
 *   function after `global $config;` (5060f7cf25:src/usr/local/sbin/pfSsh.php:351-375); 2.8 dropped that
 *   line, so the file assigns `$GLOBALS['config']`, which is the global either way. On 2.8,
 *   `parse_config` is a deprecated stub over `config_read_file` (6a92af1:config.lib.inc:1382-1385) and
 *   master (2.9) removed it (0e56ef43ec), hence `config_read_file` where it exists, `parse_config` where not.
 * - `config_set_path(string $path, $value, $default = null)` (5060f7cf25:config.lib.inc:1232; 6a92af1:1155),
 *   `config_del_path(string $path)` (5060f7cf25:config.lib.inc:1258; 6a92af1:1221, with an optional
 *   `$default` added), `write_config($desc = "Unknown", $backup = true, $write_config_only = false)`
 *   (5060f7cf25:config.lib.inc:605; 6a92af1:537) and `filter_configure_sync($delete_states_if_needed = true)`
 *   (5060f7cf25:src/etc/inc/filter.inc:314; 6a92af1:342) exist on both with these signatures.
 * - 2.7.2's own webGUI writes the same values: `config_set_path('system/webgui/noantilockout', true)` /
 *   `config_del_path(...)` (src/usr/local/pfSense/include/www/system_advanced_admin.inc:240-243) and
 *   `array_set_path($wancfg, 'blockpriv', true)` (src/usr/local/www/interfaces.php:1662); the filter
 *   tests them with `config_path_enabled` (filter.inc:4208 anti-lockout, :3937 bogons, :3980 private).
 * - Restoring an area runs only `filter_configure()` afterwards (src/usr/local/pfSense/include/www/backup.inc,
 *   execPost), so the DNS Resolver keeps answering from its old configuration until it is configured
 *   again: the file ends with `services_unbound_configure($restart_dhcp = true, $interface = '')`
 *   (5060f7cf25:src/etc/inc/services.inc:4254; 6a92af1:4855), which regenerates unbound's configuration
 *   from the `unbound` section and restarts it. services.inc comes with functions.inc, which pfSsh.php
 *   loads (src/etc/inc/functions.inc:38).
 * - pfSsh.php reads a line starting with `!` as a shell command and drops one starting with `=`
 *   (5060f7cf25:pfSsh.php:358-372); no line here starts with either.
 */
export interface PfSenseSettings {
  /** `system/webgui/noantilockout` is set. */
  readonly noAntiLockout: true;
  /** Whether `interfaces/wan/blockpriv` stays on. */
  readonly wanBlockPrivate: boolean;
  /** Why `blockpriv` is off, when it is. */
  readonly wanBlockPrivateReason?: string;
}

const PRIVATE = ["10.0.0.0/8", "127.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map(parseCidr);

/**
 * The settings a lab needs: anti-lockout always off; WAN's private-network block on only when every
 * Proxmox host has a public address in the spec (it would drop their Image Factory downloads otherwise).
 */
export function pfSenseSettings(m: LabModel): PfSenseSettings {
  const nodes = m.spec.proxmox.nodes;
  const unknown = nodes.some((n) => n.address === undefined || !isIpv4(n.address));
  const privateAddr = nodes.filter((n) => n.address !== undefined && PRIVATE.some((c) => cidrContains(c, n.address!)));
  if (unknown) return { noAntiLockout: true, wanBlockPrivate: false, wanBlockPrivateReason: "the Proxmox hosts' addresses are not in the spec, and a WAN uplink is usually a private network" };
  if (privateAddr.length) return { noAntiLockout: true, wanBlockPrivate: false, wanBlockPrivateReason: `the Proxmox hosts (${privateAddr.map((n) => n.address).join(", ")}) have private addresses` };
  return { noAntiLockout: true, wanBlockPrivate: true };
}

/** Path of the playback file in the stack, and the name pfSsh.php knows it by. */
export const PFSENSE_PLAYBACK = { file: "pfsense/phpshellsessions/talos-enclave", name: "talos-enclave" } as const;

/**
 * The pfSsh.php playback file: copied to `/etc/phpshellsessions/talos-enclave` and run with
 * `pfSsh.php playback talos-enclave`. Playback files are PHP without the opening tag (pfSsh.php
 * `playback_text` evaluates them with functions.inc, globals.inc and config.inc loaded).
 */
export function renderPfSensePlayback(m: LabModel, s: PfSenseSettings): string {
  return [
    `/* ${m.name}: the pfSense settings the lab's rules rely on. Generated by talos-enclave.`,
    ` * Copy to /etc/phpshellsessions/talos-enclave and run: pfSsh.php playback talos-enclave`,
    ` * It changes exactly these settings; nothing else of System or Interfaces. Run it after restoring`,
    ` * the areas: it reloads the filter and the DNS Resolver (the restored unbound.xml) at the end. */`,
    `require_once("filter.inc");`,
    `/* re-read config.xml (not the cache), so the restored areas are what write_config saves:`,
    ` * config_read_file exists from 2.8 on; 2.7.2 has parse_config(true), which returns the array */`,
    `if (function_exists('config_read_file')) {`,
    `  if (config_read_file(false, false) === false) {`,
    `    echo "talos-enclave: config.xml could not be read; nothing changed\\n";`,
    `    exit(1);`,
    `  }`,
    `} else {`,
    `  $GLOBALS['config'] = parse_config(true);`,
    `}`,
    `/* anti-lockout off: only the mgmt client may reach the webGUI (the filter rules say so) */`,
    `config_set_path('system/webgui/noantilockout', true);`,
    s.wanBlockPrivate
      ? `/* WAN keeps blocking private sources: the Proxmox hosts have public addresses */\nconfig_set_path('interfaces/wan/blockpriv', true);`
      : `/* WAN must accept private sources: ${s.wanBlockPrivateReason} */\nconfig_del_path('interfaces/wan/blockpriv');`,
    `config_set_path('interfaces/wan/blockbogons', true);`,
    `write_config("talos-enclave ${m.name}: anti-lockout off, WAN private-network block ${s.wanBlockPrivate ? "on" : "off"}");`,
    `filter_configure_sync();`,
    `/* the DNS Resolver reads the restored unbound area (its host overrides) only when it is configured */`,
    `services_unbound_configure();`,
    ``,
  ].join("\n");
}

/** One DNS Resolver host override: a `<hosts>` entry of `unbound.xml`, the fields of Services > DNS Resolver > Host Overrides. */
export interface PfSenseHostOverride {
  /** The whole name, as the lab's hosts look it up. */
  readonly fqdn: string;
  /** The form's Host field: the first label (empty for a one-label name, which pfSense accepts). */
  readonly host: string;
  /** The form's Domain field: the rest of the name (required by the form). */
  readonly domain: string;
  /** The form's IP Address field. */
  readonly ip: string;
  /** The form's Description field: what answers at the name. */
  readonly descr: string;
}

/**
 * The names the lab resolves only through pfSense's DNS Resolver (every zone's DNS server is pfSense):
 * each VM with an address, the registry's name when the spec gives it one of its own, and the
 * Kubernetes API name at the VIP. The same list as RULES.md's "DNS host overrides". In 2.7.2's form,
 * Domain and IP address are required and Host is optional (services_unbound_host_edit.php:69-75).
 */
export function pfSenseHostOverrides(m: LabModel): PfSenseHostOverride[] {
  const registry = m.registry;
  const names: [string, string, string][] = [
    ...m.vms.filter(isMember).map((v): [string, string, string] => [v.fqdn, v.ip, `VM ${v.name}`]),
    ...(m.spec.registry.fqdn !== registry.fqdn ? [[m.spec.registry.fqdn, registry.ip, `the registry's name for VM ${registry.name}`] as [string, string, string]] : []),
    [m.kubernetesApi.fqdn, m.kubernetesApi.vip, "Kubernetes API (VIP)"],
  ];
  return names.map(([fqdn, ip, what]) => {
    const dot = fqdn.indexOf(".");
    return dot < 0 ? { fqdn, host: "", domain: fqdn, ip, descr: what } : { fqdn, host: fqdn.slice(0, dot), domain: fqdn.slice(dot + 1), ip, descr: what };
  });
}
