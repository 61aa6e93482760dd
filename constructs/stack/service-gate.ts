import { DataResource, ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { GATE_SCRIPT, gateEnvironment, ServiceGate } from "../model/service-gates";
import { hclExpression } from "./hcl-text";

/**
 * `terraform_data.<gate.id>`: runs the stack's gate script ({@link GATE_SCRIPT}) where tofu runs,
 * with the gate in its environment, and fails the apply with the script's message when the service
 * does not answer in time. What needs the service depends on it (`depends_on`). It runs once, when
 * it is created, and again when its URL changes or on `tofu apply -replace=<its address>`.
 *
 * @param ca - the PEM of the CA that verifies the service (public), as text or an expression; an
 *   expression also orders the gate after what makes the CA
 * @param dependsOn - what must exist before the gate asks (the cluster's kubeconfig, say)
 */
export function serviceGate(scope: Construct, gate: ServiceGate, ca: string, dependsOn?: ITerraformDependable[]): DataResource {
  const data = new DataResource(scope, gate.id, {
    triggersReplace: { url: gate.url },
    provisioners: [{ type: "local-exec", command: `bash ${hclExpression("path.root")}/${GATE_SCRIPT}`, environment: gateEnvironment(gate, ca) }],
    dependsOn,
  });
  data.overrideLogicalId(gate.id);
  return data;
}
