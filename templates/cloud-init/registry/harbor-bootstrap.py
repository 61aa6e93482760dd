#!/usr/bin/python3
"""talos-enclave: Harbor bootstrap through the REST API (v2.0). Idempotent; runs as harbor-bootstrap.service.

For every entry of `proxyProjects` in the JSON config (argv[1]) it makes sure that
  - a registry endpoint `registry.name` of `registry.type` at `registry.url` exists, and
  - a PUBLIC proxy-cache project `project` on that endpoint exists (Talos pulls anonymously through
    https://<harbor>/v2/<project> with overridePath).
  - the project's metadata holds every key of `metadata` with its value (public, auto_scan,
    prevent_vul, severity: Harbor's ProjectMetadata keys; keys not listed are left as they are).
Existing objects are kept; metadata that differs is set (PUT merges the keys it is given); a project
bound to another endpoint is reported and left alone (its cache is data). Before that it waits for
Harbor's default scanner `scanning.scanner` (Trivy, registered by Harbor core when prepared
--with-trivy) and makes the scan-all schedule `scanning.scanAllSchedule`, so cached images are scanned
again with each day's vulnerability database. Each of `signedProjects` and `chartProjects` (where the
chart mirror pushes the platform's charts) is a regular project with its metadata and every tag
immutable. Then, for the Image Factory, it makes sure
that the project `factory.project` exists (public reads: Talos pulls installers anonymously) and that a system robot with push/pull there and
pull on the core project exists, and writes the robot's docker config (mode 0600) if it is missing.
"""
import base64
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def log(msg):
    print("harbor-bootstrap: " + msg, file=sys.stderr, flush=True)


