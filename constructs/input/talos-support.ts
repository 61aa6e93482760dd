/**
 * What the pinned Talos toolchain supports, as facts with their sources.
 */

/**
 * Kubernetes minors each Talos minor supports, `[lowest, highest]`
 * (siderolabs/talos pkg/machinery/compatibility/talos1NN).
 */
export const KUBERNETES_MINORS_BY_TALOS: Readonly<Record<string, readonly [number, number]>> = {
  "v1.12": [30, 35],
  "v1.13": [31, 36],
  "v1.14": [32, 37],
};

/**
 * The newest machine-config contract the bound Talos provider can generate and patch.
 * siderolabs/terraform-provider-talos v0.11.0 is built on Talos machinery v1.13.0 (its go.mod); that
 * machinery's config decoder knows no 1.14 document kinds (`"KubeletConfig" "v1alpha1": not
 * registered`, siderolabs/talos v1.13.0 pkg/machinery/config/configloader/internal/decoder, and
 * configpatcher/load.go loads every patch through it), so a v1.14 contract cannot pass through it.
 * Talos v1.14 nodes accept v1.13 configurations (the v1alpha1 keys stay supported; v1.14.0-rc.1
 * pkg/machinery/config/container/container.go falls back to them).
 */
export const TALOS_PROVIDER_MAX_CONTRACT = "v1.13";

/** The Talos minor of a version: `v1.13.9` → `v1.13`. */
export function talosMinorOf(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}

/** `v1.13.9` or `v1.13` → 13. */
export function talosMinorNumber(version: string): number {
  return Number(version.split(".")[1]);
}

/**
 * The contract a lab gets when its spec pins none: the minor of `talos.version`, capped at what the
 * bound provider supports.
 */
export function defaultConfigContract(talosVersion: string): string {
  const minor = talosMinorOf(talosVersion);
  return talosMinorNumber(minor) > talosMinorNumber(TALOS_PROVIDER_MAX_CONTRACT) ? TALOS_PROVIDER_MAX_CONTRACT : minor;
}
