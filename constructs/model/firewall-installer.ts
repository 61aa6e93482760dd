import { LabSpec, PFSENSE_INSTALLER_DEFAULT } from "../input/lab-spec";

/**
 * Where the pfSense VM's installer ISO comes from: the Proxmox node downloads it (`download`: the
 * spec's `firewall.installer`, else Netgate's public pfSense CE 2.7.2), or it is already on the
 * storage (`existing`: the spec's `firewall.isoFileId`, put there by hand).
 */
export type FirewallInstaller =
  | {
      readonly kind: "download";
      /** https URL of the gzipped ISO. */
      readonly url: string;
      /** SHA-256 of the `.gz` (64 lower-case hex digits). */
      readonly sha256: string;
      /** File name of the decompressed ISO on `proxmox.isoDatastore`. */
      readonly fileName: string;
      /** Its volume id, `<isoDatastore>:iso/<fileName>`. */
      readonly fileId: string;
    }
  | {
      readonly kind: "existing";
      /** `<storage>:iso/<file>` as the spec gives it. */
      readonly fileId: string;
    };

/** The installer of a validated spec (see {@link FirewallInstaller}). */
export function firewallInstaller(spec: LabSpec): FirewallInstaller {
  const f = spec.firewall;
  if (f.isoFileId !== undefined) return { kind: "existing", fileId: f.isoFileId };
  const i = f.installer ?? PFSENSE_INSTALLER_DEFAULT;
  return { kind: "download", url: i.url, sha256: i.sha256, fileName: i.fileName, fileId: `${spec.proxmox.isoDatastore}:iso/${i.fileName}` };
}
