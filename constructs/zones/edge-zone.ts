import { Construct } from "constructs";
import { DownloadFile } from "../../.gen/providers/proxmox/download-file";
import { NetworkLinuxBridge } from "../../.gen/providers/proxmox/network-linux-bridge";
import { ProxmoxProvider } from "../../.gen/providers/proxmox/provider";
import { VirtualEnvironmentPool } from "../../.gen/providers/proxmox/virtual-environment-pool";
import { LabModel, ZoneName } from "../model/lab-model";
import { firewallInstaller } from "../model/firewall-installer";
import { renderFrrConf } from "../render/pfsense/frr-conf";
import { pfSenseTables } from "../render/pfsense/pfsense-rule-table";
import { renderAliasesXml, renderFilterXml, renderNatXml, renderUnboundXml } from "../render/pfsense/pfsense-xml";
import { renderRulesMd } from "../render/pfsense/rules-md";
import { PFSENSE_PLAYBACK, pfSenseHostOverrides, pfSenseSettings, renderPfSensePlayback } from "../render/pfsense/pfsense-settings";
import { FlowTable } from "../model/flows";
import { labFlows } from "../model/lab-flows";
import { DatacenterFirewall } from "../proxmox/datacenter-firewall";
import { LabVm } from "../proxmox/lab-vm";
import { NodeImages } from "../proxmox/node-images";
import { ZoneModule } from "./zone-module";

/** Properties for an {@link EdgeZone}. */
export interface EdgeZoneProps {
  /** The resolved lab. */
  readonly model: LabModel;
  /** The lab's flows, which its firewall rules derive from. Default: `labFlows(model)`. */
  readonly flows?: FlowTable;
}

const ZONES: readonly ZoneName[] = ["mgmt", "dmz", "srv"];
/** The segments behind pfSense's inner NICs: the zones, then the client LAN. */
type InnerSegment = ZoneName | "client";

/**
 * The `edge` module: internal zone bridges on every Proxmox node (when the spec manages them), the
 * client LAN's bridge on pfSense's node (when the spec manages bridges and the LAN is not an existing
 * one), the pfSense VM with NICs WAN, MGMT, DMZ, SRV, CLIENT in that order, its installer ISO downloaded
 * and checked by its Proxmox node (`proxmox_download_file.pfsense-installer`, unless the spec's
 * `firewall.isoFileId` names one already on the storage), the Ubuntu cloud image downloaded once per
 * node that runs an Ubuntu VM, and (with `proxmox.datacenterFirewall`, the default) the Proxmox
 * datacenter firewall switched on, so the VM firewalls of the modules applied after it act.
 *
 * Sidecars: the pfSense configuration derived from the flow model (`pfsense/aliases.xml`,
 * `filter.xml`, `nat.xml`, `frr.conf`, `RULES.md`), the DNS Resolver with the lab's names
 * (`unbound.xml`) and the settings' playback file.
 *
 * pfSense's fifth NIC (the client LAN) on a lab that has only four: bpg 0.111.1 updates `network_device`
 * in place without a reboot ("Network devices can be hotplugged", proxmoxtf/resource/vm/vm.go:6846 at
 * v0.111.1; no ForceNew on the block or its attributes), so adding it does not replace the firewall;
 * pfSense then needs the new vtnet4 assigned as OPT3 by hand (the pfsense-install step).
 *
 * Outputs: `bridges` (node → zone → bridge name, plus `client` on pfSense's node; references the bridge
 * resources so VMs wait for them),
 * `ubuntu_image_ids` (node → file id), `firewall_vm_id`.
 */
export class EdgeZone extends ZoneModule {
  /** Bridge resources by `<bridge>-<node>`. */
  readonly bridges = new Map<string, NetworkLinuxBridge>();
  /** The Ubuntu cloud image, downloaded once per node that runs an Ubuntu VM. */
  readonly ubuntuImages: NodeImages;
  /** The Proxmox pool `<lab>-edge` that holds the pfSense VM. */
  readonly pool: VirtualEnvironmentPool;
  /** The pfSense VM. */
  readonly firewall: LabVm;
  /**
   * `proxmox_download_file.pfsense-installer`: the pfSense node downloads the spec's
   * `firewall.installer`; absent when `firewall.isoFileId` names an ISO already on the storage.
   */
  readonly installer?: DownloadFile;
  /** The datacenter firewall switch, when the spec's `proxmox.datacenterFirewall` is on. */
  readonly datacenterFirewall?: DatacenterFirewall;

