import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT, synthToTemp } from "./support/tree";

const STACK = join(PROJECT_ROOT, "examples", "reference-lab", "stacks", "talos-lab");
const mod = (name: string) => JSON.parse(readFileSync(join(STACK, "modules", name, "main.tf.json"), "utf8"));
const root = JSON.parse(readFileSync(join(STACK, "cdk.tf.json"), "utf8"));
type Vm = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("Proxmox layer of the reference lab", () => {
  const edge = mod("edge");
  const mgmt = mod("mgmt");
  const srv = mod("srv");
  const pfsense: Vm = edge.resource.proxmox_virtual_environment_vm.pfsense;

  it("wires pfSense NICs WAN, MGMT, DMZ, SRV, CLIENT and starts it first", () => {
    expect(pfsense.network_device.map((n: Vm) => n.bridge)).toEqual([
      "vmbr0",
      "${proxmox_network_linux_bridge.vmbr1-pve.name}",
      "${proxmox_network_linux_bridge.vmbr2-pve.name}",
      "${proxmox_network_linux_bridge.vmbr3-pve.name}",
      "${proxmox_network_linux_bridge.vmbr4-pve.name}",
    ]);
    expect(pfsense.startup.order).toBe(1);
    // installed from the ISO its node downloads: Netgate's public pfSense CE 2.7.2, the .gz's published SHA-256
    expect(pfsense.cdrom.file_id).toBe("${proxmox_download_file.pfsense-installer.id}");
    expect(edge.resource.proxmox_download_file["pfsense-installer"]).toMatchObject({
      node_name: pfsense.node_name,
      url: "https://atxfiles.netgate.com/mirror/downloads/pfSense-CE-2.7.2-RELEASE-amd64.iso.gz",
      checksum: "883fb7bc64fe548442ed007911341dd34e178449f8156ad65f7381a02b7cd9e4",
      checksum_algorithm: "sha256",
      decompression_algorithm: "gz",
      file_name: "pfSense-CE-2.7.2-RELEASE-amd64.iso",
      datastore_id: "local",
      content_type: "iso",
    });
  });

  it("switches the datacenter firewall on in the edge module, with Proxmox's defaults and the hosts' input left open", () => {
    // the edge module alone, once per Proxmox cluster, with every option explicit: bpg writes them all
    // (an unset enabled or ebtables would be sent as false, an unset input policy as DROP)
    const { "//": _metadata, ...datacenter } = edge.resource.proxmox_virtual_environment_cluster_firewall.datacenter; // eslint-disable-line @typescript-eslint/no-unused-vars
    expect(Object.keys(edge.resource.proxmox_virtual_environment_cluster_firewall)).toEqual(["datacenter"]);
    expect({ datacenter }).toEqual({
      datacenter: {
        enabled: true,
        ebtables: true,
        input_policy: "ACCEPT",
        output_policy: "ACCEPT",
        forward_policy: "ACCEPT",
        log_ratelimit: { enabled: true, burst: 5, rate: "1/second" },
      },
    });
    for (const name of ["mgmt", "dmz", "srv", "platform"]) expect(mod(name).resource?.proxmox_virtual_environment_cluster_firewall, name).toBeUndefined();
  });

  it("leaves the datacenter firewall out of every module when the spec's switch is off", () => {
    const t = synthToTemp({ proxmox: { datacenterFirewall: false } }, "dcfw-off");
    try {
      const modules = [...t.files].filter(([p]) => /\/modules\/[a-z]+\/main\.tf\.json$/.test(p));
      expect(modules.length).toBe(5);
      for (const [p, text] of modules) expect(JSON.parse(text).resource?.proxmox_virtual_environment_cluster_firewall, p).toBeUndefined();
      // the rest of the edge module is unchanged
      const edgeOff = JSON.parse(modules.find(([p]) => p.endsWith("/modules/edge/main.tf.json"))![1]);
      expect(Object.keys(edgeOff.resource).sort()).toEqual(Object.keys(edge.resource).filter((k) => k !== "proxmox_virtual_environment_cluster_firewall").sort());
    } finally {
      t.cleanup();
    }
  });

  it("creates each internal bridge once per node and no WAN bridge", () => {
    expect(Object.keys(edge.resource.proxmox_network_linux_bridge).sort()).toEqual(["vmbr1-pve", "vmbr2-pve", "vmbr3-pve", "vmbr4-pve"]);
  });

  it("admits the client LAN to the mgmt client's SSH and RDP, and nowhere else", () => {
    const accepts = (m: Vm) =>
      Object.entries(m.resource.proxmox_virtual_environment_firewall_rules as Record<string, Vm>).flatMap(([vm, r]) =>
        (r.rule as Vm[]).filter((x) => x.action === "ACCEPT" && String(x.source ?? "").includes("192.168.200.")).map((x) => `${vm} ${x.proto}/${x.dport}`),
      );
    expect([...accepts(mgmt), ...accepts(mod("dmz")), ...accepts(srv)]).toEqual(["mgmt-client tcp/22", "mgmt-client tcp/3389"]);
    // and the set that stands for "outside the lab" leaves it out, so no internet flow admits it
    const outside = mgmt.resource.proxmox_virtual_environment_firewall_ipset["registry-outside-lab"];
    expect(outside.cidr).toContainEqual(expect.objectContaining({ name: "192.168.200.0/24", nomatch: true }));
  });

  it("downloads the Ubuntu image once per node and builds Ubuntu VMs from it with cloud-init", () => {
    expect(Object.keys(edge.resource.proxmox_download_file).filter((k) => k !== "pfsense-installer")).toEqual(["ubuntu-pve"]);
    const registry: Vm = mgmt.resource.proxmox_virtual_environment_vm.registry;
    expect(registry.disk[0].file_id).toBe('${var.ubuntu_image_ids["pve"]}');
    expect(registry.disk[0].datastore_id).toBe("local-lvm");
    expect(registry.initialization.user_data_file_id).toBe("${proxmox_virtual_environment_file.registry-user-data.id}");
    expect(registry.initialization.ip_config[0].ipv4).toEqual({ address: "192.168.100.11/24", gateway: "192.168.100.1" });
    expect(registry.initialization.dns).toEqual({ domain: "mgmt.lab.internal", servers: ["192.168.100.1"] });
    expect(registry.agent.enabled).toBe(true);
    expect([registry.machine, registry.bios, registry.efi_disk.type]).toEqual(["q35", "ovmf", "4m"]);
    const snippet: Vm = mgmt.resource.proxmox_virtual_environment_file["registry-user-data"];
    expect(snippet.content_type).toBe("snippets");
    expect(snippet.source_raw.data).toBe(
      // the public parts only: the certificate, its key and Harbor's password come by provisioning over SSH
      '${templatefile("${path.root}/cloud-init/registry.user-data.yaml.tftpl", { ssh_authorized_keys = jsonencode(var.admin_ssh_public_keys), ' +
        "lab_ca_certificate = jsonencode(var.lab_ca_certificate) })}",
    );
  });

  it("boots Talos VMs from the internal factory's nocloud ISO with static addresses and the guest agent", () => {
    const cp: Vm = srv.resource.proxmox_virtual_environment_vm["talos-cp-1"];
    expect(cp.cdrom.file_id).toBe("${proxmox_download_file.talos-pve.id}");
    expect(srv.resource.proxmox_download_file["talos-pve"].url).toMatch(/^https:\/\/registry\.mgmt\.lab\.internal:9443\/image\//);
    expect(cp.initialization.ip_config[0].ipv4).toEqual({ address: "10.10.100.11/24", gateway: "10.10.100.1" });
    expect(cp.agent.enabled).toBe(true);
    expect(cp.scsi_hardware).toBe("virtio-scsi-pci");
    expect(cp.lifecycle.ignore_changes).toEqual(["cdrom"]);
    expect(cp.pool_id).toBe("${proxmox_virtual_environment_pool.srv.pool_id}");
  });

  it("keeps providers and secrets in the root only", () => {
    for (const m of ["edge", "mgmt", "dmz", "srv", "platform"]) {
      const doc = mod(m);
      expect(doc.provider, m).toBeUndefined();
      expect(doc.terraform.backend, m).toBeUndefined();
    }
    expect(root.terraform.required_providers.proxmox).toEqual({ source: "bpg/proxmox", version: "0.111.1" });
    expect(root.terraform.backend.local.path).toBe("../../../reference-lab.state/talos-lab/terraform.tfstate");
    for (const v of ["proxmox_api_token", "proxmox_ssh_private_key", "state_passphrase"]) expect(root.variable[v].sensitive, v).toBe(true);
    expect(root.terraform.encryption.state.enforced).toBe(true);
  });
});

describe("an existing client LAN", () => {
  it("gets pfSense's fifth NIC on its bridge and no bridge of the lab's", () => {
    const t = synthToTemp({ zones: { client: { bridge: "vmbr9", cidr: "10.20.0.0/24", existing: true, gateway: "10.20.0.254" } } }, "client-lan");
    try {
      const edge = JSON.parse(t.files.get("stacks/talos-lab/modules/edge/main.tf.json")!);
      expect(Object.keys(edge.resource.proxmox_network_linux_bridge).sort()).toEqual(["vmbr1-pve", "vmbr2-pve", "vmbr3-pve"]);
      expect(edge.resource.proxmox_virtual_environment_vm.pfsense.network_device.map((n: Vm) => n.bridge).at(-1)).toBe("vmbr9");
      expect(edge.output.bridges.value.pve.client).toBe("vmbr9");
      const rules = t.files.get("stacks/talos-lab/pfsense/RULES.md")!;
      expect(rules).toContain("opt3 (vtnet4) | CLIENT | vmbr9 | 10.20.0.254/24");
      expect(rules).toMatch(/need a route to the mgmt client's address \(or 192\.168\.100\.0\/24\) via 10\.20\.0\.254/);
      expect(t.files.get("stacks/talos-lab/README.md")).toContain("ip route add 192.168.100.20/32 via 10.20.0.254");
    } finally {
      t.cleanup();
    }
  });
});
