import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hostFlowId, ServiceDescriptor, serviceUserData } from "talos-enclave";

/**
 * Prometheus in MGMT, scraping the node exporter on every Talos node: a service the lab does not
 * ship, added from outside the package in one descriptor plus its cloud-config template.
 */
export const PROMETHEUS: ServiceDescriptor = {
  role: "prometheus",
  summary: "Prometheus server",
  zone: "mgmt",
  zoneReason: "monitoring reaches into SRV, and only MGMT may start connections there",
  defaultSize: { cores: 2, memoryMiB: 4096, diskGiB: 64 },
  minimumSize: { cores: 1, memoryMiB: 2048, diskGiB: 16, source: "a small Prometheus: 2 GiB for the TSDB head, 16 GiB of retention" },
  // After the registry (2), before the Talos nodes (5) it scrapes.
  startupOrder: 3,
  // .30 in MGMT when the spec gives the host no address.
  hostOffset: 30,
  flows: ({ model, host }) => [
    {
      id: hostFlowId(host.name, "node-exporter"),
      from: host.name,
      to: "group:talos",
      protocol: "tcp",
      ports: [9100],
      purpose: "Prometheus scrapes the node exporter on every Talos node",
    },
    ...model.hosts
      .filter((h) => h.role === "client")
      .map((c) => ({
        id: hostFlowId(host.name, "ui", c.name),
        from: c.name,
        to: host.name,
        protocol: "tcp" as const,
        ports: [9090],
        purpose: "operator reads Prometheus's web UI and API",
      })),
  ],
  userData: (ctx) => {
    const talos = [...ctx.model.controlPlanes, ...ctx.model.workers];
    const config = [
      "global:",
      "  scrape_interval: 30s",
      "scrape_configs:",
      "  - job_name: talos-nodes",
      "    static_configs:",
      `      - targets: ${JSON.stringify(talos.map((n) => `${n.ip}:9100`))}`,
      "",
    ].join("\n");
    return serviceUserData(ctx, {
      name: "prometheus.user-data.yaml",
      template: readFileSync(join(__dirname, "prometheus.user-data.yaml"), "utf8"),
      files: { prometheus_config: config },
    });
  },
  readme: ({ model, host }) => [
    `- web UI and API: \`http://${host.fqdn}:9090/\`, from the operator's client`,
    `- scrapes \`:9100\` on ${model.controlPlanes.length + model.workers.length} Talos nodes: deploy the node exporter there as a DaemonSet with \`hostNetwork: true\`, its image pulled through Harbor`,
  ],
};