  constructor(scope: Construct, id: string, props: EdgeZoneProps) {
    super(scope, id);
    const m = props.model;
    const spec = m.spec;
    new ProxmoxProvider(this, "proxmox");

    const flows = props.flows ?? labFlows(m);
    const tables = pfSenseTables(flows);
    this.addSidecar("pfsense/aliases.xml", renderAliasesXml(tables));
    this.addSidecar("pfsense/filter.xml", renderFilterXml(tables));
    this.addSidecar("pfsense/nat.xml", renderNatXml(tables));
    this.addSidecar("pfsense/unbound.xml", renderUnboundXml(pfSenseHostOverrides(m)));
    this.addSidecar("pfsense/frr.conf", renderFrrConf(m));
    const settings = pfSenseSettings(m);
    this.addSidecar("pfsense/RULES.md", renderRulesMd(flows, tables, settings));
    this.addSidecar(PFSENSE_PLAYBACK.file, renderPfSensePlayback(m, settings));

    // The edge module is applied first, from outside: the datacenter firewall is on before any VM
    // firewall of the later modules exists.
    if (spec.proxmox.datacenterFirewall) this.datacenterFirewall = new DatacenterFirewall(this, "datacenter-firewall");

    this.pool = new VirtualEnvironmentPool(this, "pool", {
      poolId: `${m.name}-edge`,
      comment: `talos-enclave ${m.name}: edge (pfSense)`,
    });
    this.pool.overrideLogicalId("edge");

    const bridgeRef: Record<string, Record<string, string>> = {};
    const lan = (s: InnerSegment) => (s === "client" ? m.clientLan : m.zones[s]);
    for (const node of m.proxmoxNodes) {
      bridgeRef[node] = {};
      // The client LAN has no lab VM but pfSense: its bridge is needed on pfSense's node only.
      const segments: InnerSegment[] = node === m.firewall.node ? [...ZONES, "client"] : [...ZONES];
      for (const zone of segments) {
        const z = lan(zone);
        // an existing client LAN's bridge is the operators' network: never the lab's to create
        if (!spec.proxmox.manageBridges || (zone === "client" && m.clientLan.existing)) {
          bridgeRef[node][zone] = z.bridge;
          continue;
        }
        const rid = `${z.bridge}-${node}`;
        let bridge = this.bridges.get(rid);
        if (!bridge) {
          const created = segments.filter((o) => !(o === "client" && m.clientLan.existing));
          const sharing = created.filter((o) => lan(o).bridge === z.bridge);
          const tags = sharing.map((o) => lan(o).vlanId).filter((v): v is number => v !== undefined);
          const ports = spec.proxmox.nodes.find((n) => n.name === node)?.uplinks?.[z.bridge];
          bridge = new NetworkLinuxBridge(this, `bridge-${rid}`, {
            nodeName: node,
            name: z.bridge,
            comment: `talos-enclave ${m.name}: ${sharing.join(", ")}`,
            autostart: true,
            vlanAware: tags.length > 0,
            // The uplink joins this node's bridge to the others'; on a VLAN-aware bridge it trunks only
            // the zones' tags.
            ports: ports ? [...ports] : undefined,
            vids: ports && tags.length > 0 ? [...new Set(tags)].sort((a, b) => a - b).join(" ") : undefined,
          });
          bridge.overrideLogicalId(rid);
          this.bridges.set(rid, bridge);
        }
        bridgeRef[node][zone] = bridge.name;
      }
    }

    this.ubuntuImages = new NodeImages(this, "ubuntu-image", {
      nodes: m.ubuntuImageNodes,
      url: spec.images.ubuntuCloudImageUrl,
      fileName: spec.images.ubuntuCloudImageFileName,
      datastoreId: spec.proxmox.isoDatastore,
      idPrefix: "ubuntu",
    });

    const fw = m.firewall;
    const iso = firewallInstaller(spec);
    if (iso.kind === "download") {
      // The node downloads the .gz and gunzips it: PVE checks the checksum on the downloaded file
      // before it decompresses (pve-common src/PVE/Tools.pm download_file_from_url: the hash check,
      // then decompression_command), so the sha256 is the .gz's, as Netgate publishes it; bpg passes
      // checksum, checksum-algorithm and compression to PVE's download-url API as they are
      // (fwprovider/nodes/resource_download_file.go Create, v0.111.1). `overwrite` stays false: with it
      // on, bpg compares the file's size on the datastore (the ISO) with the size the URL reports (the
      // .gz) and would replace the download at every plan (sizeRequiresReplaceModifier, same file).
      this.installer = new DownloadFile(this, "pfsense-installer", {
        nodeName: fw.node,
        contentType: "iso",
        datastoreId: spec.proxmox.isoDatastore,
        url: iso.url,
        fileName: iso.fileName,
        checksum: iso.sha256,
        checksumAlgorithm: "sha256",
        decompressionAlgorithm: "gz",
        overwrite: false,
      });
      this.installer.overrideLogicalId("pfsense-installer");
    }
    this.firewall = new LabVm(this.vms, fw.name, {
      plan: fw,
      datastoreId: spec.proxmox.vmDatastore,
      bridges: fw.nics.map((n) => (n.segment === "wan" ? n.bridge : bridgeRef[fw.node][n.segment])),
      cdromFileId: this.installer ? this.installer.id : iso.fileId,
      poolId: this.pool.poolId,
      // pfSense is installed from the ISO once. A changed cdrom file_id would not replace the VM (bpg's
      // cdrom.file_id has no ForceNew and its update swaps the medium in place: proxmoxtf/resource/vm/
      // vm.go, the cdrom schema and the mkCDROM branch of the update, v0.111.1), but it would change the
      // installed firewall's drive: a new installer (another URL or file) is for new labs only.
      ignoreChanges: ["cdrom"],
    });

    this.output("bridges", bridgeRef, "bridge name per Proxmox node and zone");
    this.output("ubuntu_image_ids", this.ubuntuImages.fileIds(), "Ubuntu cloud image file id per Proxmox node");
    this.output("firewall_vm_id", this.firewall.vm.vmId, "Proxmox VM id of pfSense");
  }
}
