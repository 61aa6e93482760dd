import { IStackSynthesizer } from "cdktf";
import { HclJsonStack } from "./hcl-json-stack";

/** cdktf's stack synthesizer, replaced: the stack's JSON is written by the code that holds it. */
const NO_SYNTHESIS: IStackSynthesizer = { synthesize: () => undefined };

/**
 * A stack whose HCL-JSON another stack writes (a zone's child module, the Proxmox identity bootstrap)
 * rather than cdktf's `App.synth()`: cdktf synthesizes and prepares every stack of an App, which would
 * give this one a manifest entry, a `stacks/<id>/` folder and a local backend of its own.
 */
export abstract class WrittenStack extends HclJsonStack {
  protected constructor(...args: ConstructorParameters<typeof HclJsonStack>) {
    super(...args);
    this.synthesizer = NO_SYNTHESIS;
  }

  /** Does nothing: the holder resolves the stack's tokens when it renders the JSON, and owns its backend. */
  override prepareStack(): void {}

  /**
   * The stack's HCL-JSON with a header that changes only when the stack does: without cdktf's version
   * (a cdktf upgrade would touch every file) and cdktf's per-type override bookkeeping (one entry per
   * resource: adding a VM would touch the header; the overrides themselves stay in the resources).
   */
  protected stableTerraform(): Record<string, unknown> {
    const tf = this.toTerraform() as Record<string, unknown>;
    const meta = tf["//"] as { metadata?: Record<string, unknown> } | undefined;
    if (meta?.metadata) {
      meta.metadata = { ...meta.metadata };
      delete meta.metadata.version;
      delete meta.metadata.overrides;
    }
    return tf;
  }
}
