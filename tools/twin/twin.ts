import { writeFileSync, mkdirSync, chmodSync, chownSync, existsSync, readFileSync } from "node:fs";
import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { TwinAgent, ProbeOutcome } from "./agent";
import { birdConfig, nodeBlock } from "./calico";
import { pveFirewallNft, talosFirewallNft } from "./firewalls";
import { cidrContains, cidrsOverlap, nthAddress, parseCidr, networkOf } from "./ipv4";
import { NetnsLab, run } from "./netns";
import { pfHostOverrides, pfRuleset, pfSettings, PfInterfaceAddress, REPLY_TO } from "./pfsense";
import type { Step, TwinStack, TwinVm } from "./stack";

/**
 * The twin: the lab as network namespaces, built from the generated files only (stack.ts reads them)
 * and brought up step by step as apply-steps.json says, with the real routing daemons. What is
 * physical and outside the files is fixed here and said once:
 *
 * - the WAN: every Proxmox node's WAN bridge (pfSense's first NIC's bridge) has one physical port on
 *   one uplink switch, with an ISP router (the default gateway) and an operator workstation
 *   (`outside`); the router reaches an internet host and does not route a packet back into the link
 *   it came from (it never saw the connection);
 * - each zone bridge's uplink ports (the bridges' `ports`) are cabled to one switch per bridge name,
 *   which trunks every VLAN;
 * - pfSense's interfaces are assigned in NIC order (WAN, LAN, OPT1, OPT2, …) with the address the
 *   hosts on that segment use as their gateway, WAN by DHCP from the router; an interface no VM sits
 *   behind (the client LAN, OPT3) gets the address RULES.md's interface table gives it, and an
 *   operator's machine (`operator`) sits on that segment with pfSense as its gateway;
 * - Calico hands each Talos node one block of the pool, and each node runs one pod.
 */

/** A host of the twin: who answers probes, at which addresses. */
export interface TwinHost {
  /** Namespace key: `router`, `internet`, `outside`, `pve:<node>`, a VM name, `pod:<talos vm>`, `operator:<interface>`. */
  readonly label: string;
  readonly kind: "router" | "internet" | "outside" | "pve" | "vm" | "pod" | "operator";
  /** What its listeners answer with. */
  readonly name: string;
  /** Primary address first. */
  readonly addresses: string[];
  readonly vm?: TwinVm;
  /** The Talos node a pod runs on. */
  readonly node?: string;
}

/** One probe and what it saw. */
export interface ProbeRecord {
  readonly from: string;
  readonly to: string;
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  readonly ip: string;
  readonly expect: "connect" | "blocked";
  readonly responder?: readonly string[];
  readonly why: string;
  readonly got: ProbeOutcome;
  readonly ok: boolean;
}

export interface TwinOptions {
  readonly prefix?: string;
  readonly log?: (line: string) => void;
  /** TCP and UDP ports every listener binds (besides what daemons own). */
  readonly ports: { readonly tcp: readonly number[]; readonly udp: readonly number[] };
  /** Whether the apply switches the Proxmox datacenter firewall on; off, no VM firewall acts. */
  readonly datacenterFirewall?: boolean;
}

/** Whether a `vids` text (`100 200 300-310`) holds a VLAN. */
function vidsInclude(vids: string, vlan: number): boolean {
  return vids.split(/[\s,;]+/).filter(Boolean).some((v) => {
    const [a, b] = v.split("-").map(Number);
    return vlan >= a && vlan <= (b ?? a);
  });
}

const UPLINKS = ["192.168.1.0/24", "192.168.88.0/24", "10.254.254.0/24", "172.31.254.0/24"];
const INTERNET = { subnet: "93.184.216.0/24", router: "93.184.216.1", host: "93.184.216.34" };
const PF_NAMES = ["wan", "lan", "opt1", "opt2", "opt3", "opt4", "opt5", "opt6"];
const POD_GATEWAY = "169.254.1.1";
/** Host offset of the operator's machine on an interface no VM sits behind (the client LAN). */
const OPERATOR_OFFSET = 50;

/**
 * RULES.md's interface table (`opt3 (vtnet4) | CLIENT | vmbr4 | 192.168.200.1/24`): pfSense's address
 * with prefix by vtnet index, as the operator reads it at install.
 */
export function rulesMdInterfaces(text: string | undefined): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of (text ?? "").matchAll(/^[a-z0-9]+ \(vtnet(\d+)\) \| [^|]+ \| [^|]+ \| (\d+\.\d+\.\d+\.\d+\/\d+)$/gm)) out.set(Number(m[1]), m[2]);
  return out;
}

