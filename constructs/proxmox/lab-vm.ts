import { Construct } from "constructs";
import { VirtualEnvironmentVm } from "../../.gen/providers/proxmox/virtual-environment-vm";
import { VmPlan } from "../model/lab-model";
import { networkDevice } from "./network-device";

/** Properties for a {@link LabVm}. */
export interface LabVmProps {
  /** The VM as planned in the model: node, id, size, NICs, address. */
  readonly plan: VmPlan;
  /** Datastore for the boot disk, EFI disk and cloud-init drive. */
  readonly datastoreId: string;
  /** Bridge per NIC, in plan order (module variables, so the VM depends on the bridges). */
  readonly bridges: readonly string[];
  /** Image the boot disk is created from (Ubuntu cloud image). Default: an empty boot disk. */
  readonly diskFileId?: string;
  /** ISO attached as CD-ROM (pfSense installer, Talos nocloud image). Default: no CD-ROM. */
  readonly cdromFileId?: string;
  /** cloud-init user-data snippet (Ubuntu). Default: no user-data. */
  readonly userDataFileId?: string;
  /** DNS servers handed out through cloud-init. Default: none set. */
  readonly dnsServers?: readonly string[];
  /** Proxmox pool the VM joins. Default: no pool. */
  readonly poolId?: string;
  /** Attributes a later change must not touch (boot media of Talos VMs). Default: none. */
  readonly ignoreChanges?: readonly string[];
  /**
   * UEFI SecureBoot: the EFI disk starts without Microsoft's keys (setup mode, so the Talos
   * SecureBoot ISO enrolls its own) and the VM gets a TPM 2.0 for measured boot and disk encryption.
   *
   * @default false
   */
  readonly secureBoot?: boolean;
  /**
   * A TPM 2.0 (`tpm_state`), e.g. to seal the Talos disk encryption keys to.
   *
   * @default the value of `secureBoot`
   */
  readonly tpm?: boolean;
}

/**
 * One lab VM on Proxmox: q35, VirtIO SCSI, NICs in plan order, start order from the plan.
 * Guest-specific choices (firmware, guest agent, media) follow the plan's OS:
 * - pfsense: SeaBIOS, installer ISO, no guest agent (not in a stock install);
 * - ubuntu: OVMF + EFI disk, disk imported from the cloud image, cloud-init user-data, guest agent;
 * - talos: OVMF + EFI disk, empty install disk, nocloud ISO, static address via cloud-init, guest agent
 *   (the qemu-guest-agent extension is in the schematic).
 * The underlying resource is `vm` (escape hatch: `labVm.vm.addOverride(...)`).
 */
export class LabVm extends Construct {
  /** The underlying `proxmox_virtual_environment_vm` resource. */
  readonly vm: VirtualEnvironmentVm;

  constructor(scope: Construct, id: string, props: LabVmProps) {
    super(scope, id);
    const p = props.plan;
    const uefi = p.os !== "pfsense";
    const cloudInit = p.os !== "pfsense" && p.address !== undefined;

    this.vm = new VirtualEnvironmentVm(this, "vm", {
      nodeName: p.node,
      name: p.name,
      vmId: p.vmId,
      description: `${p.role} of the ${p.tags[1]} lab (${p.module}); managed by talos-enclave`,
      tags: [...p.tags],
      poolId: props.poolId,
      machine: "q35",
      bios: uefi ? "ovmf" : "seabios",
      scsiHardware: "virtio-scsi-pci",
      onBoot: true,
      started: true,
      stopOnDestroy: true,
      // Placement follows the spec's node list, so adding a Proxmox node can move a VM. bpg replaces a
      // VM whose node_name changes unless migrate is set, when it migrates it instead
      // (proxmoxtf/resource/vm/vm.go:1781): a move must never cost a VM its disks.
      migrate: true,
      // A Talos VM never reboots on a terraform update (bpg reboots for cpu, memory and most other
      // changes unless told not to, proxmoxtf/resource/vm/vm.go:6418-6811): three control planes
      // rebooting at once lose etcd quorum. The change waits for `bash upgrade.sh --reboot`.
      rebootAfterUpdate: p.os === "talos" ? false : undefined,
      operatingSystem: { type: p.os === "pfsense" ? "other" : "l26" },
      cpu: { cores: p.size.cores, type: "host" },
      memory: { dedicated: p.size.memoryMiB },
      agent: { enabled: p.os !== "pfsense", trim: p.os !== "pfsense" },
      efiDisk: uefi ? { datastoreId: props.datastoreId, type: "4m", preEnrolledKeys: false } : undefined,
      tpmState: (props.tpm ?? props.secureBoot) ? { datastoreId: props.datastoreId, version: "v2.0" } : undefined,
      disk: [
        {
          interface: "scsi0",
          datastoreId: props.datastoreId,
          size: p.size.diskGiB,
          fileId: props.diskFileId,
          iothread: false,
          discard: "on",
          ssd: true,
        },
      ],
      cdrom: props.cdromFileId ? { fileId: props.cdromFileId, interface: "ide3" } : undefined,
      bootOrder: props.cdromFileId ? ["scsi0", "ide3"] : ["scsi0"],
      serialDevice: p.os === "ubuntu" ? [{ device: "socket" }] : undefined,
      initialization: cloudInit
        ? {
            datastoreId: props.datastoreId,
            interface: "ide2",
            ipConfig: [{ ipv4: { address: p.address, gateway: p.gateway } }],
            dns: { domain: p.domain, servers: props.dnsServers ? [...props.dnsServers] : undefined },
            userDataFileId: props.userDataFileId,
          }
        : undefined,
      startup: { order: p.startupOrder, upDelay: p.role === "firewall" ? 60 : 0, downDelay: 0 },
      lifecycle: props.ignoreChanges ? { ignoreChanges: [...props.ignoreChanges] } : undefined,
    });
    this.vm.overrideLogicalId(p.name);
    this.vm.addOverride(
      "network_device",
      // pfSense is the firewall; every other VM's NIC goes through its Proxmox firewall.
      p.nics.map((nic, i) => networkDevice({ ...nic, bridge: props.bridges[i] }, p.role !== "firewall")),
    );
  }
}
