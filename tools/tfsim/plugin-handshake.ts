/**
 * The go-plugin handshake terraform uses with provider plugins: the magic cookie a plugin must find in
 * its environment (hashicorp/terraform internal/plugin6 Handshake) before it serves.
 */
export const MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE";
/** The cookie's value. */
export const MAGIC_COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
