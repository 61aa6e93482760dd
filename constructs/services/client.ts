import { hostFlowId } from "../model/lab-flows";
import type { ServiceDescriptor } from "../model/service";
import { renderClientUserData } from "../render/cloud-init/client";

/**
 * The operator's client in MGMT: talosctl, kubectl and helm (OpenTofu too on the apply runner). It is
 * the only place that reaches the Talos API, the Kubernetes API, the Proxmox API and pfSense's webGUI,
 * and the only SSH client of the other Ubuntu hosts.
 */
export const CLIENT_SERVICE: ServiceDescriptor = {
  role: "client",
  summary: "operator box",
  zone: "mgmt",
  zoneReason: "the operator's box administers the lab from MGMT",
  defaultSize: { cores: 2, memoryMiB: 4096, diskGiB: 64 },
  minimumSize: { cores: 1, memoryMiB: 1024, diskGiB: 8, source: "Ubuntu cloud image minimum" },
  startupOrder: 3,
  hostOffset: 20,
  flows({ model: m, host: c }) {
    return [
      { id: hostFlowId(c.name, "talos-apid"), from: c.name, to: "group:talos", protocol: "tcp", ports: [50000], purpose: "operator runs talosctl against every node" },
      { id: hostFlowId(c.name, "kube-api"), from: c.name, to: "vip", protocol: "tcp", ports: [6443], purpose: "operator runs kubectl and helm" },
      { id: hostFlowId(c.name, "proxmox-api"), from: c.name, to: "proxmox", protocol: "tcp", ports: [8006], purpose: "operator reaches the Proxmox API and console" },
      { id: hostFlowId(c.name, "firewall-gui"), from: c.name, to: "firewall", protocol: "tcp", ports: [443], purpose: "operator manages pfSense (webGUI)" },
      ...m.hosts
        .filter((h) => h.name !== c.name)
        .map((h) => ({ id: hostFlowId(c.name, "ssh", h.name), from: c.name, to: h.name, protocol: "tcp" as const, ports: [22], purpose: `operator administers ${h.name} over SSH` })),
    ];
  },
  userData: ({ model, host }) => renderClientUserData(model, host),
};
