import { runnerHost } from "../../model/lab-flows";
import type { HostPlan, LabModel } from "../../model/lab-model";
import { clientDesktopBlocks } from "./client-desktop";
import { adminHome, COMMON_TEMPLATE, COMMON_VARS, commonValues, UserDataTemplate } from "./common";
import { embedFile, renderUserDataSkeleton } from "./tf-template";
import { checksumSource, SERVICE_VERSIONS } from "./versions";

/** Versions of the operator's CLIs: talosctl follows the cluster, kubectl the Kubernetes version. */
export function clientToolVersions(model: LabModel): { talosctl: string; kubectl: string; helm: string } {
  const t = model.spec.talos;
  return {
    talosctl: t.version,
    kubectl: t.kubernetesVersion ?? SERVICE_VERSIONS.kubectl.version,
    helm: SERVICE_VERSIONS.helm.version,
  };
}

/**
 * Where the talosconfig and the admin kubeconfig are on a client: the spec's `apply.talosconfigPath`
 * and `apply.kubeconfigPath` (default talosctl's and kubectl's own), `~/` being the admin user's home,
 * who runs tofu on the runner. tofu writes them there on the runner; other clients get copies.
 */
export function clientConfigPaths(model: LabModel): { talosconfig: string; kubeconfig: string } {
  const home = adminHome(model);
  const expand = (p: string) => (p.startsWith("~/") ? `${home}/${p.slice(2)}` : p);
  return { talosconfig: expand(model.spec.apply.talosconfigPath), kubeconfig: expand(model.spec.apply.kubeconfigPath) };
}

export const CLIENT_VARS = { ...COMMON_VARS } as const;

export function renderClientUserData(model: LabModel, plan: HostPlan): UserDataTemplate {
  if (plan.role !== "client") throw new Error(`${plan.name} is not a client host`);
  const v = clientToolVersions(model);
  const paths = clientConfigPaths(model);
  const runs = runnerHost(model)?.name === plan.name;
  const tofu = SERVICE_VERSIONS.opentofu.version;
  const text = renderUserDataSkeleton(
    [COMMON_TEMPLATE, "cloud-init/client.user-data.yaml"],
    {
      ...commonValues(model, plan),
      talosctl_version: v.talosctl,
      kubectl_version: v.kubectl,
      helm_version: v.helm,
      talos_config: paths.talosconfig,
      kube_config: paths.kubeconfig,
    },
    {
      install_tools: embedFile("cloud-init/client/install-tools.sh", {
        admin_user: model.spec.adminUser,
        talosctl_version: v.talosctl,
        talosctl_checksum: checksumSource(
          "talosctl",
          v.talosctl,
          `https://github.com/siderolabs/talos/releases/download/${v.talosctl}/sha256sum.txt`,
        ),
        kubectl_version: v.kubectl,
        kubectl_checksum: checksumSource("kubectl", v.kubectl, `https://dl.k8s.io/release/${v.kubectl}/bin/linux/amd64/kubectl.sha256`),
        helm_version: v.helm,
        helm_checksum: checksumSource("helm", v.helm, `https://get.helm.sh/helm-${v.helm}-linux-amd64.tar.gz.sha256`),
        // Only the runner applies the stack, so only it gets OpenTofu (an empty version skips it).
        tofu_version: runs ? tofu : "",
        tofu_checksum: runs
          ? checksumSource("opentofu", tofu, `https://github.com/opentofu/opentofu/releases/download/${tofu}/tofu_${tofu.slice(1)}_SHA256SUMS`)
          : "",
      }),
      tools_unit: embedFile("cloud-init/client/talos-enclave-tools.service", {}),
      profile: embedFile("cloud-init/client/profile.sh", {}),
      // the desktop (clientDesktop): empty blocks when it is off
      ...clientDesktopBlocks(model),
    },
    Object.keys(CLIENT_VARS),
  );
  return { text, vars: { ...CLIENT_VARS } };
}
