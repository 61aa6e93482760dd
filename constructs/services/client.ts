import { hostFlowId } from "../model/lab-flows";
import type { ServiceDescriptor } from "../model/service";
import { renderClientUserData } from "../render/cloud-init/client";
import { CLIENT_DESKTOP_PASSWORD, clientDesktop, clientDesktopProvision } from "../render/cloud-init/client-desktop";
import { MODULE_VARIABLES } from "../render/cloud-init/common";
import { markdownCell } from "../render/text/markdown";

/**
 * The operator's client in MGMT: talosctl, kubectl and helm (OpenTofu too on the apply runner), and,
 * unless `clientDesktop.enabled` is false, an Xfce desktop over RDP with a browser (see
 * render/cloud-init/client-desktop.ts). It is the only place that reaches the Talos API, the
 * Kubernetes API, the Proxmox API and web UI and pfSense's webGUI, and the only SSH client of the
 * other Ubuntu hosts. The desktop's password (`client_desktop_password`) reaches the host over SSH.
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
      { id: hostFlowId(c.name, "proxmox-api"), from: c.name, to: "proxmox", protocol: "tcp", ports: [8006], purpose: "operator uses the Proxmox web UI, API and console" },
      { id: hostFlowId(c.name, "firewall-gui"), from: c.name, to: "firewall", protocol: "tcp", ports: [443], purpose: "operator manages pfSense in its webGUI" },
      ...m.hosts
        .filter((h) => h.name !== c.name)
        .map((h) => ({ id: hostFlowId(c.name, "ssh", h.name), from: c.name, to: h.name, protocol: "tcp" as const, ports: [22], purpose: `operator administers ${h.name} over SSH` })),
    ];
  },
  userData: ({ model, host }) => renderClientUserData(model, host),
  variables: {
    [CLIENT_DESKTOP_PASSWORD]: { type: "string", sensitive: true, description: MODULE_VARIABLES.client_desktop_password },
  },
  // the desktop's password comes over SSH after boot (chpasswd), never through the snippet
  provision: ({ model }) => clientDesktopProvision(model),
  readme({ model: m, host }) {
    const d = clientDesktop(m);
    if (!d.enabled) return ["Command line only (`clientDesktop.enabled: false`): reach it over SSH."];
    const proxmox = m.spec.proxmox.nodes.map((n) => `\`https://${markdownCell(n.address ?? n.name)}:8006/\``).join(", ");
    return [
      `- Desktop: RDP to \`${markdownCell(host.ip ?? host.name)}:3389\` (xrdp, TLS only; the certificate is the host's own, made when it was installed: compare its fingerprint on first use), an Xfce session; log in as \`${markdownCell(m.spec.adminUser)}\` with \`client_desktop_password\`. Root cannot log in; SSH takes keys only.`,
      `- Browser: Epiphany (Web), which trusts the lab CA: pfSense \`https://${markdownCell(m.zones.mgmt.gateway)}/\`, Harbor \`https://${markdownCell(m.spec.registry.fqdn)}/\`, Proxmox ${proxmox}.`,
      `- Packages: installed by \`talos-enclave-desktop.service\` from the Ubuntu archive snapshot \`${d.aptSnapshot}\` (\`clientDesktop.aptSnapshot\`; not older than the cloud image the host booted from).`,
    ];
  },
};
