import { DataResource } from "cdktf";
import { Construct } from "constructs";
import { HelmProvider } from "../../.gen/providers/helm/provider";
import { Release } from "../../.gen/providers/helm/release";
import { LabModel } from "../model/lab-model";
import { chartRepository, chartServiceAccounts, localCharts, platformChartFiles } from "../render/platform/platform-charts";
import { hclExpression } from "../stack/hcl-text";
import { sidecarFile } from "../stack/terraform-refs";
import { serviceGate } from "../stack/service-gate";
import { labGates } from "../model/service-gates";
import { ZoneModule } from "./zone-module";

/** Properties for a {@link PlatformZone}. */
export interface PlatformZoneProps {
  /** The resolved lab. */
  readonly model: LabModel;
}

/**
 * The `platform` module: in-cluster services installed with Helm, in order — the Calico
 * tigera-operator from the internal chart repository (BGP, one pod pool, no encapsulation), then the
 * generated local charts `calico-bgp` (AS and the pfSense peer), `ingress-access` (the external
 * ingress controller's least-privilege account) and `demo` (an echo server behind the DMZ HAProxy).
 * The helm provider itself is configured in the root from the srv module's outputs.
 *
 * Before the first release, tofu waits until the API VIP answers (`terraform_data.api-gate`, after the
 * cluster CA is known, so after the bootstrap); every release depends on it.
 *
 * Inputs: `kubernetes_api_url`, `kubernetes_ca_certificate` (the CA the VIP's certificate chains to;
 * the cluster's credentials reach the releases through the root's helm provider, configured from the
 * srv module's outputs). Outputs: `kubernetes_api_url`,
 * `calico_ip_pool`, `service_accounts` (namespace/name → the release that creates it), `releases`.
 */
export class PlatformZone extends ZoneModule {
  /** The Helm releases by name, in install order. */
  readonly releases = new Map<string, Release>();
  /** `terraform_data.api-gate`: waits until the Kubernetes API VIP answers; every release depends on it. */
  readonly apiGate: DataResource;

  constructor(scope: Construct, id: string, props: PlatformZoneProps) {
    super(scope, id);
    const m = props.model;
    const n = m.spec.network;
    new HelmProvider(this, "helm");
    const api = this.input("kubernetes_api_url", { type: "string", description: "Kubernetes API URL (srv module)" });
    const clusterCa = this.input("kubernetes_ca_certificate", {
      type: "string",
      description: "PEM of the cluster's Kubernetes CA (srv module), known once the cluster is bootstrapped",
    });
    // The CA orders the gate after the bootstrap; the gate orders every release after the VIP answers.
    this.apiGate = serviceGate(this, labGates(m).api, clusterCa.stringValue);
    for (const [path, content] of platformChartFiles(m)) this.addSidecar(path, content);

    let previous: Release | undefined;
    const release = (
      name: string,
      config: { chart: string; namespace: string; repository?: string; version?: string; values?: string[]; set?: { name: string; value: string }[] },
    ) => {
      const r = new Release(this, name, {
        name,
        ...config,
        createNamespace: true,
        atomic: true,
        wait: true,
        timeout: 600,
        // Releases install one after the other (CRDs before the objects that use them), once the API answers.
        dependsOn: previous ? [this.apiGate, previous] : [this.apiGate],
      });
      r.overrideLogicalId(name);
      this.releases.set(name, r);
      previous = r;
      return r;
    };
    release("tigera-operator", {
      chart: "tigera-operator",
      repository: chartRepository(m),
      version: m.spec.platform.calicoVersion,
      namespace: "tigera-operator",
      values: [sidecarFile("charts/values/tigera-operator.yaml")],
    });
    const serviceAccounts: Record<string, string> = {};
    for (const c of localCharts(m)) {
      // The helm provider does not read a local chart's templates when it plans (helm v3.1.1
      // resource_helm_release.go, recomputeMetadata), so an edited chart would never be upgraded.
      // The digest of the chart's files as they are at plan time (the reviewed sidecars, local edits
      // included) as a value makes every change to the chart a change of the release.
      const dir = `\${path.root}/charts/${c.name}`;
      release(c.name, {
        chart: `${hclExpression("path.root")}/charts/${c.name}`,
        namespace: "kube-system",
        set: [
          {
            name: "talosEnclave.chartDigest",
            value: hclExpression(`sha256(join(",", [for f in sort(fileset("${dir}", "**")) : "\${f}=\${filesha256("${dir}/\${f}")}"]))`),
          },
        ],
      });
      for (const account of chartServiceAccounts(c)) serviceAccounts[account] = this.releases.get(c.name)!.id;
    }

    this.output("kubernetes_api_url", api.value, "Kubernetes API the releases are installed through");
    this.output(
      "calico_ip_pool",
      { cidr: n.podCidr, block_size: n.podBlockSize, encapsulation: "None", bgp_as: m.spec.bgp.clusterAs },
      "Calico IP pool the platform layer configures",
    );
    this.output("service_accounts", serviceAccounts, "the release that creates each service account, by namespace/name (the DMZ module mints tokens after it)");
    this.output("releases", Object.fromEntries([...this.releases].map(([k, r]) => [k, r.status])), "status of each Helm release");
  }
}
