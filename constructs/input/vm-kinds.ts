import type { VmSize } from "./lab-spec";

/**
 * The lab's own kinds of VM that are not services, described the way a service is (see
 * `ServiceDescriptor`): the least a spec may give each, its Proxmox start order and, for the Talos
 * kinds, where in SRV the first one without an `ip` goes. One table, read by validation, the model
 * and the derived defaults alike.
 */

/** A VM size with the source of the number, for the minimum a spec may give. */
export interface MinimumSize extends VmSize {
  /** Where the minimum comes from (vendor documentation), shown in the error's hint. */
  readonly source: string;
}

/** What the lab knows of a kind of VM it places itself. */
export interface VmKind {
  /** The least a spec may give (vendor minimums). */
  readonly minimumSize: MinimumSize;
  /** Proxmox start order (lower first): pfSense 1; the services 2-4 (registry, client, ingress); Talos 5 and 6. */
  readonly startupOrder: number;
  /** Host offset in SRV of the first node of the kind without an `ip`; the next follow at +1, +2, …. */
  readonly hostOffset?: number;
}

/**
 * pfSense and the Talos kinds. Minimums: Talos "System requirements" (control plane 2 cores, 2 GiB,
 * 10 GiB; worker 1 core, 1 GiB, 10 GiB); pfSense CE 1 GiB memory, 8 GiB disk.
 */
export const VM_KINDS = {
  firewall: { minimumSize: { cores: 1, memoryMiB: 1024, diskGiB: 8, source: "pfSense CE minimum" }, startupOrder: 1 },
  controlPlane: { minimumSize: { cores: 2, memoryMiB: 2048, diskGiB: 10, source: "Talos minimum for control planes" }, startupOrder: 5, hostOffset: 11 },
  worker: { minimumSize: { cores: 1, memoryMiB: 1024, diskGiB: 10, source: "Talos minimum for workers" }, startupOrder: 6, hostOffset: 21 },
} as const satisfies Readonly<Record<string, VmKind>>;
