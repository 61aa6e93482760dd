#!/usr/bin/python3
"""talos-enclave: mirrors the charts the platform installs into Harbor as OCI artifacts. Idempotent;
runs as talos-enclave-chart-mirror.service after harbor-bootstrap.service.

For every entry of `charts` in the JSON config (argv[1]):
  - when Harbor already has `repository:tag` holding a Helm chart, nothing is fetched (the project's
    tags are immutable: harbor-bootstrap makes them so, so the tag still names what a verified run pushed);
  - else it downloads `url` (the pinned version's packaged chart) and computes its SHA-256;
  - every source of `checksums` must name that same digest: `sha256` (pinned in the lab's repository),
    `sha256sums` (the line for `file` of a `sha256sum` listing published with the download),
    `helmIndex` (the `digest` of `chart` at `version` in a Helm repository's index.yaml, which
    `helm repo index` computes as the archive's SHA-256). Any mismatch, or no source at all,
    refuses the push;
  - the chart's Chart.yaml must name `name` and `version` (what helm push's strict mode holds a
    reference to: helm/helm pkg/registry/client.go `Push`);
  - it pushes the chart the way helm push does, with plain registry API calls (OCI distribution
    spec: blob upload POST then PUT ?digest=, manifest PUT): the .tgz as the layer of media type
    application/vnd.cncf.helm.chart.content.v1.tar+gzip, the Chart.yaml metadata as JSON as the
    config of media type application/vnd.cncf.helm.config.v1+json (helm/helm pkg/registry/constants.go
    `ChartLayerMediaType`, `ConfigMediaType`; client.go `Push` marshals the chart's Metadata), in an
    OCI image manifest tagged `tag`.
Harbor's registry answers 401 with a Bearer challenge; the token comes from the realm it names with
the admin's basic credentials (distribution's token authentication spec, docs/spec/auth/token.md).
Only the standard library and python3-yaml (Ubuntu's, installed by the host's cloud-init) are used.
"""
import base64
import hashlib
import io
import json
import ssl
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

import yaml

CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
CHART_LAYER_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
# The fields of helm's chart.Metadata (pkg/chart/metadata.go JSON names), in its order.
METADATA_KEYS = (
    "name", "home", "sources", "version", "description", "keywords", "maintainers", "icon", "apiVersion",
    "condition", "tags", "appVersion", "deprecated", "annotations", "kubeVersion", "dependencies", "type",
)
MAX_DOWNLOAD = 64 * 1024 * 1024


def log(msg):
    print("chart-mirror: " + msg, file=sys.stderr, flush=True)


def fetch(url, ctx):
    """GET over HTTPS (redirects followed), at most MAX_DOWNLOAD bytes."""
    if not url.startswith("https://"):
        raise RuntimeError("refusing to download %s: not HTTPS" % url)
    req = urllib.request.Request(url, headers={"User-Agent": "talos-enclave-chart-mirror"})
    with urllib.request.urlopen(req, context=ctx, timeout=120) as resp:
        data = resp.read(MAX_DOWNLOAD + 1)
    if len(data) > MAX_DOWNLOAD:
        raise RuntimeError("%s is larger than %d bytes" % (url, MAX_DOWNLOAD))
    return data


def expected_digests(chart, ctx):
    """(source, hex digest) for every checksum source of the chart."""
    out = []
    for c in chart["checksums"]:
        if "sha256" in c:
            out.append(("pinned (%s)" % c["source"], c["sha256"].lower()))
        elif "sha256sums" in c:
            lines = fetch(c["sha256sums"], ctx).decode("utf-8", errors="replace").splitlines()
            found = [ln.split()[0].lower() for ln in lines if len(ln.split()) == 2 and ln.split()[1].lstrip("*") == c["file"]]
            if len(found) != 1:
                raise RuntimeError("%s lists %s %d times" % (c["sha256sums"], c["file"], len(found)))
            out.append((c["sha256sums"], found[0]))
        elif "helmIndex" in c:
            # every scalar as a string: a hex digest of digits only would otherwise be read as a number
            index = yaml.load(fetch(c["helmIndex"], ctx), Loader=yaml.BaseLoader) or {}
            entries = ((index.get("entries") or {}).get(c["chart"])) or []
            found = [str(e.get("digest", "")).lower() for e in entries if str(e.get("version")) == c["version"]]
            if len(found) != 1 or not found[0]:
                raise RuntimeError("%s has no single digest for %s %s" % (c["helmIndex"], c["chart"], c["version"]))
            out.append((c["helmIndex"], found[0]))
        else:
            raise RuntimeError("unknown checksum source %s" % json.dumps(c))
    return out