export class Twin {
  readonly lab: NetnsLab;
  readonly agent: TwinAgent;
  readonly hosts = new Map<string, TwinHost>();
  readonly uplink: string;
  readonly pfWan: string;
  /** pfSense's interfaces once assigned. */
  pfInterfaces: PfInterfaceAddress[] = [];
  /** Pod address and block per Talos node. */
  readonly pods = new Map<string, { ip: string; block: string }>();
  private readonly created = new Set<string>();
  private readonly log: (line: string) => void;
  private readonly segments = new Map<string, string>();
  private readonly fabricMade = new Set<string>();
  private daemons: { frr?: { vty: string }; bird: Map<string, string> } = { bird: new Map() };
  vip?: { address: string; holder: string };
  /** pfSense's DNS Resolver host overrides (lower-case name → addresses), once the import restored them. */
  dns = new Map<string, string[]>();

  constructor(
    readonly stack: TwinStack,
    readonly options: TwinOptions,
  ) {
    this.lab = new NetnsLab(options.prefix);
    this.agent = new TwinAgent();
    this.lab.track(this.agent.process);
    this.log = options.log ?? (() => undefined);
    const used = [...stack.vms.flatMap((v) => (v.address ? [networkOf(v.address)] : [])), stack.calico.pool.cidr, ...stack.serviceSubnets].map(parseCidr);
    const uplink = UPLINKS.find((u) => !used.some((c) => cidrsOverlap(c, parseCidr(u))));
    if (!uplink) throw new Error("no free subnet for the twin's WAN uplink");
    this.uplink = uplink;
    this.pfWan = nthAddress(uplink, 2);
  }

  get pfsense(): TwinVm {
    const pf = this.stack.vms.find((v) => v.os === "pfsense");
    if (!pf) throw new Error("the stack has no pfSense VM");
    return pf;
  }

  /** The physical world around the lab: uplink switch and ISP router, internet host, workstation, Proxmox nodes. */
  async physical(): Promise<void> {
    const L = this.lab;
    await L.add("router", true);
    await L.bridge("router", "uplink");
    await L.ip("router", "addr", "add", `${nthAddress(this.uplink, 1)}/24`, "dev", "uplink");
    await L.add("internet", false);
    await L.veth("router", "inet0", "internet", "eth0");
    await L.ip("router", "addr", "add", `${INTERNET.router}/24`, "dev", "inet0");
    await L.ip("internet", "addr", "add", `${INTERNET.host}/24`, "dev", "eth0");
    await L.ip("internet", "route", "add", "default", "via", INTERNET.router);
    await L.nft("router", `table inet isp {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n    iifname "uplink" oifname "uplink" drop comment "the ISP router does not route back into the link"\n    ct state established,related accept\n    iifname "inet0" ip daddr != ${this.pfWan} drop comment "from the internet only pfSense's WAN address is reachable (exposed host)"\n  }\n}\n`);
    this.addHost({ label: "internet", kind: "internet", name: "internet", addresses: [INTERNET.host] });
    await this.listen("internet");
    await L.add("outside", false);
    const op = L.linkName("u");
    await L.veth("outside", "eth0", "router", op);
    await L.bridgePort("router", "uplink", op);
    await L.ip("outside", "addr", "add", `${nthAddress(this.uplink, 250)}/24`, "dev", "eth0");
    await L.ip("outside", "route", "add", "default", "via", nthAddress(this.uplink, 1));
    this.addHost({ label: "outside", kind: "outside", name: "outside", addresses: [nthAddress(this.uplink, 250)] });
    const wanBridge = this.pfsense.nics[0].bridge;
    for (const [i, node] of this.stack.nodes.entries()) {
      const label = `pve:${node}`;
      await L.add(label, false);
      const wan = await this.segment(node, wanBridge, undefined);
      const port = L.linkName("u");
      await L.veth(label, "nic0", "router", port);
      await L.bridgePort("router", "uplink", port);
      await L.bridgePort(label, wan, "nic0");
      const address = nthAddress(this.uplink, 11 + i);
      await L.ip(label, "addr", "add", `${address}/24`, "dev", wan);
      await L.ip(label, "route", "add", "default", "via", nthAddress(this.uplink, 1));
      this.addHost({ label, kind: "pve", name: `proxmox:${node}`, addresses: [address] });
      await this.listen(label);
    }
  }

  private addHost(h: TwinHost): void {
    this.hosts.set(h.label, h);
  }

