import { Construct } from "constructs";
import { LabModel } from "../model/lab-model";
import { ZoneModule } from "./zone-module";

export interface PlatformZoneProps {
  readonly model: LabModel;
}

/**
 * The `platform` module: in-cluster services installed with Helm once the cluster answers. Its
 * interface is fixed here (the API URL from the srv module, the pod network and BGP settings from the
 * spec); the releases themselves are added by the platform layer.
 *
 * Inputs: `kubernetes_api_url`, `kubeconfig` (sensitive). Outputs: `kubernetes_api_url`, `calico_ip_pool`.
 */
export class PlatformZone extends ZoneModule {
  constructor(scope: Construct, id: string, props: PlatformZoneProps) {
    super(scope, id);
    const n = props.model.spec.network;
    const api = this.input("kubernetes_api_url", { type: "string", description: "Kubernetes API URL (srv module)" });
    this.input("kubeconfig", { type: "string", sensitive: true, description: "admin kubeconfig of the cluster (srv module)" });
    this.output("kubernetes_api_url", api.value, "Kubernetes API the releases are installed through");
    this.output(
      "calico_ip_pool",
      { cidr: n.podCidr, block_size: n.podBlockSize, encapsulation: "None", bgp_as: props.model.spec.bgp.clusterAs },
      "Calico IP pool the platform layer configures",
    );
  }
}
