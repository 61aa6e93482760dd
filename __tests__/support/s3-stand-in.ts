import { createHash } from "node:crypto";
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";

/**
 * A stand-in for an S3-compatible store (MinIO, Ceph RGW) on loopback: path-style requests
 * (`/<bucket>/<key>`), in-memory objects, the calls Terraform's s3 backend makes — ListObjectsV2,
 * GetObject, HeadObject, PutObject (with `If-None-Match: *`, the conditional write `use_lockfile`
 * relies on), DeleteObject — and S3's XML errors. Signatures are not checked. Each request is
 * recorded, so a test can see what the backend did.
 */
export class S3StandIn {
  /** Objects by `bucket/key`. */
  readonly objects = new Map<string, Buffer>();
  /** `METHOD /bucket/key?query` of every request, in order. */
  readonly requests: string[] = [];
  private server?: Server;

  constructor(readonly buckets: readonly string[]) {}

  /** Starts listening on 127.0.0.1; resolves with the endpoint URL. */
  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.handle(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((done) => this.server!.listen(0, "127.0.0.1", done));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** Stops the server. */
  async stop(): Promise<void> {
    await new Promise<void>((done) => (this.server ? this.server.close(() => done()) : done()));
  }

  private handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://s3");
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const [, bucket, ...rest] = url.pathname.split("/");
    const key = decodeURIComponent(rest.join("/"));
    const error = (status: number, code: string, message: string) => {
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>${url.pathname}</Resource><RequestId>stand-in</RequestId></Error>`);
    };
    if (!this.buckets.includes(bucket)) return error(404, "NoSuchBucket", "The specified bucket does not exist");
    const id = `${bucket}/${key}`;
    const etag = (b: Buffer) => `"${createHash("md5").update(b).digest("hex")}"`;
    switch (req.method) {
      case "GET":
        if (!key) return this.list(bucket, url, res);
      // falls through
      case "HEAD": {
        const obj = this.objects.get(id);
        if (!obj) {
          if (req.method === "GET") return error(404, "NoSuchKey", "The specified key does not exist.");
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { "content-length": obj.length, etag: etag(obj), "last-modified": new Date(0).toUTCString() });
        res.end(req.method === "HEAD" ? undefined : obj);
        return;
      }
      case "PUT":
        if (req.headers["if-none-match"] === "*" && this.objects.has(id)) return error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
        this.objects.set(id, body);
        res.writeHead(200, { etag: etag(body) }).end();
        return;
      case "DELETE":
        this.objects.delete(id);
        res.writeHead(204).end();
        return;
      default:
        return error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
    }
  }

  private list(bucket: string, url: URL, res: ServerResponse): void {
    const prefix = url.searchParams.get("prefix") ?? "";
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(`${bucket}/${prefix}`)).map((k) => k.slice(bucket.length + 1));
    const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
    res.writeHead(200, { "content-type": "application/xml" });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>` +
        keys.map((k) => `<Contents><Key>${esc(k)}</Key><Size>${this.objects.get(`${bucket}/${k}`)!.length}</Size></Contents>`).join("") +
        "</ListBucketResult>",
    );
  }
}
