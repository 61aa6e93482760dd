/**
 * Talos machine-config patch documents (Talos ≥ 1.12 multi-document style only: no legacy
 * `machine.network`, `machine.time` or `machine.registries`). Pure data; talos-patch-files.ts writes
 * them as the reviewed YAML sidecars the srv module reads.
 */
export type TalosDocument = Record<string, unknown>;
