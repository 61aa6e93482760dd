import type { HostProvision } from "../../model/host-provision";
import type { LabModel } from "../../model/lab-model";
import { renderTemplate } from "../text/template";
import { embedFile } from "./tf-template";

/**
 * The operator's desktop on the client hosts (`clientDesktop`): xrdp serving an Xfce session, and a
 * browser for the pfSense, Harbor and Proxmox web UIs, installed by talos-enclave-desktop.service from
 * the Ubuntu archive as it was at `clientDesktop.aptSnapshot`.
 *
 * Facts this rests on:
 * - apt on Ubuntu 24.04 takes a snapshot id (`--snapshot`/`-S`, the option `APT::Snapshot`) and then
 *   reads every source whose Release file names a snapshot service (`Snapshots:`, as the Ubuntu
 *   archive's do) as it was then; its index must be fetched with the same option first
 *   (documentation.ubuntu.com/server, how-to/software/snapshot-service; snapshot.ubuntu.com: ids
 *   `YYYYMMDDTHHMMSSZ`, any time after 2023-03-01; apt's apt-private/private-cmndline.cc maps
 *   `--snapshot` to `APT::Snapshot` for apt-get). The option is given per command, not in apt.conf:
 *   the rest of the host (its tools, its security updates) keeps the live archive.
 * - Firefox and Chromium are snaps on Ubuntu 24.04; Epiphany (`epiphany-browser`, universe) is a deb.
 *   It renders with WebKitGTK, whose TLS is glib-networking's GnuTLS backend, and Debian's and
 *   Ubuntu's GnuTLS trust /etc/ssl/certs/ca-certificates.crt by default (built
 *   `--with-default-trust-store-file=/etc/ssl/certs/ca-certificates.crt`; the path is in Debian 12's
 *   libgnutls.so.30) — the bundle cloud-init's `ca_certs` adds the lab CA to, so Harbor's and the
 *   Image Factory's certificates are trusted with no browser setting.
 * - xrdp (Debian's packaging, which Ubuntu's follows: xrdp 0.9.21.1 postinst and xrdp.service) runs
 *   its daemon as the user `xrdp` and links /etc/xrdp/cert.pem and key.pem to ssl-cert's snakeoil pair,
 *   whose key only the group `ssl-cert` reads; the install script adds `xrdp` to that group.
 *   xrdp.ini `[Globals] security_layer=tls` refuses RDP standard security, sesman.ini
 *   `[Security] AllowRootLogin=false` refuses root; startwm.sh runs /etc/X11/Xsession, which runs
 *   the user's ~/.xsession.
 */

/**
 * The desktop's packages, Ubuntu 24.04 (noble) debs installed with `--no-install-recommends`, and why
 * each: nothing else comes in but their dependencies.
 */
export const CLIENT_DESKTOP_PACKAGES: Readonly<Record<string, string>> = {
  xrdp: "the RDP server (tcp/3389) and its session manager",
  xorgxrdp: "the Xorg modules xrdp's Xorg sessions run on",
  "xfce4-session": "the Xfce session manager (the x-session-manager)",
  xfwm4: "Xfce's window manager",
  "xfce4-panel": "Xfce's panel (menus, window list)",
  xfdesktop4: "Xfce's desktop (background, icons)",
  "xfce4-settings": "Xfce's settings daemon (themes, fonts, keyboard)",
  "xfce4-terminal": "a terminal for talosctl, kubectl and helm",
  thunar: "a file manager",
  "dbus-x11": "dbus-launch, which starts the session's D-Bus for an X session",
  "adwaita-icon-theme": "the icons GTK falls back to",
  "fonts-dejavu-core": "a font for the desktop and the browser",
  "epiphany-browser": "the browser (GNOME Web: WebKitGTK, a deb, not a snap)",
  "glib-networking": "TLS for WebKitGTK through GnuTLS, which trusts the system CA bundle (the lab CA)",
  "ca-certificates": "the system CA bundle the lab CA is in",
};

/** The sensitive root and module variable that holds the admin user's desktop (xrdp) password. */
export const CLIENT_DESKTOP_PASSWORD = "client_desktop_password";

/** The client desktop of a lab: whether there is one and the snapshot it installs from. */
export function clientDesktop(model: LabModel): { readonly enabled: boolean; readonly aptSnapshot: string } {
  return { enabled: model.spec.clientDesktop.enabled, aptSnapshot: model.spec.clientDesktop.aptSnapshot };
}

/** Whether the lab has a client desktop to log in to: it is on and some host is a client. */
export function clientDesktopInUse(model: LabModel): boolean {
  return clientDesktop(model).enabled && model.hosts.some((h) => h.role === "client");
}

/**
 * What a client host gets over SSH for its desktop: the admin user's password (`chpasswd`, the hash
 * only on the host), which xrdp's PAM login asks for. Undefined when the desktop is off.
 */
export function clientDesktopProvision(model: LabModel): HostProvision | undefined {
  if (!clientDesktop(model).enabled) return undefined;
  return { passwords: [{ variable: CLIENT_DESKTOP_PASSWORD, user: model.spec.adminUser }] };
}

/**
 * The blocks the client's user-data takes for the desktop (each starts with a line break and ends
 * without one, so an absent desktop leaves no trace): a header comment, the write_files entries
 * (install script, its unit, an sshd drop-in that keeps SSH key-only) and the runcmd entries.
 * All empty when the desktop is off.
 */
export function clientDesktopBlocks(model: LabModel): { desktop_comment: string; desktop_files: string; desktop_runcmd: string } {
  const d = clientDesktop(model);
  if (!d.enabled) return { desktop_comment: "", desktop_files: "", desktop_runcmd: "" };
  const trim = (text: string) => text.replace(/\n$/, "");
  const admin = model.spec.adminUser;
  return {
    desktop_comment: trim(renderTemplate("cloud-init/client/desktop-comment.yaml", { apt_snapshot: d.aptSnapshot, admin_user: admin })),
    desktop_files: trim(
      renderTemplate(
        "cloud-init/client/desktop-files.yaml",
        {},
        {
          install_desktop: embedFile("cloud-init/client/install-desktop.sh", {
            apt_snapshot: d.aptSnapshot,
            packages: Object.keys(CLIENT_DESKTOP_PACKAGES).join(","),
            admin_user: admin,
          }),
          desktop_unit: embedFile("cloud-init/client/talos-enclave-desktop.service", {}),
          sshd_dropin: embedFile("cloud-init/client/sshd-no-passwords.conf", {}),
        },
      ),
    ),
    desktop_runcmd: trim(renderTemplate("cloud-init/client/desktop-runcmd.yaml", {})),
  };
}
