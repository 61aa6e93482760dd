import { LabSpecInput, referenceLab } from "../../constructs";
import { PROMETHEUS } from "../../examples/services/prometheus/prometheus";

/**
 * The reference lab plus one host of the Prometheus service that examples/services/prometheus adds
 * from outside the package (the guide docs/compose-your-own-lab.md shows the same descriptor).
 */
export const PROMETHEUS_SPEC: LabSpecInput = {
  hosts: [...referenceLab().hosts, { name: "prometheus", zone: "mgmt", role: "prometheus", ip: "192.168.100.30" }],
};

export { PROMETHEUS };