  private async listen(label: string, skip: readonly number[] = [], udpAddresses?: readonly string[]): Promise<void> {
    const h = this.hosts.get(label)!;
    const tcp = this.options.ports.tcp.filter((p) => !skip.includes(p));
    const udp = this.options.ports.udp.filter((p) => !skip.includes(p));
    await this.agent.listen(this.lab.nsPath(label), h.name, tcp, udp, udpAddresses ?? h.addresses);
  }

  /**
   * The L2 segment of a bridge and VLAN on a node (untagged: no VLAN), made on first use, joined to
   * the same segment on other nodes through each uplink port of the bridge that carries the VLAN: a
   * VLAN-aware bridge trunks its `vids` (Proxmox's default 2-4094), a plain bridge carries tagged NICs
   * through per-VLAN sub-interfaces of the same port (Proxmox's vmbrXvY), so every tag reaches the
   * wire. Untagged frames always cross.
   */
  private async segment(node: string, bridge: string, vlan: number | undefined): Promise<string> {
    const key = `${node}/${bridge}/${vlan ?? "-"}`;
    const made = this.segments.get(key);
    if (made) return made;
    const label = `pve:${node}`;
    const name = this.lab.linkName("s");
    this.segments.set(key, name);
    await this.lab.bridge(label, name);
    const declared = this.stack.bridges.find((b) => b.node === node && b.name === bridge);
    const carries = vlan === undefined || !declared?.vlanAware || vidsInclude(declared.vids ?? "2-4094", vlan);
    if (declared && carries) {
      for (const port of declared.ports) {
        const fabric = `fabric:${bridge}`;
        if (!this.lab.has(fabric)) await this.lab.add(fabric, false);
        const sw = `sw${vlan ?? 0}`;
        if (!this.fabricMade.has(`${bridge}/${sw}`)) {
          this.fabricMade.add(`${bridge}/${sw}`);
          await this.lab.bridge(fabric, sw);
        }
        const near = this.lab.linkName("p");
        const far = this.lab.linkName("f");
        await this.lab.veth(label, near, fabric, far);
        await this.lab.bridgePort(fabric, sw, far);
        await this.lab.bridgePort(label, name, near);
        this.log(`uplink ${node} ${bridge}${vlan ? ` VLAN ${vlan}` : ""} via ${port}`);
      }
    }
    return name;
  }

