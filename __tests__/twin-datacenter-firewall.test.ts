import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { datacenterFirewallOn } from "../tools/twin/replay";
import { readStack } from "../tools/twin/stack";
import { synthToTemp } from "./support/tree";

/**
 * The twin decides whether the Proxmox datacenter firewall is on (and so whether any VM firewall
 * acts) from the generated files alone: a hand command in apply-steps.json, or a step's `tofu apply`
 * that reaches a module whose cluster-firewall resource has `enabled` true. Planted edits of the
 * module file move the answer; no root needed (the twin's stack reader only reads files).
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));

function stackOf(spec: Parameters<typeof synthToTemp>[0]): string {
  const t = synthToTemp(spec, "twin-dcfw");
  cleanups.push(t.cleanup);
  return join(t.dir, "stacks", "talos-lab");
}

/** Rewrites the edge module's JSON in place. */
function editEdge(stack: string, edit: (edge: Json) => void): void {
  const path = join(stack, "modules", "edge", "main.tf.json");
  const edge = JSON.parse(readFileSync(path, "utf8")) as Json;
  edit(edge);
  writeFileSync(path, JSON.stringify(edge, null, 2));
}

describe("the twin's reading of the datacenter firewall", () => {
  it("is on when the edge module carries the enabled resource and a step applies that module, with no hand command", () => {
    const stack = stackOf({});
    const read = readStack(stack);
    expect(read.datacenterFirewallModules).toEqual(["edge"]);
    expect(read.steps.some((s) => s.commands.some((c) => /cluster\/firewall\/options|datacenter firewall/.test(c)))).toBe(false);
    expect(datacenterFirewallOn(read)).toBe(true);
  });

  it("is off when the resource is planted out, or planted with enabled false, and on again when planted back", () => {
    const stack = stackOf({});
    const resource = (JSON.parse(readFileSync(join(stack, "modules", "edge", "main.tf.json"), "utf8")) as Json).resource
      .proxmox_virtual_environment_cluster_firewall as Json;
    editEdge(stack, (e) => delete e.resource.proxmox_virtual_environment_cluster_firewall);
    expect(readStack(stack).datacenterFirewallModules).toEqual([]);
    expect(datacenterFirewallOn(readStack(stack))).toBe(false);

    editEdge(stack, (e) => (e.resource.proxmox_virtual_environment_cluster_firewall = { datacenter: { ...resource.datacenter, enabled: false } }));
    expect(datacenterFirewallOn(readStack(stack))).toBe(false);

    editEdge(stack, (e) => (e.resource.proxmox_virtual_environment_cluster_firewall = resource));
    expect(datacenterFirewallOn(readStack(stack))).toBe(true);
  });

  it("is off when no step applies the module that carries it", () => {
    const stack = stackOf({});
    const read = readStack(stack);
    const steps = read.steps.map((s) => ({ ...s, commands: s.commands.filter((c) => !/^tofu apply\b/.test(c.trim()) || /-target=module\.(?!edge\b)/.test(c)) }));
    expect(datacenterFirewallOn({ ...read, steps })).toBe(false);
  });

  it("with the spec's switch off, reads the hand command of the Proxmox hosts' step instead", () => {
    const read = readStack(stackOf({ proxmox: { datacenterFirewall: false } }));
    expect(read.datacenterFirewallModules).toEqual([]);
    expect(datacenterFirewallOn(read)).toBe(true);
    const steps = read.steps.map((s) => ({ ...s, commands: s.commands.filter((c) => !c.includes("/cluster/firewall/options")) }));
    expect(datacenterFirewallOn({ ...read, steps })).toBe(false);
  });
});
