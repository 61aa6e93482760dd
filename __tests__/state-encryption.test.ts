import { scratchApp } from "./support/tree";
import { describe, expect, it } from "vitest";
import { LabSpecInput } from "../constructs/input/lab-spec";
import { TalosEnclave } from "../constructs/talos-enclave";

function root(spec: LabSpecInput) {
  const lab = new TalosEnclave(scratchApp(), "lab", { spec });
  return JSON.parse(JSON.stringify(lab.toTerraform()));
}

describe("OpenTofu state encryption (tofu-only; terraform runs see it stripped)", () => {
  it("encrypts state and plans with AES-GCM keyed by PBKDF2 from the passphrase variable", () => {
    const doc = root({});
    expect(doc.terraform.encryption).toEqual({
      key_provider: { pbkdf2: { state: { passphrase: "${var.state_passphrase}" } } },
      method: { aes_gcm: { state: { keys: "${key_provider.pbkdf2.state}" } } },
      state: { method: "${method.aes_gcm.state}", enforced: true },
      plan: { method: "${method.aes_gcm.state}", enforced: true },
    });
    expect(doc.variable.state_passphrase).toMatchObject({ type: "string", sensitive: true });
    expect(doc.variable.state_passphrase.validation[0].condition).toBe("${length(var.state_passphrase) >= 16}");
  });

  it("is switched off by the spec, passphrase variable and all", () => {
    const doc = root({ state: { encryption: false } });
    expect(doc.terraform.encryption).toBeUndefined();
    expect(doc.variable.state_passphrase).toBeUndefined();
  });
});
