import { afterAll, describe, expect, it } from "vitest";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { changedFiles, changedPaths, synthToTemp } from "./support/tree";

const STACK = "stacks/talos-lab";
const uplinks = { vmbr1: ["eno2"], vmbr2: ["eno3"], vmbr3: ["eno4"] };
const threeNodes: LabSpecInput = { proxmox: { nodes: [{ name: "pve1", uplinks }, { name: "pve2", uplinks }, { name: "pve3", uplinks }] } };
const workers = (n: number, skip: number[] = []) =>
  Array.from({ length: n }, (_, i) => i + 1)
    .filter((i) => !skip.includes(i))
    .map((i) => ({ name: `talos-worker-${i}`, ip: `10.10.100.${20 + i}` }));

/** Leaf paths of a JSON value whose values differ between a and b. */
function jsonDiff(a: unknown, b: unknown, at = ""): string[] {
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    return [...keys].flatMap((k) => jsonDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}/${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

describe("stable addresses", () => {
  const cleanups: (() => void)[] = [];
  afterAll(() => cleanups.forEach((c) => c()));
  const synth = (spec: LabSpecInput) => {
    const out = synthToTemp(spec, "stable");
    cleanups.push(out.cleanup);
    return out.files;
  };

  it("gives a byte-identical tree on a second run", () => {
    expect(changedPaths(synth(threeNodes), synth(threeNodes))).toEqual([]);
  });

  it.each([
    ["adding a worker", workers(4), workers(5), "talos-worker-5"],
    ["removing a worker from the middle", workers(4), workers(4, [2]), "talos-worker-2"],
  ])("%s changes only that worker's resources and the tables that list it", (_, before, after, changed) => {
    const a = synth({ ...threeNodes, talos: { workers: before } });
    const b = synth({ ...threeNodes, talos: { workers: after } });
    // the worker's own patch file, the srv module, and the tables that list every node: the README,
    // the upgrade script, pfSense's node alias, its BGP neighbours and its DNS host overrides; no
    // shared Talos patch changes
    expect(changedFiles(a, b)).toEqual([
      `${STACK}/README.md`,
      `${STACK}/modules/srv/main.tf.json`,
      `${STACK}/pfsense/RULES.md`,
      `${STACK}/pfsense/aliases.xml`,
      `${STACK}/pfsense/frr.conf`,
      `${STACK}/pfsense/unbound.xml`,
      `${STACK}/talos/nodes/${changed}.yaml`,
      `${STACK}/upgrade.sh`,
    ]);
    const diff = jsonDiff(JSON.parse(a.get(`${STACK}/modules/srv/main.tf.json`)!), JSON.parse(b.get(`${STACK}/modules/srv/main.tf.json`)!));
    expect(diff.length).toBeGreaterThan(0);
    // talosctl's node list is a table that lists every node
    const unrelated = diff.filter((p) => !p.includes(`/${changed}`) && !p.startsWith("/data/talos_client_configuration/lab/nodes/"));
    expect(unrelated).toEqual([]);
  });

  it("spreads three control planes over three Proxmox nodes", () => {
    const srv = JSON.parse(synth(threeNodes).get(`${STACK}/modules/srv/main.tf.json`)!);
    const vms = srv.resource.proxmox_virtual_environment_vm;
    const cpNodes = ["talos-cp-1", "talos-cp-2", "talos-cp-3"].map((n) => vms[n].node_name);
    expect(new Set(cpNodes).size).toBe(3);
    // one boot image download per node that runs Talos VMs
    const downloads = Object.values(srv.resource.proxmox_download_file) as { node_name: string }[];
    expect(downloads.map((d) => d.node_name).sort()).toEqual([...new Set(Object.values(vms).map((v) => (v as { node_name: string }).node_name))].sort());
  });
});
