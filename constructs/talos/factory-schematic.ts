import { Construct } from "constructs";
import { ImageFactorySchematic } from "../../.gen/providers/talos/image-factory-schematic";
import { LabModel } from "../model/lab-model";
import { hclExpression } from "../stack/hcl-text";
import { sidecarFile } from "../stack/terraform-refs";
import { TALOS_FILES } from "../render/talos/talos-patch-files";

/** Properties for a {@link FactorySchematic}. */
export interface FactorySchematicProps {
  /** The resolved lab; it holds the schematic id the factory must return. */
  readonly model: LabModel;
}

/**
 * Registers the lab's schematic (talos/schematic.yaml) with the internal Image Factory. Boot images
 * and installer images are served only for schematics the factory knows, so downloads depend on it.
 */
export class FactorySchematic extends Construct {
  /** The `talos_image_factory_schematic` resource; its `id` is the schematic id. */
  readonly resource: ImageFactorySchematic;

  constructor(scope: Construct, id: string, props: FactorySchematicProps) {
    super(scope, id);
    const expected = props.model.imageFactory.schematicId;
    this.resource = new ImageFactorySchematic(this, "schematic", {
      schematic: sidecarFile(TALOS_FILES.schematic),
      lifecycle: {
        // Installer images in the patches name this id; the factory must agree.
        postcondition: [
          {
            condition: hclExpression(`self.id == "${expected}"`),
            errorMessage: `The Image Factory gave talos/schematic.yaml another id than ${expected}; the installer images in the patches would not match.`,
          },
        ],
      },
    });
    this.resource.overrideLogicalId("lab");
  }
}