def chart_metadata(data, chart):
    """Chart.yaml of the packaged chart as helm's config JSON; refuses a chart of another name or version."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.isfile() and m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), None)
        if member is None:
            raise RuntimeError("%s has no <chart>/Chart.yaml" % chart["url"])
        meta = yaml.safe_load(tar.extractfile(member).read()) or {}
    for key in ("version", "appVersion"):  # YAML may read 1.0 as a number; helm's are strings
        if key in meta and meta[key] is not None:
            meta[key] = str(meta[key])
    if meta.get("name") != chart["name"] or meta.get("version") != chart["version"]:
        raise RuntimeError(
            "%s is %s %s, not %s %s" % (chart["url"], meta.get("name"), meta.get("version"), chart["name"], chart["version"])
        )
    return json.dumps({k: meta[k] for k in METADATA_KEYS if meta.get(k) not in (None, "", [], {})}, separators=(",", ":")).encode()


class Registry:
    """The registry API (/v2/) of Harbor, authenticated as in docker's and helm's clients."""

    def __init__(self, base, user, password, ctx):
        self.base = base.rstrip("/")
        self.basic = "Basic " + base64.b64encode((user + ":" + password).encode()).decode()
        self.ctx = ctx
        self.auth = None

    def authenticate(self, challenge):
        scheme, _, params = (challenge or "").partition(" ")
        if scheme.lower() == "basic":
            self.auth = self.basic
            return
        if scheme.lower() != "bearer":
            raise RuntimeError("the registry asks for %r" % challenge)
        fields = dict((k.strip(), v.strip().strip('"')) for k, _, v in (p.partition("=") for p in split_params(params)))
        query = {k: fields[k] for k in ("service", "scope") if k in fields}
        url = fields["realm"] + ("&" if "?" in fields["realm"] else "?") + urllib.parse.urlencode(query)
        req = urllib.request.Request(url, headers={"Authorization": self.basic})
        with urllib.request.urlopen(req, context=self.ctx, timeout=60) as resp:
            body = json.loads(resp.read())
        self.auth = "Bearer " + (body.get("token") or body["access_token"])

    def call(self, method, path, data=None, headers=None):
        url = path if path.startswith("https://") else self.base + path
        for attempt in (1, 2):
            req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
            if self.auth:
                req.add_header("Authorization", self.auth)
            try:
                with urllib.request.urlopen(req, context=self.ctx, timeout=300) as resp:
                    return resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as err:
                body = err.read()
                if err.code == 401 and attempt == 1:
                    self.authenticate(err.headers.get("WWW-Authenticate"))
                    continue
                return err.code, err.headers, body
        raise AssertionError("unreachable")

    def ok(self, method, path, data=None, headers=None, expect=(200,)):
        status, hdrs, body = self.call(method, path, data, headers)
        if status not in expect:
            raise RuntimeError("%s %s answered %s: %s" % (method, path, status, body[:500].decode(errors="replace")))
        return hdrs, body

    def has_chart(self, repo, tag):
        status, _, body = self.call("GET", "/v2/%s/manifests/%s" % (repo, tag), headers={"Accept": MANIFEST_MEDIA_TYPE})
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError("GET manifest %s:%s answered %s" % (repo, tag, status))
        manifest = json.loads(body)
        layers = [x for x in manifest.get("layers") or [] if x.get("mediaType") == CHART_LAYER_MEDIA_TYPE]
        return layers[0]["digest"] if layers and (manifest.get("config") or {}).get("mediaType") == CONFIG_MEDIA_TYPE else ""

    def push_blob(self, repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, _, _ = self.call("HEAD", "/v2/%s/blobs/%s" % (repo, digest))
        if status == 200:
            return {"digest": digest, "size": len(data)}
        hdrs, _ = self.ok("POST", "/v2/%s/blobs/uploads/" % repo, b"", expect=(202,))
        location = urllib.parse.urljoin(self.base + "/", hdrs["Location"])
        location += ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})
        self.ok("PUT", location, data, {"Content-Type": "application/octet-stream"}, expect=(201,))
        return {"digest": digest, "size": len(data)}


def split_params(params):
    """Splits `a="x,y",b="z"` at the commas outside quotes."""
    out, cur, quoted = [], "", False
    for ch in params:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [p for p in out + [cur] if p.strip()]


def mirror(reg, chart, ctx):
    repo, tag = chart["repository"], chart["tag"]
    have = reg.has_chart(repo, tag)
    if have:
        log("%s:%s is in Harbor (chart %s)" % (repo, tag, have))
        return False
    if have == "":
        log("%s:%s exists but is not a Helm chart; pushing the chart over it" % (repo, tag))
    data = fetch(chart["url"], ctx)
    digest = hashlib.sha256(data).hexdigest()
    sources = expected_digests(chart, ctx)
    if not sources:
        raise RuntimeError("refusing to push %s: no checksum source" % chart["url"])
    wrong = ["%s names %s" % (src, want) for src, want in sources if want != digest]
    if wrong:
        raise RuntimeError("refusing to push %s (sha256 %s): %s" % (chart["url"], digest, "; ".join(wrong)))
    log("%s has sha256 %s, as %s name" % (chart["url"], digest, ", ".join(src for src, _ in sources)))
    config = chart_metadata(data, chart)
    layer = dict(reg.push_blob(repo, data), mediaType=CHART_LAYER_MEDIA_TYPE)
    cfg = dict(reg.push_blob(repo, config), mediaType=CONFIG_MEDIA_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": cfg["mediaType"], "digest": cfg["digest"], "size": cfg["size"]},
        "layers": [{"mediaType": layer["mediaType"], "digest": layer["digest"], "size": layer["size"]}],
        # OCI pre-defined annotation keys (opencontainers/image-spec annotations.md), as helm sets them
        "annotations": {"org.opencontainers.image.title": chart["name"], "org.opencontainers.image.version": chart["version"]},
    }
    reg.ok("PUT", "/v2/%s/manifests/%s" % (repo, tag), json.dumps(manifest, separators=(",", ":")).encode(), {"Content-Type": MANIFEST_MEDIA_TYPE}, expect=(201,))
    log("pushed %s:%s" % (repo, tag))
    return True


def main(path):
    with open(path) as f:
        cfg = json.load(f)
    with open(cfg["adminPasswordFile"]) as f:
        password = f.read().rstrip("\n")
    ctx = ssl.create_default_context(cafile=cfg["caFile"])
    reg = Registry(cfg["registry"], "admin", password, ctx)
    reg.ok("GET", "/v2/")
    for chart in cfg["charts"]:
        mirror(reg, chart, ctx)
    log("Harbor has the charts %s" % ", ".join("%s:%s" % (c["repository"], c["tag"]) for c in cfg["charts"]))


if __name__ == "__main__":
    main(sys.argv[1])
