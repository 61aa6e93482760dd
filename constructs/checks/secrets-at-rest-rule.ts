import { IConstruct } from "constructs";
import { ruleText } from "../input/lab-spec";
import { secretsAtRest } from "../policy/secrets-at-rest";
import { PolicyContext, PolicyFinding, PolicyRule } from "./policy-pack";

/**
 * No secret at rest on the hypervisor ({@link secretsAtRest}): no Proxmox resource of the written
 * modules reads a sensitive variable or a Talos secret. A whole-lab rule; each finding names the file
 * and the resource, and says how a secret reaches a host instead.
 */
export const SECRETS_AT_REST_RULE: PolicyRule = {
  id: "lab-no-secret-on-proxmox",
  description: "No Proxmox resource (snippet, file, VM setting) carries a secret: Proxmox stores them in clear",
  check(host: IConstruct, context: PolicyContext): PolicyFinding[] {
    return secretsAtRest(context.files).map((s) => ({
      construct: host,
      subject: `${s.file} ${s.resource}`,
      value: s.reads,
      message: ruleText(
        "would store a secret on the hypervisor",
        "Proxmox keeps what its resources carry in its storage; deliver the secret with the service's provision() (over SSH after boot)",
      ),
    }));
  },
};