class Harbor:
    def __init__(self, api, user, password, cafile):
        self.api = api.rstrip("/")
        token = base64.b64encode((user + ":" + password).encode()).decode()
        self.auth = "Basic " + token
        self.ctx = ssl.create_default_context(cafile=cafile)

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)
        req.add_header("Authorization", self.auth)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

    def ok(self, method, path, body=None, expect=(200,), headers=None):
        status, out = self.call(method, path, body, headers)
        if status not in expect:
            raise RuntimeError("%s %s answered %s: %s" % (method, path, status, out))
        return out

    def wait_ready(self, timeout=1800):
        deadline = time.time() + timeout
        while True:
            try:
                status, out = self.call("GET", "/health")
                if status == 200 and isinstance(out, dict) and out.get("status") == "healthy":
                    break
            except OSError as err:  # connection refused, TLS not up yet, ...
                out = str(err)
            if time.time() > deadline:
                raise RuntimeError("Harbor is not healthy: %s" % out)
            time.sleep(10)
        status, out = self.call("GET", "/users/current")
        if status != 200:
            raise RuntimeError(
                "the admin password is refused (%s); harbor_admin_password only applies on Harbor's first start" % status
            )

    def list_all(self, path, headers=None):
        items, page = [], 1
        sep = "&" if "?" in path else "?"
        while True:
            batch = self.ok("GET", "%s%spage=%d&page_size=100" % (path, sep, page), headers=headers) or []
            items.extend(batch)
            if len(batch) < 100:
                return items
            page += 1

    def project(self, name):
        status, out = self.call("GET", "/projects/" + urllib.parse.quote(name, safe=""), headers={"X-Is-Resource-Name": "true"})
        if status == 200:
            return out
        if status in (403, 404):
            return None
        raise RuntimeError("GET project %s answered %s: %s" % (name, status, out))

    def ensure_registry(self, reg):
        def find():
            return next((r for r in self.list_all("/registries") if r.get("name") == reg["name"]), None)

        found = find()
        if found is None:
            log("creating registry endpoint %s (%s %s)" % (reg["name"], reg["type"], reg["url"]))
            self.ok(
                "POST",
                "/registries",
                {"name": reg["name"], "type": reg["type"], "url": reg["url"], "insecure": False, "description": reg["description"]},
                expect=(201,),
            )
            found = find()
        elif found.get("type") != reg["type"] or found.get("url") != reg["url"]:
            log("keeping registry endpoint %s: it is %s %s, not %s %s" % (reg["name"], found.get("type"), found.get("url"), reg["type"], reg["url"]))
        return found["id"]

    def ensure_proxy_project(self, name, registry_id, metadata):
        existing = self.project(name)
        if existing is None:
            log("creating proxy-cache project %s with %s" % (name, json.dumps(metadata, sort_keys=True)))
            self.ok(
                "POST",
                "/projects",
                {"project_name": name, "registry_id": registry_id, "metadata": metadata, "storage_limit": -1},
                expect=(201,),
            )
            return
        if existing.get("registry_id") != registry_id:
            log("project %s exists but is not a proxy cache of registry %s; left as it is" % (name, registry_id))
        self.ensure_metadata(name, existing, metadata)

    def ensure_metadata(self, name, existing, metadata):
        """Sets the metadata keys that differ; Harbor merges the metadata of a project update (handler/project.go)."""
        have = existing.get("metadata") or {}
        differ = {k: v for k, v in metadata.items() if have.get(k) != v}
        if differ:
            log("setting %s on project %s" % (json.dumps(differ, sort_keys=True), name))
            self.ok("PUT", "/projects/" + urllib.parse.quote(name, safe=""), {"metadata": differ}, headers={"X-Is-Resource-Name": "true"})

    def wait_scanner(self, name, timeout=1800):
        """Harbor core registers its Trivy adapter at start-up and makes it the default (src/core/main.go)."""
        deadline = time.time() + timeout
        while True:
            scanners = self.list_all("/scanners")
            found = next((s for s in scanners if s.get("name") == name), None)
            if found and found.get("is_default") and not found.get("disabled"):
                return
            if time.time() > deadline:
                raise RuntimeError(
                    "Harbor has no enabled default scanner %s (scanners: %s); was it prepared --with-trivy?"
                    % (name, ", ".join(s.get("name", "?") for s in scanners) or "none")
                )
            time.sleep(10)

    def ensure_scan_all_schedule(self, schedule):
        current = (self.ok("GET", "/system/scanAll/schedule") or {}).get("schedule") or {}
        if current.get("type") == schedule["type"] and current.get("cron") == schedule["cron"]:
            return
        log("scheduling scan-all %s (%s)" % (schedule["type"], schedule["cron"]))
        # PUT creates the schedule when there is none and replaces another (src/server/v2.0/handler/scan_all.go).
        self.ok("PUT", "/system/scanAll/schedule", {"schedule": {"type": schedule["type"], "cron": schedule["cron"]}})

    def ensure_signed_project(self, name, metadata, what="the lab's signed images"):
        # a regular project: the lab's mirror step pushes signed copies here (proxy caches take no pushes);
        # SRV pulls from it, so it scans and blocks like the proxy projects. The chart mirror's project is
        # one too: Harbor keeps Helm charts as OCI artifacts in regular projects, never in a proxy cache
        # (goharbor.io docs, "Working with OCI Helm Charts"; ChartMuseum is gone since Harbor 2.8).
        existing = self.project(name)
        if existing is None:
            log("creating public project %s for %s" % (name, what))
            self.ok("POST", "/projects", {"project_name": name, "metadata": metadata, "storage_limit": -1}, expect=(201,))
            return
        if existing.get("registry_id"):
            log("project %s is a proxy cache, not a project the lab can push signed images to; left as it is" % name)
            return
        self.ensure_metadata(name, existing, metadata)

    # Every tag of every repository immutable: Talos checks a signature but not the digest its payload
    # names, so whoever could move a tag (or a .sig tag) could pass another image off as signed. With
    # immutable tags nobody, the lab's own mirror step included, can re-point a version tag or
    # replace a signature (api/v2.0/swagger.yaml ImmutableRule; template "immutable_template",
    # selectors doublestar/matches and doublestar/repoMatches as src/controller/immutable uses them).
    IMMUTABLE_RULE = {
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    }

    def ensure_immutable_tags(self, name):
        path = "/projects/" + urllib.parse.quote(name, safe="") + "/immutabletagrules"
        headers = {"X-Is-Resource-Name": "true"}
        for rule in self.list_all(path, headers=headers):
            same = rule.get("action") == "immutable" and not rule.get("disabled")
            same = same and [(t.get("decoration"), t.get("pattern")) for t in rule.get("tag_selectors") or []] == [("matches", "**")]
            same = same and [(t.get("decoration"), t.get("pattern")) for t in (rule.get("scope_selectors") or {}).get("repository") or []] == [("repoMatches", "**")]
            if same:
                return
        log("making every tag of project %s immutable" % name)
        self.ok("POST", path, self.IMMUTABLE_RULE, expect=(201,), headers=headers)

    def ensure_factory(self, f):
        # Public for reads: the factory serves the installers and their signatures by proxying to (or
        # redirecting into) this project without credentials (image-factory
        # internal/frontend/http/registry.go, proxyRegistryRequest drops Authorization), so Talos's
        # anonymous pulls must be allowed. Pushes stay with the factory's robot.
        existing = self.project(f["project"])
        if existing is None:
            log("creating project %s (public reads, robot pushes)" % f["project"])
            self.ok("POST", "/projects", {"project_name": f["project"], "metadata": {"public": "true"}, "storage_limit": -1}, expect=(201,))
        else:
            self.ensure_metadata(f["project"], existing, {"public": "true"})
        robots = [r for r in self.list_all("/robots") if r.get("name") in (f["robot"], "robot$" + f["robot"])]
        if robots and os.path.exists(f["dockerConfig"]):
            return
        for r in robots:  # the secret is shown once only: a lost docker config means a new robot
            log("replacing robot %s, its secret is not on this host" % r["name"])
            self.ok("DELETE", "/robots/%d" % r["id"])
        log("creating robot %s" % f["robot"])
        created = self.ok(
            "POST",
            "/robots",
            {
                "name": f["robot"],
                "description": "talos-enclave Image Factory: its artefacts, and the siderolabs images through the proxy cache",
                "level": "system",
                "duration": -1,
                "disable": False,
                "permissions": [
                    {
                        "kind": "project",
                        "namespace": f["project"],
                        "access": [{"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"}],
                    },
                    {"kind": "project", "namespace": f["coreProject"], "access": [{"resource": "repository", "action": "pull"}]},
                ],
            },
            expect=(201,),
        )
        auth = base64.b64encode((created["name"] + ":" + created["secret"]).encode()).decode()
        os.makedirs(os.path.dirname(f["dockerConfig"]), mode=0o700, exist_ok=True)
        tmp = f["dockerConfig"] + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"auths": {f["registryHost"]: {"auth": auth}}}, out)
        os.replace(tmp, f["dockerConfig"])


def main(path):
    with open(path) as f:
        cfg = json.load(f)
    with open(cfg["adminPasswordFile"]) as f:
        password = f.read().rstrip("\n")
    harbor = Harbor(cfg["api"], "admin", password, cfg["caFile"])
    harbor.wait_ready()
    harbor.wait_scanner(cfg["scanning"]["scanner"])
    harbor.ensure_scan_all_schedule(cfg["scanning"]["scanAllSchedule"])
    for p in cfg["proxyProjects"]:
        harbor.ensure_proxy_project(p["project"], harbor.ensure_registry(p["registry"]), p["metadata"])
    for p in cfg.get("signedProjects", []):
        harbor.ensure_signed_project(p["project"], p["metadata"])
        harbor.ensure_immutable_tags(p["project"])
    for p in cfg.get("chartProjects", []):
        harbor.ensure_signed_project(p["project"], p["metadata"], "the charts the platform installs")
        harbor.ensure_immutable_tags(p["project"])
    if cfg.get("factory"):
        harbor.ensure_factory(cfg["factory"])
    log("Harbor has the proxy-cache projects %s" % ", ".join(p["project"] for p in cfg["proxyProjects"]))


if __name__ == "__main__":
    main(sys.argv[1])
