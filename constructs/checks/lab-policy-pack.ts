import { PolicyPack } from "./policy-pack";
import { PFSENSE_FILE_RULE } from "./pfsense-file-rule";
import { SEPARATION_RULE } from "./separation-rule";
import { SECRETS_AT_REST_RULE } from "./secrets-at-rest-rule";
import { TALOS_CONFIG_RULE } from "./talos-config-rule";

/**
 * The lab's own checks as a policy pack named `lab`: pfSense accepts the restore files
 * ({@link PFSENSE_FILE_RULE}), the firewall layers keep the separation invariants
 * ({@link SEPARATION_RULE}), no Proxmox resource carries a secret ({@link SECRETS_AT_REST_RULE}),
 * Talos accepts every node's config ({@link TALOS_CONFIG_RULE}). Every
 * `TalosEnclave` adds one to itself, so the checks run at every synth; add more rules to a pack of
 * your own and `Aspects.of(lab).add(pack)`.
 *
 * @returns a fresh pack (adding rules to it changes no other)
 */
export function labPolicyPack(): PolicyPack {
  return new PolicyPack("lab", [PFSENSE_FILE_RULE, SEPARATION_RULE, SECRETS_AT_REST_RULE, TALOS_CONFIG_RULE]);
}
