import { join } from "node:path";
import { parseAllDocuments, parse } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { loadLabSpec } from "../constructs/lab/load";
import { validateLabSpec } from "../constructs/lab/validate";
import { PROJECT_ROOT, synthToTemp } from "./support/tree";

const examples = ["lab.yaml", "three-nodes.yaml", "single-control-plane.yaml", "fifty-workers.yaml"];
const labs: [string, LabSpecInput][] = [["reference lab", {}], ...examples.map((f): [string, LabSpecInput] => [f, loadLabSpec(join(PROJECT_ROOT, "examples", f))])];
const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));

describe.each(labs)("platform layer of %s", (_, input) => {
  const out = synthToTemp(input, "platform");
  cleanups.push(out.cleanup);
  const stack = [...out.files.keys()].find((p) => p.endsWith("/cdk.tf.json"))!.replace("/cdk.tf.json", "");
  const get = (p: string) => out.files.get(`${stack}/${p}`)!;
  const spec = validateLabSpec(input);
  const manifests = (chart: string, file: string) =>
    parseAllDocuments(get(`charts/${chart}/templates/${file}`)).map((d) => {
      expect(d.errors).toEqual([]);
      return d.toJS() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    });

  it("every chart manifest parses and has apiVersion, kind and metadata.name", () => {
    const files = [...out.files.keys()].filter((p) => p.startsWith(`${stack}/charts/`) && p.includes("/templates/"));
    expect(files.length).toBe(3);
    for (const p of files) {
      for (const d of parseAllDocuments(out.files.get(p)!)) {
        expect(d.errors, p).toEqual([]);
        const m = d.toJS();
        expect(typeof m.apiVersion, p).toBe("string");
        expect(typeof m.kind, p).toBe("string");
        expect(typeof m.metadata?.name, p).toBe("string");
      }
    }
    for (const c of ["calico-bgp", "ingress-access", "demo"]) expect(parse(get(`charts/${c}/Chart.yaml`))).toMatchObject({ apiVersion: "v2", name: c });
  });

  it("Calico values match the spec: BGP, one pool = pod CIDR, no encapsulation, Talos plugin path", () => {
    const v = parse(get("charts/values/tigera-operator.yaml"));
    expect(v.installation.kubeletVolumePluginPath).toBe("None");
    expect(v.installation.calicoNetwork.linuxDataplane).toBe("Nftables");
    expect(v.installation.calicoNetwork.bgp).toBe("Enabled");
    expect(v.installation.calicoNetwork.ipPools).toEqual([
      expect.objectContaining({ cidr: spec.network.podCidr, blockSize: spec.network.podBlockSize, encapsulation: "None" }),
    ]);
    expect(v.installation.calicoNetwork.nodeAddressAutodetectionV4).toEqual({ kubernetes: "NodeInternalIP" });
  });

  it("BGP peers with pfSense on the SRV gateway with the spec's AS numbers", () => {
    const [config, peer] = manifests("calico-bgp", "bgp.yaml");
    expect(config.spec).toMatchObject({ asNumber: spec.bgp.clusterAs, nodeToNodeMeshEnabled: spec.bgp.nodeToNodeMesh });
    expect(peer.spec).toEqual({ peerIP: spec.zones.srv.gateway, asNumber: spec.bgp.firewallAs });
  });

  it("the ingress account may only read what an ingress controller needs", () => {
    const role = manifests("ingress-access", "access.yaml").find((d) => d.kind === "ClusterRole")!;
    const verbs = new Set(role.rules.flatMap((r: { verbs: string[] }) => r.verbs));
    expect([...verbs].sort()).toEqual(["get", "list", "update", "watch"]);
    const writes = role.rules.filter((r: { verbs: string[] }) => r.verbs.some((v) => !["get", "list", "watch"].includes(v)));
    expect(writes.map((r: { resources: string[] }) => r.resources.join())).toEqual(["ingresses/status"]);
  });

  it("the demo serves on a port the DMZ may reach, through the haproxy class, from an internal image", () => {
    const docs = manifests("demo", "demo.yaml");
    const port = docs.find((d) => d.kind === "Deployment")!.spec.template.spec.containers[0].ports[0].containerPort;
    expect(spec.network.ingressBackendPorts).toContain(port);
    expect(docs.find((d) => d.kind === "Ingress")!.spec.ingressClassName).toBe("haproxy");
    expect(docs.find((d) => d.kind === "Deployment")!.spec.template.spec.containers[0].image.startsWith(`${spec.registry.fqdn}/`)).toBe(true);
  });

  it("installs the releases in order, charts from the internal repository", () => {
    const releases = JSON.parse(get("modules/platform/main.tf.json")).resource.helm_release;
    expect(Object.keys(releases)).toEqual(["calico-bgp", "demo", "ingress-access", "tigera-operator"]);
    expect(releases["tigera-operator"].repository).toBe(`oci://${spec.registry.fqdn}/charts`);
    // each after the one before, and all after the API VIP answers (the gate)
    expect([...releases["calico-bgp"].depends_on].sort()).toEqual(["helm_release.tigera-operator", "terraform_data.api-gate"]);
    expect([...releases["ingress-access"].depends_on].sort()).toEqual(["helm_release.calico-bgp", "terraform_data.api-gate"]);
    expect([...releases.demo.depends_on].sort()).toEqual(["helm_release.ingress-access", "terraform_data.api-gate"]);
  });
});
