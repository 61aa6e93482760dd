import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cidrProblem, cidrContains, cidrsOverlap, intToIpv4, ipv4ToInt, parseCidr } from "../constructs/input/addressing";
import { FIREWALL_NIC_ORDER } from "../constructs/model/lab-model";
import { buildLabModel } from "../constructs/lab/build";
import { fnv1a, placeByName } from "../constructs/model/placement";
import { validateLabSpec } from "../constructs/lab/validate";

describe("addressing", () => {
  it("round-trips addresses", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => ipv4ToInt(intToIpv4(n)) === n));
  });

  it("finds host bits and malformed subnets", () => {
    expect(cidrProblem("10.10.100.0/24")).toBeUndefined();
    expect(cidrProblem("10.10.100.5/24")).toBe("host bits are set; the network address is 10.10.100.0/24");
    expect(cidrProblem("10.10.100.0/33")).toBe("write it as a.b.c.d/len, e.g. 10.10.100.0/24");
    expect(cidrProblem("10.10.100/24")).toBe("write it as a.b.c.d/len, e.g. 10.10.100.0/24");
  });

  it("overlap is symmetric and agrees with containment of the network address", () => {
    const cidr = fc
      .tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 8, max: 30 }))
      .map(([n, p]) => parseCidr(`${intToIpv4(Math.floor(n / 2 ** (32 - p)) * 2 ** (32 - p))}/${p}`));
    fc.assert(
      fc.property(cidr, cidr, (a, b) => {
        const overlap = cidrsOverlap(a, b);
        expect(overlap).toBe(cidrsOverlap(b, a));
        expect(overlap).toBe(cidrContains(a, intToIpv4(b.network)) || cidrContains(b, intToIpv4(a.network)));
      }),
    );
  });
});

describe("placement", () => {
  it("hashes names the same way everywhere (FNV-1a test vectors)", () => {
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });

  it("places a name on the same node whatever else is in the lab", () => {
    fc.assert(fc.property(fc.string({ minLength: 1 }), (name) => placeByName(name, ["a", "b", "c"]) === placeByName(name, ["a", "b", "c"])));
  });
});

describe("lab model of the reference lab", () => {
  const m = buildLabModel(validateLabSpec({}));

  it("has every VM of DESIGN §1 with its default size and id", () => {
    expect(m.vms.map((v) => [v.name, v.vmId, v.address ?? "-", `${v.size.cores}/${v.size.memoryMiB}/${v.size.diskGiB}`])).toEqual([
      ["pfsense", 100, "-", "2/2048/16"],
      ["registry", 1011, "192.168.100.11/24", "4/8192/100"],
      ["mgmt-client", 1020, "192.168.100.20/24", "2/4096/64"],
      ["haproxy-ingress-1", 2010, "172.16.100.10/24", "2/4096/32"],
      ["talos-cp-1", 3011, "10.10.100.11/24", "4/6144/64"],
      ["talos-cp-2", 3012, "10.10.100.12/24", "4/6144/64"],
      ["talos-cp-3", 3013, "10.10.100.13/24", "4/6144/64"],
      ["talos-worker-1", 3021, "10.10.100.21/24", "4/8192/100"],
      ["talos-worker-2", 3022, "10.10.100.22/24", "4/8192/100"],
    ]);
  });

  it("gives pfSense WAN, MGMT, DMZ, SRV, CLIENT in that order and starts it first", () => {
    expect(m.firewall.nics.map((n) => `${n.segment}:${n.bridge}`)).toEqual(["wan:vmbr0", "mgmt:vmbr1", "dmz:vmbr2", "srv:vmbr3", "client:vmbr4"]);
    expect(FIREWALL_NIC_ORDER).toEqual(["wan", "mgmt", "dmz", "srv", "client"]);
    expect(Math.min(...m.vms.map((v) => v.startupOrder))).toBe(m.firewall.startupOrder);
    expect(m.vms.filter((v) => v.startupOrder === m.firewall.startupOrder)).toEqual([m.firewall]);
  });

  it("boots Talos from the internal Image Factory only", () => {
    expect(m.imageFactory.bootIsoUrl).toBe(
      "https://registry.mgmt.lab.internal:9443/image/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515/v1.13.9/nocloud-amd64.iso",
    );
    expect(m.imageFactory.installerImage).toBe(
      "registry.mgmt.lab.internal:9443/nocloud-installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515:v1.13.9",
    );
  });

  it("switches boot and installer images to the SecureBoot variants", () => {
    const sb = buildLabModel(validateLabSpec({ talos: { secureBoot: true } }));
    expect(sb.imageFactory.bootIsoUrl).toMatch(/\/v1\.13\.9\/nocloud-amd64-secureboot\.iso$/);
    expect(sb.imageFactory.installerImage).toMatch(/^registry\.mgmt\.lab\.internal:9443\/nocloud-installer-secureboot\/[0-9a-f]{64}:v1\.13\.9$/);
  });
});