  /** A VM: namespace, NICs on its node's bridges, addresses, routes, firewalls, listeners. */
  async createVm(vm: TwinVm): Promise<void> {
    if (this.created.has(vm.name)) return;
    this.created.add(vm.name);
    const L = this.lab;
    await L.add(vm.name, vm.os !== "ubuntu");
    const pve = `pve:${vm.node}`;
    if (!L.has(pve)) throw new Error(`${vm.name} runs on Proxmox node ${vm.node}, which the twin does not have`);
    for (const nic of vm.nics) {
      const seg = await this.segment(vm.node, nic.bridge, nic.vlan);
      const inside = vm.os === "pfsense" ? `vtnet${nic.index}` : nic.index === 0 ? vm.ifname : `eth${nic.index}`;
      const tap = L.linkName("tap");
      await L.veth(vm.name, inside, pve, tap);
      await L.bridgePort(pve, seg, tap);
    }
    if (vm.os === "pfsense") {
      this.addHost({ label: vm.name, kind: "vm", name: vm.name, addresses: [], vm });
      return;
    }
    if (!vm.address || !vm.gateway) throw new Error(`${vm.name} has no address or gateway in the stack`);
    const ip = vm.address.split("/")[0];
    await L.ip(vm.name, "addr", "add", vm.address, "dev", vm.ifname);
    await L.ip(vm.name, "route", "add", "default", "via", vm.gateway);
    for (const r of vm.routes) await L.ip(vm.name, "route", "add", r.to, "via", r.via);
    const addresses = [ip];
    if (vm.os === "talos") {
      const vipDoc = vm.talosDocs.find((d) => d.kind === "Layer2VIPConfig");
      // Talos puts the VIP on the link the document names; a link the node does not have holds no VIP.
      if (vipDoc && String(vipDoc.link) !== vm.ifname) throw new Error(`${vm.name}: Layer2VIPConfig names link ${String(vipDoc.link)}, but the node's link is ${vm.ifname}`);
      if (vipDoc && !this.vip) {
        this.vip = { address: String(vipDoc.name), holder: vm.name };
        await L.ip(vm.name, "addr", "add", `${this.vip.address}/32`, "dev", vm.ifname);
        addresses.push(this.vip.address);
      }
      const fw = talosFirewallNft(vm.talosDocs, addresses, [...this.stack.podSubnets, ...this.stack.serviceSubnets]);
      if (fw) await L.nft(vm.name, fw);
    }
    for (const f of vm.nftFiles) await L.nft(vm.name, f.text.replace(/^#!.*\n/, ""));
    const pveFw = this.options.datacenterFirewall === false ? undefined : pveFirewallNft(vm, vm.ifname);
    if (pveFw) await L.nft(vm.name, pveFw);
    this.addHost({ label: vm.name, kind: "vm", name: vm.name, addresses, vm });
    const ingress = vm.role === "ingress" ? this.haproxyPorts() : [];
    await this.listen(vm.name, vm.os === "talos" ? [179, ...ingress] : ingress);
  }

  /** What the operator assigns on pfSense's console: each interface's address, WAN by DHCP. */
  async assignPfSense(): Promise<void> {
    const pf = this.pfsense;
    const L = this.lab;
    const ifaces: PfInterfaceAddress[] = [];
    const operators: { name: string; address: string; prefix: string; nic: (typeof pf.nics)[number] }[] = [];
    const table = rulesMdInterfaces(this.stack.pfsense.rules);
    for (const nic of pf.nics) {
      const name = PF_NAMES[nic.index];
      const device = `vtnet${nic.index}`;
      if (nic.index === 0) {
        ifaces.push({ name, device, subnet: this.uplink, address: this.pfWan });
        continue;
      }
      const members = this.stack.vms.filter((v) => v.os !== "pfsense" && v.nics[0]?.bridge === nic.bridge && v.nics[0]?.vlan === nic.vlan && v.address && v.gateway);
      if (members.length === 0 && table.has(nic.index)) {
        // no VM behind it: the operators' LAN, addressed as RULES.md says
        const [address, prefix] = table.get(nic.index)!.split("/");
        ifaces.push({ name, device: `vtnet${nic.index}`, subnet: networkOf(`${address}/${prefix}`), address });
        operators.push({ name, address, prefix, nic });
        continue;
      }
      const gateways = [...new Set(members.map((v) => `${v.gateway}/${v.address!.split("/")[1]}`))];
      if (gateways.length !== 1) throw new Error(`pfSense ${name} (${nic.bridge}${nic.vlan ? ` VLAN ${nic.vlan}` : ""}): the hosts on it name ${gateways.length} gateways (${gateways.join(", ")})`);
      const [address, prefix] = gateways[0].split("/");
      ifaces.push({ name, device, subnet: networkOf(`${address}/${prefix}`), address });
    }
    for (const i of ifaces) {
      const prefix = i.subnet.split("/")[1];
      await L.ip(pf.name, "addr", "add", `${i.address}/${prefix}`, "dev", i.device);
    }
    await L.ip(pf.name, "route", "add", "default", "via", nthAddress(this.uplink, 1));
    this.pfInterfaces = ifaces;
    const host = this.hosts.get(pf.name)!;
    host.addresses.push(...ifaces.map((i) => i.address));
    await this.listen(pf.name, [179]);
    // an operator's machine on each such LAN, on pfSense's node, pfSense its gateway
    for (const o of operators) {
      const subnet = networkOf(`${o.address}/${o.prefix}`);
      let ip = nthAddress(subnet, OPERATOR_OFFSET);
      if (ip === o.address) ip = nthAddress(subnet, OPERATOR_OFFSET + 1);
      const label = `operator:${o.name}`;
      await L.add(label, false);
      const seg = await this.segment(pf.node, o.nic.bridge, o.nic.vlan);
      const tap = L.linkName("tap");
      await L.veth(label, "eth0", `pve:${pf.node}`, tap);
      await L.bridgePort(`pve:${pf.node}`, seg, tap);
      await L.ip(label, "addr", "add", `${ip}/${o.prefix}`, "dev", "eth0");
      await L.ip(label, "route", "add", "default", "via", o.address);
      this.addHost({ label, kind: "operator", name: label, addresses: [ip] });
      await this.listen(label);
      this.log(`operator's machine ${ip} on pfSense ${o.name}`);
    }
  }

  /** The restore areas, the playback file and FRR, as the import step's commands say. */
  async importPfSense(step: Step): Promise<void> {
    const text = step.commands.join("\n");
    const pf = this.pfsense;
    if (/filter\.xml/.test(text)) {
      // Only the restore areas the step names are restored; the others keep pfSense's defaults (empty).
      const files = {
        aliases: /aliases\.xml/.test(text) ? this.stack.pfsense.aliases : "<aliases></aliases>",
        filter: this.stack.pfsense.filter,
        nat: /nat\.xml/.test(text) ? this.stack.pfsense.nat : "<nat></nat>",
      };
      const settings = pfSettings(/playback/.test(text) ? this.stack.pfsense.playback : undefined, files.nat);
      this.log(`pfSense settings: ${JSON.stringify(settings)}`);
      const ruleset = pfRuleset(files, this.pfInterfaces, settings);
      writeFileSync(join(this.lab.work, "pfsense.nft"), ruleset);
      await this.lab.nft(pf.name, ruleset);
      await this.lab.ip(pf.name, "rule", "add", "fwmark", String(REPLY_TO.mark), "table", String(REPLY_TO.table));
      await this.lab.ip(pf.name, "route", "add", "default", "via", nthAddress(this.uplink, 1), "dev", "vtnet0", "table", String(REPLY_TO.table));
    }
    if (/frr\.conf/.test(text)) await this.startFrr();
    // the DNS Resolver area, when the step restores it (else pfSense answers none of the lab's names)
    if (/unbound\.xml/.test(text) && this.stack.pfsense.unbound !== undefined) {
      this.dns = pfHostOverrides(this.stack.pfsense.unbound);
      this.log(`pfSense DNS Resolver: ${this.dns.size} host overrides`);
    }
  }

  /** What pfSense's DNS Resolver answers for a name from its host overrides (none when it has none). */
  resolve(name: string): string[] {
    return this.dns.get(name.toLowerCase()) ?? [];
  }

  /** zebra and bgpd from Debian's FRR in pfSense's namespace, on the generated frr.conf. */
  private async startFrr(): Promise<void> {
    const pf = this.pfsense.name;
    const dir = join(this.lab.work, "frr");
    mkdirSync(dir, { recursive: true });
    chmodSync(this.lab.work, 0o755); // the daemons drop to the frr user
    const uid = Number(execFileSync("id", ["-u", "frr"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "frr"]).toString().trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "frr.conf"), this.stack.pfsense.frr);
    writeFileSync(join(dir, "zebra.conf"), "hostname pfsense\n");
    const common = ["-u", "frr", "-g", "frr", "--vty_socket", dir, "-z", join(dir, "zserv.api")];
    await this.lab.exec(pf, "/usr/lib/frr/zebra", ["-d", "-f", join(dir, "zebra.conf"), "-i", join(dir, "zebra.pid"), ...common]);
    await this.lab.exec(pf, "/usr/lib/frr/bgpd", ["-d", "-f", join(dir, "frr.conf"), "-i", join(dir, "bgpd.pid"), "-p", "179", ...common]);
    this.daemons.frr = { vty: dir };
  }

  /** vtysh against the twin's FRR. */
  vtysh(command: string): Promise<string> {
    if (!this.daemons.frr) throw new Error("FRR is not running");
    return this.lab.exec(this.pfsense.name, "vtysh", ["--vty_socket", this.daemons.frr.vty, "-c", command]);
  }

  /**
   * The Proxmox node's own commands of a hand step (routes, a hosts line), with the twin's pfSense WAN
   * address: trees whose runbook prepared the nodes by hand. (tofu's preparation: {@link prepareNodes}.)
   */
  async proxmoxCommands(step: Step): Promise<void> {
    for (const c of step.commands) {
      // A hosts entry must name the address the host really has (the host is the name's first label).
      const h = /^echo\s+(['"])(\S+)\s+(\S+)\1\s*>>\s*\/etc\/hosts/.exec(c.trim());
      if (h) {
        const [ip, name] = [h[2], h[3]];
        const vm = this.stack.vms.find((v) => v.name === name.split(".")[0]);
        const actual = vm?.address?.split("/")[0];
        if (actual !== ip) throw new Error(`/etc/hosts maps ${name} to ${ip}, but ${vm ? `${vm.name} is at ${actual}` : "no VM has that name"}`);
      }
      const m = /^ip route (add|replace) (\S+) via <pfSense WAN address>/.exec(c.trim());
      if (!m) continue;
      for (const node of this.stack.nodes) await this.lab.ip(`pve:${node}`, "route", m[1], m[2], "via", this.pfWan);
    }
  }

  /**
   * tofu's preparations of the Proxmox nodes in a module (stack.preparations), run as tofu runs them:
   * the stack's script itself, with the resource's environment, where tofu runs. What the operator
   * sets is filled as the twin has it: `firewall_wan_address` is the WAN address pfSense took here
   * (its console shows it), `lab_ca_certificate` a sample PEM, every other variable (the SSH key)
   * empty. Its `ssh` is the twin's: it runs the program the script sends on standard input in the
   * node's namespace, with the real `ip` (so the route is the node's route) and the node's files under
   * a folder of its own (TE_ROOT); `systemctl` and `update-ca-certificates` are recorded, not run.
   * Afterwards each of the node's /etc/hosts lines must name an address its host has.
   *
   * @returns problems found (each a sentence); the twin goes on
   */
  async prepareNodes(module: string): Promise<string[]> {
    const problems: string[] = [];
    for (const p of this.stack.preparations.filter((x) => x.module === module)) {
      if (!this.stack.nodes.includes(p.node)) {
        problems.push(`terraform_data.${p.key} prepares ${p.node}, which is no Proxmox node of the lab`);
        continue;
      }
      const root = join(this.lab.work, "pve-root", p.node);
      mkdirSync(join(root, "etc"), { recursive: true });
      const bin = this.standins();
      const values: Record<string, string> = {
        firewall_wan_address: this.pfWan,
        lab_ca_certificate: "-----BEGIN CERTIFICATE-----\nVFdJTi1MQUItQ0E=\n-----END CERTIFICATE-----\n",
      };
      const env: Record<string, string> = {
        PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        HOME: this.lab.work,
        TWIN_NETNS: this.lab.ns(`pve:${p.node}`),
        TWIN_ROOT: root,
        TWIN_LOG: join(this.lab.work, "pve-calls.log"),
      };
      for (const [k, v] of Object.entries(p.environment)) env[k] = typeof v === "string" ? v : (values[v.variable] ?? "");
      try {
        await new Promise<void>((resolve, reject) =>
          execFile("bash", [join(this.stack.dir, p.script)], { env, timeout: 60_000 }, (err, _out, stderr) =>
            err ? reject(new Error(String(stderr).trim().split("\n").slice(-3).join(" / ") || err.message)) : resolve(),
          ),
        );
      } catch (e) {
        problems.push(`terraform_data.${p.key} (${p.script}) failed: ${(e as Error).message}`);
        continue;
      }
      this.log(`prepared Proxmox node ${p.node} (${p.script})`);
      const hostsFile = join(root, "etc", "hosts");
      const lines = existsSync(hostsFile) ? readFileSync(hostsFile, "utf8").split("\n") : [];
      for (const line of lines.map((l) => l.replace(/#.*$/, "").trim()).filter(Boolean)) {
        const [ip, ...names] = line.split(/\s+/);
        for (const name of names) {
          // a hosts entry must name the address the host really has (the host is the name's first label)
          const vm = this.stack.vms.find((v) => v.name === name.split(".")[0]);
          const actual = vm?.address?.split("/")[0];
          if (actual !== ip) problems.push(`/etc/hosts maps ${name} to ${ip}, but ${vm ? `${vm.name} is at ${actual}` : "no VM has that name"}`);
        }
      }
    }
    return problems;
  }

  private standinDir?: string;

  /** The twin's stand-ins for what the preparation runs where tofu runs and on the node. */
  private standins(): string {
    if (this.standinDir) return this.standinDir;
    const dir = join(this.lab.work, "standins");
    mkdirSync(dir, { recursive: true });
    const put = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      chmodSync(join(dir, name), 0o755);
    };
    // ssh user@node COMMAND: `true` answers; `bash -s` (or through sudo) runs the program on standard
    // input in the node's namespace, its files under TWIN_ROOT; anything else is refused
    put(
      "ssh",
      [
        "#!/bin/bash",
        "set -euo pipefail",
        `printf 'ssh\\t%s\\n' "$*" >> "$TWIN_LOG"`,
        "command=${*: -1}",
        '[ "$command" = true ] && exit 0',
        'case "$command" in "bash -s" | "sudo -n bash -s") ;; *) echo "twin ssh: unexpected command: $command" >&2; exit 2 ;; esac',
        'exec ip netns exec "$TWIN_NETNS" env TE_ROOT="$TWIN_ROOT" bash -s',
        "",
      ].join("\n"),
    );
    for (const tool of ["systemctl", "update-ca-certificates", "ssh-agent", "ssh-add"]) put(tool, `#!/bin/sh\nprintf '${tool}\\t%s\\n' "$*" >> "$TWIN_LOG"\n`);
    this.standinDir = dir;
    return dir;
  }

  /** Calico on every Talos node: a pod in the node's block, BIRD configured as calico-node would. */
  async startCalico(): Promise<void> {
    const talos = this.stack.vms.filter((v) => v.os === "talos" && this.created.has(v.name));
    const ips = talos.map((v) => v.address!.split("/")[0]);
    for (const [n, vm] of talos.entries()) {
      const block = nodeBlock(this.stack.calico, n);
      const podIp = nthAddress(block, 1);
      const label = `pod:${vm.name}`;
      await this.lab.add(label, false);
      const cali = this.lab.linkName("cali");
      await this.lab.veth(vm.name, cali, label, "eth0");
      await this.lab.ip(label, "addr", "add", `${podIp}/32`, "dev", "eth0");
      await this.lab.ip(label, "route", "add", `${POD_GATEWAY}/32`, "dev", "eth0", "scope", "link");
      await this.lab.ip(label, "route", "add", "default", "via", POD_GATEWAY, "dev", "eth0");
      await this.lab.sh(vm.name, `echo 1 > /proc/sys/net/ipv4/conf/${cali}/proxy_arp`);
      await this.lab.ip(vm.name, "route", "add", `${podIp}/32`, "dev", cali);
      this.pods.set(vm.name, { ip: podIp, block });
      this.addHost({ label, kind: "pod", name: `pod@${vm.name}`, addresses: [podIp], node: vm.name });
      await this.listen(label);
      const conf = join(this.lab.work, `bird-${n}.conf`);
      writeFileSync(conf, birdConfig(this.stack.calico, { ip: ips[n] }, block, ips));
      const sock = join(this.lab.work, `bird-${n}.ctl`);
      await this.lab.exec(vm.name, "bird", ["-c", conf, "-s", sock, "-P", join(this.lab.work, `bird-${n}.pid`)]);
      this.daemons.bird.set(vm.name, sock);
    }
  }

  /** birdc against a node's BIRD. */
  birdc(node: string, command: string): Promise<string> {
    const sock = this.daemons.bird.get(node);
    if (!sock) throw new Error(`no BIRD on ${node}`);
    return run("birdc", ["-s", sock, ...command.split(" ")]);
  }

  /**
   * Waits until every node's kernel routes every other node's block (through BGP); gives up at the
   * deadline, or once nothing has changed for `settleMs` (BIRD retries a session every 5 s).
   */
  async waitForPodRoutes(deadlineMs: number, settleMs = 12_000): Promise<string[]> {
    const start = Date.now();
    let missing: string[] = [];
    let last = "";
    let since = Date.now();
    while (Date.now() - start < deadlineMs) {
      const now = missing.join("\n");
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (missing.length > 0 && Date.now() - since > settleMs) break;
      missing = [];
      for (const [node] of this.pods) {
        const routes = await this.lab.ip(node, "-4", "route", "show", "proto", "bird");
        for (const [other, p] of this.pods) {
          if (other !== node && !routes.includes(p.block)) missing.push(`${node} has no route to ${other}'s block ${p.block}`);
        }
      }
      if (missing.length === 0) return [];
      await new Promise((r) => setTimeout(r, 1000));
    }
    return missing;
  }

  /** The ports HAProxy serves on an ingress host: those the WAN port-forwards bring to it. */
  haproxyPorts(): number[] {
    const ingress = this.stack.vms.filter((v) => v.role === "ingress").map((v) => v.name);
    return [...new Set(this.stack.flows.filter((f) => f.from === "internet" && ingress.includes(f.to)).flatMap((f) => f.ports.map(Number)))];
  }

  /**
   * HAProxy on each ingress host as the ingress controller would drive it once it sees the demo's
   * endpoints: every WAN port to the demo pods (TCP mode: the pods' answer comes back unchanged).
   */
  async startHaproxy(): Promise<void> {
    const ports = this.haproxyPorts();
    const demo = this.stack.demoPorts[0];
    if (!demo || this.pods.size === 0) return;
    for (const vm of this.stack.vms.filter((v) => v.role === "ingress" && this.created.has(v.name))) {
      const ip = vm.address!.split("/")[0];
      const servers = [...this.pods].map(([node, p], i) => `  server pod${i} ${p.ip}:${demo} check inter 1s # ${node}`);
      const cfg = `global\n  maxconn 200\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n${ports
        .map((p) => `frontend web${p}\n  bind ${ip}:${p}\n  default_backend demo\n`)
        .join("")}backend demo\n  balance roundrobin\n${servers.join("\n")}\n`;
      const file = join(this.lab.work, `haproxy-${vm.name}.cfg`);
      writeFileSync(file, cfg);
      await run("haproxy", ["-c", "-f", file]);
      this.lab.spawn(vm.name, "haproxy", ["-db", "-f", file]);
    }
    await new Promise((r) => setTimeout(r, 1500));
  }

  /**
   * Creates what a step brings up, as its commands say.
   *
   * @returns problems that do not stop the step (a wrong hosts line a preparation wrote)
   * @throws Error when the step cannot be carried out
   */
  async runStep(step: Step): Promise<string[]> {
    const text = step.commands.join("\n");
    if (step.where === "pfsense-console") {
      if (/\bassign\b/.test(text) && this.pfInterfaces.length === 0) await this.assignPfSense();
      if (/filter\.xml|frr\.conf|unbound\.xml/.test(text)) await this.importPfSense(step);
      return [];
    }
    if (step.where === "proxmox") {
      await this.proxmoxCommands(step);
      return [];
    }
    const problems: string[] = [];
    for (const c of step.commands) {
      const m = /^tofu apply\b(.*)$/.exec(c.trim());
      if (!m) continue;
      // -target=module.<m> creates that module; a command that targets only root resources (the
      // hand-off) creates no module; one that targets nothing creates them all
      const targets = [...m[1].matchAll(/-target=(\S+)/g)].map((t) => t[1]);
      const modules = targets.length ? targets.flatMap((t) => /^module\.([A-Za-z0-9_-]+)/.exec(t)?.[1] ?? []) : ["edge", "mgmt", "srv", "platform", "dmz"];
      for (const module of modules) problems.push(...(await this.createModule(module)));
    }
    return problems;
  }

  private modulesDone = new Set<string>();

  private async createModule(module: string): Promise<string[]> {
    if (this.modulesDone.has(module)) return [];
    this.modulesDone.add(module);
    this.log(`module ${module}`);
    const problems = await this.prepareNodes(module);
    for (const vm of this.stack.vms.filter((v) => v.module === module)) await this.createVm(vm);
    if (module === "platform") {
      await this.startCalico();
      const missing = await this.waitForPodRoutes(45_000);
      for (const m of missing) this.log(`BGP: ${m}`);
    }
    if (module === "dmz") await this.startHaproxy();
    return problems;
  }

  /** Addresses of a flow or step endpoint seen from a source (pfSense answers at the source's gateway). */
  hostsOf(endpoint: string): TwinHost[] {
    const all = [...this.hosts.values()];
    const vmHosts = all.filter((h) => h.kind === "vm" && h.vm?.os !== "pfsense");
    switch (endpoint) {
      case "outside":
        return all.filter((h) => h.kind === "outside");
      case "internet":
        return all.filter((h) => h.kind === "internet");
      case "proxmox":
        return all.filter((h) => h.kind === "pve");
      case "pods":
        return all.filter((h) => h.kind === "pod");
      case "firewall":
        return all.filter((h) => h.vm?.os === "pfsense");
      case "group:talos":
        return vmHosts.filter((h) => h.vm!.os === "talos");
      case "group:controlplanes":
        return vmHosts.filter((h) => h.vm!.role === "controlplane");
      case "group:workers":
        return vmHosts.filter((h) => h.vm!.role === "worker");
      case "vip":
        return this.vip ? [{ label: this.vip.holder, kind: "vm", name: this.vip.holder, addresses: [this.vip.address], vm: this.hosts.get(this.vip.holder)?.vm }] : [];
    }
    // the client LAN holds no lab VM: its machines are the operators'
    if (endpoint === "zone:client") return all.filter((h) => h.kind === "operator");
    if (endpoint.startsWith("zone:")) return vmHosts.filter((h) => h.vm!.zone === endpoint.slice(5));
    const h = this.hosts.get(endpoint);
    return h ? [h] : [];
  }

  /** The address a source uses to reach a destination host (pfSense: its address on the source's side). */
  addressFor(src: TwinHost, dst: TwinHost): string | undefined {
    if (dst.vm?.os !== "pfsense") return dst.addresses[0];
    if (src.kind === "pod") return this.pfInterfaces.find((i) => i.name !== "wan" && src.node && cidrContains(parseCidr(i.subnet), this.hosts.get(src.node)!.addresses[0]))?.address;
    const ip = src.addresses[0];
    return this.pfInterfaces.find((i) => cidrContains(parseCidr(i.subnet), ip))?.address ?? this.pfWan;
  }

  async probe(src: TwinHost, ip: string, protocol: "tcp" | "udp", port: number, timeoutMs: number): Promise<ProbeOutcome> {
    const bind = src.kind === "pod" ? src.addresses[0] : undefined;
    return this.agent.probe(this.lab.nsPath(src.label), protocol, ip, port, timeoutMs, bind);
  }

  async teardown(): Promise<void> {
    await this.agent.close();
    await this.lab.teardown();
  }
}
