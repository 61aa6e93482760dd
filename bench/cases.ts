/**
 * The benchmark's fixed case list and the specs it synthesizes. Shared by bench.ts (the parent) and
 * worker.ts (one child process per run).
 */
import type { LabSpecInput } from "../constructs/spec/lab-spec";

export type BenchCase =
  /** synthLab() of the reference lab, or of the reference lab with `workers` Talos workers in a /20 SRV. */
  | { readonly name: string; readonly kind: "lab"; readonly workers?: number }
  /** A bare cdktf App: one TerraformStack with `resources` null_resource elements, for comparison. */
  | { readonly name: string; readonly kind: "bare"; readonly resources: number };

export const CASES: readonly BenchCase[] = [
  { name: "reference", kind: "lab" },
  { name: "workers-10", kind: "lab", workers: 10 },
  { name: "workers-100", kind: "lab", workers: 100 },
  { name: "workers-500", kind: "lab", workers: 500 },
  { name: "bare-cdktf-reference", kind: "bare", resources: 9 },
  { name: "bare-cdktf-10", kind: "bare", resources: 10 },
  { name: "bare-cdktf-100", kind: "bare", resources: 100 },
  { name: "bare-cdktf-500", kind: "bare", resources: 500 },
];

/** What worker.ts prints as its last stdout line. */
export interface WorkerResult {
  readonly case: string;
  /** VMs in the lab (lab cases) or resources in the stack (bare cases). */
  readonly units: number;
  /** Wall time of the synth alone (module loading excluded), in ms. */
  readonly synthMs: number;
  /** process.resourceUsage().maxRSS of the worker: peak resident set, in KiB. */
  readonly maxRssKiB: number;
}

export function caseByName(name: string): BenchCase | undefined {
  return CASES.find((c) => c.name === name);
}

/** Offsets at or above this in SRV have no default VM id (ZONE_VM_ID_SPAN in constructs/model/placement.ts). */
const VM_ID_SPAN = 1000;

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

/** The lab spec of a lab case: `{}`, or the reference lab widened to a 10.10.0.0/20 SRV with N workers. */
export function labSpecFor(c: Extract<BenchCase, { kind: "lab" }>): LabSpecInput {
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
