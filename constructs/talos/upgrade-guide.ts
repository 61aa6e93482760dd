import { LabModel } from "../model/lab-model";

/**
 * UPGRADE.md: the provider does not upgrade Talos (it only applies configuration), so the stack ships
 * the exact talosctl sequence: control planes one at a time, then workers, each with the installer
 * image the current patches name.
 */
export function renderUpgradeGuide(m: LabModel): string {
  const image = m.imageFactory.installerImage;
  const cp1 = m.controlPlanes[0].ip!;
  const step = (n: { name: string; ip?: string }) =>
    [
      `# ${n.name}`,
      `talosctl --talosconfig ./talosconfig -e ${n.ip} -n ${n.ip} upgrade --image ${image} --wait`,
      `talosctl --talosconfig ./talosconfig -e ${cp1} -n ${cp1} health --wait-timeout 10m`,
    ].join("\n");
  return `# Upgrading ${m.name}

Talos ${m.spec.talos.version}, schematic \`${m.imageFactory.schematicId}\`
(${m.spec.talos.extensions.join(", ") || "no extensions"}). Installer image:

    ${image}

The Talos provider applies machine configuration; it does not upgrade Talos itself. To move to
another version or schematic:

1. Change \`talos.version\` or \`talos.extensions\` in the lab spec, synthesize, and review the diff:
   \`talos/all-nodes.yaml\` names the new installer image. The VMs do not change (their boot media
   is ignored after creation).
2. \`tofu apply\`: every node gets the new configuration; nothing reboots.
3. \`tofu output -raw talosconfig > talosconfig\`
4. Upgrade the control planes one at a time, waiting for the cluster to be healthy after each, then
   the workers:

\`\`\`sh
${[...m.controlPlanes, ...m.workers].map(step).join("\n\n")}
\`\`\`

## Removing a node

Workers reset themselves (cordon, drain, leave) when they leave the spec. A control plane does not:
first run \`talosctl --talosconfig ./talosconfig -e ${cp1} -n <its address> etcd leave\`, then remove it
from the spec and apply. Keep an odd number of control planes.
`;
}
