// A CloudEvents consumer built on the CloudEvents SDK for JavaScript (npm `cloudevents`), the
// way a user's receiver would be: it reads each request with the SDK's HTTP binding (which
// validates the event against the CloudEvents 1.0 spec), checks the Release Passport signature
// (HMAC-SHA256 of "{X-Passport-Timestamp}.{body}" with the shared key, docs/notifications.md),
// and answers 202, or 400 with why. One JSON line per request on stdout; the first line is the
// port (loopback, chosen by the system).
//
// Usage: node cloudevents-receiver.mjs <hmac-key>
import http from "node:http";
import crypto from "node:crypto";
import { HTTP } from "cloudevents";

const key = process.argv[2];
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const report = { path: req.url };
    try {
      const ts = req.headers["x-passport-timestamp"] ?? "";
      const mac = crypto.createHmac("sha256", key).update(`${ts}.`).update(body).digest("hex");
      const sent = String(req.headers["x-passport-signature"] ?? "");
      const want = Buffer.from(`sha256=${mac}`);
      if (sent.length !== want.length || !crypto.timingSafeEqual(Buffer.from(sent), want)) {
        throw new Error("signature does not match");
      }
      const event = HTTP.toEvent({ headers: req.headers, body: body.toString("utf8") });
      if (Array.isArray(event)) throw new Error("a batch, not one event");
      event.validate();
      Object.assign(report, {
        ok: true,
        specversion: event.specversion,
        id: event.id,
        type: event.type,
        source: event.source,
        datacontenttype: event.datacontenttype,
        data: event.data,
      });
      res.writeHead(202).end();
    } catch (e) {
      report.ok = false;
      report.error = String(e && (e.message || e)) + (e && e.errors ? " " + JSON.stringify(e.errors) : "");
      res.writeHead(400).end(report.error);
    }
    process.stdout.write(JSON.stringify(report) + "\n");
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
