/** The benchmark's fixed case list and the specs it synthesizes. */
import type { LabSpecInput } from "../constructs/input/lab-spec";

/** A lab the bench synthesizes: the reference lab, or the reference lab with `workers` Talos workers in a /20 SRV. */
export interface BenchCase {
  readonly name: string;
  readonly workers?: number;
}

/** The cases, smallest first: the linearity target compares the cost of a worker at 100 and at 2 000. */
export const CASES: readonly BenchCase[] = [
  { name: "reference" },
  { name: "workers-100", workers: 100 },
  { name: "workers-500", workers: 500 },
  { name: "workers-2000", workers: 2000 },
];

/** Offsets at or above this in SRV have no default VM id (ZONE_VM_ID_SPAN in constructs/model/placement.ts). */
const VM_ID_SPAN = 1000;

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

/** The lab spec of a lab case: `{}`, or the reference lab widened to a 10.10.0.0/20 SRV with N workers. */
export function labSpecFor(c: BenchCase): LabSpecInput {
  if (c.workers === undefined) return {};
  const srvNetwork = (10 << 24) | (10 << 16); // 10.10.0.0
  const firstWorker = 256 + 1; // 10.10.1.1
  return {
    zones: { srv: { bridge: "vmbr3", cidr: "10.10.0.0/20", gateway: "10.10.0.1", domain: "srv.lab.internal" } },
    // Every node takes at least one /26 Calico block: a /16 holds 1 024, so big labs get a /15.
    network: { podCidr: c.workers > 1000 ? "10.244.0.0/15" : "10.244.0.0/16" },
    talos: {
      vip: "10.10.0.10",
      controlPlanes: [1, 2, 3].map((i) => ({ name: `talos-cp-${i}`, ip: ipv4(srvNetwork + 10 + i) })),
      workers: Array.from({ length: c.workers }, (_, k) => {
        const i = k + 1;
        const offset = firstWorker + k;
        const worker = { name: `talos-worker-${i}`, ip: ipv4(srvNetwork + offset) };
        return offset < VM_ID_SPAN ? worker : { ...worker, vmId: 10000 + i };
      }),
    },
  };
}
