import { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { DownloadFile } from "../../.gen/providers/proxmox/download-file";

/** Properties for {@link NodeImages}. */
export interface NodeImagesProps {
  /** Proxmox nodes that need the image; each downloads it once. */
  readonly nodes: readonly string[];
  /** URL the Proxmox host downloads the image from. */
  readonly url: string;
  /** File name on the datastore (the same on every node). */
  readonly fileName: string;
  /** Datastore with content type `iso`. */
  readonly datastoreId: string;
  /** Logical id prefix: resources are `<prefix>-<node>`. */
  readonly idPrefix: string;
  /**
   * What must exist before the host can download (e.g. the schematic the factory builds from).
   * Default: no dependencies.
   */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * One image downloaded by the Proxmox host itself onto each node that needs it. Downloads are keyed by
 * node name, so adding a node's first VM adds one download and touches no other.
 */
export class NodeImages extends Construct {
  /** The download resources by node name. */
  readonly byNode = new Map<string, DownloadFile>();

  constructor(scope: Construct, id: string, props: NodeImagesProps) {
    super(scope, id);
    for (const node of props.nodes) {
      const img = new DownloadFile(this, node, {
        nodeName: node,
        contentType: "iso",
        datastoreId: props.datastoreId,
        url: props.url,
        fileName: props.fileName,
        overwrite: false,
        dependsOn: props.dependsOn,
      });
      img.overrideLogicalId(`${props.idPrefix}-${node}`);
      this.byNode.set(node, img);
    }
  }

  /** File id on a node (`${proxmox_download_file.<prefix>-<node>.id}`). */
  fileId(node: string): string {
    let id = this.ids.get(node);
    if (id === undefined) {
      const img = this.byNode.get(node);
      if (!img) throw new Error(`no image download on node ${node}`);
      id = img.id;
      this.ids.set(node, id); // one reference per node, shared by every VM on it
    }
    return id;
  }

  private readonly ids = new Map<string, string>();

  /** node → file id, for a module output. */
  fileIds(): Record<string, string> {
    return Object.fromEntries([...this.byNode].map(([node, img]) => [node, img.id]));
  }
}
